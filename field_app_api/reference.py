"""Reference data for the phone: checklists and subjects."""

from __future__ import annotations

from flask_smorest import Blueprint

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, login_required, visible_districts
from server.inspections import service as inspection_service
from server.registry import service as registry_service

blp = Blueprint("reference", __name__, description="Checklists and subjects")


@blp.route("/checklists", methods=["GET"])
@login_required()
@blp.response(200, schemas.ChecklistListSchema)
@blp.doc(security=SECURITY)
def list_checklists():
    """Return every checklist version with its items."""
    return {"items": [
        {"code": c.code, "domain": c.domain, "version": c.version, "title": c.title,
         "items": [{"code": i.code, "text": i.text, "category": i.category, "severity": i.severity,
                    "credit_rule": i.credit_rule, "major_criterion": i.major_criterion, "table": i.table,
                    "guarantee": i.guarantee, "points": i.points} for i in c.items]}
        for c in inspection_service.checklists()]}


@blp.route("/subjects", methods=["GET"])
@login_required()
@blp.arguments(schemas.SubjectQuerySchema, location="query")
@blp.response(200, schemas.SubjectPageSchema)
@blp.doc(security=SECURITY)
def list_subjects(query):
    """Return one page of the subjects in the caller's districts, optionally near a point."""
    rows, next_cursor = registry_service.list_subjects(districts=visible_districts(), **query)
    return {"items": [shapes.subject(row) for row in rows], "next_cursor": next_cursor}


@blp.route("/subjects/<uuid:subject_id>", methods=["GET"])
@login_required()
@blp.response(200, schemas.SubjectSchema)
@blp.doc(security=SECURITY)
def get_subject(subject_id):
    """Return one subject."""
    return shapes.subject(registry_service.get_subject(subject_id=subject_id, districts=visible_districts()))
