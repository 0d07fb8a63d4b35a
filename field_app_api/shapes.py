"""Turn domain rows into the dictionaries the response schemas dump."""

from __future__ import annotations

from server.accounts.models import User
from server.hazards import evidence
from server.hazards import service as hazard_service
from server.photos import service as photo_service


def user(row: User) -> dict:
    return {"id": row.id, "username": row.username, "name": row.name, "roles": row.roles, "districts": row.districts}


def subject(row) -> dict:
    return {"id": row.id, "domain": row.domain, "name": row.name, "address": row.address,
            "district": row.district_code, "location": {"lat": row.lat, "lon": row.lon},
            "enterprise_ids": row.enterprise_ids, "external_ref": row.external_ref, "attributes": row.attributes}


def photo(row) -> dict:
    gps = {"lat": row.gps_lat, "lon": row.gps_lon} if row.gps_lat is not None else None
    return {"id": row.id, "sha256": row.sha256, "role": row.role, "hazard_id": row.hazard_id,
            "received": row.received_at is not None, "content_type": row.content_type, "width": row.width,
            "height": row.height, "taken_at": row.taken_at, "gps": gps, "make": row.make, "model": row.model,
            "flags": row.flags or []}


def hazard(row) -> dict:
    listing = hazard_service.supervision(row)
    return {"id": row.id, "inspection_id": row.inspection_id, "subject_id": row.subject_id,
            "district": row.district_code, "domain": row.domain, "item": row.item_code, "category": row.category,
            "description": row.description, "severity": row.severity, "status": row.status,
            "deadline": row.deadline, "overdue": hazard_service.is_overdue(row), "fixed_on_spot": row.fixed_on_spot,
            "enterprise_id": row.enterprise_id, "campaign_id": row.campaign_id, "created_at": row.created_at,
            "closed_at": row.closed_at, "plan": row.plan, "carried": hazard_service.is_carried(row),
            "recurrences": hazard_service.recurrences(row),
            "supervision": None if listing is None else {
                "supervising_unit": listing.supervising_unit, "listed_at": listing.listed_at,
                "lifted_at": listing.lifted_at}}


def hazard_detail(row, actors: dict[int, User]) -> dict:
    photos = photo_service.for_events([e.id for e in row.events])
    events = [{"id": e.client_id, "type": e.type, "at": e.at, "actor": user(actors[e.actor_id]), "note": e.note,
               "from_status": e.from_status, "to_status": e.to_status, "checks": e.checks,
               "photos": [photo(p) for p in photos.get(e.id, [])]} for e in row.events]
    return {**hazard(row), "events": events, "allowed_actions": hazard_service.allowed_actions(row.status),
            "evidence_checks": evidence.checks(row) if row.status == "pending_review" else []}
