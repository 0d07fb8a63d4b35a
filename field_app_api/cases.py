"""Cases transferred to enforcement (移交违法案件): filing, evidence, transfer, outcome, and the dossier."""

from __future__ import annotations

from flask import send_file
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import IntegrityError

from field_app_api import schemas
from field_app_api.schemas import SHA256, TEXT, LocalDateTime, Schema
from field_app_api.security import SECURITY, current_user, login_required, visible_districts
from server import clock
from server.accounts.enums import Role
from server.cases import flows as case_flows
from server.cases import idcard
from server.cases import service as case_service
from server.cases.enums import (EVIDENCE_NAMES, PENALTY_NAMES, Action, EvidenceKind, PartyKind, PenaltyKind, Source,
                                Status)
from server.extensions import db

blp = Blueprint("cases", __name__, description="Cases transferred to enforcement (移交违法案件) and their dossiers")

READERS = (Role.ENFORCEMENT, Role.LEADER, Role.COMMITTEE, Role.ADMIN)
ACTORS = (Role.ENFORCEMENT,)


def _storable(value: str) -> None:
    """Refuse, in list items too, text no database can store (the base schema checks only plain fields)."""
    if schemas.FORBIDDEN_CHARACTERS.search(value):
        raise ValidationError("contains a NUL character or an unpaired surrogate")


ARTICLE = fields.String(validate=[validate.Length(min=1, max=300), _storable])


# --- request schemas ------------------------------------------------------------------------

class PartyInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in PartyKind]),
                         metadata={"description": "enterprise (by enterprise_id) or person (name and id_number)"})
    enterprise_id = fields.UUID(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                         metadata={"description": "a person's name (an enterprise's comes from the register)"})
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                              metadata={"description": "公民身份号码: 18 characters with its GB 11643 check character"})
    representative = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                                   metadata={"description": "法定代表人（负责人） of an enterprise"})
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))

    @validates_schema
    def _kind(self, data, **kwargs):
        if data["kind"] == PartyKind.ENTERPRISE and data.get("enterprise_id") is None:
            raise ValidationError("required for an enterprise party", "enterprise_id")
        if data["kind"] == PartyKind.PERSON:
            if not (data.get("name") or "").strip():
                raise ValidationError("required for a person", "name")
            if not data.get("id_number"):
                raise ValidationError("required for a person (公民身份号码)", "id_number")
            if reason := idcard.validate(idcard.normalize(data["id_number"]), today=clock.today()):
                raise ValidationError(f"not a valid identity card number: {reason}", "id_number")


class PlaceInSchema(Schema):
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=12),
                             metadata={"description": "district code; defaults to the first hazard's"})
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    lat = schemas.Latitude(load_default=None, allow_none=True)
    lon = schemas.Longitude(load_default=None, allow_none=True)


class OfficerInSchema(Schema):
    user_id = fields.Integer(required=True, strict=True)
    certificate_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                                   metadata={"description": "执法证号"})


class RecordRefSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["hazard", "inspection"]))
    id = fields.UUID(required=True)


class EvidenceInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in EvidenceKind]),
                         metadata={"description": "one of the eight statutory kinds (行政处罚法 第四十六条): " + "; ".join(
                             f"{k.value} {name}" for k, name in EVIDENCE_NAMES.items())})
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    collected_on = fields.Date(load_default=None, allow_none=True)
    photos = fields.List(fields.String(validate=SHA256), load_default=list, validate=validate.Length(max=200),
                         metadata={"description": "SHA-256 of received photos visible to you"})
    records = fields.List(fields.Nested(RecordRefSchema), load_default=list, validate=validate.Length(max=200))


class EvidenceAddSchema(EvidenceInSchema):
    client_key = fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "makes a retry safe: the same key and body answer 200"})


class CaseInSchema(Schema):
    client_key = fields.UUID(required=True, metadata={
        "description": "the client's key of this creation: the same key and body again answer 200 with the same "
                       "case; the same key with another body is 409 conflict"})
    source = fields.String(load_default=None, allow_none=True, validate=validate.OneOf([s.value for s in Source]),
                           metadata={"description": "案件来源; inspection when built from hazards or inspections"})
    cause = fields.String(required=True, validate=validate.Length(min=1, max=300), metadata={"description": "案由"})
    party = fields.Nested(PartyInSchema, load_default=None, allow_none=True, metadata={
        "description": "当事人; defaults to the one enterprise the hazards name"})
    place = fields.Nested(PlaceInSchema, load_default=None, allow_none=True, metadata={
        "description": "违法行为发生地; defaults to the first hazard's subject"})
    facts = fields.String(load_default=None, allow_none=True, validate=TEXT, metadata={"description": "违法事实"})
    articles_violated = fields.List(ARTICLE, load_default=list, validate=validate.Length(max=50))
    penalty_basis = fields.List(ARTICLE, load_default=list, validate=validate.Length(max=50))
    officers = fields.List(fields.Nested(OfficerInSchema), required=True, validate=validate.Length(max=20),
                           metadata={"description": "承办人: at least two enforcement officers"})
    hazard_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=200))
    inspection_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=200))
    evidence = fields.List(fields.Nested(EvidenceInSchema), required=True, validate=validate.Length(max=200))


class CaseUpdateSchema(Schema):
    source = fields.String(validate=validate.OneOf([s.value for s in Source]))
    cause = fields.String(validate=validate.Length(min=1, max=300))
    party = fields.Nested(PartyInSchema)
    place = fields.Nested(PlaceInSchema)
    facts = fields.String(allow_none=True, validate=TEXT)
    articles_violated = fields.List(ARTICLE, validate=validate.Length(max=50))
    penalty_basis = fields.List(ARTICLE, validate=validate.Length(max=50))
    officers = fields.List(fields.Nested(OfficerInSchema), validate=validate.Length(max=20))
    hazard_ids = fields.List(fields.UUID(), validate=validate.Length(max=200))
    inspection_ids = fields.List(fields.UUID(), validate=validate.Length(max=200))


class TransferInSchema(Schema):
    client_key = fields.UUID(required=True, metadata={"description": "makes a retry safe: the same key and body "
                                                                     "answer 200 with the same event"})
    receiving_agency = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200),
                                     metadata={"description": "接收单位; defaults to CASE_RECEIVING_AGENCY"})
    transferred_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "移送日期; today"})
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class AcceptInSchema(Schema):
    client_key = fields.UUID(load_default=None, allow_none=True)
    accepted_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "受理（回执）日期; today"})
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


MAX_AMOUNT_YUAN = 10**10


def _amount_in_range(value) -> None:
    if value is not None and not 0 <= value <= MAX_AMOUNT_YUAN:
        raise ValidationError(f"must be between 0 and {MAX_AMOUNT_YUAN}")


class DecideInSchema(Schema):
    client_key = fields.UUID(load_default=None, allow_none=True)
    penalty_kinds = fields.List(fields.String(validate=validate.OneOf([k.value for k in PenaltyKind])),
                                required=True, validate=validate.Length(min=1, max=len(PenaltyKind)),
                                metadata={"description": "; ".join(f"{k.value} {n}" for k, n in PENALTY_NAMES.items())})
    # The bounds go in the metadata as numbers: a Range validator on a Decimal field is documented with
    # the bounds serialised as strings, which is not valid JSON Schema.
    amount_yuan = fields.Decimal(load_default=None, allow_none=True, places=2, allow_nan=False,
                                 validate=_amount_in_range,
                                 metadata={"description": "罚款 in yuan", "minimum": 0, "maximum": MAX_AMOUNT_YUAN})
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100),
                                metadata={"description": "行政处罚决定书文号"})
    decided_on = fields.Date(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ReturnInSchema(Schema):
    client_key = fields.UUID(load_default=None, allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000), metadata={"description": "退回理由"})
    returned_on = fields.Date(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class CloseInSchema(Schema):
    client_key = fields.UUID(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class CaseQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "part of the case number, cause or party name"})
    enterprise_id = fields.UUID()
    year = fields.Integer(validate=validate.Range(1900, 2999))
    overdue = fields.Boolean(metadata={"description": "past the 90-day limit without a decision"})
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


# --- response schemas ------------------------------------------------------------------------

class PartySchema(Schema):
    kind = fields.String()
    enterprise_id = fields.UUID(allow_none=True)
    name = fields.String()
    id_number = fields.String(allow_none=True)
    representative = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class PlaceSchema(Schema):
    district = fields.String()
    address = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class OfficerSchema(Schema):
    user_id = fields.Integer()
    name = fields.String()
    certificate_no = fields.String(allow_none=True)


class AttachedPhotoSchema(Schema):
    sha256 = fields.String()
    photo_id = fields.String()
    content_type = fields.String(allow_none=True)


class EvidenceSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    kind = fields.String()
    kind_name = fields.String()
    description = fields.String()
    collected_on = fields.Date(allow_none=True)
    photos = fields.List(fields.Nested(AttachedPhotoSchema))
    records = fields.List(fields.Nested(RecordRefSchema))
    added_by = fields.Integer()
    added_at = LocalDateTime()


class CaseEventSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    at = LocalDateTime()
    actor = fields.Nested(schemas.ActorSchema)
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String(allow_none=True)
    data = fields.Dict()


class DecisionSchema(Schema):
    penalty_kinds = fields.List(fields.String())
    amount_yuan = fields.Decimal(places=2, as_string=True, allow_none=True)
    decision_no = fields.String()
    decided_on = fields.Date()


class CaseSchema(Schema):
    id = fields.Integer()
    case_no = fields.String(metadata={"description": "e.g. 银建罚移〔2026〕7号"})
    year = fields.Integer()
    number = fields.Integer()
    status = fields.String(metadata={"description": "draft, transferred, accepted, decided, closed or returned"})
    source = fields.String()
    cause = fields.String()
    party = fields.Nested(PartySchema)
    place = fields.Nested(PlaceSchema)
    facts = fields.String(allow_none=True)
    articles_violated = fields.List(fields.String())
    penalty_basis = fields.List(fields.String())
    officers = fields.List(fields.Nested(OfficerSchema))
    hazard_ids = fields.List(fields.UUID())
    inspection_ids = fields.List(fields.UUID())
    evidence = fields.List(fields.Nested(EvidenceSchema))
    filed_at = LocalDateTime()
    filed_on = fields.Date()
    decision_due = fields.Date(metadata={"description": "filing date + 90 days (行政处罚法 第六十条)"})
    days_left = fields.Integer()
    overdue = fields.Boolean()
    receiving_agency = fields.String(allow_none=True)
    transferred_on = fields.Date(allow_none=True)
    dossier_sha256 = fields.String(allow_none=True, metadata={"description": "of the dossier sent with the transfer"})
    accepted_on = fields.Date(allow_none=True)
    decision = fields.Nested(DecisionSchema, allow_none=True)
    returned_on = fields.Date(allow_none=True)
    return_reason = fields.String(allow_none=True)
    closed_at = LocalDateTime(allow_none=True)
    created_by = fields.Nested(schemas.ActorSchema)
    created_at = LocalDateTime()
    updated_at = LocalDateTime()
    allowed_actions = fields.List(fields.String())
    missing_for_transfer = fields.Dict(metadata={"description": "what a transfer still needs, by field"})


class CaseDetailSchema(CaseSchema):
    events = fields.List(fields.Nested(CaseEventSchema))


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True)


class ActionResultSchema(Schema):
    event = fields.Nested(CaseEventSchema)
    case = fields.Nested(CaseDetailSchema)


# --- shapes -----------------------------------------------------------------------------------

def _actor(user) -> dict:
    return {"id": user.id, "username": user.username, "name": user.name}


def _case(case, users: dict | None = None) -> dict:
    users = users if users is not None else case_service.users_of(case)
    decided = case.decided_on is not None
    return {
        "id": case.id, "case_no": case.case_no, "year": case.year, "number": case.number, "status": case.status,
        "source": case.source, "cause": case.cause,
        "party": {"kind": case.party_kind, "enterprise_id": case.enterprise_id, "name": case.party_name,
                  "id_number": case.party_id_number, "representative": case.party_representative,
                  "address": case.party_address, "phone": case.party_phone},
        "place": {"district": case.district_code, "address": case.address, "lat": case.lat, "lon": case.lon},
        "facts": case.facts, "articles_violated": case.articles_violated, "penalty_basis": case.penalty_basis,
        "officers": [{"user_id": o.user_id, "name": users[o.user_id].name if o.user_id in users else None,
                      "certificate_no": o.certificate_no} for o in case.officers],
        "hazard_ids": case.hazard_ids, "inspection_ids": case.inspection_ids,
        "evidence": [case_service.evidence_shape(e) for e in case.evidence],
        "filed_at": case.filed_at, "filed_on": case.filed_on, "decision_due": case.decision_due,
        "days_left": case_service.days_left(case), "overdue": case_service.is_overdue(case),
        "receiving_agency": case.receiving_agency, "transferred_on": case.transferred_on,
        "dossier_sha256": case.dossier_sha256, "accepted_on": case.accepted_on,
        "decision": {"penalty_kinds": case.penalty_kinds, "amount_yuan": case.penalty_amount,
                     "decision_no": case.decision_no, "decided_on": case.decided_on} if decided else None,
        "returned_on": case.returned_on, "return_reason": case.return_reason, "closed_at": case.closed_at,
        "created_by": _actor(users[case.created_by]), "created_at": case.created_at, "updated_at": case.updated_at,
        "allowed_actions": case_service.allowed_actions(case.status),
        "missing_for_transfer": case_service.missing_for_transfer(case) if case.status in case_service.EDITABLE
        else {},
    }


def _event(event, users: dict) -> dict:
    return {"id": event.id, "type": event.type, "at": event.at, "actor": _actor(users[event.actor_id]),
            "from_status": event.from_status, "to_status": event.to_status, "note": event.note, "data": event.data}


def _detail(case) -> dict:
    users = case_service.users_of(case)
    return {**_case(case, users), "events": [_event(e, users) for e in case.events]}


# --- views ------------------------------------------------------------------------------------

@blp.route("/cases", methods=["POST"])
@login_required(*ACTORS)
@blp.arguments(CaseInSchema)
@blp.response(201, CaseDetailSchema)
@blp.alt_response(200, schema=CaseDetailSchema, description="A retry: the case this client_key created")
@blp.doc(security=SECURITY)
def create_case(body):
    """File a case from hazards, inspections or nothing; its number is given now (PREFIX〔YYYY〕N号)."""
    def run():
        return case_service.create(data=body, actor=current_user(), districts=visible_districts())

    try:
        case, created = run()
        db.session.commit()
    except IntegrityError:  # a concurrent retry with the same key committed first
        db.session.rollback()
        case, created = run()
    return _detail(case), 201 if created else 200


@blp.route("/cases", methods=["GET"])
@login_required(*READERS)
@blp.arguments(CaseQuerySchema, location="query")
@blp.response(200, CasePageSchema)
@blp.doc(security=SECURITY)
def list_cases(query):
    """Return one page of cases in the caller's districts, newest first."""
    rows, next_cursor = case_service.list_page(districts=visible_districts(), **query)
    return {"items": [_case(row) for row in rows], "next_cursor": next_cursor}


@blp.route("/cases/<int:case_id>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, CaseDetailSchema)
@blp.doc(security=SECURITY)
def get_case(case_id):
    """Return a case with its evidence, events, allowed actions and what a transfer still needs."""
    return _detail(case_service.get(case_id=case_id, districts=visible_districts()))


@blp.route("/cases/<int:case_id>", methods=["PATCH"])
@login_required(*ACTORS)
@blp.arguments(CaseUpdateSchema)
@blp.response(200, CaseDetailSchema)
@blp.doc(security=SECURITY)
def update_case(body, case_id):
    """Change a draft (or returned) case: only the fields given; 409 invalid_transition once transferred."""
    case = case_service.get_for_update(case_id=case_id, districts=visible_districts())
    case_service.update(case=case, data=body, actor=current_user(), districts=visible_districts())
    db.session.commit()
    return _detail(case)


def _act(action: Action, body: dict, case_id: int):
    def run():
        return case_flows.act(case_id=case_id, action=action, data=body, actor=current_user(),
                              districts=visible_districts())

    try:
        event, created = run()
        db.session.commit()
    except IntegrityError:  # a concurrent retry with the same key committed first
        db.session.rollback()
        event, created = run()
    case = case_service.get(case_id=case_id, districts=visible_districts())
    users = case_service.users_of(case)
    return {"event": _event(event, users), "case": _detail(case)}, 201 if created else 200


def _action_route(path: str, action: Action, schema, summary: str):
    """Register POST /cases/{id}/<path>: one action on a case, safe to retry with its client_key."""

    def view(body, case_id):
        return _act(action, body, case_id)

    view.__name__ = f"case_{path}"
    view.__doc__ = summary
    decorated = blp.doc(security=SECURITY)(view)
    decorated = blp.alt_response(200, schema=ActionResultSchema, description="A retry with the same client_key")(
        decorated)
    decorated = blp.response(201, ActionResultSchema)(decorated)
    decorated = blp.arguments(schema)(decorated)
    decorated = login_required(*ACTORS)(decorated)
    blp.route(f"/cases/<int:case_id>/{path}", methods=["POST"])(decorated)


_action_route("evidence", Action.ADD_EVIDENCE, EvidenceAddSchema,
              "Add an item of evidence (one of the eight statutory kinds) to a draft or returned case.")
_action_route("transfer", Action.TRANSFER, TransferInSchema,
              "Transfer the case (移送) with its dossier; refused (422) while it lacks what a transfer needs.")
_action_route("accept", Action.ACCEPT, AcceptInSchema, "Record that the receiving agency accepted the case (受理).")
_action_route("decide", Action.DECIDE, DecideInSchema,
              "Record the penalty decision: kinds, amount, decision number (处罚决定).")
_action_route("return", Action.RETURN, ReturnInSchema,
              "Record that the receiving agency returned the case (退回); it can be edited and transferred again.")
_action_route("close", Action.CLOSE, CloseInSchema, "Close a decided (or returned) case (结案).")

DOSSIER_DOC = {"security": SECURITY, "responses": {"200": {
    "description": "The dossier ZIP: transfer letter (DOCX, PDF), summary, photo originals, records, manifest",
    "headers": {"X-Content-SHA256": {"schema": {"type": "string"}, "description": "SHA-256 of the ZIP"}},
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}}


@blp.route("/cases/<int:case_id>/dossier", methods=["GET"])
@login_required(*READERS)
@blp.doc(**DOSSIER_DOC)
def get_dossier(case_id):
    """Return the dossier: the one sent with the transfer once transferred, else one built now from the draft."""
    case = case_service.get(case_id=case_id, districts=visible_districts())
    handle, sha256 = case_flows.dossier_file(case=case)
    response = send_file(handle, mimetype="application/zip", as_attachment=True,
                         download_name=f"{case.case_no}-移送材料.zip", etag=sha256, conditional=True)
    response.headers["X-Content-SHA256"] = sha256
    response.headers["Cache-Control"] = "private, no-cache"
    return response
