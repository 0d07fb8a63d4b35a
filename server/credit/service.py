"""Rules of the credit ledger: proposals, one transition function, scores and grades as of any time.

A deduction is a ledger row that is never rewritten: it is proposed (by an
inspection's hazard, the daily sweep of overdue hazards, a case or a person),
then confirmed by a leader or an enforcement officer (effective), and ends by
revocation (e.g. an appeal upheld), credit repair (信用修复) or the end of its
validity (expired, derived from time; the daily sweep records it). Every step
is an event row and an audit row.

The score of an enterprise at time T is the standard's base minus the points
of its deductions that count at T: confirmed by T, not revoked or repaired by
T, and T before ``valid_until``. A counting 一票否决 (veto) deduction forces the
lowest grade. Services never commit; the request, command or job does.
"""

from __future__ import annotations

import calendar
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, case, exists, func, insert, or_, select, true, update

from server import canonical, clock, pagination
from server.accounts.enums import Role
from server.accounts.models import District, User
from server.audit import service as audit_service
from server.credit import standard as standard_rules
from server.credit.enums import Action, SourceKind, Status
from server.credit.models import CreditDeduction, CreditDeductionEvent, CreditStandardVersion
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.enums import Status as HazardStatus
from server.hazards.models import Hazard
from server.notifications.service import dialect_insert, insert_if_absent
from server.registry.models import Enterprise, Subject, SubjectEnterprise

log = logging.getLogger(__name__)

ACTORS = (Role.LEADER, Role.ENFORCEMENT)  # who confirms, revokes, repairs and records deductions
READERS = (Role.LEADER, Role.ENFORCEMENT, Role.COMMITTEE, Role.ADMIN)
REASON_MAX = 4000
BATCH = 500  # ids per IN (...) query

# action -> (states it may start from, state it leads to). States are the derived ones (current_status):
# a proposed or effective deduction past its validity is expired even before the sweep records it.
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.CONFIRM: (frozenset({Status.PROPOSED}), Status.EFFECTIVE),
    Action.REVOKE: (frozenset({Status.PROPOSED, Status.EFFECTIVE, Status.EXPIRED}), Status.REVOKED),
    Action.REPAIR: (frozenset({Status.EFFECTIVE}), Status.REPAIRED),
}
OPEN = (Status.PROPOSED, Status.EFFECTIVE)  # stored states that time may turn into expired
VERBS = {Action.PROPOSE: "propose", Action.CONFIRM: "confirm", Action.REVOKE: "revoke", Action.REPAIR: "repair",
         Action.EXPIRE: "expire"}  # the API's words for the actions


# --- the standard -----------------------------------------------------------------------------------

def standard_path() -> Path:
    """Return the path of the standard in force (``RULES_DIR/credit_standard.yaml``)."""
    return Path(current_app.config["RULES_DIR"]) / standard_rules.FILE_NAME


def standard() -> standard_rules.Standard:
    """Return the standard in force, read again when its file changes (no restart needed after an edit)."""
    path = standard_path()
    info = path.stat()
    stamp = (str(path), info.st_mtime_ns, info.st_size)
    cached = current_app.extensions.get("credit_standard")
    if cached is None or cached[0] != stamp:
        cached = (stamp, standard_rules.load_file(path))
        current_app.extensions["credit_standard"] = cached
    return cached[1]


def register_standard(rules: standard_rules.Standard, *, actor_id: int | None = None) -> None:
    """Freeze the version the ledger uses; refuse (409) a file changed under a version already used.

    The first deduction under a version stores its content; later ones
    compare digests, so points or validity cannot change behind the
    deductions already made under that version.
    """
    where = (CreditStandardVersion.code == rules.code, CreditStandardVersion.version == rules.version)
    stored = db.session.scalar(select(CreditStandardVersion.digest).where(*where))
    if stored is None:
        if insert_if_absent(CreditStandardVersion, keys=["code", "version"], code=rules.code, version=rules.version,
                            digest=rules.digest, content=rules.to_dict(), registered_at=utcnow()):
            audit_service.record(action="credit.standard_frozen", entity="credit_standard",
                                 entity_id=f"{rules.code}@{rules.version}", actor_id=actor_id,
                                 data={"digest": rules.digest, "path": rules.path, "rules": len(rules.rules)})
        stored = db.session.scalar(select(CreditStandardVersion.digest).where(*where))
    if stored != rules.digest:
        raise ProblemError(
            "conflict",
            f"The credit standard {rules.code} version {rules.version} in {rules.path} differs from the version "
            f"already used by the ledger; raise its version to change it.")


def frozen_versions() -> list[CreditStandardVersion]:
    """Return the standard versions the ledger has used."""
    return list(db.session.scalars(select(CreditStandardVersion).order_by(CreditStandardVersion.code,
                                                                          CreditStandardVersion.version)))


def rules_index() -> dict[tuple[str, int], dict[str, dict]]:
    """Return (standard code, version) → rule code → rule, for every version the ledger has used."""
    index: dict[tuple[str, int], dict[str, dict]] = {}
    for row in db.session.execute(select(CreditStandardVersion.code, CreditStandardVersion.version,
                                         CreditStandardVersion.content)):
        index[(row.code, row.version)] = {rule["code"]: rule for rule in (row.content or {}).get("rules", [])}
    return index


def rule_of(deduction: CreditDeduction, index: dict | None = None) -> dict:
    """Return the rule a deduction was made under, as its standard version stored it."""
    index = index if index is not None else rules_index()
    rule = index.get((deduction.standard_code, deduction.standard_version), {}).get(deduction.rule_code)
    return rule or {"code": deduction.rule_code, "title": deduction.rule_code, "category": None,
                    "repair_min_months": 0}


# --- time -------------------------------------------------------------------------------------------

def add_months(day: date, months: int) -> date:
    """Return the same day ``months`` later, on the month's last day when it has no such day (Jan 31 → Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_midnight(day: date) -> datetime:
    """Return the UTC instant at which ``day`` begins in the bureau's zone."""
    return datetime.combine(day, time(), tzinfo=clock.zone()).astimezone(timezone.utc)


def end_of_day(day: date) -> datetime:
    """Return the last instant of ``day`` in the bureau's zone: "as of a date" sees every event of that day."""
    return local_midnight(day + timedelta(days=1)) - timedelta(microseconds=1)


def valid_until(occurred_at: datetime, months: int) -> datetime:
    """Return when a deduction stops counting: the local midnight ``months`` after the day it occurred."""
    return local_midnight(add_months(clock.local(occurred_at).date(), months))


# --- reading ------------------------------------------------------------------------------------------

def current_status(deduction: CreditDeduction, now: datetime | None = None) -> Status:
    """Return the deduction's state now: a proposed or effective one past its validity is expired."""
    now = now or utcnow()
    if deduction.status in OPEN and now >= deduction.valid_until:
        return Status.EXPIRED
    return Status(deduction.status)


def allowed_actions(deduction: CreditDeduction, now: datetime | None = None) -> list[str]:
    """Return the actions a person may take on the deduction now."""
    status = current_status(deduction, now)
    return [VERBS[action] for action, (sources, _) in TRANSITIONS.items() if status in sources]


def counts_at(deduction: CreditDeduction, at: datetime) -> bool:
    """Return whether a deduction lowers the score at ``at``."""
    return (deduction.effective_at is not None and deduction.effective_at <= at
            and (deduction.ended_at is None or deduction.ended_at > at) and at < deduction.valid_until)


def _counted(at: datetime):
    """The SQL condition of counts_at."""
    return and_(CreditDeduction.effective_at.is_not(None), CreditDeduction.effective_at <= at,
                or_(CreditDeduction.ended_at.is_(None), CreditDeduction.ended_at > at),
                CreditDeduction.valid_until > at)


def visible_enterprise_condition(districts: frozenset[str] | None):
    """Return the SQL condition on Enterprise.id for the caller's districts (None: every enterprise).

    An enterprise is visible where it operates: where it answers for a subject
    of the register or a hazard. (Not where someone recorded a deduction: that
    would let any district make any enterprise, and its ledger, visible.)
    """
    if districts is None:
        return None
    codes = sorted(districts)
    return or_(
        exists().where(Hazard.enterprise_id == Enterprise.id, Hazard.district_code.in_(codes)),
        exists().where(SubjectEnterprise.enterprise_id == Enterprise.id, Subject.id == SubjectEnterprise.subject_id,
                       Subject.district_code.in_(codes)),
    )


def get_enterprise(*, enterprise_id: uuid.UUID, districts: frozenset[str] | None) -> Enterprise:
    """Return an enterprise visible to the caller, or 404 without revealing that it exists."""
    query = select(Enterprise).where(Enterprise.id == enterprise_id)
    condition = visible_enterprise_condition(districts)
    if condition is not None:
        query = query.where(condition)
    enterprise = db.session.scalar(query)
    if enterprise is None:
        raise ProblemError("not_found", "No such enterprise.")
    return enterprise


def get(*, deduction_id: int, districts: frozenset[str] | None) -> CreditDeduction:
    """Return a deduction visible to the caller (its district, or its enterprise is visible), or 404."""
    deduction = db.session.get(CreditDeduction, deduction_id)
    if deduction is None:
        raise ProblemError("not_found", "No such deduction.")
    if districts is not None and deduction.district_code not in districts:
        try:
            get_enterprise(enterprise_id=deduction.enterprise_id, districts=districts)
        except ProblemError:
            raise ProblemError("not_found", "No such deduction.") from None
    return deduction


def get_for_action(*, deduction_id: int, actor: User, districts: frozenset[str] | None) -> CreditDeduction:
    """Return a deduction the actor may act on, fresh from the database; 403 for another district's deduction."""
    deduction = get(deduction_id=deduction_id, districts=districts)
    if districts is not None and deduction.district_code not in districts:
        raise ProblemError("forbidden", f"This deduction was raised in district {deduction.district_code}, "
                                        "outside your districts; a leader or officer there decides on it.")
    check_actor(actor)
    db.session.refresh(deduction)
    return deduction


def check_actor(actor: User) -> None:
    """Refuse anyone but a leader or an enforcement officer."""
    if not actor.has_role(*ACTORS):
        raise ProblemError("forbidden", "Only leaders and enforcement officers decide on credit deductions.")


def _status_condition(status: str, now: datetime):
    if status == Status.EXPIRED:
        return or_(CreditDeduction.status == Status.EXPIRED,
                   and_(CreditDeduction.status.in_(OPEN), CreditDeduction.valid_until <= now))
    if status in OPEN:
        return and_(CreditDeduction.status == status, CreditDeduction.valid_until > now)
    return CreditDeduction.status == status


def list_page(*, districts: frozenset[str] | None, status: str | None = None, enterprise_id: uuid.UUID | None = None,
              rule: str | None = None, source_kind: str | None = None, cursor: str | None = None,
              limit: int = 50) -> tuple[list[CreditDeduction], str | None]:
    """Return one page of deductions in the caller's districts, oldest first (a work queue), and the next cursor."""
    query = select(CreditDeduction)
    if districts is not None:
        query = query.where(CreditDeduction.district_code.in_(sorted(districts)))
    if status:
        query = query.where(_status_condition(status, utcnow()))
    if enterprise_id:
        query = query.where(CreditDeduction.enterprise_id == enterprise_id)
    if rule:
        query = query.where(CreditDeduction.rule_code == rule)
    if source_kind:
        query = query.where(CreditDeduction.source_kind == source_kind)
    after = pagination.decode(cursor, 1)
    if after:
        if not after[0].isdigit():
            raise validation_error("cursor", "not a cursor this server gave; start again without it")
        query = query.where(CreditDeduction.id > int(after[0]))
    rows = db.session.scalars(query.order_by(CreditDeduction.id).limit(limit + 1)).all()
    if len(rows) > limit:
        return list(rows[:limit]), pagination.encode([str(rows[limit - 1].id)])
    return list(rows), None


def ledger(*, enterprise: Enterprise) -> list[CreditDeduction]:
    """Return every deduction of an enterprise, newest event first."""
    return list(db.session.scalars(select(CreditDeduction).where(CreditDeduction.enterprise_id == enterprise.id)
                                   .order_by(CreditDeduction.occurred_at.desc(), CreditDeduction.id.desc())))


def enterprises_by_id(ids) -> dict[uuid.UUID, Enterprise]:
    """Return the enterprises with these ids."""
    ids = sorted(set(ids))
    return {e.id: e for e in db.session.scalars(select(Enterprise).where(Enterprise.id.in_(ids)))} if ids else {}


# --- scores -------------------------------------------------------------------------------------------

def score(*, enterprise: Enterprise, at: datetime) -> dict:
    """Return the score and grade of an enterprise at ``at``, with the deductions that count."""
    rules = standard()
    rows = list(db.session.scalars(select(CreditDeduction).where(CreditDeduction.enterprise_id == enterprise.id,
                                                                 _counted(at))
                                   .order_by(CreditDeduction.effective_at, CreditDeduction.id)))
    value = rules.base - sum(row.points for row in rows)
    veto = any(row.veto for row in rows)
    return {"score": value, "grade": rules.grade(value, veto=veto), "veto": veto, "counted": rows,
            "standard": standard_rules.summary(rules), "as_of": at, "projected": at > utcnow()}


def points_by_enterprise(*, at: datetime, enterprise_condition=None) -> dict[uuid.UUID, tuple[int, bool, int]]:
    """Return enterprise id → (points counted, veto counted, deductions counted) at ``at``."""
    query = (select(CreditDeduction.enterprise_id, func.sum(CreditDeduction.points),
                    func.max(case((CreditDeduction.veto, 1), else_=0)), func.count())
             .where(_counted(at)).group_by(CreditDeduction.enterprise_id))
    if enterprise_condition is not None:
        query = query.where(CreditDeduction.enterprise_id.in_(select(Enterprise.id).where(enterprise_condition)))
    return {row[0]: (int(row[1] or 0), bool(row[2]), int(row[3])) for row in db.session.execute(query)}


def history(*, enterprise: Enterprise, until: datetime | None = None) -> list[dict]:
    """Return every change of the score up to ``until`` (default now), oldest first, with the score after it.

    A change is a confirmation (the deduction starts counting), a revocation
    or repair (it stops early), or the end of its validity (expired).
    """
    rules = standard()
    until = until or utcnow()
    changes = []
    for row in db.session.scalars(select(CreditDeduction).where(CreditDeduction.enterprise_id == enterprise.id,
                                                                CreditDeduction.effective_at.is_not(None))):
        changes.append((row.effective_at, 0, "confirmed", row))
        if row.ended_at is not None and row.ended_at < row.valid_until:
            end, kind = row.ended_at, row.status
        else:
            end, kind = row.valid_until, Status.EXPIRED.value
        if end > row.effective_at:
            changes.append((end, 1, kind, row))
    changes.sort(key=lambda c: (c[0], c[1], c[3].id))
    points, vetoes, result, grade = 0, 0, [], rules.grade(rules.base)
    for at, _, kind, row in changes:
        if at > until:
            break
        sign = 1 if kind == "confirmed" else -1
        points += sign * row.points
        vetoes += sign * int(row.veto)
        value = rules.base - points
        new_grade = rules.grade(value, veto=vetoes > 0)
        result.append({"at": at, "change": kind, "deduction_id": row.id, "rule": row.rule_code,
                       "points": -sign * row.points, "score": value, "grade": new_grade,
                       "grade_changed": new_grade != grade})
        grade = new_grade
    return result


# What rankings and figures show of an enterprise: rows, not ORM objects (thousands of them).
ENTERPRISE_COLUMNS = (Enterprise.id, Enterprise.name, Enterprise.credit_code, Enterprise.kind)


def _rank(rows: list[dict]) -> list[dict]:
    """Order by score (higher first), then name; equal scores share a rank."""
    rows.sort(key=lambda r: (-r["score"], r["enterprise"].name, r["enterprise"].credit_code))
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        if row["score"] != previous:
            rank, previous = position, row["score"]
        row["rank"] = rank
    return rows


def ranking(*, kind: str, at: datetime, districts: frozenset[str] | None, limit: int = 50,
            offset: int = 0) -> dict:
    """Return the enterprises of one kind ranked by score at ``at``, with the count per grade."""
    rules = standard()
    condition = Enterprise.kind == kind
    visible = visible_enterprise_condition(districts)
    if visible is not None:
        condition = and_(condition, visible)
    points = points_by_enterprise(at=at, enterprise_condition=condition)
    rows = []
    for enterprise in db.session.execute(select(*ENTERPRISE_COLUMNS).where(condition)):
        lost, veto, counted = points.get(enterprise.id, (0, False, 0))
        value = rules.base - lost
        rows.append({"enterprise": enterprise, "score": value, "grade": rules.grade(value, veto=veto), "veto": veto,
                     "deductions": counted})
    _rank(rows)
    grades = {band.grade: 0 for band in rules.bands}
    for row in rows:
        grades[row["grade"]] += 1
    return {"kind": kind, "as_of": at, "projected": at > utcnow(), "standard": standard_rules.summary(rules),
            "total": len(rows), "grades": grades, "items": rows[offset:offset + limit]}


# --- quarters -----------------------------------------------------------------------------------------

_QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """Return the first and last day of a quarter written 2026Q3; 422 for anything else."""
    match = _QUARTER_RE.match(quarter or "")
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise validation_error("quarter", "must be written YYYYQn, e.g. 2026Q3")
    year, number = int(match.group(1)), int(match.group(2))
    first = date(year, 3 * number - 2, 1)
    last = add_months(first, 3) - timedelta(days=1)
    return first, last


def quarter_figures(*, quarter: str, districts: frozenset[str] | None, limit: int = 100) -> dict:
    """Return a quarter's figures for the safety committee: grades at its start and end by kind, the
    deductions proposed, confirmed, revoked, repaired and expired in it, the rules most used, and the
    enterprises whose grade fell."""
    rules = standard()
    first, last = quarter_bounds(quarter)
    now = utcnow()
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    if start > now:
        raise validation_error("quarter", "has not begun")
    at_end = min(end - timedelta(microseconds=1), now)
    at_start = start - timedelta(microseconds=1)
    visible = visible_enterprise_condition(districts)
    query = select(*ENTERPRISE_COLUMNS)
    enterprises = db.session.execute(query.where(visible) if visible is not None else query).all()
    before = points_by_enterprise(at=at_start, enterprise_condition=visible)
    after = points_by_enterprise(at=at_end, enterprise_condition=visible)
    order = {band.grade: i for i, band in enumerate(rules.bands)}
    kinds: dict[str, dict] = {}
    fallen = []
    for enterprise in enterprises:
        lost0, veto0, _ = before.get(enterprise.id, (0, False, 0))
        lost1, veto1, _ = after.get(enterprise.id, (0, False, 0))
        score0, score1 = rules.base - lost0, rules.base - lost1
        grade0, grade1 = rules.grade(score0, veto=veto0), rules.grade(score1, veto=veto1)
        figures = kinds.setdefault(enterprise.kind, {
            "kind": enterprise.kind, "enterprises": 0, "grades_at_start": {b.grade: 0 for b in rules.bands},
            "grades": {b.grade: 0 for b in rules.bands}, "score_sum": 0, "vetoed": 0, "downgraded": 0,
            "upgraded": 0})
        figures["enterprises"] += 1
        figures["grades_at_start"][grade0] += 1
        figures["grades"][grade1] += 1
        figures["score_sum"] += score1
        figures["vetoed"] += int(veto1)
        if order[grade1] > order[grade0]:
            figures["downgraded"] += 1
            fallen.append({"enterprise": enterprise, "grade_at_start": grade0, "grade": grade1,
                           "score_at_start": score0, "score": score1})
        elif order[grade1] < order[grade0]:
            figures["upgraded"] += 1
    for figures in kinds.values():
        figures["average_score"] = round(figures.pop("score_sum") / figures["enterprises"], 2)

    in_scope = CreditDeduction.district_code.in_(sorted(districts)) if districts is not None else true()

    def count(column, extra=true()):
        return func.coalesce(func.sum(case((and_(column >= start, column < end, extra), 1), else_=0)), 0)

    confirmed = and_(CreditDeduction.effective_at >= start, CreditDeduction.effective_at < end)
    expired = and_(CreditDeduction.effective_at.is_not(None), CreditDeduction.valid_until >= start,
                   CreditDeduction.valid_until < end, CreditDeduction.valid_until <= now,
                   or_(CreditDeduction.ended_at.is_(None), CreditDeduction.ended_at >= CreditDeduction.valid_until))
    totals = db.session.execute(select(
        count(CreditDeduction.created_at), count(CreditDeduction.effective_at),
        count(CreditDeduction.ended_at, CreditDeduction.status == Status.REVOKED),
        count(CreditDeduction.ended_at, CreditDeduction.status == Status.REPAIRED),
        func.coalesce(func.sum(case((expired, 1), else_=0)), 0),
        func.coalesce(func.sum(case((confirmed, CreditDeduction.points), else_=0)), 0),
    ).where(in_scope)).one()
    by_rule = db.session.execute(
        select(CreditDeduction.rule_code, CreditDeduction.source_kind, func.count(), func.sum(CreditDeduction.points))
        .where(in_scope, confirmed).group_by(CreditDeduction.rule_code, CreditDeduction.source_kind)).all()
    rules_used: dict[str, dict] = {}
    sources = {kind.value: 0 for kind in SourceKind}
    for code, source, number, points in by_rule:
        rule = rules.rule(code)
        entry = rules_used.setdefault(code, {"rule": code, "title": rule.title if rule else code,
                                             "category": rule.category if rule else None, "confirmed": 0,
                                             "points": 0})
        entry["confirmed"] += number
        entry["points"] += int(points or 0)
        sources[source] = sources.get(source, 0) + number
    fallen.sort(key=lambda r: (r["score"], r["enterprise"].name))
    return {
        "quarter": quarter, "starts_on": first, "ends_on": last, "as_of": at_end, "complete": end <= now,
        "standard": standard_rules.summary(rules),
        "kinds": sorted(kinds.values(), key=lambda k: k["kind"]),
        "deductions": {"proposed": int(totals[0]), "confirmed": int(totals[1]), "revoked": int(totals[2]),
                       "repaired": int(totals[3]), "expired": int(totals[4]), "points_confirmed": int(totals[5]),
                       "by_source": sources},
        "rules": sorted(rules_used.values(), key=lambda r: (-r["confirmed"], r["rule"])),
        "downgraded": fallen[:limit], "downgraded_total": len(fallen),
    }


# --- proposing ----------------------------------------------------------------------------------------

def _refusal(rules, rule, enterprise: Enterprise, occurred_at: datetime, now: datetime) -> tuple[str, str] | None:
    """Return (field, reason) why this rule cannot be proposed against this enterprise, or None."""
    if rule is None:
        return "rule", f"is not a rule of the credit standard {rules.code} version {rules.version}"
    if enterprise.kind not in rule.applies_to:
        return "rule", (f"{rule.code} applies to {', '.join(rule.applies_to)}, "
                        f"not to this enterprise's kind {enterprise.kind}")
    if occurred_at > now:
        return "occurred_at", "must not be in the future"
    until = valid_until(occurred_at, rule.validity_months)
    if until <= now:
        return "occurred_at", (f"is older than the {rule.validity_months} months {rule.code} stays valid "
                               f"(it would have ended on {clock.local(until).date().isoformat()})")
    return None


_INSERT_PROPOSED: dict[str, object] = {}  # dialect name -> the statement, built once (values bound per call)
_INSERT_EVENT = insert(CreditDeductionEvent)


def _insert(values: dict) -> int | None:
    """INSERT the deduction unless its (enterprise, rule, source) exists; return its new id, or None."""
    name = db.engine.dialect.name
    if name not in _INSERT_PROPOSED:
        _INSERT_PROPOSED[name] = (
            dialect_insert(CreditDeduction)
            .on_conflict_do_nothing(index_elements=["enterprise_id", "rule_code", "source_kind", "source_id"])
            .returning(CreditDeduction.id))
    row = db.session.connection().execute(_INSERT_PROPOSED[name], values).first()
    return None if row is None else row[0]


def _find(*, enterprise_id, rule_code: str, source_kind: str, source_id: str) -> CreditDeduction | None:
    return db.session.scalar(select(CreditDeduction).where(
        CreditDeduction.enterprise_id == enterprise_id, CreditDeduction.rule_code == rule_code,
        CreditDeduction.source_kind == source_kind, CreditDeduction.source_id == source_id))


_AUDITED = ("enterprise_id", "rule_code", "points", "standard_code", "standard_version")


def _audit(deduction_id: int, facts, action: Action, actor_id: int, **data) -> None:
    """Record a step of a deduction in the audit trail (``facts``: the deduction's row, or values, by name)."""
    if not isinstance(facts, dict):
        facts = {name: getattr(facts, name) for name in _AUDITED}
    audit_service.record(action=f"credit.{action.value}", entity="credit_deduction", entity_id=deduction_id,
                         actor_id=actor_id, data={"enterprise_id": str(facts["enterprise_id"]),
                                                  "rule": facts["rule_code"], "points": facts["points"],
                                                  "standard": f"{facts['standard_code']}@{facts['standard_version']}",
                                                  **data})


def _row(rules, rule, *, enterprise_id, source_kind: str, source_id, district_code: str, occurred_at: datetime,
         actor_id: int, note: str | None, now: datetime, client_id: uuid.UUID | None = None,
         payload_hash: str | None = None) -> dict:
    """Return the row of a new proposed deduction under ``rule`` of ``rules``."""
    return dict(
        enterprise_id=enterprise_id, standard_code=rules.code, standard_version=rules.version, rule_code=rule.code,
        points=rule.points, veto=rule.veto, source_kind=source_kind, source_id=str(source_id)[:64],
        district_code=district_code, occurred_at=occurred_at, valid_until=valid_until(occurred_at, rule.validity_months),
        status=Status.PROPOSED.value, note=note, client_id=client_id, payload_hash=payload_hash, created_at=now,
        created_by=actor_id)


def _record_proposal(row: dict) -> int | None:
    """INSERT a proposed deduction with its event and audit event unless its (enterprise, rule, source) exists
    (then nothing is written and None returned; concurrent proposals make one row); return its id."""
    new_id = _insert(row)
    if new_id is None:
        return None
    db.session.connection().execute(_INSERT_EVENT, dict(
        deduction_id=new_id, type=Action.PROPOSE.value, at=row["created_at"], actor_id=row["created_by"],
        from_status=None, to_status=Status.PROPOSED.value, reason=row["note"]))
    _audit(new_id, row, Action.PROPOSE, row["created_by"], source=f"{row['source_kind']}:{row['source_id']}",
           district=row["district_code"], occurred_at=row["occurred_at"].isoformat(),
           valid_until=row["valid_until"].isoformat())
    return new_id


def propose(*, enterprise: Enterprise, rule_code: str, source_kind: str, source_id: str, district_code: str,
            occurred_at: datetime, actor: User, note: str | None = None, client_id: uuid.UUID | None = None,
            payload_hash: str | None = None, now: datetime | None = None) -> tuple[CreditDeduction, bool]:
    """Propose a deduction against an enterprise; return it and whether it is new.

    The same enterprise, rule and source give the stored deduction instead
    of a second one (INSERT ... ON CONFLICT DO NOTHING on the unique key,
    so concurrent proposals make one row). Refused with 422: an unknown
    rule, a rule for another kind of enterprise, a future event, an event
    older than the rule's validity. For cases: ``source_kind="case"``.
    """
    rules = standard()
    rule = rules.rule(rule_code)
    now = now or utcnow()
    source_id = str(source_id)[:64]
    refusal = _refusal(rules, rule, enterprise, occurred_at, now)
    if refusal is not None:
        raise validation_error(*refusal)
    if source_kind not in SourceKind.__members__.values():
        raise validation_error("source_kind", f"must be one of {', '.join(SourceKind)}")
    existing = _find(enterprise_id=enterprise.id, rule_code=rule.code, source_kind=source_kind, source_id=source_id)
    if existing is not None:
        return existing, False
    register_standard(rules, actor_id=actor.id)
    new_id = _record_proposal(_row(
        rules, rule, enterprise_id=enterprise.id, source_kind=source_kind, source_id=source_id,
        district_code=district_code, occurred_at=occurred_at, actor_id=actor.id, note=note, now=now,
        client_id=client_id, payload_hash=payload_hash))
    if new_id is None:  # a concurrent proposal of the same source won
        return _find(enterprise_id=enterprise.id, rule_code=rule.code, source_kind=source_kind,
                     source_id=source_id), False
    return db.session.get(CreditDeduction, new_id), True


def _propose_quietly(*, enterprise: Enterprise, rule_code: str, source_kind: str, source_id, district_code: str,
                     occurred_at: datetime, actor: User, note: str, now: datetime | None = None) -> CreditDeduction | None:
    """Propose for an automatic source: return the new deduction, None when it exists or does not apply."""
    rules = standard()
    now = now or utcnow()
    refusal = _refusal(rules, rules.rule(rule_code), enterprise, occurred_at, now)
    if refusal is not None:
        log.info("credit rule %s not proposed for %s %s: %s %s", rule_code, source_kind, source_id, *refusal)
        return None
    deduction, created = propose(enterprise=enterprise, rule_code=rule_code, source_kind=source_kind,
                                 source_id=str(source_id), district_code=district_code, occurred_at=occurred_at,
                                 actor=actor, note=note, now=now)
    return deduction if created else None


@dataclass(frozen=True)
class Proposals:
    """The deductions a new inspection calls for: rows made under ``rules``, written by ``insert_proposals``."""

    rules: standard_rules.Standard | None = None
    rows: tuple[dict, ...] = ()
    registered: bool = False  # the ledger already holds this version of the standard, with the same content


def proposals_for_inspection(*, inspection: dict, hazards: list[dict], enterprise_ids: list, subject_name: str,
                             actor_id: int, now: datetime) -> Proposals:
    """Return the deductions a new inspection calls for, reading only; never refuses the inspection.

    Each hazard whose checklist item carries a ``credit_rule`` proposes that
    rule against the hazard's responsible enterprise (not for a hazard fixed
    on the spot unless CREDIT_PROPOSE_FIXED_ON_SPOT); a construction site
    scored 不合格 proposes the standard's ``inspection_rules.jgj59_fail``
    against the site's enterprises of a kind the rule applies to.
    ``inspection`` and ``hazards`` are the rows about to be stored; the
    submission writes the result with ``insert_proposals``, so the write
    lock is not held while the rules are applied.
    """
    from server.inspections import service as inspection_service

    try:
        rules = standard()
        checklist = inspection_service.checklist(code=inspection["checklist_code"],
                                                 version=inspection["checklist_version"])
        with_fixed = bool(current_app.config.get("CREDIT_PROPOSE_FIXED_ON_SPOT", False))
        wanted = []  # (enterprise id, rule code, source kind, source id, note)
        for hazard in sorted(hazards, key=lambda h: h["id"]):
            item = checklist.item(hazard["item_code"]) if checklist is not None else None
            if (hazard["enterprise_id"] is None or item is None or item.credit_rule is None
                    or (hazard["fixed_on_spot"] and not with_fixed)):
                continue
            wanted.append((hazard["enterprise_id"], item.credit_rule, SourceKind.HAZARD, hazard["id"],
                           f"检查发现隐患（{hazard['item_code']}）：{hazard['description']}"[:REASON_MAX]))
        fail_rule = rules.inspection_rules.get("jgj59_fail")
        if fail_rule and (inspection["score"] or {}).get("grade_code") == "fail":
            wanted += [(enterprise_id, fail_rule, SourceKind.INSPECTION, inspection["id"],
                        f"施工现场安全检查评定为不合格（{subject_name}）") for enterprise_id in enterprise_ids]
        enterprises = enterprises_by_id(w[0] for w in wanted)
        rows = []
        for enterprise_id, rule_code, source_kind, source_id, note in wanted:
            rule, occurred_at = rules.rule(rule_code), inspection["started_at"]
            refusal = _refusal(rules, rule, enterprises[enterprise_id], occurred_at, now)
            if refusal is not None:
                log.info("credit rule %s not proposed for %s %s: %s %s", rule_code, source_kind, source_id, *refusal)
                continue
            rows.append(_row(rules, rule, enterprise_id=enterprise_id, source_kind=source_kind, source_id=source_id,
                             district_code=inspection["district_code"], occurred_at=occurred_at, actor_id=actor_id,
                             note=note, now=now))
        registered = bool(rows) and db.session.scalar(select(CreditStandardVersion.digest).where(
            CreditStandardVersion.code == rules.code, CreditStandardVersion.version == rules.version)) == rules.digest
        return Proposals(rules, tuple(rows), registered)
    except (ProblemError, ValueError, OSError) as error:  # a broken or changed standard must not lose an inspection
        log.error("credit proposals for inspection %s skipped: %s", inspection["id"], getattr(error, "detail", error))
        return Proposals()


def insert_proposals(proposals: Proposals, *, actor_id: int) -> list[int]:
    """Write what ``proposals_for_inspection`` found, in the caller's transaction; return the new deductions' ids.

    A standard whose file changed under a version already used (409) skips
    them, logged, as ``proposals_for_inspection`` does.
    """
    if not proposals.rows:
        return []
    try:
        if not proposals.registered:  # once registered, a version's content never changes
            register_standard(proposals.rules, actor_id=actor_id)
    except ProblemError as error:
        log.error("credit proposals skipped: %s", error.detail)
        return []
    return [new_id for row in proposals.rows if (new_id := _record_proposal(row)) is not None]


def create_manual(*, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[CreditDeduction, bool]:
    """Record a deduction by hand (proposed); idempotent by the client's id: a retry answers the stored one.

    The source is the ``reference`` (e.g. the penalty decision's number) when
    given, so the same document cannot deduct twice under one rule.
    """
    check_actor(actor)
    payload_hash = canonical.digest(data)
    existing = db.session.scalar(select(CreditDeduction).where(CreditDeduction.client_id == data["id"]))
    if existing is not None:
        if existing.payload_hash != payload_hash or existing.created_by != actor.id:
            raise ProblemError("conflict", "This id was already used for a different deduction.")
        return existing, False
    district = data["district"]
    if db.session.get(District, district) is None:
        raise validation_error("district", "no such district")
    if districts is not None and district not in districts:
        raise validation_error("district", "not among your districts")
    enterprise = db.session.scalar(select(Enterprise).where(
        Enterprise.id == data["enterprise_id"], visible_enterprise_condition(frozenset({district}))))
    if enterprise is None:
        raise validation_error("enterprise_id", "no such enterprise operating in this district")
    reference = (data.get("reference") or "").strip()
    source_id = reference or str(data["id"])
    deduction, created = propose(enterprise=enterprise, rule_code=data["rule"], source_kind=SourceKind.MANUAL,
                                 source_id=source_id, district_code=district, occurred_at=data["occurred_at"],
                                 actor=actor, note=data.get("note"), client_id=data["id"], payload_hash=payload_hash)
    if not created and deduction.client_id == data["id"]:  # the same request, stored by a concurrent twin
        if deduction.payload_hash != payload_hash or deduction.created_by != actor.id:
            raise ProblemError("conflict", "This id was already used for a different deduction.")
        return deduction, False
    if not created:
        raise ProblemError("conflict", f"Deduction {deduction.id} already records rule {deduction.rule_code} "
                                       f"against this enterprise for reference {source_id!r}.",
                           extra={"deduction_id": deduction.id})
    return deduction, True


# --- moving a deduction ---------------------------------------------------------------------------------

def _refuse(deduction: CreditDeduction, action: Action, now: datetime, detail: str | None = None) -> ProblemError:
    status = current_status(deduction, now)
    allowed = allowed_actions(deduction, now)
    return ProblemError(
        "invalid_transition",
        detail or (f"A deduction in state {status.value!r} does not allow {VERBS[action]!r}; "
                   f"allowed: {', '.join(allowed) or 'nothing'}."),
        extra={"current_status": status.value, "allowed_actions": allowed})


def repair_possible_from(deduction: CreditDeduction, index: dict | None = None) -> datetime:
    """Return when the shortest publication period (最短公示期) of the deduction's rule has passed."""
    months = int(rule_of(deduction, index).get("repair_min_months") or 0)
    return local_midnight(add_months(clock.local(deduction.occurred_at).date(), months))


def _check_repair(deduction: CreditDeduction, now: datetime) -> None:
    """Refuse a credit repair before the shortest period, or before the hazard it came from is closed."""
    earliest = repair_possible_from(deduction)
    if now < earliest:
        raise ProblemError(
            "invalid_transition",
            f"Credit repair is possible from {clock.local(earliest).date().isoformat()}, after the shortest "
            f"publication period of rule {deduction.rule_code}.",
            extra={"current_status": current_status(deduction, now).value,
                   "allowed_actions": allowed_actions(deduction, now),
                   "repair_possible_from": clock.local(earliest).isoformat()})
    if deduction.source_kind == SourceKind.HAZARD:
        hazard = db.session.get(Hazard, uuid.UUID(deduction.source_id))
        if hazard is not None and hazard.status != HazardStatus.CLOSED:
            raise ProblemError(
                "invalid_transition",
                "Credit repair needs the hazard it came from to be rectified and closed (整改销号) first.",
                extra={"current_status": current_status(deduction, now).value,
                       "allowed_actions": allowed_actions(deduction, now), "hazard_status": hazard.status})


def transition(*, deduction: CreditDeduction, action: Action, actor: User, reason: str | None = None,
               at: datetime | None = None) -> CreditDeductionEvent:
    """Move a deduction by ``action`` and write its event and audit row; 409 when its state does not allow it.

    The change is a compare-and-set on the stored status: of two concurrent
    confirmations (a double click) exactly one writes an event; the other
    gets 409 ``invalid_transition``.
    """
    now = at or utcnow()
    if action == Action.EXPIRE:
        if deduction.status not in OPEN or now < deduction.valid_until:
            raise _refuse(deduction, action, now)
        target = Status.EXPIRED
    else:
        sources, target = TRANSITIONS[action]
        if current_status(deduction, now) not in sources:
            raise _refuse(deduction, action, now)
    if action in (Action.REVOKE, Action.REPAIR) and not (reason or "").strip():
        raise validation_error("reason", "a revocation or a repair needs its reason")
    if action == Action.REPAIR:
        _check_repair(deduction, now)
    values: dict = {"status": target.value}
    if action == Action.CONFIRM:
        values["effective_at"] = now
    elif action in (Action.REVOKE, Action.REPAIR):
        values["ended_at"] = now
    result = db.session.execute(
        update(CreditDeduction).where(CreditDeduction.id == deduction.id, CreditDeduction.status == deduction.status)
        .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(deduction)
        raise _refuse(deduction, action, now)
    previous = deduction.status
    for key, value in values.items():
        setattr(deduction, key, value)
    event = CreditDeductionEvent(deduction=deduction, type=action.value, at=now, actor_id=actor.id,
                                 from_status=previous, to_status=target.value, reason=(reason or None))
    db.session.add(event)
    db.session.flush()
    _audit(deduction.id, deduction, action, actor.id, from_status=previous, to_status=target.value, reason=reason)
    return event


def act(*, deduction_id: int, action: Action, actor: User, districts: frozenset[str] | None,
        reason: str | None = None) -> CreditDeduction:
    """Confirm, revoke or repair a deduction as a leader or enforcement officer of its district."""
    deduction = get_for_action(deduction_id=deduction_id, actor=actor, districts=districts)
    transition(deduction=deduction, action=action, actor=actor, reason=reason)
    return deduction


# --- the daily sweep ------------------------------------------------------------------------------------

def propose_overdue(*, now: datetime, actor: User) -> dict:
    """Propose the overdue rule for every hazard still open past its deadline plus the grace days.

    A hazard closed late (after deadline + grace) within the last
    CREDIT_LATE_CLOSE_LOOKBACK_DAYS is proposed too, so a day the sweep did
    not run loses nothing. The unique source key makes a second run a no-op.
    """
    rules = standard()
    grace = int(current_app.config.get("CREDIT_OVERDUE_GRACE_DAYS", 7))
    lookback = int(current_app.config.get("CREDIT_LATE_CLOSE_LOOKBACK_DAYS", 7))
    today = clock.local(now).date()
    latest_deadline = today - timedelta(days=grace + 1)
    overdue_codes = sorted(set(rules.overdue_rules.values()))
    rows = db.session.scalars(
        select(Hazard).where(Hazard.enterprise_id.is_not(None), Hazard.deadline <= latest_deadline,
                             or_(Hazard.status != HazardStatus.CLOSED,
                                 Hazard.closed_at >= now - timedelta(days=lookback)))
        .order_by(Hazard.id)).all()
    result = {"overdue_found": 0, "overdue_proposed": 0, "overdue_not_applicable": 0}
    proposed: set[str] = set()
    for start in range(0, len(rows), BATCH):
        ids = [str(h.id) for h in rows[start:start + BATCH]]
        proposed.update(db.session.scalars(select(CreditDeduction.source_id).where(
            CreditDeduction.source_kind == SourceKind.HAZARD, CreditDeduction.rule_code.in_(overdue_codes),
            CreditDeduction.source_id.in_(ids))))
    for hazard in rows:
        if str(hazard.id) in proposed:
            continue
        if (hazard.status == HazardStatus.CLOSED
                and clock.local(hazard.closed_at).date() <= hazard.deadline + timedelta(days=grace)):
            continue
        result["overdue_found"] += 1
        rule_code = rules.overdue_rules.get(hazard.severity)
        enterprise = db.session.get(Enterprise, hazard.enterprise_id)
        row = _propose_quietly(
            enterprise=enterprise, rule_code=rule_code, source_kind=SourceKind.HAZARD, source_id=hazard.id,
            district_code=hazard.district_code, occurred_at=local_midnight(hazard.deadline + timedelta(days=1)),
            actor=actor, now=now,
            note=f"隐患逾期未整改：整改期限 {hazard.deadline.isoformat()}，宽限 {grace} 天；{hazard.description}"[:REASON_MAX])
        result["overdue_proposed" if row is not None else "overdue_not_applicable"] += 1
    return result


def expire_due(*, now: datetime, actor: User) -> dict:
    """Record the expiry of every proposed or effective deduction whose validity has ended (one event each)."""
    rows = db.session.scalars(select(CreditDeduction).where(CreditDeduction.status.in_(OPEN),
                                                            CreditDeduction.valid_until <= now)
                              .order_by(CreditDeduction.id)).all()
    expired = 0
    for deduction in rows:
        try:
            transition(deduction=deduction, action=Action.EXPIRE, actor=actor, at=now,
                       reason=f"有效期至 {clock.local(deduction.valid_until).date().isoformat()} 届满")
            expired += 1
        except ProblemError:  # a concurrent sweep or person moved it first
            continue
    return {"expired": expired}
