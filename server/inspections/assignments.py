"""Assignments (任务): subjects and hazards given to inspectors, synced to phones by a change cursor.

Every change of an assignment (given, due date changed, removed) takes the
next number of ``AssignmentChange.seq`` and stamps it on the assignment. A
phone's cursor is the highest number committed when it last asked; it then
asks for the assignments changed after it. For that to lose nothing, numbers
must become visible in the order they were taken: on PostgreSQL a writer takes
a transaction-level advisory lock before taking numbers (so a later number
never commits before an earlier one); SQLite serialises writers already.

Leader responsibility (包抓) lives here too: each district and field has a
responsible leader who receives its escalations.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select, text

from server import pagination
from server.accounts import service as account_service
from server.accounts.enums import Role
from server.accounts.models import User, UserDistrict, UserRole
from server.audit import service as audit_service
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard
from server.inspections import campaigns as campaign_service
from server.inspections.models import Assignment, AssignmentChange, Campaign, LeaderDuty
from server.registry.enums import Domain
from server.registry.models import Subject

KINDS = ("inspect", "reinspect", "verify")
# Kinds that an inspection of the subject by the assignee completes.
COMPLETED_BY_VISIT = ("inspect", "reinspect")
# Any constant: it names the one lock that orders assignment changes on PostgreSQL.
CHANGE_LOCK_KEY = 7_302_114_861
CURSOR_TAG = "assignments"
CHUNK = 500


# --- changes and the cursor ------------------------------------------------------------------------

def _lock_changes() -> None:
    """Make change numbers commit in the order they are taken (PostgreSQL; SQLite writers are serialised)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOCK_KEY})


def _record(rows: list[Assignment]) -> None:
    """Give each changed assignment the next change number."""
    if not rows:
        return
    db.session.flush()
    now = utcnow()
    changes = [AssignmentChange(assignment_id=row.id, at=now) for row in rows]
    db.session.add_all(changes)
    db.session.flush()
    for row, change in zip(rows, changes):
        row.change_seq = change.seq
    db.session.flush()


def _encode(seq: int) -> str:
    return pagination.encode([CURSOR_TAG, str(seq)])


def _decode(cursor: str, top: int) -> int:
    message = "not a cursor this server gave; start again without it"
    try:
        tag, value = pagination.decode(cursor, 2)
        seq = int(value)
    except (ProblemError, ValueError):
        raise validation_error("since", message) from None
    if tag != CURSOR_TAG or seq < 0 or seq > top or str(seq) != value:
        raise validation_error("since", message)
    return seq


def changes_since(*, user_id: int, cursor: str | None) -> dict:
    """Return a user's assignments: all current ones, or with a cursor those changed and removed since it."""
    # The top is read first: whatever commits after it is sent again next time, never skipped.
    top = db.session.scalar(select(func.coalesce(func.max(AssignmentChange.seq), 0)))
    query = select(Assignment).where(Assignment.user_id == user_id)
    if not cursor:
        items = db.session.scalars(query.where(Assignment.removed_at.is_(None))
                                   .order_by(Assignment.change_seq, Assignment.id)).all()
        return {"items": list(items), "removed": [], "cursor": _encode(top)}
    after = _decode(cursor, top)
    rows = db.session.scalars(query.where(Assignment.change_seq > after)
                              .order_by(Assignment.change_seq, Assignment.id)).all()
    return {"items": [r for r in rows if r.removed_at is None],
            "removed": [r.id for r in rows if r.removed_at is not None],
            "cursor": _encode(top)}


def current(*, user_id: int) -> list[Assignment]:
    """Return a user's current (not removed) assignments."""
    return list(db.session.scalars(select(Assignment).where(Assignment.user_id == user_id,
                                                            Assignment.removed_at.is_(None))
                                   .order_by(Assignment.change_seq, Assignment.id)))


# --- giving and taking back ------------------------------------------------------------------------

def _scope(actor: User | None) -> frozenset[str] | None:
    return None if actor is None else account_service.visible_districts(actor)


def _assignee(user_id) -> User:
    user = db.session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or not user.active or not user.has_role(Role.INSPECTOR, Role.LEADER):
        raise validation_error("user_id", "no such active inspector or leader")
    return user


def _uuids(values, field: str) -> list[uuid.UUID]:
    result = []
    for index, value in enumerate(values):
        try:
            result.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise validation_error(f"{field}.{index}", "not a UUID") from None
    return list(dict.fromkeys(result))


def _subjects_by_id(subject_ids, scope) -> list[tuple]:
    """Return (id, district, domain) of the named subjects, refusing any unknown or outside ``scope``."""
    wanted = _uuids(subject_ids, "subject_ids")
    found: dict[uuid.UUID, tuple] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        for row in db.session.execute(select(Subject.id, Subject.district_code, Subject.domain)
                                      .where(Subject.id.in_(chunk))):
            found[row[0]] = tuple(row)
    for index, subject_id in enumerate(wanted):
        row = found.get(subject_id)
        if row is None or (scope is not None and row[1] not in scope):
            raise validation_error(f"subject_ids.{index}", "no such subject in your districts")
    return [found[s] for s in wanted]


def _subjects_of_district(district: str, domains: list[str] | None, scope) -> list[tuple]:
    """Return (id, district, domain) of every subject in a district (and its descendants) within ``scope``."""
    codes = campaign_service.covered([district])
    if scope is not None:
        codes &= scope
    if not codes:
        return []
    query = select(Subject.id, Subject.district_code, Subject.domain).where(Subject.district_code.in_(sorted(codes)))
    if domains is not None:
        query = query.where(Subject.domain.in_(domains))
    return [tuple(row) for row in db.session.execute(query.order_by(Subject.id))]


def _same(column, value):
    return column.is_(None) if value is None else column == value


def assign(*, user_id, subject_ids=None, district=None, domain=None, kind="inspect", hazard_id=None,
           campaign_id=None, due=None, actor) -> list[Assignment]:
    """Give subjects (listed, or every subject of a district) to an inspector; return the assignments.

    An assignment the user already holds for the same subject, kind, hazard and
    campaign is kept (its due date updated if it changed) instead of doubled.
    A district is expanded to its subjects now; later additions to the
    register are not included. ``actor`` None is the system (the command line).
    """
    scope = _scope(actor)
    assignee = _assignee(user_id)
    if kind not in KINDS:
        raise validation_error("kind", f"must be one of: {', '.join(KINDS)}")
    if due is not None and not isinstance(due, date):
        raise validation_error("due", "must be a date")
    if domain is not None and domain not in [d.value for d in Domain]:
        raise validation_error("domain", f"must be one of: {', '.join(d.value for d in Domain)}")
    campaign = None
    if campaign_id is not None:
        try:
            campaign = campaign_service.get_visible(campaign_id=campaign_id, districts=scope)
        except ProblemError:
            raise validation_error("campaign_id", "no such campaign in your districts") from None
    hazard = None
    if kind == "inspect":
        if hazard_id is not None:
            raise validation_error("hazard_id", "only a reinspect or verify assignment names a hazard")
    else:
        hazard_ids = _uuids([hazard_id], "hazard_id") if hazard_id is not None else []
        hazard = db.session.get(Hazard, hazard_ids[0]) if hazard_ids else None
        if hazard is None or (scope is not None and hazard.district_code not in scope):
            raise validation_error("hazard_id", "no such hazard in your districts")
        if kind == "reinspect" and hazard.status != Status.CLOSED:
            raise validation_error("hazard_id", "only a closed hazard is re-inspected")
        if district is not None or (subject_ids and set(_uuids(subject_ids, "subject_ids")) != {hazard.subject_id}):
            raise validation_error("subject_ids", "an assignment of a hazard is for the hazard's subject")
        subject_ids, district = [hazard.subject_id], None

    if (subject_ids is None) == (district is None) or (subject_ids is not None and not subject_ids):
        raise validation_error("subject_ids", "give either subject_ids or a district")
    if district is not None:
        if not campaign_service.known_district(district):
            raise validation_error("district", "no such district")
        if scope is not None and district not in scope:
            raise validation_error("district", "not one of your districts")
        domains = [domain] if domain is not None else (list(campaign.domains) if campaign else None)
        subjects = _subjects_of_district(district, domains, scope)
    else:
        subjects = _subjects_by_id(subject_ids, scope)
        if domain is not None:
            subjects = [s for s in subjects if s[2] == domain]

    field = "district" if district is not None else "subject_ids"
    if campaign is not None:
        outside = [s for s in subjects if not campaign_service.covers(campaign, domain=s[2], district=s[1])]
        if outside:
            raise validation_error(field, f"subject {outside[0][0]} is not in the campaign's fields and districts")
    assignee_scope = account_service.visible_districts(assignee)
    if assignee_scope is not None:
        unseen = [s for s in subjects if s[1] not in assignee_scope]
        if unseen:
            raise validation_error("user_id", f"the user does not work in the district of subject {unseen[0][0]}")

    _lock_changes()
    held = {row.subject_id: row for row in db.session.scalars(select(Assignment).where(
        Assignment.user_id == assignee.id, Assignment.kind == kind, Assignment.removed_at.is_(None),
        _same(Assignment.hazard_id, hazard.id if hazard else None),
        _same(Assignment.campaign_id, campaign.id if campaign else None)))}
    result, changed = [], []
    for subject_id, _, _ in subjects:
        row = held.get(subject_id)
        if row is None:
            row = Assignment(id=uuid.uuid4(), user_id=assignee.id, subject_id=subject_id, kind=kind,
                             hazard_id=hazard.id if hazard else None, campaign_id=campaign.id if campaign else None,
                             due=due, created_at=utcnow(), change_seq=0)
            db.session.add(row)
            held[subject_id] = row
            changed.append(row)
        elif row.due != due:
            row.due = due
            changed.append(row)
        result.append(row)
    _record(changed)
    if changed:
        audit_service.record(action="assignment.assign", entity="user", entity_id=assignee.id,
                             actor_id=actor.id if actor else None, data={"kind": kind, "changed": len(changed)})
    return result


def get(*, assignment_id, districts: frozenset[str] | None) -> Assignment:
    """Return an assignment whose subject is in ``districts``, or 404."""
    row = db.session.get(Assignment, assignment_id)
    if row is not None and districts is not None:
        subject_district = db.session.scalar(select(Subject.district_code).where(Subject.id == row.subject_id))
        if subject_district not in districts:
            row = None
    if row is None:
        raise ProblemError("not_found", "No such assignment.")
    return row


def remove(*, assignment_id, actor) -> None:
    """Take an assignment back; removing one already removed changes nothing."""
    row = get(assignment_id=assignment_id, districts=_scope(actor))
    _lock_changes()
    db.session.refresh(row)
    if row.removed_at is not None:
        return
    row.removed_at = utcnow()
    _record([row])
    audit_service.record(action="assignment.remove", entity="assignment", entity_id=row.id,
                         actor_id=actor.id if actor else None)


def complete(*, user_id: int, subject_id: uuid.UUID, campaign_id: int | None) -> list[Assignment]:
    """Remove the user's inspect and reinspect assignments of a subject that a visit just fulfilled.

    An assignment without a campaign is fulfilled by any visit of the subject;
    one of a campaign only by a visit belonging to that campaign.
    """
    def open_rows():
        query = select(Assignment).where(Assignment.user_id == user_id, Assignment.subject_id == subject_id,
                                         Assignment.kind.in_(COMPLETED_BY_VISIT), Assignment.removed_at.is_(None))
        if campaign_id is None:
            query = query.where(Assignment.campaign_id.is_(None))
        else:
            query = query.where((Assignment.campaign_id.is_(None)) | (Assignment.campaign_id == campaign_id))
        return list(db.session.scalars(query))

    if not open_rows():
        return []
    _lock_changes()
    rows = open_rows()
    now = utcnow()
    for row in rows:
        db.session.refresh(row)
    rows = [row for row in rows if row.removed_at is None]
    for row in rows:
        row.removed_at = now
    _record(rows)
    return rows


# --- what a phone needs with an assignment ---------------------------------------------------------

def subjects_of(rows: list[Assignment]) -> dict[uuid.UUID, Subject]:
    """Return the subjects of some assignments, by id (loaded in chunks)."""
    ids = list({row.subject_id for row in rows})
    found: dict[uuid.UUID, Subject] = {}
    for start in range(0, len(ids), CHUNK):
        for subject in db.session.scalars(select(Subject).where(Subject.id.in_(ids[start:start + CHUNK]))):
            found[subject.id] = subject
    return found


def campaigns_of(rows: list[Assignment]) -> dict[int, Campaign]:
    """Return the campaigns of some assignments, by id."""
    ids = sorted({row.campaign_id for row in rows if row.campaign_id is not None})
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids)))}


def checklist_for(domain: str) -> dict | None:
    """Return {code, version} of the newest checklist of a field."""
    from server.inspections import service as inspection_service

    candidates = [c for c in inspection_service.checklists() if c.domain == domain]
    if not candidates:
        return None
    newest = max(candidates, key=lambda c: (c.version, c.code))
    return {"code": newest.code, "version": newest.version}


def open_counts(user_ids) -> dict[int, int]:
    """Return how many current assignments each of these users holds."""
    ids = list(user_ids)
    if not ids:
        return {}
    counts = dict(db.session.execute(select(Assignment.user_id, func.count()).where(
        Assignment.user_id.in_(ids), Assignment.removed_at.is_(None)).group_by(Assignment.user_id)).all())
    return {user_id: int(counts.get(user_id, 0)) for user_id in ids}


def inspectors_of(district: str) -> list[User]:
    """Return the active inspectors working in a district: those named for it, else for its nearest ancestor."""
    for code in campaign_service.ancestry(district):
        users = db.session.scalars(
            select(User).join(UserRole, UserRole.user_id == User.id)
            .join(UserDistrict, UserDistrict.user_id == User.id)
            .where(UserRole.role == Role.INSPECTOR, User.active.is_(True), UserDistrict.district_code == code)
            .order_by(User.id)).all()
        if users:
            return list(users)
    return []


# --- leader responsibility (包抓) ------------------------------------------------------------------

def leader_for(*, district: str, domain: str) -> User | None:
    """Return the leader answering for a district in a field: its own duty, else the nearest ancestor's."""
    for code in campaign_service.ancestry(district):
        duty = db.session.get(LeaderDuty, (code, domain))
        if duty is not None:
            user = db.session.get(User, duty.user_id)
            if user is not None and user.active:
                return user
    return None


def set_duty(*, district: str, domain: str, user_id, actor) -> LeaderDuty:
    """Make a leader responsible for a district in a field (replacing the previous one)."""
    if not campaign_service.known_district(district):
        raise validation_error("district", "no such district")
    if domain not in [d.value for d in Domain]:
        raise validation_error("domain", f"must be one of: {', '.join(d.value for d in Domain)}")
    user = db.session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or not user.active or not user.has_role(Role.LEADER):
        raise validation_error("user_id", "no such active leader")
    duty = db.session.get(LeaderDuty, (district, domain))
    if duty is None:
        duty = LeaderDuty(district_code=district, domain=domain, user_id=user.id)
        db.session.add(duty)
    else:
        duty.user_id = user.id
    db.session.flush()
    audit_service.record(action="leader_duty.set", entity="district", entity_id=district,
                         actor_id=actor.id if actor else None, data={"domain": domain, "user_id": user.id})
    return duty


def remove_duty(*, district: str, domain: str, actor) -> None:
    """End a leader's responsibility for a district in a field; 404 when there is none."""
    duty = db.session.get(LeaderDuty, (district, domain))
    if duty is None:
        raise ProblemError("not_found", "No such leader duty.")
    db.session.delete(duty)
    db.session.flush()
    audit_service.record(action="leader_duty.remove", entity="district", entity_id=district,
                         actor_id=actor.id if actor else None, data={"domain": domain})


def duties(*, districts: frozenset[str] | None = None, user_id: int | None = None) -> list[LeaderDuty]:
    """Return leader duties, within ``districts`` (None: all), or of one user."""
    query = select(LeaderDuty).order_by(LeaderDuty.district_code, LeaderDuty.domain)
    if districts is not None:
        query = query.where(LeaderDuty.district_code.in_(sorted(districts)))
    if user_id is not None:
        query = query.where(LeaderDuty.user_id == user_id)
    return list(db.session.scalars(query))
