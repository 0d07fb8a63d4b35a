"""The console's lists: hazards, inspections, subjects and enterprises with their filters, paged by keyset.

Each ``*_query`` builds one SELECT from the filters (scoped to the caller's
districts); ``page`` cuts one page of it after an opaque cursor; the exports
stream the whole query. Filters arrive already checked (views/common.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, cast, exists, func, or_, select

from server import clock, pagination
from server.credit import service as credit_service
from server.errors import validation_error
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard, Supervision
from server.inspections.models import Inspection
from server.accounts.models import User
from server.registry.models import Enterprise, Subject, SubjectEnterprise

OPEN = (Status.REPORTED.value, Status.RECTIFYING.value, Status.PENDING_REVIEW.value)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _local_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), clock.zone())


@dataclass
class HazardFilters:
    """What the hazard list is narrowed to."""

    districts: frozenset[str] | None
    state: str | None = None  # open | closed
    status: str | None = None
    domain: str | None = None
    severity: str | None = None
    overdue: bool = False
    supervised: bool = False
    campaign_id: int | None = None
    subject_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None
    q: str | None = None
    created_from: date | None = None
    created_to: date | None = None


def hazard_query(f: HazardFilters):
    """SELECT hazard, subject name, subject address for the filters, newest first."""
    query = select(Hazard, Subject.name, Subject.address).join(Subject, Subject.id == Hazard.subject_id)
    if f.districts is not None:
        query = query.where(Hazard.district_code.in_(sorted(f.districts)))
    if f.state == "open":
        query = query.where(Hazard.status.in_(OPEN))
    elif f.state == "closed":
        query = query.where(Hazard.status == Status.CLOSED)
    if f.status:
        query = query.where(Hazard.status == f.status)
    if f.domain:
        query = query.where(Hazard.domain == f.domain)
    if f.severity:
        query = query.where(Hazard.severity == f.severity)
    if f.overdue:
        query = query.where(Hazard.status.in_(OPEN), Hazard.deadline < clock.today())
    if f.supervised:
        query = query.where(exists().where(Supervision.hazard_id == Hazard.id, Supervision.lifted_at.is_(None)))
    if f.campaign_id is not None:
        query = query.where(Hazard.campaign_id == f.campaign_id)
    if f.subject_id is not None:
        query = query.where(Hazard.subject_id == f.subject_id)
    if f.enterprise_id is not None:
        query = query.where(Hazard.enterprise_id == f.enterprise_id)
    if f.q:
        like = _like(f.q)
        query = query.where(or_(Hazard.description.like(like, escape="\\"), Subject.name.like(like, escape="\\"),
                                Subject.address.like(like, escape="\\"), Hazard.item_code == f.q))
    if f.created_from:
        query = query.where(Hazard.created_at >= _local_start(f.created_from))
    if f.created_to:
        query = query.where(Hazard.created_at < _local_start(f.created_to + timedelta(days=1)))
    return query.order_by(Hazard.created_at.desc(), Hazard.id.desc())


def _after_created(query, cursor: str | None, created_col, id_col, parse_id):
    after = pagination.decode(cursor, 2)
    if not after:
        return query
    try:
        created, row_id = datetime.fromisoformat(after[0]), parse_id(after[1])
    except ValueError:
        raise validation_error("cursor", "not a cursor this server gave; start again without it") from None
    return query.where(or_(created_col < created, and_(created_col == created, id_col < row_id)))


def hazard_page(f: HazardFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Return one page of (hazard, subject name, address) rows and the cursor of the next page."""
    query = _after_created(hazard_query(f), cursor, Hazard.created_at, Hazard.id, uuid.UUID)
    rows = db.session.execute(query.limit(limit + 1)).all()
    if len(rows) > limit:
        last = rows[limit - 1][0]
        return rows[:limit], pagination.encode([last.created_at.isoformat(), str(last.id)])
    return rows, None


@dataclass
class InspectionFilters:
    districts: frozenset[str] | None
    domain: str | None = None
    outcome: str | None = None
    inspector_id: int | None = None
    campaign_id: int | None = None
    subject_id: uuid.UUID | None = None
    flagged: bool = False
    started_from: date | None = None
    started_to: date | None = None
    q: str | None = None


def inspection_query(f: InspectionFilters):
    """SELECT inspection, subject name, inspector name for the filters, newest visit first."""
    query = (select(Inspection, Subject.name, User.name)
             .join(Subject, Subject.id == Inspection.subject_id).join(User, User.id == Inspection.inspector_id))
    if f.districts is not None:
        query = query.where(Inspection.district_code.in_(sorted(f.districts)))
    if f.domain:
        query = query.where(Inspection.domain == f.domain)
    if f.outcome:
        query = query.where(Inspection.outcome == f.outcome)
    if f.inspector_id is not None:
        query = query.where(Inspection.inspector_id == f.inspector_id)
    if f.campaign_id is not None:
        query = query.where(Inspection.campaign_id == f.campaign_id)
    if f.subject_id is not None:
        query = query.where(Inspection.subject_id == f.subject_id)
    if f.flagged:
        # The JSON list is never NULL; "[]" is an inspection without flags on both backends' JSON text.
        query = query.where(func.length(func.coalesce(cast(Inspection.flags, String), "[]")) > 2)
    if f.started_from:
        query = query.where(Inspection.started_at >= _local_start(f.started_from))
    if f.started_to:
        query = query.where(Inspection.started_at < _local_start(f.started_to + timedelta(days=1)))
    if f.q:
        like = _like(f.q)
        query = query.where(or_(Subject.name.like(like, escape="\\"), Subject.address.like(like, escape="\\")))
    return query.order_by(Inspection.started_at.desc(), Inspection.id.desc())


def inspection_page(f: InspectionFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    query = _after_created(inspection_query(f), cursor, Inspection.started_at, Inspection.id, uuid.UUID)
    rows = db.session.execute(query.limit(limit + 1)).all()
    if len(rows) > limit:
        last = rows[limit - 1][0]
        return rows[:limit], pagination.encode([last.started_at.isoformat(), str(last.id)])
    return rows, None


@dataclass
class SubjectFilters:
    districts: frozenset[str] | None
    domain: str | None = None
    q: str | None = None
    enterprise_id: uuid.UUID | None = None
    with_open_hazards: bool = False


def subject_query(f: SubjectFilters):
    """SELECT subjects for the filters, in id order (stable keyset)."""
    query = select(Subject)
    if f.districts is not None:
        query = query.where(Subject.district_code.in_(sorted(f.districts)))
    if f.domain:
        query = query.where(Subject.domain == f.domain)
    if f.q:
        like = _like(f.q)
        query = query.where(or_(Subject.name.like(like, escape="\\"), Subject.address.like(like, escape="\\"),
                                Subject.external_ref == f.q))
    if f.enterprise_id is not None:
        query = query.where(exists().where(SubjectEnterprise.subject_id == Subject.id,
                                           SubjectEnterprise.enterprise_id == f.enterprise_id))
    if f.with_open_hazards:
        query = query.where(exists().where(Hazard.subject_id == Subject.id, Hazard.status.in_(OPEN)))
    return query.order_by(Subject.id)


def subject_page(f: SubjectFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    query = subject_query(f)
    after = pagination.decode(cursor, 1)
    if after:
        try:
            query = query.where(Subject.id > uuid.UUID(after[0]))
        except ValueError:
            raise validation_error("cursor", "not a cursor this server gave; start again without it") from None
    rows = db.session.scalars(query.limit(limit + 1)).all()
    if len(rows) > limit:
        return list(rows[:limit]), pagination.encode([str(rows[limit - 1].id)])
    return list(rows), None


@dataclass
class EnterpriseFilters:
    districts: frozenset[str] | None
    kind: str | None = None
    q: str | None = None


def enterprise_query(f: EnterpriseFilters):
    """SELECT enterprises visible to the caller (where they answer for something in its districts), by name."""
    query = select(Enterprise)
    condition = credit_service.visible_enterprise_condition(f.districts)
    if condition is not None:
        query = query.where(condition)
    if f.kind:
        query = query.where(Enterprise.kind == f.kind)
    if f.q:
        like = _like(f.q)
        query = query.where(or_(Enterprise.name.like(like, escape="\\"), Enterprise.credit_code == f.q.upper()))
    return query.order_by(Enterprise.name, Enterprise.id)


def enterprise_page(f: EnterpriseFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    query = enterprise_query(f)
    after = pagination.decode(cursor, 2)
    if after:
        try:
            name, row_id = after[0], uuid.UUID(after[1])
        except ValueError:
            raise validation_error("cursor", "not a cursor this server gave; start again without it") from None
        query = query.where(or_(Enterprise.name > name, and_(Enterprise.name == name, Enterprise.id > row_id)))
    rows = db.session.scalars(query.limit(limit + 1)).all()
    if len(rows) > limit:
        last = rows[limit - 1]
        return list(rows[:limit]), pagination.encode([last.name, str(last.id)])
    return list(rows), None
