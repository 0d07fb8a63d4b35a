"""Periodic jobs: escalate overdue hazards, the daily digest (一日一汇报), the weekly dispatch (一周一调度).

Each job is a plain function of ``now`` (aware, UTC) so that tests and
operators choose the clock; it never commits. ``run_job`` is the commit point:
it claims the (job, slot) pair in ``job_run`` inside the job's own transaction,
so of several scheduler processes exactly one runs a slot, and a job that fails
leaves no claim behind (another process, or the next try, may run it).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from server import clock
from server.accounts.enums import Role
from server.accounts.models import District, User, UserRole
from server.database import utcnow
from server.extensions import db
from server.hazards.enums import Action, Record, Severity, Status
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections.models import Campaign, LeaderDuty
from server.notifications import service as notification_service
from server.notifications.service import insert_if_absent
from server.registry.models import Subject
from server.scheduler.models import JobRun

logger = logging.getLogger("qingling.scheduler")

SYSTEM_USERNAME = "system"
# A password hash no password matches (werkzeug's check refuses a hash without a method).
UNUSABLE_PASSWORD = "!"

DOMAIN_NAMES = {"gas": "燃气", "self_built_house": "自建房", "construction_site": "建筑工地"}
STATUS_NAMES = {Status.REPORTED: "已上报", Status.RECTIFYING: "整改中", Status.PENDING_REVIEW: "待复核",
                Status.CLOSED: "已销号"}
SEVERITY_NAMES = {Severity.GENERAL: "一般隐患", Severity.MAJOR: "重大隐患"}
WEEKDAYS = "一二三四五六日"
# Written by the inspections domain: coverage(campaign_id=..., districts=...) of a campaign's register.
COVERAGE_MODULE = "server.inspections.coverage"


# --- time -------------------------------------------------------------------------------------

def local_date(now: datetime) -> date:
    """Return the bureau's calendar date at ``now``."""
    return now.astimezone(clock.zone()).date()


def _utc_midnight(day: date) -> datetime:
    """Return the UTC instant at which ``day`` begins in the bureau's zone."""
    return datetime.combine(day, time(), tzinfo=clock.zone()).astimezone(timezone.utc)


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _previous_week(now: datetime) -> tuple[date, date]:
    """Return Monday and the following Monday of the ISO week before the one holding ``now``."""
    monday = local_date(now) - timedelta(days=local_date(now).weekday())
    return monday - timedelta(days=7), monday


def slot(name: str, now: datetime) -> str:
    """Return the slot a job run at ``now`` claims: the local quarter-hour, the day reported, or the ISO week."""
    if name == "overdue_sweep":
        moment = now.astimezone(clock.zone())
        return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0).strftime(
            "%Y-%m-%dT%H:%M")
    if name == "daily_digest":
        return (local_date(now) - timedelta(days=1)).isoformat()
    if name in DAILY_SWEEPS:
        return local_date(now).isoformat()
    if name == "weekly_dispatch":
        return _iso_week(_previous_week(now)[0])
    if name == "dashboard_snapshot":  # the local time, down to the console's refresh period (5 minutes)
        from server.console.figures import REFRESH_MINUTES

        moment = now.astimezone(clock.zone())
        return moment.replace(minute=moment.minute - moment.minute % REFRESH_MINUTES, second=0,
                              microsecond=0).strftime("%Y-%m-%dT%H:%M")
    if name == "quarterly_report":  # checked daily; the slot is the last complete quarter, so it runs once each
        from server.reports.quarterly import last_complete

        return last_complete(now)
    raise ValueError(f"unknown job {name!r}; known: {', '.join(JOBS)}")


def _cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# --- the system actor -------------------------------------------------------------------------

def get_system_user() -> User:
    """Return the user "system" that signs automatic events, creating it if needed (admin, cannot sign in).

    Created with INSERT ... ON CONFLICT DO NOTHING so that two schedulers
    starting at once both end up with the same row.
    """
    user = db.session.scalar(select(User).where(User.username == SYSTEM_USERNAME))
    if user is not None:
        return user
    insert_if_absent(User, keys=["username"], username=SYSTEM_USERNAME, name="系统",
                     password_hash=UNUSABLE_PASSWORD, active=False, created_at=utcnow())
    user_id = db.session.scalar(select(User.id).where(User.username == SYSTEM_USERNAME))
    insert_if_absent(UserRole, keys=["user_id", "role"], user_id=user_id, role=Role.ADMIN)
    return db.session.scalar(select(User).where(User.id == user_id).execution_options(populate_existing=True))


# --- overdue escalation -----------------------------------------------------------------------

def _duties() -> dict[tuple[str, str], int]:
    """Return (district, domain) → the leader who answers for it (包抓), for every district of the tree.

    As in ``assignments.leader_for``: the district's own duty, else the
    nearest ancestor's (a duty on 640100 gas covers every 银川 district
    without a gas duty of its own); a duty whose leader is inactive is passed
    over. The district table is small (a province's divisions), so the whole
    tree is resolved in memory with two queries.
    """
    active = set(db.session.scalars(select(User.id).where(User.active.is_(True))))
    own = {(d.district_code, d.domain): d.user_id for d in db.session.scalars(select(LeaderDuty))
           if d.user_id in active}
    if not own:
        return {}
    parents = dict(db.session.execute(select(District.code, District.parent_code)).all())
    domains = {domain for _, domain in own}
    answering: dict[tuple[str, str], int] = {}
    for code in set(parents) | {district for district, _ in own}:
        chain, seen = [code], {code}
        while (parent := parents.get(chain[-1])) is not None and parent not in seen:
            chain.append(parent)
            seen.add(parent)
        for domain in domains:
            leader = next((own[(c, domain)] for c in chain if (c, domain) in own), None)
            if leader is not None:
                answering[(code, domain)] = leader
    return answering


def _district_names() -> dict[str, str]:
    return dict(db.session.execute(select(District.code, District.name)).all())


def _overdue_text(row, *, today: date, district: str, leader_id: int | None, unit: str) -> tuple[str, str]:
    """Return the subject and body of one escalation, in Chinese."""
    domain = DOMAIN_NAMES.get(row.domain, row.domain)
    major = row.severity == Severity.MAJOR
    subject = f"【{'重大隐患逾期督办' if major else '隐患逾期提醒'}】{district}{domain}隐患逾期未整改"
    lines = [
        f"隐患：{row.description}",
        f"区县：{district}　领域：{domain}　等级：{SEVERITY_NAMES.get(row.severity, row.severity)}",
        f"整改期限：{row.deadline.isoformat()}，已逾期 {(today - row.deadline).days} 天，"
        f"当前状态：{STATUS_NAMES.get(row.status, row.status)}。",
        "请督促责任单位立即整改；确需延期的，请书面说明逾期原因（挂账）。",
    ]
    if major:
        lines.append(f"该重大隐患已列入挂牌督办（督办单位：{unit}）。")
    if leader_id is None:
        lines.append("注意：该区县该领域尚未设置包抓领导，请管理员补充。")
    lines.append(f"隐患编号：{row.id}")
    return subject, "\n".join(lines)


def overdue_sweep(*, now: datetime) -> dict:
    """Escalate every hazard newly overdue at ``now``: one event, one notice to the duty leader, majors supervised.

    Overdue is derived (deadline before the local date of ``now``, not closed).
    The outbox key ``overdue:<hazard id>`` is the per-hazard claim: only the
    transaction that inserts it writes the event, so two sweeps running at
    once escalate a hazard once. Hazards are taken in id order so that two
    such sweeps wait for each other instead of deadlocking.
    """
    today = local_date(now)
    unit = current_app.config.get("SUPERVISING_UNIT", "银川市住房和城乡建设局")
    # Escalated since the hazard was last reopened (a reopened hazard has a new deadline and is escalated anew).
    escalation, reopening = aliased(HazardEvent), aliased(HazardEvent)
    escalated_before = exists().where(
        escalation.hazard_id == Hazard.id, escalation.type == Record.OVERDUE_ESCALATED,
        ~exists().where(reopening.hazard_id == Hazard.id, reopening.type == Action.REOPEN,
                        reopening.at > escalation.at))
    rows = db.session.execute(
        select(Hazard.id, Hazard.status, Hazard.severity, Hazard.district_code, Hazard.domain, Hazard.description,
               Hazard.deadline)
        .where(Hazard.status != Status.CLOSED, Hazard.deadline < today, ~escalated_before)
        .order_by(Hazard.id)).all()
    result = {"today": today.isoformat(), "found": len(rows), "escalated": 0, "notified_leader": 0,
              "without_leader": 0, "supervised": 0, "already_escalated": 0}
    if not rows:
        return result
    system = get_system_user()
    duties, names = _duties(), _district_names()
    for row in rows:
        leader_id = duties.get((row.district_code, row.domain))
        district = names.get(row.district_code, row.district_code)
        subject, body = _overdue_text(row, today=today, district=district, leader_id=leader_id, unit=unit)
        if not notification_service.enqueue(kind="overdue", recipient_id=leader_id, subject=subject, body=body,
                                            dedupe_key=f"overdue:{row.id}:{row.deadline.isoformat()}"):
            result["already_escalated"] += 1  # a concurrent sweep got here first
            continue
        db.session.add(HazardEvent(
            hazard_id=row.id, type=Record.OVERDUE_ESCALATED, actor_id=system.id, at=now,
            from_status=row.status, to_status=row.status,
            note=f"逾期 {(today - row.deadline).days} 天，已提醒包抓领导" if leader_id else "逾期，未设置包抓领导"))
        result["escalated"] += 1
        result["notified_leader" if leader_id else "without_leader"] += 1
        if row.severity == Severity.MAJOR:
            if insert_if_absent(Supervision, keys=["hazard_id"], hazard_id=row.id, supervising_unit=unit,
                                listed_at=now):
                result["supervised"] += 1
    db.session.flush()
    logger.info("overdue sweep %s: %s", today, result)
    return result


# --- digests ----------------------------------------------------------------------------------

def _group_counts(*, start: datetime, end: datetime, today: date, districts: Iterable[str]) -> dict:
    """Return per (district, domain): total, open, overdue, overdue majors, new and closed in [start, end)."""
    open_ = Hazard.status != Status.CLOSED
    closed = Hazard.status == Status.CLOSED
    late = and_(open_, Hazard.deadline < today)

    def count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (select(Hazard.district_code, Hazard.domain, func.count().label("total"),
                    count(open_).label("open"), count(closed).label("closed_total"), count(late).label("overdue"),
                    count(and_(late, Hazard.severity == Severity.MAJOR)).label("overdue_major"),
                    count(and_(Hazard.created_at >= start, Hazard.created_at < end)).label("new"),
                    count(and_(closed, Hazard.closed_at >= start, Hazard.closed_at < end)).label("closed"))
             .where(Hazard.district_code.in_(sorted(set(districts))))
             .group_by(Hazard.district_code, Hazard.domain))
    return {(r.district_code, r.domain): r._asdict() for r in db.session.execute(query)}


COUNTED = ("new", "closed", "open", "overdue", "overdue_major", "total", "closed_total")


def _rate(closed: int, total: int) -> float | None:
    return round(closed / total, 4) if total else None


def _ranking(rows: list[dict]) -> list[dict]:
    """Rank districts: fewer open hazards first, then the higher closure rate; equal keys share a rank."""
    def key(row):
        rate = row["closure_rate"]
        return (row["open"], -(rate if rate is not None else -1.0))

    ordered = sorted(rows, key=lambda row: (*key(row), row["district_code"]))
    previous, rank = None, 0
    for position, row in enumerate(ordered, start=1):
        if key(row) != previous:
            rank, previous = position, key(row)
        row["rank"] = rank
    return ordered


def _coverage(*, pairs: list[tuple[str, str]], first: date, last: date) -> tuple[list[dict] | None, str | None]:
    """Return the coverage of each campaign of the leader's fields running in the period, or why there is none."""
    try:
        module = importlib.import_module(COVERAGE_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name != COVERAGE_MODULE:
            raise
        return None, "覆盖率统计模块尚未提供，本期未统计覆盖率。"
    domains = {domain for _, domain in pairs}
    campaigns = db.session.scalars(select(Campaign).where(Campaign.starts_on <= last, Campaign.ends_on >= first)
                                   .order_by(Campaign.starts_on, Campaign.id)).all()
    found = []
    for campaign in campaigns:
        fields = set(campaign.domains or [])
        if not fields & domains:
            continue
        districts = frozenset(d for d, domain in pairs if domain in fields)
        try:
            value = module.coverage(campaign_id=campaign.id, districts=districts)
        except Exception:  # noqa: BLE001 - a digest without coverage beats no digest
            logger.exception("coverage of campaign %s failed", campaign.id)
            found.append({"campaign_id": campaign.id, "campaign": campaign.name, "coverage": None,
                          "error": "覆盖率计算失败"})
            continue
        found.append({"campaign_id": campaign.id, "campaign": campaign.name, "coverage": _coverage_summary(value)})
    return found, (None if found else "统计期内无进行中的专项行动。")


def _leader_numbers(*, pairs: list[tuple[str, str]], groups: Mapping, names: Mapping[str, str]) -> dict:
    """Sum the per-(district, domain) counts of one leader's duties, overall and by district."""
    totals = dict.fromkeys(COUNTED, 0)
    by_district: dict[str, dict] = {}
    for district, domain in pairs:
        counts = groups.get((district, domain), {})
        row = by_district.setdefault(district, {"district_code": district, "name": names.get(district, district),
                                                "domains": [], **dict.fromkeys(COUNTED, 0)})
        row["domains"].append(domain)
        for field in COUNTED:
            value = int(counts.get(field, 0) or 0)
            row[field] += value
            totals[field] += value
    for row in by_district.values():
        row["closure_rate"] = _rate(row["closed_total"], row["total"])
    totals["closure_rate"] = _rate(totals["closed_total"], totals["total"])
    totals["districts"] = _ranking(list(by_district.values()))
    return totals


def _overdue_items(*, pairs: list[tuple[str, str]], today: date, limit: int) -> list:
    """Return the leader's oldest overdue open hazards, up to ``limit``."""
    scope = or_(*(and_(Hazard.district_code == d, Hazard.domain == domain) for d, domain in pairs))
    return db.session.execute(
        select(Hazard.id, Hazard.district_code, Hazard.domain, Hazard.description, Hazard.severity, Hazard.deadline)
        .where(scope, Hazard.status != Status.CLOSED, Hazard.deadline < today)
        .order_by(Hazard.deadline, Hazard.id).limit(limit)).all()


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _coverage_summary(value: Any) -> Any:
    """Keep the campaign-wide figures of a coverage answer (its ``total``), or the answer itself if it has none."""
    if isinstance(value, Mapping) and isinstance(value.get("total"), Mapping):
        return {k: v for k, v in value["total"].items() if k not in ("district", "domain")}
    return value


def _describe_coverage(value: Any) -> str:
    """Say coverage figures in words: 底数, inspected, never inspected, no access, the share."""
    if isinstance(value, Mapping) and "registered" in value:
        text = (f"底数 {value['registered']} 个，已检查 {value.get('inspected', 0)} 个，"
                f"未检查 {value.get('never_inspected', 0)} 个，无法入户 {value.get('no_access', 0)} 个")
        rate = value.get("coverage")
        return text + (f"，覆盖率 {_percent(float(rate))}" if isinstance(rate, (int, float)) else "")
    if isinstance(value, (int, float)) and 0 <= value <= 1:
        return f"覆盖率 {_percent(float(value))}"
    return str(value)


def _digest_text(*, title: str, period_word: str, scope: str, numbers: dict, items: list, names: Mapping[str, str],
                 today: date, limit: int, closing: str | None) -> str:
    """Return the readable Chinese body of a digest."""
    n = numbers
    lines = [title, f"包抓范围：{scope}", "",
             "一、总体情况",
             f"{period_word}新增隐患 {n['new']} 处，销号 {n['closed']} 处；截至 {_cn_date(today)}，"
             f"未销号 {n['open']} 处，其中逾期 {n['overdue']} 处（重大隐患逾期 {n['overdue_major']} 处）；"
             f"累计发现 {n['total']} 处，累计销号率 {_percent(n['closure_rate'])}。", "",
             "二、专项行动覆盖情况"]
    if n["coverage"]:
        for entry in n["coverage"]:
            text = entry.get("error") or _describe_coverage(entry["coverage"])
            lines.append(f"{entry['campaign']}：{text}")
    else:
        lines.append(n["coverage_note"] or "无。")
    lines += ["", "三、区县排名（未销号隐患少者在前，相同时销号率高者在前）"]
    for row in n["districts"]:
        lines.append(f"{row['rank']}. {row['name']}：未销号 {row['open']} 处（逾期 {row['overdue']} 处），"
                     f"{period_word}新增 {row['new']} 处、销号 {row['closed']} 处，销号率 {_percent(row['closure_rate'])}")
    lines += ["", f"四、逾期未整改隐患（按整改期限先后，最多列 {limit} 条）"]
    if not items:
        lines.append("无逾期隐患。")
    for item in items:
        mark = "［重大］" if item.severity == Severity.MAJOR else ""
        lines.append(f"- {mark}{names.get(item.district_code, item.district_code)}·"
                     f"{DOMAIN_NAMES.get(item.domain, item.domain)}：{item.description}"
                     f"（整改期限 {item.deadline.isoformat()}，已逾期 {(today - item.deadline).days} 天）")
    if n["overdue"] > len(items):
        lines.append(f"……另有 {n['overdue'] - len(items)} 处逾期隐患，请登录平台查看。")
    if closing:
        lines += ["", closing]
    return "\n".join(lines)


def _leader_pairs(duties: Mapping[tuple[str, str], int], groups: Mapping) -> dict[int, list[tuple[str, str]]]:
    """Return each leader's (district, domain) pairs to report on: those it answers for that hold anything.

    A pair holds something when it has hazards (``groups``) or subjects on the
    register. A leader answering for a city through its duty on 640100 thus
    reports and ranks the city's districts, not the empty city level; one whose
    districts hold nothing at all still gets its own duties (with zeros).
    """
    registered = set(db.session.execute(select(Subject.district_code, Subject.domain).distinct()).tuples())
    own = {(district, domain) for district, domain in
           db.session.execute(select(LeaderDuty.district_code, LeaderDuty.domain)).tuples()}
    answered: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for pair, user_id in sorted(duties.items()):
        answered[user_id].append(pair)
    result = {}
    for user_id, pairs in answered.items():
        held = [pair for pair in pairs if pair in groups or pair in registered]
        result[user_id] = held or [pair for pair in pairs if pair in own]
    return {user_id: pairs for user_id, pairs in result.items() if pairs}


def _digest(*, now: datetime, first: date, end: date, kind: str, key: Callable[[int], str], title: str,
            subject: str, period_word: str, closing: str | None) -> dict:
    """Compute the numbers of [first, end) for every leader, enqueue one message each; return the numbers."""
    today = local_date(now)
    limit = int(current_app.config.get("DIGEST_MAX_ITEMS", 20))
    duties = _duties()
    names = _district_names()
    groups = _group_counts(start=_utc_midnight(first), end=_utc_midnight(end), today=today,
                           districts=[d for d, _ in duties])
    pairs_by_leader = _leader_pairs(duties, groups)
    leaders = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(pairs_by_leader))))}
    result: dict[str, Any] = {"period": [first.isoformat(), (end - timedelta(days=1)).isoformat()],
                              "today": today.isoformat(), "leaders": {}, "enqueued": 0}
    for user_id, pairs in sorted(pairs_by_leader.items()):
        user = leaders.get(user_id)
        if user is None or not user.active:
            continue
        numbers = _leader_numbers(pairs=pairs, groups=groups, names=names)
        numbers["coverage"], numbers["coverage_note"] = _coverage(pairs=pairs, first=first,
                                                                  last=end - timedelta(days=1))
        items = _overdue_items(pairs=pairs, today=today, limit=limit)
        scope = "、".join(f"{names.get(d, d)}·{DOMAIN_NAMES.get(domain, domain)}" for d, domain in pairs)
        body = _digest_text(title=f"{user.name}：\n{title}", period_word=period_word, scope=scope, numbers=numbers,
                            items=items, names=names, today=today, limit=limit, closing=closing)
        if notification_service.enqueue(kind=kind, recipient_id=user_id, subject=subject, body=body,
                                        dedupe_key=key(user_id)):
            result["enqueued"] += 1
        result["leaders"][user_id] = numbers
    logger.info("%s %s: %d leaders, %d messages enqueued", kind, result["period"], len(result["leaders"]),
                result["enqueued"])
    return result


def daily_digest(*, now: datetime) -> dict:
    """Enqueue each leader's digest of the previous local day (一日一汇报); return the numbers per leader."""
    day = local_date(now) - timedelta(days=1)
    title = f"【一日一汇报】{_cn_date(day)}（星期{WEEKDAYS[day.weekday()]}）隐患排查整治情况"
    return _digest(now=now, first=day, end=day + timedelta(days=1), kind="daily_digest",
                   key=lambda user_id: f"daily:{user_id}:{day.isoformat()}", title=title, subject=title,
                   period_word="当日", closing=None)


def weekly_dispatch(*, now: datetime) -> dict:
    """Enqueue each leader's dispatch of the previous ISO week, Monday to Sunday (一周一调度); return the numbers."""
    monday, next_monday = _previous_week(now)
    week = _iso_week(monday)
    sunday = next_monday - timedelta(days=1)
    title = (f"【一周一调度】{monday.isocalendar()[0]}年第{monday.isocalendar()[1]}周"
             f"（{monday.month}月{monday.day}日—{sunday.month}月{sunday.day}日）隐患整改调度")
    return _digest(now=now, first=monday, end=next_monday, kind="weekly_dispatch",
                   key=lambda user_id: f"weekly:{user_id}:{week}", title=title, subject=title, period_word="本周",
                   closing="请对逾期隐患逐项调度，明确责任人和整改时限；重大隐患按挂牌督办要求限期销号。")


# --- running a job once per slot ------------------------------------------------------------

def credit_sweep(*, now: datetime) -> dict:
    """Credit deductions proposed for hazards overdue past the grace, and deductions expired by time."""
    from server.credit.jobs import credit_sweep as sweep

    return sweep(now=now)


def case_deadlines(*, now: datetime) -> dict:
    """Warnings for cases nearing or past the 90-day limit from filing."""
    from server.cases.jobs import case_deadlines as sweep

    return sweep(now=now)


def quarterly_report(*, now: datetime) -> dict:
    """The last complete quarter's analysis snapshot (每季度安全生产形势分析), made once; the committee is told."""
    from server.reports.quarterly import run_scheduled

    return run_scheduled(now=now)


def dashboard_snapshot(*, now: datetime, computed: tuple[dict, int] | None = None) -> dict:
    """The console dashboard's figures for the whole city, kept as a snapshot the pages read (server/console/figures.py).

    The runner computes them beforehand in a read transaction and passes them
    as ``computed``, so that here, under the claim, only the row is written;
    called alone (tests, by hand) it computes them here.
    """
    from server.console import figures

    snapshot = figures.refresh(now=now, weeks=figures.trend_weeks(), computed=computed)
    return {"snapshot_id": snapshot.id, "as_of": snapshot.as_of.isoformat(), "computed_ms": snapshot.computed_ms}


# Jobs run once a local day (slot: the day they run for).
DAILY_SWEEPS = ("credit_sweep", "case_deadlines")

JOBS: dict[str, Callable[..., dict]] = {
    "overdue_sweep": overdue_sweep,
    "daily_digest": daily_digest,
    "weekly_dispatch": weekly_dispatch,
    "credit_sweep": credit_sweep,
    "case_deadlines": case_deadlines,
    "quarterly_report": quarterly_report,
    "dashboard_snapshot": dashboard_snapshot,
}


def run_job(name: str, *, now: datetime, slot: str, **arguments) -> bool:
    """Claim (job, slot), run the job and record its result in one transaction; return False if already claimed.

    ``arguments`` go to the job besides ``now`` (what a runner prepared for it).

    The claim is an INSERT ... ON CONFLICT DO NOTHING on the unique (job, slot):
    a second process inserting the same pair waits for the first one's
    transaction and then inserts nothing. A failing job rolls back its claim too.
    """
    if name not in JOBS:
        raise ValueError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        if not insert_if_absent(JobRun, keys=["job", "slot"], job=name, slot=slot, started_at=utcnow()):
            db.session.rollback()
            logger.info("job %s slot %s already claimed: skipped", name, slot)
            return False
        result = JOBS[name](now=now, **arguments)
        db.session.execute(update(JobRun).where(JobRun.job == name, JobRun.slot == slot).values(
            finished_at=utcnow(), result=json.dumps(result, ensure_ascii=False, default=str)))
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("job %s slot %s failed", name, slot)
        raise
    return True
