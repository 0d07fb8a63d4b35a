"""Request and response schemas of the phone API (marshmallow), also the source of the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Mapping

from marshmallow import Schema as BaseSchema
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from server import clock
from server.hazards.enums import Severity, Status
from server.registry.enums import Domain

# NUL cannot be stored in PostgreSQL text and unpaired surrogates cannot be encoded as UTF-8.
FORBIDDEN_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


class Schema(BaseSchema):
    """A schema that refuses text no database can store, field by field, before anything else."""

    @pre_load
    def _refuse_unstorable_text(self, data, **kwargs):
        if isinstance(data, Mapping):
            bad = {key: ["contains a NUL character or an unpaired surrogate"] for key, value in data.items()
                   if isinstance(value, str) and FORBIDDEN_CHARACTERS.search(value)}
            if bad:
                raise ValidationError(bad)
        return data


CRS_VALUES = ("wgs84", "gcj02", "bd09")
SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}$", error="must be 64 hexadecimal characters (SHA-256)")
TEXT = validate.Length(max=4000)


class LocalDateTime(fields.AwareDateTime):
    """An ISO 8601 time with an offset: read in any zone, written in the bureau's zone."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else clock.local(value).isoformat()


class Latitude(fields.Float):
    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, validate=validate.Range(-90, 90), **kwargs)


class Longitude(fields.Float):
    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, validate=validate.Range(-180, 180), **kwargs)


# --- authentication -------------------------------------------------------------------------------

class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    device_id = fields.String(load_default=None, validate=validate.Length(max=128))


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()
    roles = fields.List(fields.String())
    districts = fields.List(fields.String(), metadata={"description": "district codes such as 640104"})


class TokenSchema(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_at = LocalDateTime()
    user = fields.Nested(UserSchema)


# --- reference data -------------------------------------------------------------------------------

class ChecklistItemSchema(Schema):
    code = fields.String()
    text = fields.String()
    category = fields.String()
    severity = fields.String()
    credit_rule = fields.String(allow_none=True)
    major_criterion = fields.String(allow_none=True)
    table = fields.String(allow_none=True, metadata={"description": "JGJ 59 sub-table (construction sites)"})
    guarantee = fields.Boolean(metadata={"description": "JGJ 59 guarantee item (保证项目)"})
    points = fields.Float(allow_none=True, metadata={"description": "JGJ 59 points of the item"})


class ChecklistSchema(Schema):
    code = fields.String()
    domain = fields.String()
    version = fields.Integer()
    title = fields.String()
    items = fields.List(fields.Nested(ChecklistItemSchema))


class ChecklistListSchema(Schema):
    items = fields.List(fields.Nested(ChecklistSchema))


class LocationOutSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()


class SubjectSchema(Schema):
    id = fields.UUID()
    domain = fields.String()
    name = fields.String()
    address = fields.String()
    district = fields.String()
    location = fields.Nested(LocationOutSchema)
    enterprise_ids = fields.List(fields.UUID())
    external_ref = fields.String(allow_none=True)
    attributes = fields.Dict()


class SubjectQuerySchema(Schema):
    domain = fields.String(validate=validate.OneOf([d.value for d in Domain]))
    q = fields.String(validate=validate.Length(max=100))
    near = fields.String(metadata={"description": "LAT,LON in WGS-84"})
    radius_m = fields.Float(allow_nan=False, validate=validate.Range(1, 50_000))
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))

    @validates_schema
    def _near(self, data, **kwargs):
        if "near" not in data:
            if "radius_m" in data:
                raise ValidationError("radius_m needs near", "radius_m")
            return
        try:
            lat, lon = (float(part) for part in data["near"].split(","))
        except ValueError:
            raise ValidationError("must be LAT,LON", "near") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValidationError("coordinates out of range", "near")
        data["near"] = (lat, lon)


class SubjectPageSchema(Schema):
    items = fields.List(fields.Nested(SubjectSchema))
    next_cursor = fields.String(allow_none=True)


# --- inspections ---------------------------------------------------------------------------------

class ChecklistRefSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10_000))


class LocationInSchema(Schema):
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    accuracy_m = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(0, 100_000))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_VALUES))


class ResultInSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=32))
    outcome = fields.String(required=True, validate=validate.OneOf(["pass", "fail", "na"]))
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)
    deduction = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=validate.Range(0, 100),
                             metadata={"description": "JGJ 59 points deducted (construction sites); a fail without it loses the item's points"})


class HazardInSchema(Schema):
    id = fields.UUID(required=True)
    item = fields.String(required=True, validate=validate.Length(min=1, max=32))
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    severity = fields.String(load_default=None, validate=validate.OneOf([s.value for s in Severity]),
                             metadata={"description": "defaults to the checklist item's severity"})
    fixed_on_spot = fields.Boolean(load_default=False)
    deadline = fields.Date(load_default=None, allow_none=True)
    enterprise_id = fields.UUID(load_default=None, allow_none=True)


class PhotoDeclSchema(Schema):
    id = fields.UUID(required=True)
    sha256 = fields.String(required=True, validate=SHA256)
    role = fields.String(required=True, validate=validate.OneOf(["evidence", "before", "after"]))
    hazard_id = fields.UUID(load_default=None, allow_none=True)


class InspectionInSchema(Schema):
    id = fields.UUID(required=True)
    subject_id = fields.UUID(required=True)
    checklist = fields.Nested(ChecklistRefSchema, required=True)
    started_at = LocalDateTime(required=True)
    finished_at = LocalDateTime(load_default=None, allow_none=True)
    location = fields.Nested(LocationInSchema, load_default=None, allow_none=True)
    results = fields.List(fields.Nested(ResultInSchema), load_default=list, validate=validate.Length(max=500))
    hazards = fields.List(fields.Nested(HazardInSchema), load_default=list, validate=validate.Length(max=200))
    photos = fields.List(fields.Nested(PhotoDeclSchema), load_default=list, validate=validate.Length(max=200))
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)
    # No load_default: a payload without them digests as before, so old retries still match.
    campaign_id = fields.Integer(allow_none=True, strict=True, metadata={
        "description": "the campaign (专项行动) of the visit; default: the one running that day for the subject"})
    outcome = fields.String(validate=validate.OneOf(["inspected", "no_access"]), metadata={
        "description": "no_access: nobody let the inspector in (then no results and no hazards); default inspected"})

    @validates_schema
    def _times(self, data, **kwargs):
        if data.get("finished_at") and data["finished_at"] < data["started_at"]:
            raise ValidationError("must not be before started_at", "finished_at")


class FlagSchema(Schema):
    code = fields.String()
    detail = fields.String()
    photo_id = fields.String()


class HazardBriefSchema(Schema):
    id = fields.UUID()
    status = fields.String()
    deadline = fields.Date()


class SubmissionSchema(Schema):
    id = fields.UUID()
    received_at = LocalDateTime()
    status = fields.String(metadata={"description": "complete | awaiting_photos"})
    photos_missing = fields.List(fields.UUID())
    flags = fields.List(fields.Nested(FlagSchema))
    hazards = fields.List(fields.Nested(HazardBriefSchema))
    score = fields.Dict(allow_none=True, metadata={"description": "JGJ 59 scores (construction sites)"})


# --- photos ----------------------------------------------------------------------------------------

class PhotoSchema(Schema):
    id = fields.UUID()
    sha256 = fields.String()
    role = fields.String()
    hazard_id = fields.UUID(allow_none=True)
    received = fields.Boolean()
    content_type = fields.String(allow_none=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    taken_at = LocalDateTime(allow_none=True)
    gps = fields.Nested(LocationOutSchema, allow_none=True)
    make = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    flags = fields.List(fields.Nested(FlagSchema))


# --- hazards ---------------------------------------------------------------------------------------

class PlanSchema(Schema):
    responsible = fields.String(allow_none=True)
    measures = fields.String(allow_none=True)
    funds_yuan = fields.Float(allow_none=True)
    deadline = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    contingency_plan = fields.String(allow_none=True)


class SupervisionSchema(Schema):
    supervising_unit = fields.String()
    listed_at = LocalDateTime()
    lifted_at = LocalDateTime(allow_none=True)


class HazardSchema(Schema):
    id = fields.UUID()
    inspection_id = fields.UUID()
    subject_id = fields.UUID()
    district = fields.String()
    domain = fields.String()
    item = fields.String()
    category = fields.String(allow_none=True)
    description = fields.String()
    severity = fields.String()
    status = fields.String()
    deadline = fields.Date()
    overdue = fields.Boolean()
    fixed_on_spot = fields.Boolean()
    enterprise_id = fields.UUID(allow_none=True)
    campaign_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime()
    closed_at = LocalDateTime(allow_none=True)
    plan = fields.Nested(PlanSchema, allow_none=True, metadata={"description": "五落实 of a major hazard"})
    supervision = fields.Nested(SupervisionSchema, allow_none=True, metadata={"description": "挂牌督办"})
    carried = fields.Boolean(metadata={"description": "overdue with a written explanation (挂账)"})
    recurrences = fields.Integer(metadata={"description": "times re-inspection found it again"})


class CheckSchema(Schema):
    code = fields.String()
    passed = fields.Boolean()
    detail = fields.String()
    photo_id = fields.String()


class ActorSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()


class EventSchema(Schema):
    id = fields.UUID(allow_none=True, metadata={"description": "the phone's id of a rectification or review"})
    checks = fields.List(fields.Nested(CheckSchema), allow_none=True)
    type = fields.String()
    at = LocalDateTime()
    actor = fields.Nested(ActorSchema)
    note = fields.String(allow_none=True)
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    photos = fields.List(fields.Nested(PhotoSchema))


class HazardDetailSchema(HazardSchema):
    events = fields.List(fields.Nested(EventSchema))
    allowed_actions = fields.List(fields.String())
    evidence_checks = fields.List(fields.Nested(CheckSchema),
                                  metadata={"description": "closing-evidence checks of the latest rectification"})


class HazardQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    domain = fields.String(validate=validate.OneOf([d.value for d in Domain]))
    overdue = fields.Boolean()
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class HazardPageSchema(Schema):
    items = fields.List(fields.Nested(HazardSchema))
    next_cursor = fields.String(allow_none=True)


class RectificationPhotoSchema(Schema):
    id = fields.UUID(required=True)
    sha256 = fields.String(required=True, validate=SHA256)
    role = fields.String(load_default="after", validate=validate.OneOf(["after"]))


class RectificationInSchema(Schema):
    id = fields.UUID(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)
    photos = fields.List(fields.Nested(RectificationPhotoSchema), load_default=list, validate=validate.Length(max=50))


class ReviewInSchema(Schema):
    id = fields.UUID(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(["accept", "reject"]))
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class PlanInSchema(Schema):
    id = fields.UUID(required=True)
    responsible = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                                metadata={"description": "责任: responsible unit and person"})
    measures = fields.String(load_default=None, validate=validate.Length(min=1, max=4000), metadata={"description": "措施"})
    funds_yuan = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(0, 1e10),
                              metadata={"description": "资金"})
    deadline = fields.Date(load_default=None, metadata={"description": "时限"})
    contingency_plan = fields.String(load_default=None, validate=validate.Length(min=1, max=4000),
                                     metadata={"description": "预案"})


class NoticeInSchema(Schema):
    id = fields.UUID(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ExplanationInSchema(Schema):
    id = fields.UUID(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class TransitionResultSchema(Schema):
    id = fields.UUID()
    hazard_id = fields.UUID()
    type = fields.String()
    at = LocalDateTime()
    status = fields.String(metadata={"description": "the hazard's status after this action"})
    photos_missing = fields.List(fields.UUID())
    hazard = fields.Nested(HazardSchema)


class SourceLocationSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    crs = fields.String()


class InspectionLocationSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)
    crs = fields.String()
    source = fields.Nested(SourceLocationSchema, metadata={"description": "the position as the phone sent it"})


class ResultOutSchema(Schema):
    item = fields.String()
    outcome = fields.String()
    note = fields.String(allow_none=True)
    deduction = fields.Float(allow_none=True)


class InspectionSchema(SubmissionSchema):
    subject_id = fields.UUID()
    campaign_id = fields.Integer(allow_none=True)
    outcome = fields.String()
    inspector_id = fields.Integer()
    checklist = fields.Nested(ChecklistRefSchema)
    started_at = LocalDateTime()
    finished_at = LocalDateTime(allow_none=True)
    location = fields.Nested(InspectionLocationSchema, allow_none=True)
    results = fields.List(fields.Nested(ResultOutSchema))
    hazards = fields.List(fields.Nested(HazardSchema))
    photos = fields.List(fields.Nested(PhotoSchema))
    note = fields.String(allow_none=True)
