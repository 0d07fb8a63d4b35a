"""Quarterly analysis (每季度安全生产形势分析): a quarter's figures as they were, kept as immutable snapshots.

A quarter is written ``2026Q3`` and bounded in the bureau's zone (Asia/Shanghai):
from local midnight of its first day to local midnight after its last day,
stored as UTC. Its figures are true at ``as_of``: the quarter's last instant
(or the making time while it runs). Every figure is read from what was
recorded by then, so making a past quarter again gives the same figures
(the coverage's register excepted, below):

- inspections recorded (received) in the quarter;
- hazards found (reported) in it, and closed in it, by field, severity and
  district; open at its start and end, rebuilt from the hazard events by the
  ledger of ``server.reports.zero`` (the same sum, in one pass per instant that
  also tells which were overdue and which were the quarter's own; the tests
  check it against ``zero.open_figures``); overdue at its end (open then with
  a deadline before its last day); the quarter's closure rate (hazards found
  in it and closed by its end) and the rate to date; the median days from
  report to closure of the hazards closed in it;
- major hazards, recurrences found by re-inspection (回头看, ``reopened``
  events), the coverage of the register by the campaigns running in the
  quarter (``server.inspections.coverage``: the visits received by the
  quarter's end, against today's register), credit
  (``server.credit.service.quarter_figures``), cases transferred and penalties
  decided (their dates in the quarter, recorded by its end), the most frequent
  hazard items;
- comparisons with the previous quarter and the same quarter a year before:
  their latest complete snapshot's figures when one exists, else computed now.

A snapshot (``QuarterlyReport``) keeps the figures as JSON with the SHA-256
of their canonical JSON; it is never changed. Making a quarter again on
demand adds a version; the scheduler makes one per quarter (idempotent).
Services never commit.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import String, and_, case, cast, func, literal, literal_column, or_, select, text
from sqlalchemy.exc import IntegrityError

from server import canonical, clock
from server.accounts.enums import Role
from server.accounts.models import District, User, UserRole
from server.audit import service as audit_service
from server.database import UTCDateTime, utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.enums import Severity, Status
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Assignment, Campaign, Inspection
from server.registry.enums import Domain
from server.reports.models import QuarterlyReport

SCHEMA = 1  # the layout of ``figures``; a reader of an older snapshot can tell
READERS = (Role.COMMITTEE, Role.LEADER, Role.ADMIN)  # a leader also needs a city-level district
CITY_LEVELS = ("province", "prefecture")  # a leader with a district at these levels answers for the city
LIST_LIMIT = 20  # majors and cases listed in a snapshot
TOP_ITEMS = 10

DOMAINS = tuple(d.value for d in Domain)
SEVERITIES = (Severity.GENERAL.value, Severity.MAJOR.value)
DOMAIN_NAMES = {"gas": "燃气", "self_built_house": "自建房", "construction_site": "建筑工地"}
SEVERITY_NAMES = {"general": "一般隐患", "major": "重大隐患"}
KIND_NAMES = {"gas_operator": "燃气经营企业", "contractor": "施工单位", "developer": "建设单位",
              "supervisor": "监理单位", "property_manager": "物业服务企业", "other": "其他"}
NUMERALS = "一二三四"

# (key, label, kind): the figures compared with other quarters. kind: count, rate (share 0..1), days, money.
KPIS = (
    ("inspections", "检查次数", "count"),
    ("hazards_found", "排查发现隐患", "count"),
    ("hazards_closed", "整改销号隐患", "count"),
    ("closure_rate", "当季隐患整改率", "rate"),
    ("closure_rate_to_date", "累计隐患整改率", "rate"),
    ("median_days_to_close", "整改用时中位数（天）", "days"),
    ("open_at_end", "季末未销号隐患", "count"),
    ("overdue_at_end", "季末逾期未整改隐患", "count"),
    ("majors_found", "新发现重大隐患", "count"),
    ("majors_open_at_end", "季末未销号重大隐患", "count"),
    ("recurrences", "“回头看”复发隐患", "count"),
    ("deductions_confirmed", "信用扣分生效", "count"),
    ("cases_transferred", "移交违法案件", "count"),
    ("penalties_decided", "作出行政处罚决定", "count"),
    ("fine_total_yuan", "罚款金额（元）", "money"),
)
KPI_LABELS = {key: label for key, label, _ in KPIS}
KPI_KINDS = {key: kind for key, _, kind in KPIS}


# --- quarters -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A quarter's days, its instants in UTC, and the instant its figures are true at."""

    quarter: str
    first: date
    last: date
    start: datetime  # local midnight of the first day, UTC
    end: datetime  # local midnight after the last day, UTC (exclusive)
    as_of: datetime  # end - 1 µs, or now while the quarter runs
    complete: bool

    @property
    def year(self) -> int:
        return self.first.year

    @property
    def number(self) -> int:
        return (self.first.month - 1) // 3 + 1


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=clock.zone()).astimezone(timezone.utc)


def parse_quarter(text: str) -> str:
    """Return a quarter written ``2026Q3`` (lower-case q accepted); 422 ``quarter`` for anything else."""
    value = (text or "").strip().upper()
    from server.credit import service as credit_service

    credit_service.quarter_bounds(value)  # the one rule for what a quarter looks like
    return value


def quarter_of(day: date) -> str:
    """Return the quarter holding ``day``."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def shift(quarter: str, quarters: int) -> str:
    """Return the quarter ``quarters`` later (negative: earlier)."""
    year, number = int(quarter[:4]), int(quarter[5])
    index = year * 4 + number - 1 + quarters
    return f"{index // 4}Q{index % 4 + 1}"


def previous(quarter: str) -> str:
    """Return the quarter before."""
    return shift(quarter, -1)


def year_before(quarter: str) -> str:
    """Return the same quarter a year before."""
    return shift(quarter, -4)


def last_complete(now: datetime) -> str:
    """Return the quarter before the one holding the local date of ``now``: the one the scheduler reports."""
    return previous(quarter_of(clock.local(now).date()))


def label(quarter: str) -> str:
    """Return a quarter as a document writes it: 2026年第三季度."""
    return f"{quarter[:4]}年第{NUMERALS[int(quarter[5]) - 1]}季度"


def period(quarter: str, *, now: datetime | None = None) -> Period:
    """Return the period of a quarter; 422 when it has not begun."""
    from server.credit import service as credit_service

    quarter = parse_quarter(quarter)
    first, last = credit_service.quarter_bounds(quarter)
    now = now or utcnow()
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    if start > now:
        raise validation_error("quarter", "has not begun")
    complete = end <= now
    return Period(quarter=quarter, first=first, last=last, start=start, end=end,
                  as_of=end - timedelta(microseconds=1) if complete else now, complete=complete)


# --- who may read -------------------------------------------------------------------------------------

def may_read(user: User) -> bool:
    """Return whether a user may see the city-wide analysis: the committee, admins, city-level leaders."""
    if user.has_role(Role.COMMITTEE, Role.ADMIN):
        return True
    if not user.has_role(Role.LEADER) or not user.districts:
        return False
    levels = db.session.scalars(select(District.level).where(District.code.in_(user.districts))).all()
    return any(level in CITY_LEVELS for level in levels)


def check_reader(user: User) -> None:
    """Refuse (403) anyone but the committee, admins and city-level leaders."""
    if not may_read(user):
        raise ProblemError("forbidden", "The quarterly analysis is city-wide: only the safety committee, "
                                        "city-level leaders and administrators may see or make it.")


# --- the hazard ledger (server/reports/zero.py), with what a quarter also needs to know of each hazard ----

def _open(status):
    return case((status.is_(None), 0), (status == Status.CLOSED.value, 0), else_=1)


# As in server/reports/zero.py: an event adds open(to) - open(from); only the events that open or close a
# hazard are summed, with the condition written as the partial index ix_hazard_event_ledger has it.
_CLOSED = literal_column("'closed'")
_DELTA = _open(HazardEvent.to_status) - _open(HazardEvent.from_status)
_COUNTS = or_(HazardEvent.from_status.is_(None), HazardEvent.from_status == _CLOSED,
              HazardEvent.to_status == _CLOSED)


def _balance(until: datetime):
    """1 for a hazard open at ``until``, 0 (or NULL: no event yet) otherwise; correlated to Hazard."""
    bound = literal(until, UTCDateTime())
    return (select(func.sum(_DELTA)).where(HazardEvent.hazard_id == Hazard.id, HazardEvent.at <= bound, _COUNTS)
            .correlate(Hazard).scalar_subquery())


def _candidates(until: datetime):
    """Hazards that may be open at ``until``: reported by then and not closed for good before it."""
    bound = literal(until, UTCDateTime())
    # Written as zero.py writes it for SQLite (no condition on created_at alone), so that the planner
    # reads the covering ix_hazard_figures instead of walking ix_hazard_created into the table. A hazard
    # open now but reported after ``until`` has no event by then: its balance is NULL and counts 0.
    # (zero.py joins the events on PostgreSQL for parallel workers; here the correlated sum serves both,
    # and only SQLite's timings were measured: docs/benchmarks.md.)
    return or_(Hazard.status != _CLOSED, and_(Hazard.closed_at > bound, Hazard.created_at <= bound))


# --- sections -----------------------------------------------------------------------------------------

def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _inspections(p: Period, *, detail: bool = True) -> dict:
    """Inspections recorded in the quarter by field: visits, let in, nobody home, (detail) distinct subjects."""
    rows = db.session.execute(
        select(Inspection.domain, Inspection.outcome, func.count())
        .where(Inspection.received_at >= p.start, Inspection.received_at <= p.as_of)
        .group_by(Inspection.domain, Inspection.outcome)).all()
    subjects = (db.session.scalar(
        select(func.count(Inspection.subject_id.distinct()))
        .where(Inspection.received_at >= p.start, Inspection.received_at <= p.as_of)) or 0) if detail else None
    by_domain = {d: {"domain": d, "total": 0, "inspected": 0, "no_access": 0} for d in DOMAINS}
    for domain, outcome, count in rows:
        entry = by_domain.setdefault(domain, {"domain": domain, "total": 0, "inspected": 0, "no_access": 0})
        entry["total"] += count
        entry["inspected" if outcome == "inspected" else "no_access"] += count
    total = {key: sum(e[key] for e in by_domain.values()) for key in ("total", "inspected", "no_access")}
    return {**total, "subjects": subjects, "by_domain": list(by_domain.values())}


def _empty_row(**keys) -> dict:
    return {**keys, "found": 0, "closed": 0, "found_closed": 0, "closure_rate": None, "median_days_to_close": None,
            "open_at_start": 0, "open_at_end": 0, "overdue_at_end": 0}


def _ledger_at(*, as_of: datetime, last_day: date, start: datetime, cache: dict) -> list:
    """Hazards open at ``as_of`` (the hazard ledger, as zero.open_figures rebuilds it), grouped by field,
    severity and district, by whether their deadline was before ``last_day`` (overdue), whether they were
    reported from ``start`` on (the quarter's own), and one by one for the major hazards (id, time reported).

    One pass per instant within one making: a quarter's start is the previous quarter's end, so the pass
    that gives this quarter's hazards open at its start gives the previous quarter's figures at its end.
    """
    key = ("ledger", as_of, last_day, start)
    if key in cache:
        return cache[key]
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))  # as zero.open_figures: JIT costs more than it saves here
    overdue = case((Hazard.deadline < last_day, 1), else_=0).label("overdue")
    found = case((Hazard.created_at >= literal(start, UTCDateTime()), 1), else_=0).label("found")
    major = Hazard.severity == Severity.MAJOR.value
    major_id = case((major, Hazard.id)).label("major_id")
    major_at = case((major, Hazard.created_at)).label("major_at")
    groups = (Hazard.domain, Hazard.severity, Hazard.district_code, overdue, found, major_id, major_at)
    rows = db.session.execute(select(*groups, func.sum(_balance(as_of)).label("open"))
                              .where(_candidates(as_of)).group_by(*groups)).all()
    cache[key] = [row for row in rows if row.open]
    return cache[key]


def _ledger(p: Period, cache: dict) -> list:
    """The ledger pass at the end of ``p``."""
    return _ledger_at(as_of=p.as_of, last_day=clock.local(p.as_of).date(), start=p.start, cache=cache)


def _ledger_before(p: Period, cache: dict) -> list:
    """The ledger pass at the end of the quarter before ``p`` (its figures: that quarter's own)."""
    from server.credit.service import add_months

    return _ledger_at(as_of=p.start - timedelta(microseconds=1), last_day=p.first - timedelta(days=1),
                      start=_midnight(add_months(p.first, -3)), cache=cache)


def _days(later, earlier):
    """SQL: the days (with fractions) from ``earlier`` to ``later``, two UTC timestamp columns."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)  # SQLite keeps them as ISO text


def _closings(p: Period) -> list[tuple[str, str, str, list[float]]]:
    """Return (domain, severity, district, [days from report to the last closing in the quarter, one per
    hazard closed in it]).

    The closing events are a range of the ledger's time index (ix_hazard_event_ledger_at, covering), each
    joined to its hazard by primary key. The database computes the days and hands them over as one text
    per group: 121,000 rows at city scale cost more to convert in Python than the query itself.
    """
    per_hazard = (select(Hazard.domain, Hazard.severity, Hazard.district_code,
                         func.max(_days(HazardEvent.at, Hazard.created_at)).label("days"))
                  .select_from(HazardEvent).join(Hazard, Hazard.id == HazardEvent.hazard_id)
                  .where(HazardEvent.to_status == _CLOSED, HazardEvent.at >= p.start, HazardEvent.at <= p.as_of)
                  .group_by(HazardEvent.hazard_id, Hazard.domain, Hazard.severity, Hazard.district_code)
                  .subquery())
    rows = db.session.execute(
        select(per_hazard.c.domain, per_hazard.c.severity, per_hazard.c.district_code,
               func.aggregate_strings(cast(per_hazard.c.days, String), ","))
        .group_by(per_hazard.c.domain, per_hazard.c.severity, per_hazard.c.district_code))
    return [(domain, severity, district, [float(v) for v in days.split(",")]) for domain, severity, district, days in rows]


def _found(p: Period, *, detail: bool) -> list:
    """Hazards reported in the quarter by field, severity, district (and item, for the most frequent)."""
    groups = [Hazard.domain, Hazard.severity, Hazard.district_code]
    if detail:
        groups += [Hazard.checklist_code, Hazard.item_code]
    return db.session.execute(select(*groups, func.count()).where(Hazard.created_at >= p.start,
                                                                  Hazard.created_at <= p.as_of)
                              .group_by(*groups)).all()


def _hazards(p: Period, cache: dict, *, detail: bool) -> tuple[dict, dict, list, list]:
    """Return the hazard figures, the per field × severity sums (for the majors), the quarter's open majors
    (id, time reported, overdue) and the found rows (for the most frequent items)."""
    tally: dict[tuple, dict] = {}

    def entry(domain, severity, district) -> dict:
        return tally.setdefault((domain, severity, district), {"found": 0, "closed": 0, "found_open": 0,
                                                               "open_at_start": 0, "open_at_end": 0,
                                                               "overdue_at_end": 0, "days": []})

    found_rows = _found(p, detail=detail)
    for row in found_rows:
        entry(*row[:3])["found"] += int(row[-1])
    for domain, severity, district, days in _closings(p):
        item = entry(domain, severity, district)
        item["closed"] += len(days)
        item["days"].extend(days)
    majors = []
    for row in _ledger(p, cache):
        item, count = entry(row.domain, row.severity, row.district_code), int(row.open)  # PostgreSQL: a numeric
        item["open_at_end"] += count
        item["overdue_at_end"] += count if row.overdue else 0
        item["found_open"] += count if row.found else 0
        if row.major_id is not None:
            majors.append((row.major_at, str(row.major_id), bool(row.overdue)))
    if detail:
        for row in _ledger_before(p, cache):
            entry(row.domain, row.severity, row.district_code)["open_at_start"] += int(row.open)

    reported = db.session.scalar(select(func.count()).select_from(Hazard).where(Hazard.created_at <= p.as_of)) or 0

    def fold(pairs) -> dict:
        sums = {"found": 0, "closed": 0, "found_open": 0, "open_at_start": 0, "open_at_end": 0, "overdue_at_end": 0}
        days: list[float] = []
        for item in pairs:
            for key in sums:
                sums[key] += item[key]
            days.extend(item["days"])
        found_closed = sums["found"] - sums.pop("found_open")
        return {**sums, "found_closed": found_closed, "closure_rate": _ratio(found_closed, sums["found"]),
                "median_days_to_close": _median(days)}

    def grouped(*, by: tuple[int, ...]) -> dict:
        groups: dict[tuple, list] = {}
        for key, item in tally.items():
            groups.setdefault(tuple(key[index] for index in by), []).append(item)
        return {key: fold(items) for key, items in groups.items()}

    by_pair = grouped(by=(0, 1))
    rows = [{"domain": d, "severity": s, **by_pair.get((d, s), _empty_row())} for d in DOMAINS for s in SEVERITIES]
    by_domain_map = grouped(by=(0,))
    by_domain = [{"domain": d, **by_domain_map.get((d,), _empty_row())} for d in DOMAINS]
    total = fold(tally.values())
    by_district = []
    if detail:
        names = dict(db.session.execute(select(District.code, District.name)).tuples().all())
        by_district = [{"district": code, "name": names.get(code, code), **values}
                       for (code,), values in sorted(grouped(by=(2,)).items())]
    total["reported_to_date"] = int(reported)
    total["closure_rate_to_date"] = _ratio(int(reported) - total["open_at_end"], int(reported))
    figures = {"total": total, "rows": rows, "by_domain": by_domain, "by_district": by_district}
    return figures, by_pair, sorted(majors), found_rows


def _majors(p: Period, by_pair: dict, open_majors: list, *, detail: bool) -> dict:
    """Major hazards: found, closed, open and overdue at the end, and (detail) the oldest still open then."""
    sums = {key: sum(by_pair.get((d, Severity.MAJOR.value), {}).get(key, 0) for d in DOMAINS)
            for key in ("found", "closed", "open_at_end", "overdue_at_end")}
    result = {**sums, "open_list": []}
    if not detail or not open_majors:
        return result
    import uuid

    oldest = [uuid.UUID(hazard_id) for _, hazard_id, _ in open_majors[:LIST_LIMIT]]
    hazards = {h.id: h for h in db.session.execute(
        select(Hazard.id, Hazard.district_code, Hazard.domain, Hazard.item_code, Hazard.description,
               Hazard.created_at, Hazard.deadline).where(Hazard.id.in_(oldest)))}
    names = dict(db.session.execute(select(District.code, District.name)).tuples().all())
    last_day = clock.local(p.as_of).date()
    for (_, _, overdue), hazard_id in zip(open_majors, oldest):
        row = hazards[hazard_id]
        result["open_list"].append({
            "id": str(row.id), "district": row.district_code, "district_name": names.get(row.district_code),
            "domain": row.domain, "item": row.item_code, "description": row.description,
            "reported_on": clock.local(row.created_at).date().isoformat(), "deadline": row.deadline.isoformat(),
            "days_open": (last_day - clock.local(row.created_at).date()).days, "overdue": overdue})
    return result


def _recurrences(p: Period, *, detail: bool) -> dict:
    """Hazards found again by re-inspection (回头看) in the quarter, by field; to date; hazards sampled for it.

    A recurrence is a ``reopened`` event: the only move out of ``closed`` (hazards.service.TRANSITIONS),
    so it is read as from_status = 'closed' on the ledger's time index.
    """
    reopened = and_(HazardEvent.from_status == _CLOSED, HazardEvent.to_status != _CLOSED)
    rows = db.session.execute(
        select(Hazard.domain, func.count()).select_from(HazardEvent).join(Hazard, Hazard.id == HazardEvent.hazard_id)
        .where(reopened, HazardEvent.at >= p.start, HazardEvent.at <= p.as_of)
        .group_by(Hazard.domain)).all()
    counts = dict(rows)
    result = {"total": sum(counts.values()), "to_date": None, "sampled": None,
              "by_domain": [{"domain": d, "recurrences": int(counts.get(d, 0))} for d in DOMAINS]}
    if detail:
        result["to_date"] = int(db.session.scalar(select(func.count()).select_from(HazardEvent).where(
            reopened, HazardEvent.at <= p.as_of)) or 0)
        result["sampled"] = int(db.session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.kind == "reinspect", Assignment.created_at >= p.start,
            Assignment.created_at <= p.as_of)) or 0)
    return result


def _coverage(p: Period) -> dict:
    """Coverage of the register by each campaign running in the quarter: the visits received by its end."""
    from server.inspections import coverage as coverage_service

    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.starts_on <= p.last, Campaign.ends_on >= p.first)
        .order_by(Campaign.starts_on, Campaign.id)).all()
    result = []
    for campaign in campaigns:
        figures = coverage_service.coverage(campaign_id=campaign.id, districts=None, as_of=p.as_of)
        by_domain = coverage_service.rollup(figures, ("domain",))["rows"]
        total = figures["total"]
        result.append({
            "id": campaign.id, "name": campaign.name, "doc_no": campaign.doc_no, "domains": list(campaign.domains),
            "starts_on": campaign.starts_on.isoformat(), "ends_on": campaign.ends_on.isoformat(),
            **{key: total[key] for key in ("registered", "inspected", "never_inspected", "no_access", "coverage")},
            "by_domain": [{key: row[key] for key in ("domain", "registered", "inspected", "never_inspected",
                                                      "no_access", "coverage")} for row in by_domain]})
    return {"measured_at": utcnow().isoformat(), "campaigns": result}


def _credit(p: Period, *, detail: bool) -> dict:
    """The quarter's credit figures (server.credit.service.quarter_figures), as plain JSON."""
    from server.credit import service as credit_service

    figures = credit_service.quarter_figures(quarter=p.quarter, districts=None, limit=LIST_LIMIT)
    kinds = [{**kind, "name": KIND_NAMES.get(kind["kind"], kind["kind"])} for kind in figures["kinds"]]
    return {
        "standard": figures["standard"],
        "grades": [band.grade for band in credit_service.standard().bands],
        "kinds": kinds if detail else [],
        "deductions": figures["deductions"],
        "rules": figures["rules"][:TOP_ITEMS] if detail else [],
        "downgraded_total": figures["downgraded_total"],
        "downgraded": [{"name": row["enterprise"].name, "credit_code": row["enterprise"].credit_code,
                        "kind": row["enterprise"].kind, "grade_at_start": row["grade_at_start"],
                        "grade": row["grade"], "score_at_start": row["score_at_start"], "score": row["score"]}
                       for row in figures["downgraded"]] if detail else [],
    }


def _cases(p: Period, *, detail: bool) -> dict:
    """Cases filed, transferred, returned and decided in the quarter (by their dates, as recorded by its end)."""
    from server.cases.enums import PENALTY_NAMES, Action as CaseAction
    from server.cases.models import Case, CaseEvent

    filed = db.session.scalar(select(func.count()).select_from(Case).where(
        Case.filed_on >= p.first, Case.filed_on <= p.last, Case.created_at <= p.as_of)) or 0
    events = db.session.execute(
        select(CaseEvent.case_id, CaseEvent.type, CaseEvent.data, CaseEvent.id)
        .where(CaseEvent.type.in_([CaseAction.TRANSFER.value, CaseAction.RETURN.value, CaseAction.DECIDE.value]),
               CaseEvent.at <= p.as_of).order_by(CaseEvent.id)).all()
    dates = {CaseAction.TRANSFER.value: "transferred_on", CaseAction.RETURN.value: "returned_on",
             CaseAction.DECIDE.value: "decided_on"}
    seen: dict[str, set] = {kind: set() for kind in dates}
    decisions: dict[int, dict] = {}
    for case_id, kind, data, _ in events:
        on = (data or {}).get(dates[kind])
        if not on or not p.first.isoformat() <= on <= p.last.isoformat():
            continue
        seen[kind].add(case_id)
        if kind == CaseAction.DECIDE.value:
            decisions[case_id] = data
    by_penalty = {kind.value: 0 for kind in PENALTY_NAMES}
    fines, total = 0, Decimal("0")
    for data in decisions.values():
        for kind in data.get("penalty_kinds") or []:
            by_penalty[kind] = by_penalty.get(kind, 0) + 1
        if data.get("amount_yuan"):
            fines += 1
            total += Decimal(str(data["amount_yuan"]))
    result = {"filed": int(filed), "transferred": len(seen[CaseAction.TRANSFER.value]),
              "returned": len(seen[CaseAction.RETURN.value]), "decided": len(decisions), "fines": fines,
              "fine_total_yuan": f"{total.quantize(Decimal('0.01'))}",
              "by_penalty": [{"kind": kind, "name": PENALTY_NAMES[kind], "cases": count}
                             for kind, count in by_penalty.items() if count],
              "decided_list": []}
    if detail and decisions:
        for case in db.session.scalars(select(Case).where(Case.id.in_(sorted(decisions))).order_by(Case.case_no)):
            data = decisions[case.id]
            result["decided_list"].append({
                "case_no": case.case_no, "party": case.party_name, "cause": case.cause,
                "district": case.district_code, "decided_on": data.get("decided_on"),
                "decision_no": data.get("decision_no"),
                "penalties": [PENALTY_NAMES.get(k, k) for k in data.get("penalty_kinds") or []],
                "amount_yuan": None if not data.get("amount_yuan") else
                f"{Decimal(str(data['amount_yuan'])).quantize(Decimal('0.01'))}"})
            if len(result["decided_list"]) == LIST_LIMIT:
                break
    return result


def _item_texts() -> dict[tuple[str, str], str]:
    """Return (checklist code, item code) → the item's text in the newest version that has it."""
    from server.inspections.service import checklists

    texts: dict[tuple[str, str], str] = {}
    for checklist in sorted(checklists(), key=lambda c: (c.code, c.version)):
        for item in checklist.items:
            texts[(checklist.code, item.code)] = item.text
    return texts


def _top_items(found_rows: list) -> list[dict]:
    """The hazard items found most often in the quarter (from the found rows by item)."""
    counts: dict[tuple, list[int]] = {}
    for domain, severity, _, checklist, item, number in found_rows:
        entry = counts.setdefault((domain, checklist, item), [0, 0])
        entry[0] += number
        entry[1] += number if severity == Severity.MAJOR.value else 0
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1][0], pair[0][1], pair[0][2]))[:TOP_ITEMS]
    texts = _item_texts() if ranked else {}
    return [{"rank": n, "domain": domain, "checklist": checklist, "item": item,
             "text": texts.get((checklist, item), item), "found": found, "major": major}
            for n, ((domain, checklist, item), (found, major)) in enumerate(ranked, start=1)]


# --- the figures of a quarter -------------------------------------------------------------------------

def compute(quarter: str, *, now: datetime | None = None, detail: bool = True, cache: dict | None = None) -> dict:
    """Return the figures of a quarter as they were at its end (JSON-ready), without the comparisons.

    ``detail`` False leaves out what only the quarter's own report shows
    (districts, lists, coverage, most frequent items) — enough for a
    comparison. ``cache`` shares open-hazard figures between the quarters of
    one making (a quarter's start is the previous one's end).
    """
    p = period(quarter, now=now)
    cache = {} if cache is None else cache
    hazards, by_pair, open_majors, found_rows = _hazards(p, cache, detail=detail)
    figures = {
        "schema": SCHEMA, "quarter": p.quarter, "label": label(p.quarter), "starts_on": p.first.isoformat(),
        "ends_on": p.last.isoformat(), "as_of": p.as_of.isoformat(), "complete": p.complete,
        "inspections": _inspections(p, detail=detail),
        "hazards": hazards,
        "majors": _majors(p, by_pair, open_majors, detail=detail),
        "recurrences": _recurrences(p, detail=detail),
        "coverage": _coverage(p) if detail else {"measured_at": None, "campaigns": []},
        "credit": _credit(p, detail=detail),
        "cases": _cases(p, detail=detail),
        "top_items": _top_items(found_rows) if detail else [],
    }
    figures["key_figures"] = key_figures(figures)
    return figures


def key_figures(figures: dict) -> dict:
    """Return the figures compared between quarters (``KPIS``), from a quarter's figures."""
    hazards = figures["hazards"]["total"]
    return {
        "inspections": figures["inspections"]["total"],
        "hazards_found": hazards["found"],
        "hazards_closed": hazards["closed"],
        "closure_rate": hazards["closure_rate"],
        "closure_rate_to_date": hazards["closure_rate_to_date"],
        "median_days_to_close": hazards["median_days_to_close"],
        "open_at_end": hazards["open_at_end"],
        "overdue_at_end": hazards["overdue_at_end"],
        "majors_found": figures["majors"]["found"],
        "majors_open_at_end": figures["majors"]["open_at_end"],
        "recurrences": figures["recurrences"]["total"],
        "deductions_confirmed": figures["credit"]["deductions"]["confirmed"],
        "cases_transferred": figures["cases"]["transferred"],
        "penalties_decided": figures["cases"]["decided"],
        "fine_total_yuan": figures["cases"]["fine_total_yuan"],
    }


def _number(value):
    if value is None:
        return None
    return Decimal(value) if isinstance(value, str) else value


def change(kind: str, value, other) -> dict:
    """Return how ``value`` differs from ``other``: the difference, and for counts and money the share."""
    a, b = _number(value), _number(other)
    if a is None or b is None:
        return {"difference": None, "percent": None}
    difference = a - b
    if kind == "rate":
        return {"difference": round(float(difference), 4), "percent": None}  # percentage points, as a share
    if kind == "days":
        return {"difference": round(float(difference), 1), "percent": None}
    percent = round(float(difference) / float(b), 4) if b else None
    if kind == "money":
        return {"difference": f"{difference.quantize(Decimal('0.01'))}", "percent": percent}
    return {"difference": int(difference), "percent": percent}


def _reference(quarter: str, *, now: datetime, cache: dict) -> dict:
    """Return another quarter's key figures: from its latest complete snapshot, else computed now."""
    try:
        p = period(quarter, now=now)
    except ProblemError:
        return {"quarter": quarter, "label": label(quarter), "source": "none", "version": None, "sha256": None,
                "figures": None}
    snapshot = db.session.scalar(select(QuarterlyReport).where(
        QuarterlyReport.quarter == quarter, QuarterlyReport.complete.is_(True))
        .order_by(QuarterlyReport.version.desc()).limit(1))
    if snapshot is not None:
        return {"quarter": quarter, "label": label(quarter), "source": "snapshot", "version": snapshot.version,
                "sha256": snapshot.sha256, "figures": snapshot.figures["key_figures"]}
    figures = compute(p.quarter, now=now, detail=False, cache=cache)
    return {"quarter": quarter, "label": label(quarter), "source": "computed", "version": None, "sha256": None,
            "figures": figures["key_figures"]}


def comparisons(figures: dict, *, now: datetime, cache: dict) -> dict:
    """Compare a quarter's key figures with the previous quarter (环比) and the same quarter a year before (同比)."""
    quarter = figures["quarter"]
    before = _reference(previous(quarter), now=now, cache=cache)
    year_ago = _reference(year_before(quarter), now=now, cache=cache)
    rows = []
    for key, text, kind in KPIS:
        value = figures["key_figures"][key]
        rows.append({
            "key": key, "label": text, "kind": kind, "value": value,
            "previous": None if before["figures"] is None else before["figures"].get(key),
            "year_ago": None if year_ago["figures"] is None else year_ago["figures"].get(key),
            "vs_previous": change(kind, value, None if before["figures"] is None else before["figures"].get(key)),
            "vs_year_ago": change(kind, value, None if year_ago["figures"] is None else year_ago["figures"].get(key)),
        })
    return {"previous": before, "year_ago": year_ago, "rows": rows}


def build(quarter: str, *, now: datetime | None = None) -> dict:
    """Return the whole analysis of a quarter: its figures and the comparisons."""
    now = now or utcnow()
    cache: dict = {}
    figures = compute(quarter, now=now, cache=cache)
    figures["comparisons"] = comparisons(figures, now=now, cache=cache)
    return figures


# --- snapshots ----------------------------------------------------------------------------------------

def digest(figures: dict) -> str:
    """Return the SHA-256 of the figures' canonical JSON (sorted keys, no spaces, UTF-8)."""
    return canonical.digest(figures)


def verify(report: QuarterlyReport) -> bool:
    """Return whether a snapshot's figures still have the digest it was made with."""
    return digest(report.figures) == report.sha256


def store(*, figures: dict, made_by: int | None, now: datetime | None = None) -> QuarterlyReport:
    """Add the figures as the quarter's next version; never changes a row. Flushes, never commits.

    The version is the highest so far plus one; two makings at once (on
    PostgreSQL; SQLite writers take turns) retry with the next number.
    """
    now = now or utcnow()
    quarter = figures["quarter"]
    for _ in range(5):
        version = (db.session.scalar(select(func.max(QuarterlyReport.version))
                                     .where(QuarterlyReport.quarter == quarter)) or 0) + 1
        report = QuarterlyReport(quarter=quarter, version=version, made_at=now, made_by=made_by,
                                 as_of=datetime.fromisoformat(figures["as_of"]), complete=figures["complete"],
                                 figures=figures, sha256=digest(figures))
        try:
            with db.session.begin_nested():
                db.session.add(report)
        except IntegrityError:
            if made_by is None and scheduled(quarter) is not None:
                raise
            continue
        audit_service.record(action="report.quarterly_made", entity="quarterly_report", entity_id=report.id,
                             actor_id=made_by, data={"quarter": quarter, "version": version,
                                                     "sha256": report.sha256, "complete": report.complete})
        return report
    raise ProblemError("conflict", "The quarter was being made by others at the same moment; try again.")


def make(quarter: str, *, actor: User | None, now: datetime | None = None) -> QuarterlyReport:
    """Compute a quarter now and keep it as a new version (``actor`` None: the scheduler)."""
    figures = build(quarter, now=now)
    return store(figures=figures, made_by=actor.id if actor else None, now=now)


def scheduled(quarter: str) -> QuarterlyReport | None:
    """Return the scheduler's snapshot of a quarter, if it made one."""
    return db.session.scalar(select(QuarterlyReport).where(QuarterlyReport.quarter == quarter,
                                                           QuarterlyReport.made_by.is_(None)))


def latest(quarter: str, *, version: int | None = None) -> QuarterlyReport:
    """Return a quarter's latest snapshot (or the version asked for); 404 when there is none."""
    quarter = parse_quarter(quarter)
    query = select(QuarterlyReport).where(QuarterlyReport.quarter == quarter)
    if version is not None:
        query = query.where(QuarterlyReport.version == version)
    report = db.session.scalar(query.order_by(QuarterlyReport.version.desc()).limit(1))
    if report is None:
        what = f"version {version} of {quarter}" if version is not None else quarter
        raise ProblemError("not_found", f"No quarterly analysis of {what} has been made.")
    return report


def listing(*, quarter: str | None = None) -> list[QuarterlyReport]:
    """Return the snapshots (every version), newest quarter and version first."""
    query = select(QuarterlyReport)
    if quarter is not None:
        query = query.where(QuarterlyReport.quarter == parse_quarter(quarter))
    return list(db.session.scalars(query.order_by(QuarterlyReport.quarter.desc(), QuarterlyReport.version.desc())))


def makers(reports) -> dict[int, User]:
    """Return the users who made these snapshots, by id."""
    ids = sorted({r.made_by for r in reports if r.made_by is not None})
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


# --- files ------------------------------------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def file_name(report: QuarterlyReport, extension: str) -> str:
    """Return the download name of a snapshot's file: 2026年第三季度安全生产形势分析（第1版）.docx."""
    return f"{label(report.quarter)}安全生产形势分析（第{report.version}版）.{extension}"


def xlsx(report: QuarterlyReport) -> bytes:
    """Return the snapshot's tables as an XLSX workbook."""
    from server.reports import quarterly_xlsx

    return quarterly_xlsx.write(report.figures, version=report.version, made_at=report.made_at, sha256=report.sha256)


def docx(report: QuarterlyReport) -> bytes:
    """Return the snapshot as a report laid out as a government document, with its charts (DOCX)."""
    from flask import current_app

    from server.reports import quarterly_charts, quarterly_docx

    return quarterly_docx.write(report.figures, version=report.version, made_at=report.made_at, sha256=report.sha256,
                                charts=quarterly_charts.draw(report.figures),
                                authority=current_app.config["CASE_BUREAU"])


# --- the scheduler ------------------------------------------------------------------------------------

def committee_members() -> list[User]:
    """Return the active members of the safety committee (安委会), who are told of each quarter's analysis."""
    return list(db.session.scalars(
        select(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.COMMITTEE.value, User.active.is_(True)).order_by(User.id)))


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def summary_text(figures: dict) -> str:
    """Return a few lines that tell a committee member what the quarter's analysis says."""
    k = figures["key_figures"]
    return "\n".join([
        f"{figures['label']}全市住房城乡建设领域安全生产形势分析已生成（数据截至"
        f"{clock.local(datetime.fromisoformat(figures['as_of'])).strftime('%Y年%m月%d日%H时%M分')}）。",
        f"检查{k['inspections']}次，排查发现隐患{k['hazards_found']}处（重大隐患{k['majors_found']}处），"
        f"整改销号{k['hazards_closed']}处，当季整改率{_pct(k['closure_rate'])}；",
        f"季末未销号{k['open_at_end']}处，其中逾期{k['overdue_at_end']}处、重大隐患{k['majors_open_at_end']}处；"
        f"“回头看”复发{k['recurrences']}处；",
        f"信用扣分生效{k['deductions_confirmed']}条；移交违法案件{k['cases_transferred']}件，"
        f"作出处罚决定{k['penalties_decided']}件，罚款{k['fine_total_yuan']}元。",
        "报告（DOCX）和数据表（XLSX）可在控制台“季度分析”页下载。",
    ])


def run_scheduled(*, now: datetime) -> dict:
    """Make the last complete quarter's snapshot once (the scheduler's), and tell the committee; idempotent.

    A second run for the same quarter (another process, a rerun of the slot)
    finds the scheduler's snapshot and does nothing; the outbox key
    ``quarterly:<user>:<quarter>`` sends each member one notice.
    """
    quarter = last_complete(now)
    existing = scheduled(quarter)
    if existing is not None:
        return {"quarter": quarter, "made": False, "version": existing.version, "notified": 0}
    report = make(quarter, actor=None, now=now)
    from server.notifications import service as notification_service

    subject = f"【季度安全生产形势分析】{label(quarter)}分析报告已生成"
    body = summary_text(report.figures)
    notified = 0
    for user in committee_members():
        notified += notification_service.enqueue(kind="quarterly_report", recipient_id=user.id, subject=subject,
                                                 body=body, dedupe_key=f"quarterly:{user.id}:{quarter}")
    return {"quarter": quarter, "made": True, "version": report.version, "sha256": report.sha256,
            "notified": notified}
