"""The dashboard's figures: progress to zero, age, overdue, supervision, coverage and the weekly trend.

Open hazards come from ``server.reports.zero`` (the event ledger), coverage
from ``server.inspections.coverage``. The rest are counts the console adds,
each one query over indexed columns, scoped to the caller's districts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select

from server import clock
from server.database import UTCDateTime, utcnow
from server.extensions import db
from server.hazards.enums import Severity, Status
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections import campaigns as campaign_service
from server.inspections import coverage as coverage_service
from server.registry.enums import Domain
from server.reports import zero

OPEN = (Status.REPORTED.value, Status.RECTIFYING.value, Status.PENDING_REVIEW.value)


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


def scope_for(*, visible: frozenset[str] | None, district: str | None) -> frozenset[str] | None:
    """Return the districts the figures cover: the caller's, narrowed to ``district`` and below."""
    if district is None:
        return visible
    narrowed = campaign_service.covered([district])
    return narrowed if visible is None else narrowed & visible


def _hazard_filters(districts, domain) -> list:
    where = []
    if districts is not None:
        where.append(Hazard.district_code.in_(sorted(districts)))
    if domain is not None:
        where.append(Hazard.domain == domain)
    return where


def _open_filters(districts, domain) -> list:
    # Written as IN over the open states (not "!= closed") so that the (district, status, ...) index is sought.
    return [Hazard.status.in_(OPEN), *_hazard_filters(districts, domain)]


def overdue_by_district(*, districts, domain) -> dict[str, int]:
    """Return the open hazards past their deadline, per district (derived from the deadline, never stored)."""
    rows = db.session.execute(
        select(Hazard.district_code, func.count()).where(*_open_filters(districts, domain),
                                                         Hazard.deadline < clock.today())
        .group_by(Hazard.district_code)).all()
    return {code: int(n) for code, n in rows}


def pending_review(*, districts, domain) -> int:
    """Return the hazards whose rectification waits for a review."""
    return int(db.session.scalar(select(func.count()).select_from(Hazard).where(
        Hazard.status == Status.PENDING_REVIEW, *_hazard_filters(districts, domain))) or 0)


def supervised(*, districts, domain) -> int:
    """Return the hazards listed for supervision (挂牌督办) and not yet lifted."""
    return int(db.session.scalar(
        select(func.count()).select_from(Supervision).join(Hazard, Hazard.id == Supervision.hazard_id)
        .where(Supervision.lifted_at.is_(None), *_hazard_filters(districts, domain))) or 0)


def current_campaign(*, visible: frozenset[str] | None, domain: str | None):
    """Return the campaign running today that touches the caller's districts (the most recently started)."""
    for campaign in campaign_service.list_campaigns(districts=visible, on=clock.today()):
        if domain is None or domain in campaign.domains:
            return campaign
    return None


def week_starts(weeks: int, now: datetime) -> list[datetime]:
    """Return the UTC instants at which each of the last ``weeks`` local weeks began (Monday 00:00), oldest first."""
    today = clock.local(now).date()
    monday = today - timedelta(days=today.weekday())
    zone = clock.zone()
    return [datetime.combine(monday - timedelta(weeks=n), datetime.min.time(), zone).astimezone(now.tzinfo)
            for n in range(weeks - 1, -1, -1)]


def trend(*, districts, domain, weeks: int, open_now: int, now: datetime) -> list[dict]:
    """Return per local week: hazards reported, closed, and open at the week's end, exactly from the ledger.

    One query sums the ledger events (reports, closings, reopenings: the
    events ``zero`` counts) since the first week began, per week; the open
    figure at each week's end is the open figure now minus what the later
    weeks added.
    """
    starts = week_starts(weeks, now)
    bucket = case(*[(HazardEvent.at >= literal(start, UTCDateTime()), index)
                    for index, start in reversed(list(enumerate(starts)))], else_=-1)
    opened = case((HazardEvent.from_status.is_(None), 1), (HazardEvent.from_status == "closed", 1), else_=0)
    closed = case((and_(HazardEvent.to_status == "closed", or_(HazardEvent.from_status.is_(None),
                                                                HazardEvent.from_status != "closed")), 1), else_=0)
    reported = case((HazardEvent.from_status.is_(None), 1), else_=0)
    query = (select(bucket.label("week"), func.sum(reported), func.sum(closed), func.sum(opened))
             .where(HazardEvent.at >= literal(starts[0], UTCDateTime()), HazardEvent.at <= literal(now, UTCDateTime()),
                    zero._COUNTS)
             .group_by(bucket))
    if districts is not None or domain is not None:  # the city's trend needs no hazard row
        query = query.join(Hazard, Hazard.id == HazardEvent.hazard_id).where(*_hazard_filters(districts, domain))
    sums = {int(week): (int(r or 0), int(c or 0), int(o or 0)) for week, r, c, o in db.session.execute(query)}
    rows, later = [], 0
    for index in range(len(starts) - 1, -1, -1):
        reported_n, closed_n, opened_n = sums.get(index, (0, 0, 0))
        rows.append({"week_start": clock.local(starts[index]).date(), "reported": reported_n, "closed": closed_n,
                     "open": open_now - later})
        later += opened_n - closed_n
    rows.reverse()
    return rows


_CACHE: dict[tuple, tuple[float, Dashboard]] = {}
_CACHE_MAX = 256


def dashboard_cached(*, ttl_seconds: float, user_id: int, visible: frozenset[str] | None, district: str | None = None,
                     domain: str | None = None, weeks: int = 12) -> Dashboard:
    """Return the dashboard, reusing one computed less than ``ttl_seconds`` ago for the same scope (0: never).

    At city scale the ledger sums take seconds (docs/benchmarks.md); the page
    says "as of" the time they were computed. The cache is per process and per
    scope (districts, filters, and the user, whose 包抓 duties widen coverage).
    """
    import time

    key = (user_id, visible, district, domain, weeks)
    now = time.monotonic()
    hit = _CACHE.get(key)
    if ttl_seconds > 0 and hit is not None and now - hit[0] < ttl_seconds:
        return hit[1]
    result = dashboard(user_id=user_id, visible=visible, district=district, domain=domain, weeks=weeks)
    if ttl_seconds > 0:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (now, result)
    return result


def dashboard(*, user_id: int, visible: frozenset[str] | None, district: str | None = None,
              domain: str | None = None, weeks: int = 12) -> Dashboard:
    """Return the dashboard of a caller (``visible``: its districts, None the city), optionally narrowed."""
    now = utcnow()
    districts = scope_for(visible=visible, district=district)
    result = Dashboard(as_of=now)
    figures = zero.open_figures(as_of=now, districts=districts, domain=domain, group_by=("district", "domain", "age"))
    result.total_open = figures["total"]
    per_district: dict[str, dict] = {}
    ages = {label: 0 for _, _, label in zero.AGE_BUCKETS}
    for row in figures["rows"]:
        entry = per_district.setdefault(row["district"], {"district": row["district"], "domains": {}, "total": 0})
        entry["domains"][row["domain"]] = entry["domains"].get(row["domain"], 0) + row["open"]
        entry["total"] += row["open"]
        result.by_domain[row["domain"]] = result.by_domain.get(row["domain"], 0) + row["open"]
        ages[row["age"]] = ages.get(row["age"], 0) + row["open"]
    result.by_district = sorted(per_district.values(), key=lambda e: (-e["total"], e["district"]))
    result.by_age = [{"age": label, "open": n} for label, n in ages.items()]
    result.overdue_by_district = overdue_by_district(districts=districts, domain=domain)
    result.overdue = sum(result.overdue_by_district.values())
    result.pending_review = pending_review(districts=districts, domain=domain)
    result.supervised = supervised(districts=districts, domain=domain)
    campaign = current_campaign(visible=visible, domain=domain)
    if campaign is not None:
        result.campaign = {"id": campaign.id, "name": campaign.name, "starts_on": campaign.starts_on,
                           "ends_on": campaign.ends_on}
        figures = coverage_service.for_user(campaign_id=campaign.id, user_id=user_id, districts=visible)
        if district is not None or domain is not None:
            figures = coverage_service.restrict(
                figures, lambda d, f: (districts is None or d in districts) and (domain is None or f == domain))
        result.coverage = coverage_service.rollup(figures, ("district",))
    result.trend = trend(districts=districts, domain=domain, weeks=weeks, open_now=result.total_open, now=now)
    return result


DOMAINS = tuple(d.value for d in Domain)
SEVERITIES = tuple(s.value for s in Severity)
