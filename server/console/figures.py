"""The dashboard's figures: progress to zero, age, overdue, supervision, coverage and the weekly trend.

The city's figures are computed together, per district and field, by
``compute`` (open hazards from the ledger of ``server.reports.zero``, coverage
from ``server.inspections.coverage``, the rest counts over indexed columns)
and kept as a ``DashboardSnapshot``: the scheduler's ``dashboard_snapshot``
job makes one every ``REFRESH_MINUTES``. A page reads the newest snapshot and
narrows it to its caller's districts and filters (``present``: sums of a few
hundred rows), showing the time the figures are of. At city scale the
computation takes seconds (docs/benchmarks.md) and the page milliseconds.

A page finding no snapshot younger than ``CONSOLE_DASHBOARD_MAX_AGE_MINUTES``
(none yet, or a scheduler that stopped) computes one itself and keeps it for
the next pages; with 0 (the tests) it computes the figures at every request
and keeps nothing.
"""

from __future__ import annotations

import logging
import time as timer
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, delete, func, literal, or_, select

from server import clock
from server.console.models import DashboardSnapshot
from server.database import UTCDateTime, utcnow
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import OPEN, Severity, Status
from server.hazards.models import Hazard, HazardEvent
from server.inspections import campaigns as campaign_service
from server.inspections import coverage as coverage_service
from server.registry.enums import Domain
from server.reports import zero

logger = logging.getLogger("qingling.console")

# The scheduler makes a snapshot this often (server/scheduler/runner.py); snapshots older than KEEP are deleted.
REFRESH_MINUTES = 5
KEEP = timedelta(hours=1)
VERSION = 1


@dataclass
class Dashboard:
    """What the dashboard shows, for one caller and filter."""

    total_open: int = 0
    by_district: list[dict] = field(default_factory=list)  # {"district", "domains": {domain: n}, "total"}
    by_domain: dict[str, int] = field(default_factory=dict)
    by_age: list[dict] = field(default_factory=list)  # {"age", "open"} in bucket order
    overdue: int = 0
    overdue_by_district: dict[str, int] = field(default_factory=dict)
    pending_review: int = 0
    supervised: int = 0
    campaign: dict | None = None  # {"id", "name", "starts_on", "ends_on"}
    coverage: dict | None = None  # coverage result rolled up by district
    trend: list[dict] = field(default_factory=list)  # {"week_start", "reported", "closed", "open"}
    as_of: datetime | None = None
    snapshot: bool = False  # read from a snapshot (else computed for this request)


def scope_for(*, visible: frozenset[str] | None, district: str | None) -> frozenset[str] | None:
    """Return the districts the figures cover: the caller's, narrowed to ``district`` and below."""
    if district is None:
        return visible
    narrowed = campaign_service.covered([district])
    return narrowed if visible is None else narrowed & visible


def week_starts(weeks: int, now: datetime) -> list[datetime]:
    """Return the UTC instants at which each of the last ``weeks`` local weeks began (Monday 00:00), oldest first."""
    today = clock.local(now).date()
    monday = today - timedelta(days=today.weekday())
    zone = clock.zone()
    return [datetime.combine(monday - timedelta(weeks=n), datetime.min.time(), zone).astimezone(now.tzinfo)
            for n in range(weeks - 1, -1, -1)]


# --- computing the city's figures -------------------------------------------------------------------

def _counts(*where) -> list[list]:
    """Return [district, domain, n] of the hazards meeting ``where``."""
    rows = db.session.execute(select(Hazard.district_code, Hazard.domain, func.count()).where(*where)
                              .group_by(Hazard.district_code, Hazard.domain))
    return [[code, domain, int(n)] for code, domain, n in rows]


def _trend(*, starts: list[datetime], now: datetime) -> list[list]:
    """Return [district, domain, week, reported, closed, opened] from the ledger events since the first week.

    The events ``zero`` counts (reports, closings, reopenings), per local
    week, district and field: the open figure at each week's end is then the
    open figure now minus what the later weeks added.
    """
    bucket = case(*[(HazardEvent.at >= literal(start, UTCDateTime()), index)
                    for index, start in reversed(list(enumerate(starts)))], else_=-1)
    opened = case((HazardEvent.from_status.is_(None), 1), (HazardEvent.from_status == "closed", 1), else_=0)
    closed = case((and_(HazardEvent.to_status == "closed", or_(HazardEvent.from_status.is_(None),
                                                                HazardEvent.from_status != "closed")), 1), else_=0)
    reported = case((HazardEvent.from_status.is_(None), 1), else_=0)
    query = (select(Hazard.district_code, Hazard.domain, bucket.label("week"), func.sum(reported), func.sum(closed),
                    func.sum(opened))
             .join(Hazard, Hazard.id == HazardEvent.hazard_id)
             .where(HazardEvent.at >= literal(starts[0], UTCDateTime()), HazardEvent.at <= literal(now, UTCDateTime()),
                    zero._COUNTS)
             .group_by(Hazard.district_code, Hazard.domain, bucket))
    return [[code, domain, int(week), int(r or 0), int(c or 0), int(o or 0)]
            for code, domain, week, r, c, o in db.session.execute(query)]


def _campaigns(today: date) -> list[dict]:
    """Return the campaigns running ``today`` with their coverage per district and field (the whole register)."""
    found = []
    for campaign in campaign_service.list_campaigns(districts=None, on=today):
        result = coverage_service.coverage(campaign_id=campaign.id, districts=None)
        found.append({"id": campaign.id, "name": campaign.name, "starts_on": campaign.starts_on.isoformat(),
                      "ends_on": campaign.ends_on.isoformat(), "domains": list(campaign.domains),
                      "districts": list(campaign.districts), "rows": result["rows"]})
    return found


def compute(*, now: datetime | None = None, weeks: int = 12) -> dict:
    """Return the city's dashboard figures at ``now``, per district and field (the snapshot's document)."""
    now = now or utcnow()
    today = clock.local(now).date()
    opened = zero.open_figures(as_of=now, group_by=("district", "domain", "age"))
    starts = week_starts(weeks, now)
    return {
        "version": VERSION,
        "as_of": now.isoformat(),
        "weeks": weeks,
        "week_starts": [start.isoformat() for start in starts],
        "open": [[row["district"], row["domain"], row["age"], row["open"]] for row in opened["rows"]],
        # Overdue is derived from the deadline (never stored): open and past it on the snapshot's day.
        "overdue": _counts(Hazard.status.in_(OPEN), Hazard.deadline < today),
        "pending_review": _counts(Hazard.status == Status.PENDING_REVIEW),
        "supervised": _counts(hazard_service.under_supervision()),
        "trend": _trend(starts=starts, now=now),
        "campaigns": _campaigns(today),
    }


def trend_weeks() -> int:
    """Return how many weeks the dashboard's trend shows (``CONSOLE_TREND_WEEKS``)."""
    return int(current_app.config.get("CONSOLE_TREND_WEEKS", 12))


def timed_compute(*, now: datetime | None = None, weeks: int = 12) -> tuple[dict, int]:
    """Return ``compute``'s figures and the milliseconds they took."""
    started = timer.perf_counter()
    figures = compute(now=now, weeks=weeks)
    return figures, round((timer.perf_counter() - started) * 1000)


def refresh(*, now: datetime | None = None, weeks: int = 12,
            computed: tuple[dict, int] | None = None) -> DashboardSnapshot:
    """Add the figures of ``now`` as a snapshot (``computed``: figures and milliseconds of ``timed_compute``
    made beforehand, else computed here); delete snapshots older than KEEP. Never commits."""
    return _store(*(computed or timed_compute(now=now, weeks=weeks)))


def _store(figures: dict, computed_ms: int) -> DashboardSnapshot:
    """Add figures as a snapshot and delete the snapshots older than KEEP before them. Never commits."""
    as_of = datetime.fromisoformat(figures["as_of"])
    snapshot = DashboardSnapshot(as_of=as_of, computed_ms=computed_ms, figures=figures)
    db.session.add(snapshot)
    db.session.execute(delete(DashboardSnapshot).where(DashboardSnapshot.as_of < as_of - KEEP))
    db.session.flush()
    return snapshot


def latest(*, weeks: int = 12) -> DashboardSnapshot | None:
    """Return the newest snapshot made with ``weeks`` weeks of trend, or None."""
    for snapshot in db.session.scalars(select(DashboardSnapshot).order_by(DashboardSnapshot.as_of.desc(),
                                                                          DashboardSnapshot.id.desc()).limit(3)):
        if snapshot.figures.get("version") == VERSION and snapshot.figures.get("weeks") == weeks:
            return snapshot
    return None


# --- narrowing them to a caller -------------------------------------------------------------------

def _current_campaign(figures: dict, *, visible: frozenset[str] | None, domain: str | None) -> dict | None:
    """Return the campaign of the snapshot running that day that touches the caller's districts (the most
    recently started, as ``campaigns.list_campaigns`` orders them)."""
    running = sorted(figures["campaigns"], key=lambda c: (c["starts_on"], c["id"]), reverse=True)
    for campaign in running:
        if visible is not None and not campaign_service.covered(campaign["districts"]) & visible:
            continue
        if domain is None or domain in campaign["domains"]:
            return campaign
    return None


def _coverage(campaign: dict, *, user_id: int, visible, districts, domain) -> dict:
    """The campaign's coverage a user may see (as ``coverage.for_user``), narrowed to the filters."""
    seen = coverage_service.visible_to(visible, {} if visible is None else coverage_service.answered_for(user_id))
    result = {"campaign": {"id": campaign["id"], "name": campaign["name"]}, "rows": campaign["rows"]}
    result = coverage_service.restrict(result, lambda d, f: (
        seen(d, f) and (districts is None or d in districts) and (domain is None or f == domain)))
    return coverage_service.rollup(result, ("district",))


def present(figures: dict, *, user_id: int, visible: frozenset[str] | None, district: str | None = None,
            domain: str | None = None) -> Dashboard:
    """Narrow the city's figures to a caller (``visible``: its districts, None the city) and the filters."""
    districts = scope_for(visible=visible, district=district)

    def keep(code: str, field_: str) -> bool:
        return (districts is None or code in districts) and (domain is None or field_ == domain)

    result = Dashboard(as_of=datetime.fromisoformat(figures["as_of"]))
    per_district: dict[str, dict] = {}
    ages = {label: 0 for _, _, label in zero.AGE_BUCKETS}
    for code, field_, age, n in figures["open"]:
        if not keep(code, field_):
            continue
        entry = per_district.setdefault(code, {"district": code, "domains": {}, "total": 0})
        entry["domains"][field_] = entry["domains"].get(field_, 0) + n
        entry["total"] += n
        result.by_domain[field_] = result.by_domain.get(field_, 0) + n
        ages[age] = ages.get(age, 0) + n
        result.total_open += n
    result.by_district = sorted(per_district.values(), key=lambda e: (-e["total"], e["district"]))
    result.by_age = [{"age": label, "open": n} for label, n in ages.items()]
    for code, field_, n in figures["overdue"]:
        if keep(code, field_):
            result.overdue_by_district[code] = result.overdue_by_district.get(code, 0) + n
    result.overdue = sum(result.overdue_by_district.values())
    result.pending_review = sum(n for code, field_, n in figures["pending_review"] if keep(code, field_))
    result.supervised = sum(n for code, field_, n in figures["supervised"] if keep(code, field_))

    campaign = _current_campaign(figures, visible=visible, domain=domain)
    if campaign is not None:
        result.campaign = {"id": campaign["id"], "name": campaign["name"],
                           "starts_on": date.fromisoformat(campaign["starts_on"]),
                           "ends_on": date.fromisoformat(campaign["ends_on"])}
        # Narrowed by the district filter only: without one, the districts the user answers for (包抓) stay.
        result.coverage = _coverage(campaign, user_id=user_id, visible=visible,
                                    districts=districts if district is not None else None, domain=domain)

    starts = [datetime.fromisoformat(start) for start in figures["week_starts"]]
    sums = [[0, 0, 0] for _ in starts]
    for code, field_, week, reported, closed, opened in figures["trend"]:
        if 0 <= week < len(starts) and keep(code, field_):
            sums[week][0] += reported
            sums[week][1] += closed
            sums[week][2] += opened
    later = 0
    for index in range(len(starts) - 1, -1, -1):
        reported, closed, opened = sums[index]
        result.trend.append({"week_start": clock.local(starts[index]).date(), "reported": reported,
                             "closed": closed, "open": result.total_open - later})
        later += opened - closed
    result.trend.reverse()
    return result


def _keep(figures: dict, computed_ms: int) -> None:
    """Store figures a page computed, in a transaction of their own (a reading request writes only this)."""
    try:
        db.session.commit()  # end the page's read: the INSERT then begins the next transaction, waiting its turn
        _store(figures, computed_ms)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the page shows the figures anyway; the next snapshot will come
        db.session.rollback()
        logger.exception("keeping the dashboard's figures failed")


def dashboard(*, user_id: int, visible: frozenset[str] | None, district: str | None = None,
              domain: str | None = None, weeks: int = 12, max_age_minutes: float = 30) -> Dashboard:
    """Return the dashboard of a caller from the newest snapshot, or from figures computed now.

    A snapshot younger than ``max_age_minutes`` is used; otherwise the city's
    figures are computed and kept as a snapshot for the next pages. With 0
    they are computed at each call and not kept.
    """
    if max_age_minutes > 0:
        snapshot = latest(weeks=weeks)
        if snapshot is not None and utcnow() - snapshot.as_of <= timedelta(minutes=max_age_minutes):
            result = present(snapshot.figures, user_id=user_id, visible=visible, district=district, domain=domain)
            result.snapshot = True
            return result
    figures, computed_ms = timed_compute(weeks=weeks)
    if max_age_minutes > 0:
        _keep(figures, computed_ms)
    return present(figures, user_id=user_id, visible=visible, district=district, domain=domain)


DOMAINS = tuple(d.value for d in Domain)
SEVERITIES = tuple(s.value for s in Severity)
