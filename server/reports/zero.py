"""Zero-out figures (清零): open hazards by field, district, campaign, severity and age, as of any time.

The figures are rebuilt from the hazard events alone, as a ledger: an event
moving a hazard from ``from_status`` to ``to_status`` contributes
``open(to_status) - open(from_status)`` (a new hazard's first event has no
``from_status``: it contributes 1, a closing −1, a reopening +1, every other
step 0). The number of hazards open at T is the sum of the contributions of
the events at or before T, so a past T gives the figure that was true then,
whatever happened since. The current ``hazard.status`` is never read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import case, func, literal, literal_column, or_, select, text

from server.database import UTCDateTime, utcnow
from server.errors import validation_error
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard, HazardEvent

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


def _as_of(as_of: datetime | None) -> datetime:
    now = utcnow()
    if as_of is None:
        return now
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise validation_error("as_of", "must carry a time zone offset")
    # The end of a day not over yet is now: nothing has happened after now.
    return min(as_of, now)


def _filters(*, districts, domain, campaign_id) -> list:
    where = []
    if districts is not None:
        where.append(Hazard.district_code.in_(sorted(districts)))
    if domain is not None:
        where.append(Hazard.domain == domain)
    if campaign_id is not None:
        where.append(Hazard.campaign_id == campaign_id)
    return where


def _statement(*, as_of: datetime, groups: list[str], where: list, scoped: bool):
    """SELECT <groups>, open: the ledger up to ``as_of`` summed per hazard, then per group.

    Two shapes give the same answer. For the whole city, the events are summed
    per hazard in one pass (an index on the events ordered by hazard), and only
    the hazards left open are joined. When the hazards are narrowed (districts
    or a campaign), each of those hazards sums its own events instead, which
    reads only their rows.
    """
    until = literal(as_of, UTCDateTime())
    columns = [(_age(as_of) if name == "age" else _COLUMNS[name]).label(name) for name in groups]
    if scoped:
        balance = (select(func.sum(_DELTA)).where(HazardEvent.hazard_id == Hazard.id, HazardEvent.at <= until, _COUNTS)
                   .correlate(Hazard).scalar_subquery())
        hazards = (select(*columns, balance.label("balance")).select_from(Hazard).where(*where)
                   .subquery("hazards"))
    else:
        ledger = (select(HazardEvent.hazard_id.label("hazard_id"), func.sum(_DELTA).label("balance"))
                  .where(HazardEvent.at <= until, _COUNTS)
                  .group_by(HazardEvent.hazard_id).having(func.sum(_DELTA) != 0)
                  .subquery("ledger"))
        hazards = (select(*columns, ledger.c.balance).select_from(ledger)
                   .join(Hazard, Hazard.id == ledger.c.hazard_id).where(*where)
                   .subquery("hazards"))
    keys = [hazards.c[name] for name in groups]
    statement = (select(*keys, func.coalesce(func.sum(hazards.c.balance), 0).label("open"))
                 .where(hazards.c.balance != 0))
    return statement.group_by(*keys) if keys else statement


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
    scoped = districts is not None or campaign_id is not None
    if db.session.get_bind().dialect.name == "postgresql":
        # The planner's cost of these aggregates crosses PostgreSQL's JIT thresholds, and compiling
        # with inlining and optimisation then takes longer than the query itself (measured: about
        # +150 ms for one district, up to +1.5 s for the city). Off for this transaction only.
        db.session.execute(text("SET LOCAL jit = off"))
    result = db.session.execute(_statement(as_of=when, groups=groups, where=where, scoped=scoped))
    rows = []
    total = 0
    for record in result:
        values = record._mapping
        count = int(values["open"] or 0)
        total += count
        if groups:
            row = {name: values[name] for name in groups}
            row["open"] = count
            rows.append(row)
    rows.sort(key=lambda row: _sort_key(row, groups))
    return {"as_of": when, "group_by": groups, "total": total, "rows": rows}


def open_count(*, as_of: datetime | None = None, districts: frozenset[str] | None = None,
               domain: str | None = None, campaign_id: int | None = None) -> int:
    """Return the number of hazards open at ``as_of`` (default now)."""
    return open_figures(as_of=as_of, districts=districts, domain=domain, campaign_id=campaign_id)["total"]
