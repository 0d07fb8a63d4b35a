"""Campaigns (专项行动), their coverage, re-inspection samples, and leader duties (包抓)."""

from __future__ import annotations

from datetime import date

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from field_app_api import schemas
from field_app_api.assignments import AssignmentSchema, CampaignRefSchema, items_of
from field_app_api.security import SECURITY, current_user, login_required, visible_districts
from server import clock
from server.accounts.enums import Role
from server.accounts.models import User
from server.errors import validation_error
from server.extensions import db
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections import coverage as coverage_service
from server.inspections import reinspection
from server.inspections.campaigns import PHASE_KINDS
from server.registry.enums import Domain

blp = Blueprint("campaigns", __name__, description="Campaigns, coverage, re-inspection and leader duties")

DOMAINS = [d.value for d in Domain]


class PhaseInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(load_default="inspect", validate=validate.OneOf(PHASE_KINDS),
                         metadata={"description": "inspect, or reinspect (回头看: samples closed hazards)"})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    sample_share = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                                validate=validate.Range(0, 1, min_inclusive=False),
                                metadata={"description": "reinspect: share of general hazards drawn per district"})


class CampaignInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    doc_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                           metadata={"description": "document number, e.g. 银建发〔2026〕12号"})
    domains = fields.List(fields.String(validate=validate.OneOf(DOMAINS)), required=True,
                          validate=validate.Length(min=1, max=len(DOMAINS)))
    districts = fields.List(fields.String(validate=validate.Length(min=1, max=12)), required=True,
                            validate=validate.Length(min=1, max=200))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    phases = fields.List(fields.Nested(PhaseInSchema), load_default=list, validate=validate.Length(max=20))

    @validates_schema
    def _period(self, data, **kwargs):
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("must not be before starts_on", "ends_on")


class PhaseSchema(Schema):
    name = fields.String()
    kind = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    sample_share = fields.Float(allow_none=True)
    sampled_at = fields.String(allow_none=True, metadata={"description": "when the reinspect phase was sampled"})
    seed = fields.Integer(allow_none=True, metadata={"description": "the seed of the draw, to check it"})
    share = fields.Float(allow_none=True, metadata={"description": "the share the draw used"})
    sampled = fields.Integer(allow_none=True, metadata={"description": "hazards drawn"})
    unassigned = fields.List(fields.UUID(), allow_none=True,
                             metadata={"description": "hazards drawn for whose district nobody could be assigned"})


class CampaignSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    doc_no = fields.String(allow_none=True)
    domains = fields.List(fields.String())
    districts = fields.List(fields.String())
    starts_on = fields.Date()
    ends_on = fields.Date()
    phases = fields.List(fields.Nested(PhaseSchema))
    created_at = schemas.LocalDateTime()


class CampaignQuerySchema(Schema):
    active = fields.Boolean(load_default=False, metadata={"description": "true: only the campaigns running today"})


class CampaignListSchema(Schema):
    items = fields.List(fields.Nested(CampaignSchema))


class CoverageQuerySchema(Schema):
    by = fields.String(load_default="district,domain",
                       metadata={"description": "district,domain (default), district, domain, or empty for the total"})

    @validates_schema
    def _by(self, data, **kwargs):
        parts = tuple(p.strip() for p in data["by"].split(",") if p.strip())
        if any(p not in coverage_service.BY_VALUES for p in parts) or len(set(parts)) != len(parts):
            raise ValidationError("must list some of: district, domain", "by")
        data["by"] = tuple(p for p in coverage_service.BY_VALUES if p in parts)


class CoverageFiguresSchema(Schema):
    district = fields.String(allow_none=True)
    domain = fields.String(allow_none=True)
    registered = fields.Integer(metadata={"description": "subjects of the register (底数) in scope"})
    inspected = fields.Integer(metadata={"description": "subjects inspected at least once in the campaign"})
    never_inspected = fields.Integer(metadata={"description": "registered − inspected − no_access"})
    no_access = fields.Integer(metadata={"description": "subjects visited in the campaign but never let in"})
    coverage = fields.Float(metadata={"description": "inspected ÷ registered"})


class CoverageSchema(Schema):
    campaign = fields.Nested(CampaignRefSchema)
    rows = fields.List(fields.Nested(CoverageFiguresSchema))
    total = fields.Nested(CoverageFiguresSchema)


class SampleInSchema(Schema):
    phase = fields.String(required=True, validate=validate.Length(min=1, max=100))
    share = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                         validate=validate.Range(0, 1, min_inclusive=False),
                         metadata={"description": "defaults to the phase's sample_share"})
    seed = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 2**31 - 1))


class SampleSchema(Schema):
    phase = fields.Nested(PhaseSchema)
    items = fields.List(fields.Nested(AssignmentSchema))


class DutyInSchema(Schema):
    user_id = fields.Integer(required=True, strict=True)


class DutySchema(Schema):
    district = fields.String()
    domain = fields.String()
    user = fields.Nested(schemas.ActorSchema)


class DutyListSchema(Schema):
    items = fields.List(fields.Nested(DutySchema))


def _phase(entry: dict) -> dict:
    return {**entry, "starts_on": date.fromisoformat(entry["starts_on"]),
            "ends_on": date.fromisoformat(entry["ends_on"])}


def _campaign(row) -> dict:
    return {"id": row.id, "name": row.name, "doc_no": row.doc_no, "domains": row.domains, "districts": row.districts,
            "starts_on": row.starts_on, "ends_on": row.ends_on, "phases": [_phase(p) for p in row.phases or []],
            "created_at": row.created_at}


def _duty(row, users: dict[int, User]) -> dict:
    user = users[row.user_id]
    return {"district": row.district_code, "domain": row.domain,
            "user": {"id": user.id, "username": user.username, "name": user.name}}


@blp.route("/campaigns", methods=["GET"])
@login_required()
@blp.arguments(CampaignQuerySchema, location="query")
@blp.response(200, CampaignListSchema)
@blp.doc(security=SECURITY)
def list_campaigns(query):
    """Return the campaigns touching the caller's districts, newest first."""
    on = clock.today() if query["active"] else None
    rows = campaign_service.list_campaigns(districts=visible_districts(), on=on)
    return {"items": [_campaign(row) for row in rows]}


@blp.route("/campaigns", methods=["POST"])
@login_required(Role.LEADER, Role.ADMIN)
@blp.arguments(CampaignInSchema)
@blp.response(201, CampaignSchema)
@blp.doc(security=SECURITY)
def create_campaign(body):
    """Create a campaign: name, document number, fields, districts, period and phases."""
    scope = visible_districts()
    if scope is not None:
        outside = [code for code in body["districts"] if code not in scope]
        if outside:
            raise validation_error("districts", f"not among your districts: {', '.join(outside)}")
    row = campaign_service.create(**body)
    db.session.commit()
    return _campaign(row)


@blp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@login_required()
@blp.response(200, CampaignSchema)
@blp.doc(security=SECURITY)
def get_campaign(campaign_id):
    """Return one campaign."""
    return _campaign(campaign_service.get_visible(campaign_id=campaign_id, districts=visible_districts()))


@blp.route("/campaigns/<int:campaign_id>/coverage", methods=["GET"])
@login_required()
@blp.arguments(CoverageQuerySchema, location="query")
@blp.response(200, CoverageSchema)
@blp.doc(security=SECURITY)
def get_coverage(query, campaign_id):
    """Return the campaign's coverage of its register: registered, inspected, never inspected, no access."""
    result = coverage_service.for_user(campaign_id=campaign_id, user_id=current_user().id,
                                       districts=visible_districts())
    return coverage_service.rollup(result, query["by"])


@blp.route("/campaigns/<int:campaign_id>/samples", methods=["POST"])
@login_required(Role.LEADER, Role.ADMIN)
@blp.arguments(SampleInSchema)
@blp.response(201, SampleSchema)
@blp.doc(security=SECURITY)
def sample_phase(body, campaign_id):
    """Draw a reinspect (回头看) phase's closed hazards into reinspect assignments; a phase is drawn once."""
    rows = reinspection.sample(campaign_id=campaign_id, phase=body["phase"], share=body["share"], seed=body["seed"],
                               actor=current_user())
    campaign = campaign_service.get(campaign_id=campaign_id)
    phase = campaign_service.phase(campaign, body["phase"])
    db.session.commit()
    return {"phase": _phase(phase), "items": items_of(rows)}


@blp.route("/leader-duties", methods=["GET"])
@login_required()
@blp.response(200, DutyListSchema)
@blp.doc(security=SECURITY)
def list_duties():
    """Return who answers for each district and field (包抓) within the caller's districts."""
    rows = assignment_service.duties(districts=visible_districts())
    ids = sorted({row.user_id for row in rows})
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return {"items": [_duty(row, users) for row in rows]}


@blp.route("/leader-duties/<district>/<domain>", methods=["PUT"])
@login_required(Role.ADMIN)
@blp.arguments(DutyInSchema)
@blp.response(200, DutySchema)
@blp.doc(security=SECURITY)
def put_duty(body, district, domain):
    """Make a leader responsible for a district in a field; it receives that district's escalations."""
    row = assignment_service.set_duty(district=district, domain=domain, user_id=body["user_id"], actor=current_user())
    db.session.commit()
    return _duty(row, {row.user_id: db.session.get(User, row.user_id)})


@blp.route("/leader-duties/<district>/<domain>", methods=["DELETE"])
@login_required(Role.ADMIN)
@blp.response(204)
@blp.doc(security=SECURITY)
def delete_duty(district, domain):
    """End a leader's responsibility for a district in a field."""
    assignment_service.remove_duty(district=district, domain=domain, actor=current_user())
    db.session.commit()
