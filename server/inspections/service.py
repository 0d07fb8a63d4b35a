"""Rules of inspections: checklists, submission (idempotent by the phone's id), flags and scores."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import make_transient_to_detached

from server import canonical, clock
from server.accounts.models import User
from server.credit import service as credit_service
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db
from server.geo import crs
from server.hazards import service as hazard_service
from server.hazards.enums import Action, Severity, Status
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections import checklists as checklist_rules
from server.inspections import scoring
from server.inspections.models import Assignment, Campaign, Inspection, InspectionResult
from server.photos import service as photo_service
from server.registry.models import Enterprise, Subject, SubjectEnterprise

log = logging.getLogger(__name__)

OUTCOME_INSPECTED = "inspected"
OUTCOME_NO_ACCESS = "no_access"
OUTCOMES = (OUTCOME_INSPECTED, OUTCOME_NO_ACCESS)
# Visits without access in a row after which the duty leader is told (setting NO_ACCESS_ESCALATE_AFTER).
NO_ACCESS_ESCALATE_AFTER = 3
# How far back a streak of visits without access is followed to find its first visit.
STREAK_LOOKBACK = 1000


# The statements of a submission, built once: SQLAlchemy then skips building them and their cache
# keys on every request (values are bound parameters), and they run on the session's connection.
_STORED = select(Inspection.id).where(Inspection.id == bindparam("id"))
_SUBJECT = (select(Subject.id, Subject.district_code, Subject.domain, Subject.name, Subject.address, Subject.lat,
                   Subject.lon, SubjectEnterprise.enterprise_id)
            .outerjoin(SubjectEnterprise, SubjectEnterprise.subject_id == Subject.id)
            .where(Subject.id == bindparam("id")).order_by(SubjectEnterprise.enterprise_id))
_HAZARDS_TAKEN = select(Hazard.id).where(Hazard.id.in_(bindparam("ids", expanding=True)))
_HOLDS_ASSIGNMENT = (select(Assignment.id)
                     .where(Assignment.user_id == bindparam("user_id"), Assignment.subject_id == bindparam("subject_id"),
                            Assignment.kind.in_(bindparam("kinds", expanding=True)), Assignment.removed_at.is_(None))
                     .limit(1))
_INSERT_INSPECTION = Inspection.__table__.insert()
_INSERT_RESULT = InspectionResult.__table__.insert()
_INSERT_HAZARD = Hazard.__table__.insert()
_INSERT_EVENT = HazardEvent.__table__.insert()
_INSERT_SUPERVISION = Supervision.__table__.insert()


def _run(statement, **params):
    """Execute a prebuilt Core statement on the session's connection (in its transaction)."""
    return db.session.connection().execute(statement, params)


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


@dataclass
class Prepared:
    """A new submission checked against the data, with the rows to store: read and validated, nothing written."""

    actor: User
    subject: Any  # the subject's row: id, district_code, domain, name, address, lat, lon
    inspection: dict
    results: list[dict]
    hazards: list[dict]
    fixed_on_spot: list[uuid.UUID]
    photos: list[dict]
    credit: credit_service.Proposals


@dataclass
class Stored:
    """A stored submission: the inspection (in the session) and the hazards and photos of the answer."""

    inspection: Inspection
    hazards: list[dict]  # {"id", "status", "deadline"}, in the order hazards_of() reads them back
    photos_missing: list[uuid.UUID]  # in the order photo_service.for_inspection() reads them back


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

    ``prepare`` and ``store`` are its two halves: the API runs the first as a
    plain read beside other writers and only the second under the write lock.
    """
    prepared = prepare(data=data, actor=actor, districts=districts)
    if isinstance(prepared, Inspection):
        return prepared, False
    return store(prepared).inspection, True


def prepare(*, data: dict, actor: User, districts: frozenset[str] | None) -> Prepared | Inspection:
    """Check a submission and make its rows, reading only: the first half of ``submit``.

    Returns the stored inspection for a retry with the same content (409 for
    other content), else what ``store`` writes. Every refusal (422, 409)
    happens here, before anything is written.
    """
    payload_hash = canonical.digest(data)
    if _run(_STORED, id=data["id"]).first() is not None:
        return replay(inspection=db.session.get(Inspection, data["id"]), actor=actor, payload_hash=payload_hash)
    subject, enterprise_ids = _subject(data["subject_id"], districts)
    rules = checklist(code=data["checklist"]["code"], version=data["checklist"]["version"])
    if rules is None:
        raise validation_error("checklist", "no such checklist code and version")
    if rules.domain != subject.domain:
        raise validation_error("checklist", f"checklist is for {rules.domain}, the subject is {subject.domain}")
    outcome = _outcome(data)
    campaign = _campaign(data.get("campaign_id"), subject, clock.local(data["started_at"]).date())
    config = current_app.config
    received_at = utcnow()
    inspection = dict(
        id=data["id"], subject_id=subject.id, inspector_id=actor.id, district_code=subject.district_code,
        domain=subject.domain, checklist_code=rules.code, checklist_version=rules.version,
        campaign_id=campaign.id if campaign is not None else None, outcome=outcome,
        started_at=data["started_at"], finished_at=data.get("finished_at"), note=data.get("note"),
        received_at=received_at, payload_hash=payload_hash, score=None, lat=None, lon=None, accuracy_m=None,
        source_crs="wgs84", source_lat=None, source_lon=None, flags=[])
    results = _results(rules, data["id"], data.get("results", []))
    _place(inspection, data.get("location"), subject)
    if rules.scoring == "jgj59" and outcome == OUTCOME_INSPECTED:
        inspection["score"] = scoring.score_site(
            rules, {r["item_code"]: (r["outcome"], r["deduction"]) for r in results})
    hazards, fixed = _hazard_rows(inspection, rules, subject, enterprise_ids, data.get("hazards", []),
                                  data.get("photos", []), actor, config)
    photos = photo_service.declared_rows(photos=data.get("photos", []), actor_id=actor.id,
                                         district_code=subject.district_code, subject_id=subject.id,
                                         inspection_id=data["id"], at=received_at)
    credit = credit_service.proposals_for_inspection(inspection=inspection, hazards=hazards,
                                                     enterprise_ids=enterprise_ids, subject_name=subject.name,
                                                     actor_id=actor.id, now=received_at)
    return Prepared(actor=actor, subject=subject, inspection=inspection, results=results, hazards=hazards,
                    fixed_on_spot=fixed, photos=photos, credit=credit)


def store(prepared: Prepared) -> Stored:
    """Write a prepared submission, the second half of ``submit``: one short write transaction.

    Its rows go in a few multi-row INSERTs; then what follows from them:
    hazards fixed on the spot are closed, credit deductions proposed, the
    inspector's assignments of the subject fulfilled and hazards found again
    reopened, or a visit without access escalated. Should another request
    have stored one of its ids since ``prepare``, a primary key refuses it
    (IntegrityError) and nothing is written.
    """
    actor, subject, row = prepared.actor, prepared.subject, prepared.inspection
    connection = db.session.connection()
    connection.execute(_INSERT_INSPECTION, [row])
    if prepared.results:
        connection.execute(_INSERT_RESULT, prepared.results)
    if prepared.hazards:
        _report_hazards(connection, prepared.hazards, actor, current_app.config["SUPERVISING_UNIT"])
    if prepared.photos:
        photo_service.insert_declared(prepared.photos)
    # The stored row as a persistent object, without reading it back; its results load when asked for.
    inspection = Inspection(**row)
    make_transient_to_detached(inspection)
    db.session.add(inspection)
    status = {hazard["id"]: hazard["status"] for hazard in prepared.hazards}
    for hazard_id in prepared.fixed_on_spot:
        hazard = db.session.get(Hazard, hazard_id)
        hazard_service.transition(hazard=hazard, action=Action.FIX_ON_SPOT, actor=actor, note="现场整改",
                                  at=inspection.received_at)
        status[hazard_id] = hazard.status
    credit_service.insert_proposals(prepared.credit, actor_id=actor.id)
    if inspection.outcome == OUTCOME_NO_ACCESS:
        _escalate_no_access(inspection, subject)
    elif _holds_assignment(actor.id, subject.id):  # under the write lock: an assignment made meanwhile counts
        from server.inspections import assignments as assignment_service
        from server.inspections import reinspection

        reinspection.reopen_found(inspection=inspection, actor=actor)
        assignment_service.complete(user_id=actor.id, subject_id=subject.id, campaign_id=inspection.campaign_id)
    # Hazards and photos of one submission share their creation time: read back, they come in id order.
    hazards = [{"id": h["id"], "status": status[h["id"]], "deadline": h["deadline"]}
               for h in sorted(prepared.hazards, key=lambda h: h["id"])]
    return Stored(inspection=inspection, hazards=hazards, photos_missing=sorted(p["id"] for p in prepared.photos))


def _subject(subject_id: uuid.UUID, districts: frozenset[str] | None):
    """Return the subject named by a submission and its enterprises' ids, or a 422 on ``subject_id``.

    One query for both; the subject is a row (id, district_code, domain,
    name, address, lat, lon), scoped like registry_service.find_subject.
    """
    rows = _run(_SUBJECT, id=subject_id).all()
    if not rows or (districts is not None and rows[0].district_code not in districts):
        raise validation_error("subject_id", "no such subject in your districts")
    return rows[0], [r.enterprise_id for r in rows if r.enterprise_id is not None]


def _holds_assignment(user_id: int, subject_id: uuid.UUID) -> bool:
    """Tell whether the user holds an open assignment a visit of the subject may fulfil (one cheap query)."""
    from server.inspections.assignments import COMPLETED_BY_VISIT

    return _run(_HOLDS_ASSIGNMENT, user_id=user_id, subject_id=subject_id, kinds=COMPLETED_BY_VISIT).first() is not None


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


def _campaign(campaign_id, subject, on):
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


def _escalate_no_access(inspection: Inspection, subject) -> None:
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


def _results(rules, inspection_id: uuid.UUID, results: list[dict]) -> list[dict]:
    """Check the results against the checklist; return their rows."""
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
        rows.append({"inspection_id": inspection_id, "item_code": item.code, "position": index,
                     "outcome": result["outcome"], "deduction": deduction, "note": result.get("note")})
    return rows


def _place(inspection: dict, location: dict | None, subject) -> None:
    """Store the position as WGS-84 and flag it when far from the subject or imprecise."""
    config = current_app.config
    flags = []
    if location is None:
        flags.append({"code": "location_missing", "detail": "The phone sent no position."})
    else:
        source_crs = location.get("crs") or "wgs84"
        lat, lon = crs.to_wgs84(location["lat"], location["lon"], source_crs)
        inspection.update(lat=lat, lon=lon, source_crs=source_crs, source_lat=location["lat"],
                          source_lon=location["lon"], accuracy_m=location.get("accuracy_m"))
        distance = crs.distance_m((lat, lon), (subject.lat, subject.lon))
        if distance > float(config["FLAG_LOCATION_FAR_M"]):
            flags.append({"code": "location_far_from_subject",
                          "detail": f"The inspection was recorded {distance:.0f} m from the subject."})
        accuracy = location.get("accuracy_m")
        if accuracy is not None and accuracy > float(config["FLAG_LOW_ACCURACY_M"]):
            flags.append({"code": "low_location_accuracy",
                          "detail": f"The position is accurate to {accuracy:.0f} m only."})
    inspection["flags"] = flags


def _hazard_rows(inspection: dict, rules, subject, enterprise_ids: list, hazards: list[dict], photos: list[dict],
                 actor, config) -> tuple[list[dict], list[uuid.UUID]]:
    """Check the reported hazards; return their rows and the ids of those fixed on the spot."""
    rows, fixed_ids, seen = [], [], set()
    hazard_ids = {h["id"] for h in hazards}
    for index, photo in enumerate(photos):
        if photo.get("hazard_id") is not None and photo["hazard_id"] not in hazard_ids:
            raise validation_error(f"photos.{index}.hazard_id", "not a hazard of this inspection")
    taken = set(_run(_HAZARDS_TAKEN, ids=list(hazard_ids)).scalars()) if hazard_ids else set()
    reported_on = clock.local(inspection["started_at"]).date()
    for index, item in enumerate(hazards):
        field = f"hazards.{index}"
        if item["id"] in seen:
            raise validation_error(f"{field}.id", "listed twice")
        seen.add(item["id"])
        if item["id"] in taken:
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
        # Another of the subject's enterprises, or one operating in its district: never any enterprise of the
        # city, which would make it and its credit ledger visible to this district.
        if enterprise_id is not None and enterprise_id not in enterprise_ids and db.session.execute(
                select(Enterprise.id).where(Enterprise.id == enterprise_id, credit_service.visible_enterprise_condition(
                    frozenset({subject.district_code})))).first() is None:
            raise validation_error(f"{field}.enterprise_id", "no such enterprise in the subject's district")
        if enterprise_id is None and enterprise_ids:
            enterprise_id = enterprise_ids[0]
        rows.append(dict(
            id=item["id"], inspection_id=inspection["id"], subject_id=subject.id, district_code=subject.district_code,
            domain=subject.domain, checklist_code=rules.code, item_code=rule.code, category=rule.category,
            description=item["description"], severity=severity, status=Status.REPORTED, deadline=deadline,
            fixed_on_spot=fixed, enterprise_id=enterprise_id, campaign_id=inspection["campaign_id"], plan=None,
            reported_by=actor.id, created_at=inspection["received_at"], closed_at=None))
        if fixed:
            fixed_ids.append(item["id"])
    return rows, fixed_ids


def _report_hazards(connection, hazards: list[dict], actor: User, supervising_unit: str) -> None:
    """Insert new hazards with their first event, and list the major ones for supervision (挂牌督办).

    The same rows as hazard_service.report makes one hazard at a time, in three multi-row INSERTs.
    """
    connection.execute(_INSERT_HAZARD, hazards)
    connection.execute(_INSERT_EVENT, [
        dict(hazard_id=h["id"], type=Action.REPORT, at=h["created_at"], actor_id=actor.id, note=None,
             from_status=None, to_status=Status.REPORTED, client_id=None, payload_hash=None, checks=None)
        for h in hazards])
    majors = [dict(hazard_id=h["id"], supervising_unit=supervising_unit, listed_at=h["created_at"], lifted_at=None)
              for h in hazards if h["severity"] == Severity.MAJOR]
    if majors:
        connection.execute(_INSERT_SUPERVISION, majors)


def hazards_of(inspection_id: uuid.UUID) -> list[Hazard]:
    """Return the hazards reported in an inspection."""
    return list(db.session.scalars(select(Hazard).where(Hazard.inspection_id == inspection_id)
                                   .order_by(Hazard.created_at, Hazard.id)))


def flags(inspection: Inspection, photos) -> list[dict]:
    """Return the inspection's own flags and those of its received photos."""
    result = list(inspection.flags or [])
    for photo in photos:
        result.extend({**flag, "photo_id": str(photo.id)} for flag in photo.flags or [])
    return result
