"""Multi-step hazard actions from the phone: rectification with photos, review."""

from __future__ import annotations

import uuid
from typing import Callable

from server import canonical, idempotency
from server.accounts.models import User
from server.errors import validation_error
from server.hazards import evidence
from server.hazards import service as hazard_service
from server.hazards.enums import Action
from server.hazards.models import Hazard, HazardEvent
from server.photos import service as photo_service


def _once(*, hazard: Hazard, data: dict, perform: Callable[[str], HazardEvent]) -> tuple[HazardEvent, bool]:
    """Run ``perform`` once per client id: a retry gets the first event back, not a second one."""
    payload_hash = canonical.digest(data)
    return idempotency.once(
        replayed=lambda: hazard_service.replayed_event(client_id=data["id"], hazard=hazard, payload_hash=payload_hash),
        perform=lambda: perform(payload_hash))


def rectify(*, hazard_id: uuid.UUID, data: dict, actor: User,
            districts: frozenset[str] | None) -> tuple[HazardEvent, bool]:
    """Record a rectification and declare its after photos; return the event and whether it is new."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=districts)

    def perform(payload_hash: str) -> HazardEvent:
        event = hazard_service.transition(hazard=hazard, action=Action.RECTIFY, actor=actor, note=data.get("note"),
                                          client_id=data["id"], payload_hash=payload_hash)
        photo_service.declare(photos=[{**p, "hazard_id": hazard.id} for p in data.get("photos", [])],
                              actor_id=actor.id, district_code=hazard.district_code, subject_id=hazard.subject_id,
                              event_id=event.id)
        return event

    return _once(hazard=hazard, data=data, perform=perform)


def review(*, hazard_id: uuid.UUID, data: dict, actor: User,
           districts: frozenset[str] | None) -> tuple[HazardEvent, bool]:
    """Accept or reject a rectification; return the event and whether it is new."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=districts)

    def perform(payload_hash: str) -> HazardEvent:
        hazard_service.check_reviewer(hazard=hazard, actor=actor)
        action = Action.ACCEPT if data["decision"] == "accept" else Action.REJECT
        checks = evidence.checks(hazard)
        if action == Action.ACCEPT and evidence.failed(checks) and not (data.get("note") or "").strip():
            raise validation_error("note", "some closing-evidence checks failed: accepting anyway needs a note")
        event = hazard_service.transition(hazard=hazard, action=action, actor=actor, note=data.get("note"),
                                          client_id=data["id"], payload_hash=payload_hash)
        event.checks = checks
        return event

    return _once(hazard=hazard, data=data, perform=perform)


def plan(*, hazard_id: uuid.UUID, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[HazardEvent, bool]:
    """Record the five implementations (五落实) of a major hazard; return the event and whether it is new."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=districts)
    fields = {k: v for k, v in data.items() if k != "id"}
    return _once(hazard=hazard, data=data, perform=lambda payload_hash: hazard_service.record_plan(
        hazard=hazard, plan=fields, actor=actor, client_id=data["id"], payload_hash=payload_hash))


def notify(*, hazard_id: uuid.UUID, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[HazardEvent, bool]:
    """Issue the rectification notice (整改通知): the hazard starts rectifying."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=districts)
    return _once(hazard=hazard, data=data, perform=lambda payload_hash: hazard_service.transition(
        hazard=hazard, action=Action.NOTIFY, actor=actor, note=data.get("note"), client_id=data["id"],
        payload_hash=payload_hash))


def explain(*, hazard_id: uuid.UUID, data: dict, actor: User, districts: frozenset[str] | None) -> tuple[HazardEvent, bool]:
    """Carry an overdue hazard on the books (挂账) with a written explanation."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=districts)
    return _once(hazard=hazard, data=data, perform=lambda payload_hash: hazard_service.explain_overdue(
        hazard=hazard, note=data["note"], actor=actor, client_id=data["id"], payload_hash=payload_hash))


def transition_answer(event: HazardEvent) -> dict:
    """Shape what a rectification or review answers, the same for the first time and every retry."""
    photos = photo_service.for_events([event.id]).get(event.id, [])
    return {"id": event.client_id, "hazard_id": event.hazard_id, "type": event.type, "at": event.at,
            "status": event.hazard.status, "photos_missing": photo_service.missing(photos)}
