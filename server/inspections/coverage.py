"""Coverage of a campaign's target population (底数): who was inspected, who never, who was never at home."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select

from server.extensions import db
from server.inspections import campaigns as campaign_service
from server.inspections.models import Inspection
from server.registry.models import Subject

INSPECTED = "inspected"
FIGURES = ("registered", "inspected", "never_inspected", "no_access")
BY_VALUES = ("district", "domain")


def _row(district, domain, registered: int, inspected: int, no_access: int) -> dict:
    never = max(registered - inspected - no_access, 0)
    return {"district": district, "domain": domain, "registered": registered, "inspected": inspected,
            "never_inspected": never, "no_access": no_access,
            "coverage": round(inspected / registered, 4) if registered else 0.0}


def _total(rows: list[dict]) -> dict:
    sums = {key: sum(r[key] for r in rows) for key in ("registered", "inspected", "no_access")}
    return _row(None, None, sums["registered"], sums["inspected"], sums["no_access"])


def coverage(*, campaign_id: int, districts: frozenset[str] | None, as_of: datetime | None = None) -> dict:
    """Return the campaign's coverage by district and field, within ``districts`` (None: all).

    registered: subjects of the campaign's fields in its districts; inspected:
    subjects with at least one visit of outcome ``inspected`` in the campaign;
    no_access: subjects visited in the campaign but never let in;
    never_inspected: the rest. Two GROUP BY queries: the register, and the
    campaign's visits folded per subject. With ``as_of``, only the visits
    received by then count (the register is today's: subjects are registered
    by imports, whose dates say nothing of when a subject existed).
    """
    campaign = campaign_service.get(campaign_id=campaign_id)
    scope = campaign_service.covered(campaign.districts)
    if districts is not None:
        scope &= districts
    domains = list(campaign.domains)
    result = {"campaign": {"id": campaign.id, "name": campaign.name}, "rows": [], "total": _total([])}
    if not scope or not domains:
        return result
    scope_list = sorted(scope)
    registered = db.session.execute(
        select(Subject.district_code, Subject.domain, func.count())
        .where(Subject.district_code.in_(scope_list), Subject.domain.in_(domains))
        .group_by(Subject.district_code, Subject.domain)).all()

    # One row per subject visited in the campaign: 1 when it was let in at least once, else 0.
    visits = (select(Inspection.subject_id.label("subject_id"),
                     func.max(case((Inspection.outcome == INSPECTED, 1), else_=0)).label("let_in"))
              .where(Inspection.campaign_id == campaign.id))
    if as_of is not None:
        visits = visits.where(Inspection.received_at <= as_of)
    if districts is not None:
        # Narrows the scan for a district's caller; a subject is attributed to its current district below.
        visits = visits.where(Inspection.district_code.in_(scope_list))
    visits = visits.group_by(Inspection.subject_id).subquery()
    visited = db.session.execute(
        select(Subject.district_code, Subject.domain, func.coalesce(func.sum(visits.c.let_in), 0), func.count())
        .join(visits, visits.c.subject_id == Subject.id)
        .where(Subject.district_code.in_(scope_list), Subject.domain.in_(domains))
        .group_by(Subject.district_code, Subject.domain)).all()

    counts: dict[tuple[str, str], list[int]] = {}
    for district, domain, n in registered:
        counts[(district, domain)] = [int(n), 0, 0]
    for district, domain, let_in, n in visited:
        entry = counts.setdefault((district, domain), [0, 0, 0])
        entry[1], entry[2] = int(let_in), int(n) - int(let_in)
    rows = [_row(d, f, *counts[(d, f)]) for d, f in sorted(counts)]
    return {**result, "rows": rows, "total": _total(rows)}


def rollup(result: dict, by: tuple[str, ...] = BY_VALUES) -> dict:
    """Regroup a coverage result by district, by field, by both, or (empty) into the total only."""
    if tuple(by) == BY_VALUES:
        return result
    groups: dict[tuple, list[int]] = {}
    for row in result["rows"]:
        key = (row["district"] if "district" in by else None, row["domain"] if "domain" in by else None)
        entry = groups.setdefault(key, [0, 0, 0])
        entry[0] += row["registered"]
        entry[1] += row["inspected"]
        entry[2] += row["no_access"]
    rows = [_row(d, f, *groups[(d, f)]) for d, f in sorted(groups, key=lambda k: (k[0] or "", k[1] or ""))]
    return {**result, "rows": rows if by else []}


def restrict(result: dict, keep) -> dict:
    """Keep the rows for which ``keep(district, domain)`` holds and recompute the total."""
    rows = [row for row in result["rows"] if keep(row["district"], row["domain"])]
    return {**result, "rows": rows, "total": _total(rows)}


def answered_for(user_id: int) -> dict[str, frozenset[str]]:
    """Return field -> the districts (with their descendants) the user answers for (包抓 duties)."""
    from server.inspections import assignments as assignment_service

    answered: dict[str, frozenset[str]] = {}
    for duty in assignment_service.duties(user_id=user_id):
        answered[duty.domain] = answered.get(duty.domain, frozenset()) | campaign_service.covered([duty.district_code])
    return answered


def visible_to(districts: frozenset[str] | None, answered: dict[str, frozenset[str]]):
    """Return ``keep(district, domain)``: a row of the user's districts (None: all), or of a field and district
    it answers for."""
    return lambda district, domain: (districts is None or district in districts
                                     or district in answered.get(domain, ()))


def for_user(*, campaign_id: int, user_id: int, districts: frozenset[str] | None) -> dict:
    """Return the coverage a user may see: its districts, and the districts and fields it answers for (包抓)."""
    answered = {} if districts is None else answered_for(user_id)
    wide = districts if districts is None else districts.union(*answered.values())
    campaign_service.get_visible(campaign_id=campaign_id, districts=wide)
    result = coverage(campaign_id=campaign_id, districts=wide)
    if not answered:
        return result
    return restrict(result, visible_to(districts, answered))
