"""Re-inspection (回头看): sample closed hazards into assignments, and reopen those found again.

A reinspect phase of a campaign draws from the campaign's closed hazards:
those found in the campaign, and any in its fields and districts closed since
it started. The draw is stratified by district and severity: every major
hazard, and of the general ones in each district the given share rounded up.
Each drawn hazard becomes a ``reinspect`` assignment of its subject for the
inspector of its district holding the fewest open assignments (the district's
duty leader when it has no inspector). A phase is sampled once; the seed is
kept on the phase so the draw can be checked.

When the assignee's next inspection of the subject records the hazard's
checklist item as failed, the hazard is reopened (closed → rectifying, event
``reopened``): a recurrence.
"""

from __future__ import annotations

import math
import random
import secrets
import uuid
from collections import defaultdict

from flask import current_app
from sqlalchemy import func, or_, select

from server import clock
from server.accounts import service as account_service
from server.accounts.models import User
from server.audit import service as audit_service
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action, Severity, Status
from server.hazards.models import Hazard, HazardEvent
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections.models import Assignment, Inspection

REOPEN_NOTE = "回头看复查发现"


def population(*, campaign, districts: frozenset[str] | None) -> list[Hazard]:
    """Return the closed hazards a reinspect phase of this campaign draws from, in a stable order."""
    scope = campaign_service.covered(campaign.districts)
    if districts is not None:
        scope &= districts
    if not scope:
        return []
    query = (select(Hazard)
             .where(Hazard.status == Status.CLOSED, Hazard.domain.in_(list(campaign.domains)),
                    Hazard.district_code.in_(sorted(scope)),
                    or_(Hazard.campaign_id == campaign.id,
                        Hazard.closed_at >= campaign_service.starts_at_utc(campaign)))
             .order_by(Hazard.district_code, Hazard.severity, Hazard.id))
    return list(db.session.scalars(query))


def draw(hazards: list[Hazard], *, share: float, seed: int) -> list[Hazard]:
    """Return a stratified draw: every major hazard, and ceil(share × n) general ones per district."""
    strata: dict[tuple[str, str], list[Hazard]] = defaultdict(list)
    for hazard in hazards:
        strata[(hazard.district_code, hazard.severity)].append(hazard)
    rng = random.Random(seed)
    chosen: list[Hazard] = []
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda h: str(h.id))
        if key[1] == Severity.MAJOR:
            chosen.extend(members)
        else:
            chosen.extend(rng.sample(members, math.ceil(share * len(members))))
    return sorted(chosen, key=lambda h: (h.district_code, h.severity, str(h.id)))


def sample(*, campaign_id: int, phase: str, share: float | None, seed: int | None = None, actor) -> list[Assignment]:
    """Sample a reinspect phase's hazards into assignments (see the module's description); return them.

    ``share`` None takes the phase's ``sample_share``. ``actor`` None is the
    system (the command line); a user samples only within its districts.
    """
    campaign = campaign_service.get(campaign_id=campaign_id)
    scope = None if actor is None else account_service.visible_districts(actor)
    if not campaign_service.visible(campaign, scope):
        raise ProblemError("not_found", "No such campaign.")
    if scope is not None and not campaign_service.covered(campaign.districts) <= scope:
        # A phase is drawn once for the whole campaign: a draw limited to some of its districts would use it up
        # for the others.
        raise ProblemError("forbidden", "This campaign reaches beyond your districts: its phases are sampled by a "
                                        "leader of all its districts or an administrator.")
    entry = campaign_service.phase(campaign, phase)
    if entry.get("kind") != "reinspect":
        raise validation_error("phase", "not a reinspect (回头看) phase")
    if entry.get("sampled_at"):
        raise ProblemError("conflict", f"Phase {phase!r} was already sampled at {entry['sampled_at']}.")
    share = entry.get("sample_share") if share is None else share
    if share is None or isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise validation_error("share", "must be a share above 0 and at most 1")
    seed = secrets.randbelow(2**31) if seed is None else int(seed)

    chosen = draw(population(campaign=campaign, districts=scope), share=float(share), seed=seed)
    due = campaign_service.as_date(entry["ends_on"], "phase")
    inspectors: dict[str, list[User]] = {}
    load: dict[int, int] = {}
    result, unassigned = [], []
    for hazard in chosen:
        if hazard.district_code not in inspectors:
            inspectors[hazard.district_code] = assignment_service.inspectors_of(hazard.district_code)
            fresh = [u.id for u in inspectors[hazard.district_code] if u.id not in load]
            load.update(assignment_service.open_counts(fresh))
        candidates = inspectors[hazard.district_code]
        if candidates:
            user = min(candidates, key=lambda u: (load[u.id], u.id))
        else:
            user = assignment_service.leader_for(district=hazard.district_code, domain=hazard.domain)
        try:
            if user is None:
                raise ProblemError("not_found", "nobody works in this district")
            # assign() checks everything before writing, so a refusal leaves nothing behind.
            rows = assignment_service.assign(user_id=user.id, subject_ids=[hazard.subject_id], kind="reinspect",
                                             hazard_id=hazard.id, campaign_id=campaign.id, due=due, actor=None)
        except ProblemError:
            unassigned.append(str(hazard.id))
            continue
        load[user.id] = load.get(user.id, 0) + 1
        result.extend(rows)
    campaign_service.update_phase(campaign, phase, sampled_at=utcnow().isoformat(), seed=seed, share=float(share),
                                  sampled=len(chosen), unassigned=unassigned)
    db.session.flush()
    audit_service.record(action="campaign.reinspection_sample", entity="campaign", entity_id=campaign.id,
                         actor_id=actor.id if actor else None,
                         data={"phase": phase, "sampled": len(chosen), "seed": seed})
    return result


def reopen_found(*, inspection: Inspection, actor: User) -> list[Hazard]:
    """Reopen the hazards the visitor was sent to re-inspect whose checklist item this visit failed."""
    failed = {r.item_code for r in inspection.results if r.outcome == "fail"}
    if not failed:
        return []
    rows = db.session.execute(
        select(Hazard).join(Assignment, Assignment.hazard_id == Hazard.id)
        .where(Assignment.user_id == actor.id, Assignment.subject_id == inspection.subject_id,
               Assignment.kind == "reinspect", Assignment.removed_at.is_(None), Hazard.item_code.in_(failed))
        .order_by(Hazard.id)).scalars().unique().all()
    from server.inspections.service import checklist

    rules = checklist(code=inspection.checklist_code, version=inspection.checklist_version)
    reopened = []
    for hazard in rows:
        db.session.refresh(hazard)
        if hazard.status == Status.CLOSED:
            rule = rules.item(hazard.item_code) if rules is not None else None
            hazard_service.renew_deadline(
                hazard=hazard, on=clock.local(inspection.received_at).date(),
                days=current_app.config["DEADLINE_DAYS"], item_days=rule.extra.get("deadline_days") if rule else None)
            hazard_service.transition(hazard=hazard, action=Action.REOPEN, actor=actor, note=REOPEN_NOTE,
                                      at=inspection.received_at)
            reopened.append(hazard)
    return reopened


def recurrences(*, hazard_id: uuid.UUID | None = None, campaign_id: int | None = None,
                districts: frozenset[str] | None = None) -> int:
    """Count recurrences (``reopened`` events) of one hazard, of a campaign's hazards, or within districts."""
    query = select(func.count()).select_from(HazardEvent).where(HazardEvent.type == Action.REOPEN)
    if hazard_id is not None or campaign_id is not None or districts is not None:
        query = query.join(Hazard, Hazard.id == HazardEvent.hazard_id)
    if hazard_id is not None:
        query = query.where(Hazard.id == hazard_id)
    if campaign_id is not None:
        query = query.where(Hazard.campaign_id == campaign_id)
    if districts is not None:
        query = query.where(Hazard.district_code.in_(sorted(districts)))
    return int(db.session.scalar(query))
