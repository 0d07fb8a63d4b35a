"""Zero-out figures (清零): open hazards by field, district, campaign, severity and age, as of any time.

The figures are rebuilt from the hazard events alone, as a ledger: an event
moving a hazard from ``from_status`` to ``to_status`` contributes
``open(to_status) - open(from_status)`` (a new hazard's first event has no
``from_status``: it contributes 1, a closing −1, a reopening +1, every other
step 0). The number of hazards open at T is the sum of the contributions of
the events at or before T, so a past T gives the figure that was true then,
whatever happened since. The hazard's current ``status`` and ``closed_at``
only rule out hazards that cannot be open at T (closed for good before it,
see ``_statement``); they never decide a count.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence

from sqlalchemy import and_, case, func, literal, literal_column, or_, select, text

from server import clock
from server.database import UTCDateTime, utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard, HazardEvent
from server.registry.enums import Domain

GROUPS = ("domain", "district", "campaign", "severity", "age")
# (first day, last day or None, label): whole days a hazard has been open at the figure's time.
AGE_BUCKETS = ((0, 7, "0-7"), (8, 30, "8-30"), (31, 90, "31-90"), (91, 180, "91-180"), (181, None, ">180"))

_COLUMNS = {"domain": Hazard.domain, "district": Hazard.district_code, "campaign": Hazard.campaign_id,
            "severity": Hazard.severity}
_AGE_ORDER = {label: index for index, (_, _, label) in enumerate(AGE_BUCKETS)}


def _open(status):
    """1 when ``status`` is an open state, 0 when closed or absent (before the first event)."""
    return case((status.is_(None), 0), (status == Status.CLOSED.value, 0), else_=1)


# What one event adds to the number of open hazards.
_DELTA = _open(HazardEvent.to_status) - _open(HazardEvent.from_status)
# Only these events change whether a hazard is open (a report, a closing, a reopening); the others
# (open -> open) add 0 and are skipped. The constant is written into the SQL, not bound, so that the
# planners can match a partial index with the same condition (see docs/benchmarks.md).
_CLOSED = literal_column("'closed'")
_COUNTS = or_(HazardEvent.from_status.is_(None), HazardEvent.from_status == _CLOSED,
              HazardEvent.to_status == _CLOSED)


def age_bucket(days: int) -> str:
    """Return the label of the age bucket holding ``days`` whole days."""
    for low, high, label in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    return AGE_BUCKETS[0][2]  # created after the figure's time: cannot be counted, but never fails


def _age(as_of: datetime):
    """The age bucket of a hazard at ``as_of``: whole 24-hour days since it was created."""
    whens = []
    for _, high, label in AGE_BUCKETS:
        if high is None:
            break
        # days <= high  <=>  as_of - created_at < high + 1 days  <=>  created_at > as_of - (high + 1) days
        bound = literal(as_of - timedelta(days=high + 1), UTCDateTime())
        whens.append((Hazard.created_at > bound, label))
    return case(*whens, else_=AGE_BUCKETS[-1][2])


def _groups(group_by: Sequence[str]) -> list[str]:
    groups = []
    for name in group_by:
        if name not in GROUPS:
            raise validation_error("by", f"unknown grouping {name!r}; use some of: {', '.join(GROUPS)}")
        if name not in groups:
            groups.append(name)
    return groups


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def end_of_day(day: date) -> datetime:
    """Return the last instant (to the microsecond) of a local day in the bureau's zone, in UTC."""
    try:
        midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=clock.zone())
    except OverflowError:  # 9999-12-31: later than anything that happened
        return datetime.max.replace(tzinfo=timezone.utc)
    return midnight.astimezone(timezone.utc) - timedelta(microseconds=1)


def parse_as_of(value: str) -> datetime:
    """Read ``as_of``: an ISO 8601 date-time with an offset, or a date meaning the end of that local day."""
    value = value.strip()
    if _DATE.fullmatch(value):
        try:
            return end_of_day(date.fromisoformat(value))
        except ValueError:
            raise validation_error("as_of", "not a valid date") from None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise validation_error("as_of", "must be an ISO 8601 date-time with an offset "
                                        "(2026-05-04T18:00:00+08:00) or a date (2026-05-04)") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise validation_error("as_of", "must carry a time zone offset, e.g. +08:00")
    return when


def _as_of(as_of: datetime | None) -> datetime:
    now = utcnow()
    if as_of is None:
        return now
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise validation_error("as_of", "must carry a time zone offset")
    # The end of a day not over yet is now: nothing has happened after now.
    try:
        return min(as_of, now).astimezone(timezone.utc)
    except OverflowError:  # year 1 with a positive offset: before UTC can say
        raise validation_error("as_of", "out of range") from None


def _filters(*, districts, domain, campaign_id) -> list:
    where = []
    if districts is not None:
        where.append(Hazard.district_code.in_(sorted(districts)))
    if domain is not None:
        where.append(Hazard.domain == domain)
    if campaign_id is not None:
        where.append(Hazard.campaign_id == campaign_id)
    return where


def _statement(*, as_of: datetime, groups: list[str], where: list, dialect: str):
    """SELECT <groups>, open: the events up to ``as_of`` of each candidate hazard, summed per group.

    Candidates are the hazards that may be open at ``as_of``: all those not
    closed now, and those closed after ``as_of`` but reported by then (a
    hazard's first event is at its ``created_at``). A hazard closed now
    whose ``closed_at`` is at or before ``as_of`` was closed then too:
    ``closed_at`` is the time of its last transition
    (``hazards.service.transition`` writes both in one statement and clears
    ``closed_at`` on a reopening), so nothing has moved it since. Leaving
    those out skips most of the register without changing any sum; every
    figure still comes from the events alone.

    The sum per group of every event's contribution is the number open in
    that group (a hazard's contributions add up to 1 or 0). Two shapes give
    that sum: PostgreSQL joins the events, which its planner runs in
    parallel workers (a correlated subquery would keep the loop in one
    process); SQLite sums each candidate's events in a correlated subquery,
    because for a join its planner drives from the events by time, which
    reads millions of them for the city. Neither has a HAVING or an outer
    filter on the sum, which would make SQLite evaluate it twice; groups
    summing to zero are dropped by the caller.
    """
    until = literal(as_of, UTCDateTime())
    columns = [(_age(as_of) if name == "age" else _COLUMNS[name]).label(name) for name in groups]
    reported = Hazard.created_at <= until
    events = and_(HazardEvent.hazard_id == Hazard.id, HazardEvent.at <= until, _COUNTS)
    if dialect == "postgresql":
        candidates = and_(reported, or_(Hazard.status != _CLOSED, Hazard.closed_at > until))
        statement = (select(*columns, func.sum(_DELTA).label("open")).select_from(Hazard)
                     .join(HazardEvent, events).where(*where, candidates))
    else:
        # created_at only inside the OR: on its own, SQLite reads it through ix_hazard_created and the
        # table (a range it cannot size) instead of ix_hazard_figures alone. A hazard open now but
        # reported after as_of is then a candidate whose sum is empty.
        candidates = or_(Hazard.status != _CLOSED, and_(Hazard.closed_at > until, reported))
        balance = select(func.sum(_DELTA)).where(events).correlate(Hazard).scalar_subquery()
        statement = select(*columns, func.sum(balance).label("open")).where(*where, candidates)
    return statement.group_by(*columns) if columns else statement


def _sort_key(row: dict, groups: list[str]):
    key = []
    for name in groups:
        value = row[name]
        if name == "age":
            key.append((0, _AGE_ORDER.get(value, len(_AGE_ORDER))))
        else:
            key.append((value is None, "" if value is None else value))  # no campaign last
    return key


def open_figures(*, as_of: datetime | None = None, districts: frozenset[str] | None = None,
                 domain: str | None = None, campaign_id: int | None = None, group_by: Sequence[str] = ()) -> dict:
    """Return the open hazards at ``as_of`` (default now), in total and per requested group.

    ``districts`` limits the figures to hazards of those district codes (None:
    all); ``group_by`` names some of ``GROUPS``. Groups without an open hazard
    are left out. A time later than now is taken as now.
    """
    when = _as_of(as_of)
    groups = _groups(group_by)
    where = _filters(districts=districts, domain=domain, campaign_id=campaign_id)
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        # The planner's cost of the city's figures crosses PostgreSQL's JIT threshold, and compiling
        # the expressions then costs more than it saves (measured on 1,000,000 hazards: 90-130 ms of
        # compilation per query, no faster execution). Off for this transaction only.
        db.session.execute(text("SET LOCAL jit = off"))
    result = db.session.execute(_statement(as_of=when, groups=groups, where=where, dialect=dialect))
    rows = []
    total = 0
    for record in result:
        values = record._mapping
        count = int(values["open"] or 0)
        total += count
        if groups and count:
            row = {name: values[name] for name in groups}
            row["open"] = count
            rows.append(row)
    rows.sort(key=lambda row: _sort_key(row, groups))
    return {"as_of": when, "group_by": groups, "total": total, "rows": rows}


def open_count(*, as_of: datetime | None = None, districts: frozenset[str] | None = None,
               domain: str | None = None, campaign_id: int | None = None) -> int:
    """Return the number of hazards open at ``as_of`` (default now)."""
    return open_figures(as_of=as_of, districts=districts, domain=domain, campaign_id=campaign_id)["total"]


def for_caller(*, visible: frozenset[str] | None, as_of: datetime | None = None, district: str | None = None,
               domain: str | None = None, campaign_id: int | None = None, group_by: Sequence[str] = ()) -> dict:
    """Return the figures a caller may see: its districts (``visible``, None: all), narrowed by the filters.

    ``district`` narrows to that district and those below it (640100 银川市:
    its counties); a district outside ``visible`` is 403 ``forbidden``, an
    unknown one 422. A campaign must touch the caller's districts (422
    otherwise, as for an unknown one); its figures are still limited to them.
    """
    from server.inspections import campaigns as campaign_service

    districts = visible
    if district is not None:
        if not campaign_service.known_district(district):
            raise validation_error("district", "no such district")
        if visible is not None and district not in visible:
            raise ProblemError("forbidden", "The district is not among your districts.")
        districts = campaign_service.covered([district])
    if domain is not None and domain not in {d.value for d in Domain}:
        raise validation_error("domain", f"must be one of: {', '.join(d.value for d in Domain)}")
    if campaign_id is not None:
        try:
            campaign_service.get_visible(campaign_id=campaign_id, districts=visible)
        except ProblemError:
            raise validation_error("campaign_id", "no such campaign in your districts") from None
    result = open_figures(as_of=as_of, districts=districts, domain=domain, campaign_id=campaign_id,
                          group_by=group_by)
    return {**result, "district": district, "domain": domain, "campaign_id": campaign_id}
