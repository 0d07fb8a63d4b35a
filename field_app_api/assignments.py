"""Assignments: what the phone should do next, synced by a cursor; given and taken back by leaders."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, current_user, login_required
from server.accounts.enums import Role
from server.extensions import db
from server.inspections import assignments as assignment_service
from server.inspections.assignments import KINDS
from server.registry.enums import Domain

blp = Blueprint("assignments", __name__, description="Assignments (任务) and their sync to phones")


class AssignmentQuerySchema(Schema):
    since = fields.String(validate=validate.Length(max=200), metadata={
        "description": "the cursor of the previous answer; without it, every current assignment"})


class CampaignRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class AssignmentSchema(Schema):
    id = fields.UUID()
    kind = fields.String(metadata={"description": "inspect | reinspect | verify"})
    subject = fields.Nested(schemas.SubjectSchema)
    hazard_id = fields.UUID(allow_none=True)
    campaign = fields.Nested(CampaignRefSchema, allow_none=True)
    due = fields.Date(allow_none=True)
    checklist = fields.Nested(schemas.ChecklistRefSchema, allow_none=True,
                              metadata={"description": "the newest checklist version of the subject's field"})
    user_id = fields.Integer(metadata={"description": "the user the assignment is given to"})


class AssignmentSyncSchema(Schema):
    items = fields.List(fields.Nested(AssignmentSchema))
    removed = fields.List(fields.UUID(), metadata={"description": "ids removed since the cursor"})
    cursor = fields.String(metadata={"description": "opaque; send it as since= next time"})


class AssignmentInSchema(Schema):
    user_id = fields.Integer(required=True, strict=True)
    subject_ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=5000),
                              metadata={"description": "subjects to give; or name a district instead"})
    district = fields.String(validate=validate.Length(min=1, max=12),
                             metadata={"description": "every subject of this district (and its descendants) now"})
    domain = fields.String(validate=validate.OneOf([d.value for d in Domain]),
                           metadata={"description": "only subjects of this field"})
    kind = fields.String(load_default="inspect", validate=validate.OneOf(KINDS))
    hazard_id = fields.UUID(load_default=None, allow_none=True,
                            metadata={"description": "the hazard to re-inspect or verify (kinds reinspect, verify)"})
    campaign_id = fields.Integer(load_default=None, allow_none=True, strict=True)
    due = fields.Date(load_default=None, allow_none=True)


class AssignmentListSchema(Schema):
    items = fields.List(fields.Nested(AssignmentSchema))


def items_of(rows) -> list[dict]:
    """Shape assignments as the phone gets them, loading their subjects and campaigns in bulk."""
    subjects = assignment_service.subjects_of(rows)
    campaigns = assignment_service.campaigns_of(rows)
    checklists: dict[str, dict | None] = {}
    items = []
    for row in rows:
        subject = subjects[row.subject_id]
        if subject.domain not in checklists:
            checklists[subject.domain] = assignment_service.checklist_for(subject.domain)
        campaign = campaigns.get(row.campaign_id)
        items.append({"id": row.id, "kind": row.kind, "subject": shapes.subject(subject), "hazard_id": row.hazard_id,
                      "campaign": {"id": campaign.id, "name": campaign.name} if campaign else None,
                      "due": row.due, "checklist": checklists[subject.domain], "user_id": row.user_id})
    return items


@blp.route("/assignments", methods=["GET"])
@login_required()
@blp.arguments(AssignmentQuerySchema, location="query")
@blp.response(200, AssignmentSyncSchema)
@blp.doc(security=SECURITY)
def list_assignments(query):
    """Return the caller's assignments: all, or with since= what changed and what was removed since."""
    answer = assignment_service.changes_since(user_id=current_user().id, cursor=query.get("since"))
    return {**answer, "items": items_of(answer["items"])}


@blp.route("/assignments", methods=["POST"])
@login_required(Role.LEADER, Role.ADMIN)
@blp.arguments(AssignmentInSchema)
@blp.response(201, AssignmentListSchema)
@blp.doc(security=SECURITY)
def create_assignments(body):
    """Give subjects (or every subject of a district) to an inspector; an existing one is kept, not doubled."""
    rows = assignment_service.assign(actor=current_user(), subject_ids=body.get("subject_ids"),
                                     district=body.get("district"), domain=body.get("domain"),
                                     user_id=body["user_id"], kind=body["kind"], hazard_id=body["hazard_id"],
                                     campaign_id=body["campaign_id"], due=body["due"])
    db.session.commit()
    return {"items": items_of(rows)}


@blp.route("/assignments/<uuid:assignment_id>", methods=["DELETE"])
@login_required(Role.LEADER, Role.ADMIN)
@blp.response(204)
@blp.doc(security=SECURITY)
def delete_assignment(assignment_id):
    """Take an assignment back; the phone sees its id in removed. Deleting it again changes nothing."""
    assignment_service.remove(assignment_id=assignment_id, actor=current_user())
    db.session.commit()
