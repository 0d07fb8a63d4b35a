"""Submitting and reading inspections."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, current_user, login_required, visible_districts
from server import canonical, database
from server.accounts.enums import Role
from server.errors import ProblemError
from server.extensions import db
from server.inspections import service as inspection_service
from server.inspections.models import Inspection
from server.photos import service as photo_service

blp = Blueprint("inspections", __name__, description="Inspections")


def submission(inspection: Inspection) -> dict:
    """Shape the answer to a submission (the same for the first time and every retry)."""
    photos = photo_service.for_inspection(inspection.id)
    missing = photo_service.missing(photos)
    return {"id": inspection.id, "received_at": inspection.received_at,
            "status": "awaiting_photos" if missing else "complete", "photos_missing": missing,
            "flags": inspection_service.flags(inspection, photos),
            "hazards": [{"id": h.id, "status": h.status, "deadline": h.deadline}
                        for h in inspection_service.hazards_of(inspection.id)],
            "score": inspection.score}


@blp.route("/inspections", methods=["POST"])
@login_required(Role.INSPECTOR, Role.LEADER)
# An instance, not the class: webargs would build the schema (and its nested ones) on every request.
@blp.arguments(schemas.InspectionInSchema())
@blp.response(201, schemas.SubmissionSchema)
@blp.alt_response(200, schema=schemas.SubmissionSchema, description="A retry of a stored submission")
@blp.doc(security=SECURITY)
def submit(body):
    """Submit an inspection with its results, hazards and declared photos; retries are safe."""
    actor = current_user()
    try:
        # Checks and lookups read beside other writers; only the writes queue for SQLite's write lock.
        with database.reading():
            prepared = inspection_service.prepare(data=body, actor=actor, districts=visible_districts())
            if isinstance(prepared, Inspection):  # a retry of a stored submission
                return submission(prepared), 200
        database.end_reading()
        stored = inspection_service.store(prepared)
        db.session.commit()
    except IntegrityError:
        # A concurrent request stored one of its ids first: answer as to a retry, or 409.
        db.session.rollback()
        with database.reading():
            existing = db.session.get(Inspection, body["id"])
            if existing is None:
                raise ProblemError("conflict", "A hazard or photo id of this inspection is already in use.") from None
            inspection = inspection_service.replay(inspection=existing, actor=current_user(),
                                                   payload_hash=canonical.digest(body))
            return submission(inspection), 200
    inspection = stored.inspection
    return {"id": inspection.id, "received_at": inspection.received_at,
            "status": "awaiting_photos" if stored.photos_missing else "complete",
            "photos_missing": stored.photos_missing, "flags": list(inspection.flags or []),
            "hazards": stored.hazards, "score": inspection.score}, 201


@blp.route("/inspections/<uuid:inspection_id>", methods=["GET"])
@login_required()
@blp.response(200, schemas.InspectionSchema)
@blp.doc(security=SECURITY)
def get_inspection(inspection_id):
    """Return a stored inspection with its results, hazards, photos and flags."""
    inspection = inspection_service.get(inspection_id=inspection_id, districts=visible_districts())
    photos = photo_service.for_inspection(inspection.id)
    return {
        **submission(inspection),
        "subject_id": inspection.subject_id, "inspector_id": inspection.inspector_id,
        "campaign_id": inspection.campaign_id, "outcome": inspection.outcome,
        "checklist": {"code": inspection.checklist_code, "version": inspection.checklist_version},
        "started_at": inspection.started_at, "finished_at": inspection.finished_at,
        "location": None if inspection.lat is None else {
            "lat": inspection.lat, "lon": inspection.lon, "accuracy_m": inspection.accuracy_m, "crs": "wgs84",
            "source": {"lat": inspection.source_lat, "lon": inspection.source_lon, "crs": inspection.source_crs}},
        "results": [{"item": r.item_code, "outcome": r.outcome, "note": r.note, "deduction": r.deduction}
                    for r in inspection.results],
        "hazards": [shapes.hazard(h) for h in inspection_service.hazards_of(inspection.id)],
        "photos": [shapes.photo(p) for p in photos],
        "note": inspection.note,
    }
