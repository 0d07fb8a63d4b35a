"""Hazards: listing, reading, rectification and review."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, current_user, login_required, visible_districts
from server.accounts.enums import Role
from server.accounts.models import User
from server.extensions import db
from server.hazards import flows as hazard_flows
from server.hazards import service as hazard_service

blp = Blueprint("hazards", __name__, description="Hazards and their lifecycle")


@blp.route("/hazards", methods=["GET"])
@login_required()
@blp.arguments(schemas.HazardQuerySchema, location="query")
@blp.response(200, schemas.HazardPageSchema)
@blp.doc(security=SECURITY)
def list_hazards(query):
    """Return one page of hazards in the caller's districts, newest first."""
    rows, next_cursor = hazard_service.list_page(districts=visible_districts(), **query)
    return {"items": [shapes.hazard(row) for row in rows], "next_cursor": next_cursor}


@blp.route("/hazards/<uuid:hazard_id>", methods=["GET"])
@login_required()
@blp.response(200, schemas.HazardDetailSchema)
@blp.doc(security=SECURITY)
def get_hazard(hazard_id):
    """Return a hazard with its events."""
    hazard = hazard_service.get(hazard_id=hazard_id, districts=visible_districts())
    actor_ids = {e.actor_id for e in hazard.events}
    actors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))}
    return shapes.hazard_detail(hazard, actors)


def _answer(event, created: bool):
    result = hazard_flows.transition_answer(event)
    return {**result, "hazard": shapes.hazard(event.hazard)}, 201 if created else 200


def _commit_or_replay(run, retry):
    """Commit ``run()``; when a concurrent request with the same id won the race, answer as its retry."""
    try:
        event, created = run()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        event, created = retry()
    return _answer(event, created)


@blp.route("/hazards/<uuid:hazard_id>/rectifications", methods=["POST"])
@login_required(Role.INSPECTOR, Role.LEADER)
@blp.arguments(schemas.RectificationInSchema)
@blp.response(201, schemas.TransitionResultSchema)
@blp.alt_response(200, schema=schemas.TransitionResultSchema, description="A retry")
@blp.doc(security=SECURITY)
def rectify(body, hazard_id):
    """Report a rectification with its after photos; the hazard waits for review."""
    def run():
        return hazard_flows.rectify(hazard_id=hazard_id, data=body, actor=current_user(), districts=visible_districts())
    return _commit_or_replay(run, run)


@blp.route("/hazards/<uuid:hazard_id>/reviews", methods=["POST"])
@login_required(Role.INSPECTOR, Role.LEADER)
@blp.arguments(schemas.ReviewInSchema)
@blp.response(201, schemas.TransitionResultSchema)
@blp.alt_response(200, schema=schemas.TransitionResultSchema, description="A retry")
@blp.doc(security=SECURITY)
def review(body, hazard_id):
    """Accept (close) or reject (back to rectifying) a rectification."""
    def run():
        return hazard_flows.review(hazard_id=hazard_id, data=body, actor=current_user(), districts=visible_districts())
    return _commit_or_replay(run, run)
