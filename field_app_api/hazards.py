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


def _commit_or_replay(run):
    """Commit ``run()``; when a concurrent request with the same id won the race, run it again as its retry."""
    try:
        event, created = run()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        event, created = run()
    return _answer(event, created)


def _act(flow, body, hazard_id):
    """Run one hazard flow for the current user and answer it (201 new, 200 a retry)."""
    return _commit_or_replay(lambda: flow(hazard_id=hazard_id, data=body, actor=current_user(),
                                          districts=visible_districts()))


def _action_route(path: str, schema, summary: str, flow, roles=(Role.INSPECTOR, Role.LEADER)):
    """Register POST /hazards/{id}/<path>: one idempotent action on a hazard."""

    def view(body, hazard_id):
        return _act(flow, body, hazard_id)

    view.__name__ = path.replace("-", "_")
    view.__doc__ = summary
    decorated = blp.doc(security=SECURITY)(view)
    decorated = blp.alt_response(200, schema=schemas.TransitionResultSchema, description="A retry")(decorated)
    decorated = blp.response(201, schemas.TransitionResultSchema)(decorated)
    decorated = blp.arguments(schema)(decorated)
    decorated = login_required(*roles)(decorated)
    blp.route(f"/hazards/<uuid:hazard_id>/{path}", methods=["POST"])(decorated)


_action_route("rectifications", schemas.RectificationInSchema,
              "Report a rectification with its after photos; the hazard waits for review.", hazard_flows.rectify)
_action_route("reviews", schemas.ReviewInSchema,
              "Accept (close) or reject (back to rectifying) a rectification; a major hazard only by a leader.",
              hazard_flows.review)
_action_route("plan", schemas.PlanInSchema,
              "Record the five implementations (五落实) a major hazard needs before rectification.",
              hazard_flows.plan)
_action_route("notices", schemas.NoticeInSchema,
              "Issue the rectification notice (整改通知): the hazard starts rectifying.", hazard_flows.notify)
_action_route("explanations", schemas.ExplanationInSchema,
              "Carry an overdue hazard on the books (挂账) with a written explanation.", hazard_flows.explain)
