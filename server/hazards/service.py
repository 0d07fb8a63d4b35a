"""Rules of the hazard lifecycle: one transition function driven by a table, one event per change."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select, update

from server import clock, pagination
from server.accounts.enums import Role
from server.accounts.models import User
from server.database import utcnow
from server.errors import ProblemError
from server.extensions import db
from server.hazards.enums import PLAN_FIELDS, Action, Record, Severity, Status
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.registry.service import scoped

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.FIX_ON_SPOT: (frozenset({Status.REPORTED}), Status.CLOSED),
    Action.NOTIFY: (frozenset({Status.REPORTED}), Status.RECTIFYING),
    Action.RECTIFY: (frozenset({Status.REPORTED, Status.RECTIFYING}), Status.PENDING_REVIEW),
    Action.ACCEPT: (frozenset({Status.PENDING_REVIEW}), Status.CLOSED),
    Action.REJECT: (frozenset({Status.PENDING_REVIEW}), Status.RECTIFYING),
    # Re-inspection (回头看) found a closed hazard again: a recurrence.
    Action.REOPEN: (frozenset({Status.CLOSED}), Status.RECTIFYING),
}


def allowed_actions(status: str) -> list[str]:
    """Return the actions a hazard in ``status`` allows."""
    return [action.value for action, (sources, _) in TRANSITIONS.items() if status in sources]


def _refuse(hazard: Hazard, action: Action) -> ProblemError:
    allowed = allowed_actions(hazard.status)
    return ProblemError(
        "invalid_transition",
        f"A hazard in state {hazard.status!r} does not allow {action.value!r}; "
        f"allowed: {', '.join(allowed) or 'nothing'}.",
        extra={"current_status": hazard.status, "allowed_actions": allowed})


def default_deadline(*, severity: str, reported_on: date, days: dict[str, int], item_days: int | None) -> date:
    """Return the rectification deadline: the item's own period, else the severity's."""
    return reported_on + timedelta(days=item_days if item_days is not None else days[severity])


def renew_deadline(*, hazard: Hazard, on: date, days: dict[str, int], item_days: int | None) -> date:
    """Give a reopened hazard a new rectification period from ``on`` (the old deadline belongs to the old fix)."""
    hazard.deadline = default_deadline(severity=hazard.severity, reported_on=on, days=days, item_days=item_days)
    return hazard.deadline


def report(*, hazard: Hazard, actor: User, supervising_unit: str, note: str | None = None) -> HazardEvent:
    """Record a new hazard with its first event; a major hazard is listed for supervision (挂牌督办) at once."""
    hazard.status = Status.REPORTED
    db.session.add(hazard)
    event = HazardEvent(hazard=hazard, type=Action.REPORT, actor_id=actor.id, note=note,
                        from_status=None, to_status=Status.REPORTED, at=hazard.created_at)
    db.session.add(event)
    if hazard.severity == Severity.MAJOR:
        db.session.flush()
        db.session.add(Supervision(hazard_id=hazard.id, supervising_unit=supervising_unit, listed_at=hazard.created_at))
    return event


def plan_missing(hazard: Hazard) -> list[str]:
    """Return the parts of the five implementations (五落实) a major hazard still lacks."""
    if hazard.severity != Severity.MAJOR:
        return []
    plan = hazard.plan or {}
    return [name for name in PLAN_FIELDS if plan.get(name) in (None, "", [])]


def _check_preconditions(hazard: Hazard, action: Action) -> None:
    """Refuse to start rectifying a major hazard before its five implementations are recorded."""
    if action in (Action.NOTIFY, Action.RECTIFY) and (missing := plan_missing(hazard)):
        raise ProblemError(
            "invalid_transition",
            f"A major hazard needs its five implementations (五落实) before rectification; missing: {', '.join(missing)}.",
            extra={"current_status": hazard.status, "allowed_actions": allowed_actions(hazard.status),
                   "missing_plan": missing})


def record(*, hazard: Hazard, kind: Record, actor: User, note: str | None = None, client_id: uuid.UUID | None = None,
           payload_hash: str | None = None, at: datetime | None = None) -> HazardEvent:
    """Write an event that records something without changing the hazard's state."""
    event = HazardEvent(hazard=hazard, type=kind, actor_id=actor.id, note=note, from_status=hazard.status,
                        to_status=hazard.status, client_id=client_id, payload_hash=payload_hash, at=at or utcnow())
    db.session.add(event)
    db.session.flush()
    return event


def _follow_supervision(hazard: Hazard, at: datetime) -> None:
    """Lift the supervision listing when a hazard closes; list it again when it is reopened."""
    listing = db.session.get(Supervision, hazard.id)
    if listing is not None:
        listing.lifted_at = at if hazard.status == Status.CLOSED else None


def transition(*, hazard: Hazard, action: Action, actor: User, note: str | None = None,
               client_id: uuid.UUID | None = None, payload_hash: str | None = None,
               at: datetime | None = None) -> HazardEvent:
    """Move a hazard by ``action`` and write its event; refuse with 409 when its state does not allow it.

    The state change is a compare-and-set on the current status, so of two
    concurrent transitions from one state exactly one succeeds.
    """
    sources, target = TRANSITIONS[action]
    if hazard.status not in sources:
        raise _refuse(hazard, action)
    _check_preconditions(hazard, action)
    at = at or utcnow()
    values = {"status": target, "closed_at": at if target == Status.CLOSED else None}
    result = db.session.execute(
        update(Hazard).where(Hazard.id == hazard.id, Hazard.status == hazard.status).values(**values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(hazard)
        raise _refuse(hazard, action)
    previous = hazard.status
    hazard.status, hazard.closed_at = target, values["closed_at"]
    _follow_supervision(hazard, at)
    db.session.flush()
    event = HazardEvent(hazard=hazard, type=action, actor_id=actor.id, note=note, from_status=previous,
                        to_status=target, client_id=client_id, payload_hash=payload_hash, at=at)
    db.session.add(event)
    db.session.flush()
    return event


def check_reviewer(*, hazard: Hazard, actor: User) -> None:
    """Refuse a reviewer who may not decide on this hazard: a major hazard is closed only by a leader."""
    if hazard.severity == Severity.MAJOR and not actor.has_role(Role.LEADER):
        raise ProblemError("forbidden", "A major hazard is reviewed and closed only by a leader.")
    if not actor.has_role(Role.LEADER, Role.INSPECTOR):
        raise ProblemError("forbidden", "Only inspectors and leaders review hazards.")


def replayed_event(*, client_id: uuid.UUID, hazard: Hazard, payload_hash: str) -> HazardEvent | None:
    """Return the event a retried request made before, None if new; 409 if the id was used for other content."""
    event = db.session.scalar(select(HazardEvent).where(HazardEvent.client_id == client_id))
    if event is None:
        return None
    if event.hazard_id != hazard.id or event.payload_hash != payload_hash:
        raise ProblemError("conflict", "This id was already used for a different request.")
    return event


def is_overdue(hazard: Hazard, today: date | None = None) -> bool:
    """Return whether a hazard is past its deadline and still open (derived, never stored)."""
    return hazard.status != Status.CLOSED and hazard.deadline < (today or clock.today())


def is_carried(hazard: Hazard, today: date | None = None) -> bool:
    """Return whether an overdue hazard is carried on the books (挂账): overdue with a written explanation."""
    return is_overdue(hazard, today) and any(e.type == Record.EXPLAIN_OVERDUE for e in hazard.events)


def recurrences(hazard: Hazard) -> int:
    """Return how many times re-inspection found the hazard again after it was closed."""
    return sum(1 for e in hazard.events if e.type == Action.REOPEN)


def record_plan(*, hazard: Hazard, plan: dict, actor: User, client_id: uuid.UUID, payload_hash: str) -> HazardEvent:
    """Record (or complete) the five implementations of a major hazard."""
    if hazard.severity != Severity.MAJOR:
        raise ProblemError("invalid_transition", "Only a major hazard has five implementations (五落实).",
                           extra={"current_status": hazard.status, "allowed_actions": allowed_actions(hazard.status)})
    if hazard.status == Status.CLOSED:
        raise _refuse(hazard, Action.RECTIFY)
    given = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in plan.items() if v is not None}
    hazard.plan = {**(hazard.plan or {}), **given}
    return record(hazard=hazard, kind=Record.PLAN, actor=actor, note=plan.get("measures"),
                  client_id=client_id, payload_hash=payload_hash)


def explain_overdue(*, hazard: Hazard, note: str, actor: User, client_id: uuid.UUID, payload_hash: str) -> HazardEvent:
    """Record the written explanation that carries an overdue hazard on the books (挂账)."""
    if not is_overdue(hazard):
        raise ProblemError("invalid_transition", "Only an overdue hazard can be carried with an explanation (挂账).",
                           extra={"current_status": hazard.status, "allowed_actions": allowed_actions(hazard.status)})
    return record(hazard=hazard, kind=Record.EXPLAIN_OVERDUE, actor=actor, note=note, client_id=client_id,
                  payload_hash=payload_hash)


def under_supervision():
    """The condition on ``hazard`` of being listed for supervision (挂牌督办) and not yet lifted."""
    return Hazard.id.in_(select(Supervision.hazard_id).where(Supervision.lifted_at.is_(None)))


def supervision(hazard: Hazard) -> Supervision | None:
    """Return the supervision listing of a hazard, if it has one."""
    return db.session.get(Supervision, hazard.id)


def get(*, hazard_id: uuid.UUID, districts: frozenset[str] | None) -> Hazard:
    """Return a hazard visible to the caller, or 404 without revealing that it exists."""
    hazard = db.session.get(Hazard, hazard_id)
    if hazard is None or (districts is not None and hazard.district_code not in districts):
        raise ProblemError("not_found", "No such hazard.")
    return hazard


def get_for_update(*, hazard_id: uuid.UUID, districts: frozenset[str] | None) -> Hazard:
    """Return a visible hazard, fresh from the database, for a state change."""
    hazard = get(hazard_id=hazard_id, districts=districts)
    db.session.refresh(hazard)
    return hazard


def list_page(*, districts: frozenset[str] | None, status: str | None = None, domain: str | None = None,
              overdue: bool | None = None, cursor: str | None = None, limit: int = 50) -> tuple[list[Hazard], str | None]:
    """Return one page of hazards, newest first, and the cursor of the next page."""
    query = scoped(select(Hazard), Hazard.district_code, districts)
    if status:
        query = query.where(Hazard.status == status)
    if domain:
        query = query.where(Hazard.domain == domain)
    if overdue is not None:
        late = and_(Hazard.status != Status.CLOSED, Hazard.deadline < clock.today())
        query = query.where(late if overdue else ~late)
    after = pagination.decode(cursor, 2)
    if after:
        try:
            created, hazard_id = datetime.fromisoformat(after[0]), uuid.UUID(after[1])
        except ValueError:
            raise ProblemError("validation_error", "cursor: not a cursor this server gave",
                               errors={"cursor": ["not a cursor this server gave; start again without it"]}) from None
        query = query.where(or_(Hazard.created_at < created,
                                and_(Hazard.created_at == created, Hazard.id < hazard_id)))
    rows = db.session.scalars(query.order_by(Hazard.created_at.desc(), Hazard.id.desc()).limit(limit + 1)).all()
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], pagination.encode([last.created_at.isoformat(), str(last.id)])
    return list(rows), None
