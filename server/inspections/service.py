"""Rules of inspections: checklists, submission (idempotent by the phone's id), flags and scores."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from server import canonical, clock
from server.accounts.models import User
from server.credit import service as credit_service
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.geo import crs
from server.hazards import service as hazard_service
from server.hazards.enums import Action, Severity
from server.hazards.models import Hazard
from server.inspections import checklists as checklist_rules
from server.inspections import scoring
from server.inspections.models import Campaign, Inspection, InspectionResult
from server.photos import service as photo_service
from server.registry import service as registry_service
from server.registry.models import Enterprise, Subject

log = logging.getLogger(__name__)

OUTCOME_INSPECTED = "inspected"
OUTCOME_NO_ACCESS = "no_access"
OUTCOMES = (OUTCOME_INSPECTED, OUTCOME_NO_ACCESS)
# Visits without access in a row after which the duty leader is told (setting NO_ACCESS_ESCALATE_AFTER).
NO_ACCESS_ESCALATE_AFTER = 3
# How far back a streak of visits without access is followed to find its first visit.
STREAK_LOOKBACK = 1000


def checklists() -> list[checklist_rules.Checklist]:
    """Return every checklist version in the rule data (loaded once per process)."""
    cache = current_app.extensions.get("checklists")
    if cache is None:
        cache = checklist_rules.load_dir(Path(current_app.config["RULES_DIR"]) / "checklists")
        current_app.extensions["checklists"] = cache
    return cache


def checklist(*, code: str, version: int) -> checklist_rules.Checklist | None:
    """Return one checklist version, or None."""
    return next((c for c in checklists() if c.code == code and c.version == version), None)


def get(*, inspection_id: uuid.UUID, districts: frozenset[str] | None) -> Inspection:
    """Return an inspection visible to the caller, or 404 without revealing that it exists."""
    inspection = db.session.get(Inspection, inspection_id)
    if inspection is None or (districts is not None and inspection.district_code not in districts):
        raise ProblemError("not_found", "No such inspection.")
    return inspection


def replay(*, inspection: Inspection, actor: User, payload_hash: str) -> Inspection:
    """Return the stored inspection for a retry with the same content; 409 for other content."""
    if inspection.payload_hash != payload_hash or inspection.inspector_id != actor.id:
        raise ProblemError("conflict", "This inspection id was already used for different content.")
    return inspection


def submit(*, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[Inspection, bool]:
    """Store a submitted inspection with its results, hazards and declared photos.

    Returns the inspection and whether it is new. A retry with the same
    content returns the stored one; the same id with other content is a 409.

    The visit belongs to the campaign named by ``campaign_id``, else to the
    campaign running on its local day for the subject's field and district.
    ``outcome`` is ``inspected`` (default) or ``no_access`` (nobody let the
    inspector in: no results, no hazards); a third visit without access in a
    row is escalated to the duty leader. A visit that fails the item of a
    hazard its inspector was sent to re-inspect reopens that hazard, and a
    visit fulfils the inspector's assignments of the subject.
    """
    payload_hash = canonical.digest(data)
    existing = db.session.get(Inspection, data["id"])
    if existing is not None:
        return replay(inspection=existing, actor=actor, payload_hash=payload_hash), False
    subject = registry_service.find_subject(subject_id=data["subject_id"], districts=districts, field="subject_id")
    rules = checklist(code=data["checklist"]["code"], version=data["checklist"]["version"])
    if rules is None:
        raise validation_error("checklist", "no such checklist code and version")
    if rules.domain != subject.domain:
        raise validation_error("checklist", f"checklist is for {rules.domain}, the subject is {subject.domain}")
    outcome = _outcome(data)
    campaign = _campaign(data.get("campaign_id"), subject, clock.local(data["started_at"]).date())
    config = current_app.config
    inspection = Inspection(
        id=data["id"], subject_id=subject.id, inspector_id=actor.id, district_code=subject.district_code,
        domain=subject.domain, checklist_code=rules.code, checklist_version=rules.version,
        campaign_id=campaign.id if campaign is not None else None, outcome=outcome,
        started_at=data["started_at"], finished_at=data.get("finished_at"), note=data.get("note"),
        received_at=utcnow(),
        payload_hash=payload_hash, results=_results(rules, data.get("results", [])))
    _place(inspection, data.get("location"), subject)
    if rules.scoring == "jgj59" and outcome == OUTCOME_INSPECTED:
        inspection.score = scoring.score_site(
            rules, {r.item_code: (r.outcome, r.deduction) for r in inspection.results})
    db.session.add(inspection)
    db.session.flush()
    hazards = _report_hazards(inspection, rules, subject, data.get("hazards", []), data.get("photos", []), actor,
                              config)
    photo_service.declare(photos=data.get("photos", []), actor_id=actor.id, district_code=subject.district_code,
                          subject_id=subject.id, inspection_id=inspection.id)
    db.session.flush()
    for hazard, fixed in hazards:
        if fixed:
            hazard_service.transition(hazard=hazard, action=Action.FIX_ON_SPOT, actor=actor,
                                      note="现场整改", at=inspection.received_at)
    credit_service.propose_for_inspection(inspection=inspection, actor=actor)
    if outcome == OUTCOME_NO_ACCESS:
        _escalate_no_access(inspection, subject)
    else:
        from server.inspections import assignments as assignment_service
        from server.inspections import reinspection

        reinspection.reopen_found(inspection=inspection, actor=actor)
        assignment_service.complete(user_id=actor.id, subject_id=subject.id, campaign_id=inspection.campaign_id)
    return inspection, True


def _outcome(data: dict) -> str:
    """Return the visit's outcome; a visit without access carries no results and no hazards."""
    outcome = data.get("outcome") or OUTCOME_INSPECTED
    if outcome not in OUTCOMES:
        raise validation_error("outcome", f"must be one of: {', '.join(OUTCOMES)}")
    if outcome == OUTCOME_NO_ACCESS:
        for field in ("results", "hazards"):
            if data.get(field):
                raise validation_error(field, "a visit without access (no_access) records none")
    return outcome


def _campaign(campaign_id, subject: Subject, on):
    """Return the campaign named (it must cover the subject's field and district), else the one running that day."""
    from server.inspections import campaigns as campaign_service

    if campaign_id is None:
        return campaign_service.campaign_for(domain=subject.domain, district=subject.district_code, on=on)
    valid_id = isinstance(campaign_id, int) and not isinstance(campaign_id, bool)
    campaign = db.session.get(Campaign, campaign_id) if valid_id else None
    if campaign is None:
        raise validation_error("campaign_id", "no such campaign")
    if not campaign_service.covers(campaign, domain=subject.domain, district=subject.district_code):
        raise validation_error("campaign_id", "the campaign does not cover this subject's field and district")
    return campaign


def _escalate_no_access(inspection: Inspection, subject: Subject) -> None:
    """Tell the duty leader when the subject's latest visits are all without access, once per such streak.

    The streak is named by its first visit, so the fourth and later visits of
    the same streak do not notify again; a visit with access ends the streak.
    """
    limit = int(current_app.config.get("NO_ACCESS_ESCALATE_AFTER", NO_ACCESS_ESCALATE_AFTER))
    rows = db.session.execute(
        select(Inspection.id, Inspection.outcome, Inspection.started_at).where(Inspection.subject_id == subject.id)
        .order_by(Inspection.started_at.desc(), Inspection.received_at.desc(), Inspection.id.desc())
        .limit(STREAK_LOOKBACK)).all()
    streak = []
    for row in rows:
        if row.outcome != OUTCOME_NO_ACCESS:
            break
        streak.append(row)
    if len(streak) < limit:
        return
    from server.inspections import assignments as assignment_service

    leader = assignment_service.leader_for(district=subject.district_code, domain=subject.domain)
    if leader is None:
        log.warning("no leader on duty for %s/%s: no_access escalation of subject %s skipped",
                    subject.district_code, subject.domain, subject.id)
        return
    from server.notifications import service as notification_service

    first = streak[-1]
    days = "、".join(clock.local(r.started_at).strftime("%m月%d日") for r in reversed(streak[:limit]))
    notification_service.enqueue(
        kind="no_access_escalation", recipient_id=leader.id,
        subject=f"连续{len(streak)}次入户无人：{subject.name}"[:300],
        body=(f"{subject.name}（{subject.address}）已连续{len(streak)}次上门检查无人应门"
              f"（{days}），请协调安排检查。"),
        dedupe_key=f"no_access:{subject.id}:{first.id}")


def _results(rules, results: list[dict]) -> list[InspectionResult]:
    rows, seen = [], set()
    for index, result in enumerate(results):
        item = rules.item(result["item"])
        if item is None:
            raise validation_error(f"results.{index}.item", "not an item of this checklist")
        if result["item"] in seen:
            raise validation_error(f"results.{index}.item", "listed twice")
        seen.add(result["item"])
        deduction = result.get("deduction")
        if deduction is not None:
            if item.points is None:
                raise validation_error(f"results.{index}.deduction", "this item is not scored")
            if deduction > item.points:
                raise validation_error(f"results.{index}.deduction", f"at most {item.points}")
            if deduction > 0 and result["outcome"] != "fail":
                raise validation_error(f"results.{index}.deduction", "only a failed item loses points")
        rows.append(InspectionResult(item_code=item.code, position=index, outcome=result["outcome"],
                                     deduction=deduction, note=result.get("note")))
    return rows


def _place(inspection: Inspection, location: dict | None, subject: Subject) -> None:
    """Store the position as WGS-84 and flag it when far from the subject or imprecise."""
    config = current_app.config
    flags = []
    if location is None:
        flags.append({"code": "location_missing", "detail": "The phone sent no position."})
    else:
        source_crs = location.get("crs") or "wgs84"
        lat, lon = crs.to_wgs84(location["lat"], location["lon"], source_crs)
        inspection.lat, inspection.lon = lat, lon
        inspection.source_crs, inspection.source_lat, inspection.source_lon = source_crs, location["lat"], location["lon"]
        inspection.accuracy_m = location.get("accuracy_m")
        distance = crs.distance_m((lat, lon), (subject.lat, subject.lon))
        if distance > float(config["FLAG_LOCATION_FAR_M"]):
            flags.append({"code": "location_far_from_subject",
                          "detail": f"The inspection was recorded {distance:.0f} m from the subject."})
        accuracy = location.get("accuracy_m")
        if accuracy is not None and accuracy > float(config["FLAG_LOW_ACCURACY_M"]):
            flags.append({"code": "low_location_accuracy",
                          "detail": f"The position is accurate to {accuracy:.0f} m only."})
    inspection.flags = flags


def _report_hazards(inspection, rules, subject, hazards: list[dict], photos: list[dict], actor, config):
    """Create the reported hazards; return them with whether each was fixed on the spot."""
    created, seen = [], set()
    hazard_ids = {h["id"] for h in hazards}
    for index, photo in enumerate(photos):
        if photo.get("hazard_id") is not None and photo["hazard_id"] not in hazard_ids:
            raise validation_error(f"photos.{index}.hazard_id", "not a hazard of this inspection")
    reported_on = clock.local(inspection.started_at).date()
    for index, item in enumerate(hazards):
        field = f"hazards.{index}"
        if item["id"] in seen:
            raise validation_error(f"{field}.id", "listed twice")
        seen.add(item["id"])
        if db.session.get(Hazard, item["id"]) is not None:
            raise ProblemError("conflict", f"Hazard {item['id']} was already reported in another inspection.")
        rule = rules.item(item["item"])
        if rule is None:
            raise validation_error(f"{field}.item", "not an item of this checklist")
        severity = item.get("severity") or rule.severity
        fixed = bool(item.get("fixed_on_spot"))
        if fixed and severity == Severity.MAJOR:
            raise validation_error(f"{field}.fixed_on_spot", "a major hazard cannot be closed on the spot")
        if fixed and not any(p.get("hazard_id") == item["id"] and p["role"] == "after" for p in photos):
            raise validation_error(f"{field}.fixed_on_spot", "a fix on the spot needs a photo with role 'after'")
        deadline = item.get("deadline") or hazard_service.default_deadline(
            severity=severity, reported_on=reported_on, days=config["DEADLINE_DAYS"],
            item_days=rule.extra.get("deadline_days"))
        if deadline < reported_on:
            raise validation_error(f"{field}.deadline", "must not be before the day of the inspection")
        enterprise_id = item.get("enterprise_id")
        if enterprise_id is not None and db.session.get(Enterprise, enterprise_id) is None:
            raise validation_error(f"{field}.enterprise_id", "no such enterprise")
        if enterprise_id is None and subject.enterprise_ids:
            enterprise_id = subject.enterprise_ids[0]
        hazard = Hazard(
            id=item["id"], inspection_id=inspection.id, subject_id=subject.id, district_code=subject.district_code,
            domain=subject.domain, checklist_code=rules.code, item_code=rule.code, category=rule.category,
            description=item["description"], severity=severity, deadline=deadline, fixed_on_spot=fixed,
            enterprise_id=enterprise_id, campaign_id=inspection.campaign_id, reported_by=actor.id,
            created_at=inspection.received_at)
        hazard_service.report(hazard=hazard, actor=actor, supervising_unit=config["SUPERVISING_UNIT"])
        created.append((hazard, fixed))
    db.session.flush()
    return created


def hazards_of(inspection_id: uuid.UUID) -> list[Hazard]:
    """Return the hazards reported in an inspection."""
    return list(db.session.scalars(select(Hazard).where(Hazard.inspection_id == inspection_id).order_by(Hazard.created_at, Hazard.id)))


def flags(inspection: Inspection, photos) -> list[dict]:
    """Return the inspection's own flags and those of its received photos."""
    result = list(inspection.flags or [])
    for photo in photos:
        result.extend({**flag, "photo_id": str(photo.id)} for flag in photo.flags or [])
    return result
