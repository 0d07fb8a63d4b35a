"""Rules of the register: finding subjects and enterprises within a user's districts."""

from __future__ import annotations

import math
import uuid

from sqlalchemy import or_, select

from server import pagination
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.geo import crs
from server.registry.models import Enterprise, Subject


def scoped(query, column, districts: frozenset[str] | None):
    """Restrict a query to rows whose district column is among ``districts`` (None: no restriction)."""
    return query if districts is None else query.where(column.in_(districts))


def get_subject(*, subject_id: uuid.UUID, districts: frozenset[str] | None) -> Subject:
    """Return a subject visible to the caller, or 404 without revealing that it exists."""
    subject = db.session.get(Subject, subject_id)
    if subject is None or (districts is not None and subject.district_code not in districts):
        raise ProblemError("not_found", "No such subject.")
    return subject


def find_subject(*, subject_id: uuid.UUID, districts: frozenset[str] | None, field: str) -> Subject:
    """Return a subject named in a request body, or a 422 on that field."""
    try:
        return get_subject(subject_id=subject_id, districts=districts)
    except ProblemError:
        raise validation_error(field, "no such subject in your districts") from None


def list_subjects(*, districts: frozenset[str] | None, domain: str | None = None, q: str | None = None,
                  near: tuple[float, float] | None = None, radius_m: float | None = None,
                  cursor: str | None = None, limit: int = 50) -> tuple[list[Subject], str | None]:
    """Return one page of subjects, ordered by id, and the cursor of the next page (None on the last)."""
    query = scoped(select(Subject), Subject.district_code, districts)
    if domain:
        query = query.where(Subject.domain == domain)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Subject.name.like(like, escape="\\"), Subject.address.like(like, escape="\\"),
                                Subject.external_ref == q))
    if near is not None:
        radius_m = radius_m or 1000.0
        dlat = radius_m / 111_320.0
        dlon = radius_m / (111_320.0 * max(math.cos(math.radians(near[0])), 1e-6))
        query = query.where(Subject.lat.between(near[0] - dlat, near[0] + dlat),
                            Subject.lon.between(near[1] - dlon, near[1] + dlon))
    after = pagination.decode(cursor, 1)
    if after:
        try:
            query = query.where(Subject.id > uuid.UUID(after[0]))
        except ValueError:
            raise validation_error("cursor", "not a cursor this server gave; start again without it") from None
    query = query.order_by(Subject.id)
    if near is None:
        query = query.limit(limit + 1)
    rows = db.session.scalars(query.execution_options(yield_per=limit + 1))
    page: list[Subject] = []
    for row in rows:
        # The bounding box narrows the search on the index; the true distance decides.
        if near is None or crs.distance_m(near, (row.lat, row.lon)) <= radius_m:
            page.append(row)
            if len(page) > limit:
                rows.close()
                return page[:limit], pagination.encode([str(page[limit - 1].id)])
    return page, None


def get_enterprise(*, enterprise_id: uuid.UUID) -> Enterprise | None:
    """Return an enterprise by id, or None."""
    return db.session.get(Enterprise, enterprise_id)
