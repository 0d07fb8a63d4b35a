"""The console's lists: hazards, inspections, subjects and enterprises with their filters, paged by keyset.

Each ``*_query`` builds one SELECT from the filters (scoped to the caller's
districts), which the exports stream whole; each ``*_page`` finds one page
after an opaque cursor. Filters arrive already checked (views/common.py).

A page costs what it reads, not the size of the city, whatever statistics
the database planner has (docs/benchmarks.md, console pages):

- the newest rows of one district come from a (district, time, id) index;
  a caller with several districts gets the newest rows of each district,
  merged (``newest``), so that no plan sorts a district's history to show 50;
- a filter that names a few rows through an index of its own (a subject, an
  enterprise, the listings under supervision, an id) reads those rows;
- a text search reads at most ``CONSOLE_SEARCH_SCAN_ROWS`` hazards per
  request, newest first, and says down to which report time it has looked
  (``HazardPage.searched_to``); the next request goes on from there. Words
  also match the name, address or register number of the subjects of the
  caller's districts: when few subjects match, their hazards (or visits) are
  read through the subject index, whatever their age.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import String, and_, cast, exists, false, func, or_, select, union_all

from server import clock, pagination
from server.accounts.models import User
from server.credit import service as credit_service
from server.errors import validation_error
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import OPEN, Status
from server.hazards.models import Hazard
from server.inspections.models import Inspection
from server.registry.models import Enterprise, Subject, SubjectEnterprise

# A search whose words name at most this many subjects (of the caller's districts) reads their hazards or
# visits through the subject index; more subjects are frequent enough to be met walking newest first.
FEW_SUBJECTS = 1000


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _local_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), clock.zone())


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


# --- keys, cursors and the merge of districts ------------------------------------------------------

def _before(key: tuple, time_col, id_col):
    """Rows strictly before ``key`` = (time, id) in newest-first order; the plain bound lets an index seek."""
    at, row_id = key
    return and_(time_col <= at, or_(time_col < at, and_(time_col == at, id_col < row_id)))


def _from(key: tuple, time_col, id_col):
    """Rows at or after ``key`` in newest-first order (the older end of a search's slice)."""
    at, row_id = key
    return and_(time_col >= at, or_(time_col > at, id_col >= row_id))


def _cursor_key(cursor: str | None) -> tuple | None:
    after = pagination.decode(cursor, 2)
    if not after:
        return None
    try:
        at, row_id = datetime.fromisoformat(after[0]), uuid.UUID(after[1])
    except (ValueError, TypeError):
        at = row_id = None
    if at is None or at.tzinfo is None:  # the server's cursors carry their UTC offset
        raise validation_error("cursor", "not a cursor this server gave; start again without it")
    return at, row_id


def _cursor(key: tuple) -> str:
    at, row_id = key
    return pagination.encode([at.isoformat(), str(row_id)])


def _newest_first(keys) -> list[tuple]:
    """Sort (id, time) keys newest first, as the database orders (time, id) descending."""
    return sorted(keys, key=lambda k: (k[1], k[0]), reverse=True)


def newest(*, id_col, time_col, district_col, where: list, districts, limit: int, offset: int = 0,
           merge: bool = True) -> list[tuple]:
    """Return (id, time) of the newest rows meeting ``where`` in ``districts`` (None: all), newest first.

    With several districts (and ``merge``), each district's newest rows come
    from its (district, time, id) index and are merged: a page reads at most
    ``limit`` index entries per district whatever the planner estimates (a
    prefecture's hazard list took 4.5 s under a plan that sorted it).
    ``merge=False`` leaves the choice to the planner, for filters with an
    index of their own.
    """
    order = (time_col.desc(), id_col.desc())
    base = select(id_col.label("id"), time_col.label("at")).where(*where)
    if districts is not None and not districts:
        return []
    if districts is not None and len(districts) == 1:
        base = base.where(district_col == next(iter(districts)))
    elif districts is not None and not merge:
        base = base.where(district_col.in_(sorted(districts)))
    elif districts is not None:
        parts = [base.where(district_col == code).order_by(*order).limit(limit + offset).subquery()
                 for code in sorted(districts)]
        merged = union_all(*[select(part.c.id, part.c.at) for part in parts]).subquery()
        base = select(merged.c.id, merged.c.at)
        order = (merged.c.at.desc(), merged.c.id.desc())
    return [tuple(row) for row in db.session.execute(base.order_by(*order).limit(limit).offset(offset))]


def newest_open(*, where: list, districts, limit: int):
    """SELECT (id, at) of the newest open hazards meeting ``where`` in ``districts`` (None: all), newest first.

    For the map's thousands of points: one open hazard in about thirteen, so
    walking the time index would read a district's recent history row by row.
    Instead each district's open hazards are read from the figures index
    alone (district, status, ..., created_at, domain, severity, ..., id) and
    sorted; the order is written as an expression so that no planner walks
    the time index for it.
    """
    from server.accounts.models import District

    codes = sorted(districts) if districts is not None else list(db.session.scalars(select(District.code)))
    at = func.coalesce(Hazard.created_at, Hazard.created_at)
    parts = [select(Hazard.id.label("id"), Hazard.created_at.label("at"))
             .where(Hazard.district_code == code, Hazard.status.in_(OPEN), *where)
             .order_by(at.desc(), Hazard.id.desc()).limit(limit).subquery() for code in codes or [None]]
    merged = union_all(*[select(part.c.id, part.c.at) for part in parts]).subquery()
    return select(merged.c.id, merged.c.at).order_by(merged.c.at.desc(), merged.c.id.desc()).limit(limit)


def _in_districts(rows, districts) -> list[tuple]:
    """Keep (id, time, district) rows of ``districts`` (None: all) as (id, time) keys."""
    return [(row_id, at) for row_id, at, code in rows if districts is None or code in districts]


def _in_chunks(query, column, values: list, size: int = 500) -> list:
    """Return the rows of ``query`` whose ``column`` is one of ``values``, asked for ``size`` values at a time."""
    rows = []
    for start in range(0, len(values), size):
        rows.extend(db.session.execute(query.where(column.in_(values[start:start + size]))).all())
    return rows


def _fetch(query, id_col, keys: list[tuple]) -> list:
    """Return the rows of ``query`` for the ids of ``keys``, in the keys' order."""
    position = {row_id: n for n, (row_id, _) in enumerate(keys)}
    rows = _in_chunks(query, id_col, list(position))
    rows.sort(key=lambda row: position[row[0].id if hasattr(row[0], "id") else row[0]])
    return rows


def _page(query, id_col, keys: list[tuple], limit: int) -> tuple[list, str | None]:
    """Return the rows of ``query`` for the first ``limit`` of ``keys`` (id, time) fetched up to ``limit + 1``,
    and the cursor after them when there are more."""
    shown = keys[:limit]
    rows = _fetch(query, id_col, shown)
    return rows, _cursor((shown[-1][1], shown[-1][0])) if len(keys) > limit else None


# --- words ----------------------------------------------------------------------------------------

def _subject_words(text: str):
    """The condition on ``subject`` of a search: its name or address holds the words, or its register number."""
    like = _like(text)
    return or_(Subject.name.like(like, escape="\\"), Subject.address.like(like, escape="\\"),
               Subject.external_ref == text)


def subjects_matching(text: str, districts):
    """SELECT the ids of the subjects of ``districts`` (None: all) that the words match."""
    query = select(Subject.id).where(_subject_words(text))
    if districts is not None:
        query = query.where(Subject.district_code.in_(sorted(districts)))
    return query


def few_subjects(text: str, districts) -> list | None:
    """Return the ids of the subjects of ``districts`` the words match, or None when more than FEW_SUBJECTS do.

    One pass over the register in storage order (no index serves the words;
    a district index would cost a lookup per subject), the districts checked
    here, stopping at the first subject too many.
    """
    query = select(Subject.id, Subject.district_code).where(_subject_words(text))
    if districts is None:
        query = query.limit(FEW_SUBJECTS + 1)
    ids = []
    result = db.session.execute(query.execution_options(yield_per=500))  # streamed (a server-side cursor)
    try:
        for row_id, code in result:
            if districts is None or code in districts:
                ids.append(row_id)
                if len(ids) > FEW_SUBJECTS:
                    return None
    finally:
        result.close()
    return ids


# --- hazards --------------------------------------------------------------------------------------

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


def _hazard_words(text: str, districts):
    """The condition of a search for words: the description, the checklist item, or the subject."""
    return or_(Hazard.description.like(_like(text), escape="\\"), Hazard.item_code == text,
               Hazard.subject_id.in_(subjects_matching(text, districts)))


def _hazard_id_match(exact: uuid.UUID):
    """The condition of a search for an id: the hazard's, or its subject's, inspection's or enterprise's.

    Ids are random, so the id names one thing: looked up by primary key first, the search is then one
    equality on an indexed column (an OR of the four would walk the time index, 2 s at city scale).
    """
    for model, column in ((Hazard, Hazard.id), (Subject, Hazard.subject_id), (Inspection, Hazard.inspection_id),
                          (Enterprise, Hazard.enterprise_id)):
        if db.session.scalar(select(model.id).where(model.id == exact)) is not None:
            return column == exact
    return false()


def _hazard_conditions(f: HazardFilters, *, words: bool = True) -> list:
    """The filters other than the districts, as conditions on ``hazard`` (``words``: with the search's)."""
    where = []
    if f.state == "open":
        where.append(Hazard.status.in_(OPEN))
    elif f.state == "closed":
        where.append(Hazard.status == Status.CLOSED)
    if f.status:
        where.append(Hazard.status == f.status)
    if f.domain:
        where.append(Hazard.domain == f.domain)
    if f.severity:
        where.append(Hazard.severity == f.severity)
    if f.overdue:
        where.extend([Hazard.status.in_(OPEN), Hazard.deadline < clock.today()])
    if f.supervised:
        # The listings drive (read once, a few thousand at most), not a probe per hazard of the districts.
        where.append(hazard_service.under_supervision())
    if f.campaign_id is not None:
        where.append(Hazard.campaign_id == f.campaign_id)
    if f.subject_id is not None:
        where.append(Hazard.subject_id == f.subject_id)
    if f.enterprise_id is not None:
        where.append(Hazard.enterprise_id == f.enterprise_id)
    if f.q and (exact := _uuid(f.q)) is not None:
        where.append(_hazard_id_match(exact))
    elif f.q and words:
        where.append(_hazard_words(f.q, f.districts))
    if f.created_from:
        where.append(Hazard.created_at >= _local_start(f.created_from))
    if f.created_to:
        where.append(Hazard.created_at < _local_start(f.created_to + timedelta(days=1)))
    return where


def _selective(f: HazardFilters) -> bool:
    """Whether a filter names a few hazards through an index of its own (the others walk the time index)."""
    return (f.subject_id is not None or f.enterprise_id is not None or f.supervised
            or _uuid(f.q) is not None)


def hazard_query(f: HazardFilters):
    """SELECT hazard, subject name, subject address for the filters, newest first (the exports)."""
    query = select(Hazard, Subject.name, Subject.address).join(Subject, Subject.id == Hazard.subject_id)
    if f.districts is not None:
        query = query.where(Hazard.district_code.in_(sorted(f.districts)))
    return query.where(*_hazard_conditions(f)).order_by(Hazard.created_at.desc(), Hazard.id.desc())


def scan_bound(*, districts, before: tuple | None, rows: int) -> tuple | None:
    """Return the key (time, id) of the ``rows``-th newest hazard of ``districts`` before ``before``, or None.

    A search reads the hazards from ``before`` down to this key: at most
    ``rows`` of them, found by an index-only walk. Several districts each get
    an equal share and the bound is the latest of their keys, so that no
    district gives more than its share. None: fewer hazards remain.
    """
    where = [_before(before, Hazard.created_at, Hazard.id)] if before else []
    codes = [None] if districts is None else sorted(districts)
    share = max(rows // max(len(codes), 1), 1)
    keys = []
    for code in codes:
        found = newest(id_col=Hazard.id, time_col=Hazard.created_at, district_col=Hazard.district_code, where=where,
                       districts=None if code is None else frozenset({code}), limit=1, offset=share - 1)
        if found:
            keys.append((found[0][1], found[0][0]))
    return max(keys) if keys else None


@dataclass
class HazardPage:
    """One page of the hazard list: rows (hazard, subject name, address), the next page's cursor, and for a
    search that stopped at its read limit, the report time down to which it has looked."""

    rows: list
    next_cursor: str | None
    searched_to: datetime | None = None


def _search_keys(f: HazardFilters, *, where: list, limit: int) -> list[tuple]:
    """Return the newest ``limit`` keys of hazards the words match, among those meeting ``where``.

    The description and item are read walking newest first. When few
    subjects match, their hazards come through the subject index (all of
    them, then kept within the slice); when many do, each hazard's subject is
    looked at as the walk meets it (it then soon meets one).
    """
    subject_ids = few_subjects(f.q, f.districts)
    words = [Hazard.description.like(_like(f.q), escape="\\"), Hazard.item_code == f.q]
    if subject_ids is None:
        words.append(exists().where(Subject.id == Hazard.subject_id, _subject_words(f.q)))
    keys = newest(id_col=Hazard.id, time_col=Hazard.created_at, district_col=Hazard.district_code,
                  where=[*where, or_(*words)], districts=f.districts, limit=limit)
    if subject_ids:
        rows = _in_chunks(select(Hazard.id, Hazard.created_at, Hazard.district_code).where(*where),
                          Hazard.subject_id, subject_ids)
        keys.extend(_in_districts(rows, f.districts))
        keys = _newest_first(set(keys))[:limit]
    return keys


def hazard_page(f: HazardFilters, *, cursor: str | None, limit: int, scan_rows: int | None = None) -> HazardPage:
    """Return one page of the list after ``cursor``."""
    before = _cursor_key(cursor)
    searching = bool(f.q) and not _selective(f)
    where = _hazard_conditions(f, words=not searching)
    if before:
        where.append(_before(before, Hazard.created_at, Hazard.id))
    bound = None
    if searching:
        if scan_rows is None:
            scan_rows = int(current_app.config.get("CONSOLE_SEARCH_SCAN_ROWS", 20_000))
        bound = scan_bound(districts=f.districts, before=before, rows=scan_rows)
        if bound is not None:
            where.append(_from(bound, Hazard.created_at, Hazard.id))
        keys = _search_keys(f, where=where, limit=limit + 1)
    else:
        keys = newest(id_col=Hazard.id, time_col=Hazard.created_at, district_col=Hazard.district_code, where=where,
                      districts=f.districts, limit=limit + 1, merge=not _selective(f))
    rows, next_cursor = _page(select(Hazard, Subject.name, Subject.address)
                              .join(Subject, Subject.id == Hazard.subject_id), Hazard.id, keys, limit)
    if next_cursor is None and bound is not None:
        return HazardPage(rows, _cursor(bound), searched_to=bound[0])
    return HazardPage(rows, next_cursor)


# --- inspections ----------------------------------------------------------------------------------

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


def _inspection_conditions(f: InspectionFilters, *, words: bool = True) -> list:
    """The filters other than the districts, as conditions on ``inspection`` (``words``: with the search's)."""
    where = []
    if f.domain:
        where.append(Inspection.domain == f.domain)
    if f.outcome:
        where.append(Inspection.outcome == f.outcome)
    if f.inspector_id is not None:
        where.append(Inspection.inspector_id == f.inspector_id)
    if f.campaign_id is not None:
        where.append(Inspection.campaign_id == f.campaign_id)
    if f.subject_id is not None:
        where.append(Inspection.subject_id == f.subject_id)
    if f.flagged:
        # The JSON list is never NULL; "[]" is an inspection without flags on both backends' JSON text.
        where.append(func.length(func.coalesce(cast(Inspection.flags, String), "[]")) > 2)
    if f.started_from:
        where.append(Inspection.started_at >= _local_start(f.started_from))
    if f.started_to:
        where.append(Inspection.started_at < _local_start(f.started_to + timedelta(days=1)))
    if f.q and words:
        where.append(Inspection.subject_id.in_(subjects_matching(f.q, f.districts)))
    return where


def inspection_query(f: InspectionFilters):
    """SELECT inspection, subject name, inspector name for the filters, newest visit first (the exports)."""
    query = (select(Inspection, Subject.name, User.name)
             .join(Subject, Subject.id == Inspection.subject_id).join(User, User.id == Inspection.inspector_id))
    if f.districts is not None:
        query = query.where(Inspection.district_code.in_(sorted(f.districts)))
    return query.where(*_inspection_conditions(f)).order_by(Inspection.started_at.desc(), Inspection.id.desc())


def inspection_page(f: InspectionFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Return one page of (inspection, subject name, inspector name) after ``cursor`` and the next cursor.

    A search matches the subjects of the caller's districts: few of them,
    and all their visits are read through the subject index; many, and the
    walk newest first soon meets their visits.
    """
    before = _cursor_key(cursor)
    where = _inspection_conditions(f, words=False)
    if before:
        where.append(_before(before, Inspection.started_at, Inspection.id))
    subject_ids = few_subjects(f.q, f.districts) if f.q else None
    if subject_ids is not None:
        rows = _in_chunks(select(Inspection.id, Inspection.started_at, Inspection.district_code).where(*where),
                          Inspection.subject_id, subject_ids)
        keys = _newest_first(_in_districts(rows, f.districts))[:limit + 1]
    else:
        if f.q:
            where.append(exists().where(Subject.id == Inspection.subject_id, _subject_words(f.q)))
        keys = newest(id_col=Inspection.id, time_col=Inspection.started_at, district_col=Inspection.district_code,
                      where=where, districts=f.districts, limit=limit + 1,
                      merge=f.subject_id is None and f.inspector_id is None)
    return _page(select(Inspection, Subject.name, User.name).join(Subject, Subject.id == Inspection.subject_id)
                 .join(User, User.id == Inspection.inspector_id), Inspection.id, keys, limit)


# --- subjects -------------------------------------------------------------------------------------

@dataclass
class SubjectFilters:
    districts: frozenset[str] | None
    domain: str | None = None
    q: str | None = None
    enterprise_id: uuid.UUID | None = None
    with_open_hazards: bool = False


def _subject_conditions(f: SubjectFilters) -> list:
    where = []
    if f.domain:
        where.append(Subject.domain == f.domain)
    if f.q:
        where.append(_subject_words(f.q))
    if f.enterprise_id is not None:
        # The enterprise's subjects drive (read once), not a probe per subject of the register.
        where.append(Subject.id.in_(select(SubjectEnterprise.subject_id)
                                    .where(SubjectEnterprise.enterprise_id == f.enterprise_id)))
    if f.with_open_hazards:
        # Probed subject by subject walking in id order: many subjects have an open hazard.
        where.append(exists().where(Hazard.subject_id == Subject.id, Hazard.status.in_(OPEN)))
    return where


def subject_query(f: SubjectFilters):
    """SELECT subjects for the filters, in id order (stable keyset)."""
    query = select(Subject)
    if f.districts is not None:
        query = query.where(Subject.district_code.in_(sorted(f.districts)))
    return query.where(*_subject_conditions(f)).order_by(Subject.id)


def subject_page(f: SubjectFilters, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Return one page of subjects after ``cursor`` (in id order) and the next cursor.

    With several districts, each district's first ids come from its
    (district, id) index and are merged, as ``newest`` does for times.
    """
    after = pagination.decode(cursor, 1)
    where = _subject_conditions(f)
    if after:
        try:
            where.append(Subject.id > uuid.UUID(after[0]))
        except ValueError:
            raise validation_error("cursor", "not a cursor this server gave; start again without it") from None
    if f.districts is not None and not f.districts:
        return [], None
    subject_ids = few_subjects(f.q, f.districts) if f.q else None
    if subject_ids is not None:
        # Few subjects match the words: those, with the other filters, in id order.
        rows = _in_chunks(select(Subject.id).where(*where), Subject.id, subject_ids)
        ids = sorted(row[0] for row in rows)[:limit + 1]
    elif f.districts is None or len(f.districts) == 1 or f.enterprise_id is not None:
        query = select(Subject.id).where(*where)
        if f.districts is not None:
            query = query.where(Subject.district_code.in_(sorted(f.districts)) if len(f.districts) > 1
                                else Subject.district_code == next(iter(f.districts)))
        ids = list(db.session.scalars(query.order_by(Subject.id).limit(limit + 1)))
    else:
        parts = [select(Subject.id.label("id")).where(*where, Subject.district_code == code).order_by(Subject.id)
                 .limit(limit + 1).subquery() for code in sorted(f.districts)]
        merged = union_all(*[select(part.c.id) for part in parts]).subquery()
        ids = list(db.session.scalars(select(merged.c.id).order_by(merged.c.id).limit(limit + 1)))
    shown = ids[:limit]
    rows = [row[0] for row in _fetch(select(Subject), Subject.id, [(row_id, None) for row_id in shown])]
    return rows, pagination.encode([str(shown[-1])]) if len(ids) > limit else None


# --- enterprises ----------------------------------------------------------------------------------

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
