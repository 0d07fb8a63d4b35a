"""Enterprise credit (诚信分值): scores and grades as of any date, the ledger, the work queue of proposals,
confirmation, revocation and credit repair, rankings and quarterly figures. See docs/credit.md.

Leaders and enforcement officers act; the safety committee (and admins) read; inspectors are refused.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from field_app_api import schemas
from field_app_api.security import SECURITY, current_user, login_required, visible_districts
from server.accounts.models import User
from server.credit import service as credit_service
from server.credit import standard as standard_rules
from server.credit.enums import Action, SourceKind, Status
from server.database import utcnow
from server.extensions import db

blp = Blueprint("credit", __name__, description="Enterprise credit: ledger, scores, grades, rankings")

READERS = credit_service.READERS
ACTORS = credit_service.ACTORS
TEXT = validate.Length(max=credit_service.REASON_MAX)


class AsOf(fields.Field):
    """A local date (YYYY-MM-DD: the end of that day in Asia/Shanghai) or an ISO time with its offset."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError("must be a date YYYY-MM-DD or an ISO time with offset")
        try:
            if len(value) == 10:
                return credit_service.end_of_day(date.fromisoformat(value))
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("must be a date YYYY-MM-DD or an ISO time with offset") from None
        if moment.tzinfo is None:
            raise ValidationError("a time needs its offset, e.g. 2026-11-25T09:00+08:00")
        if not 2000 <= moment.year <= 2100:
            raise ValidationError("must be between the years 2000 and 2100")
        return moment


# --- schemas ------------------------------------------------------------------------------------------

class AsOfQuerySchema(schemas.Schema):
    as_of = AsOf(metadata={"description": "YYYY-MM-DD (end of that local day) or an ISO time; default now"})


class EnterpriseRefSchema(schemas.Schema):
    id = fields.UUID()
    name = fields.String()
    credit_code = fields.String()
    kind = fields.String()


class StandardRefSchema(schemas.Schema):
    code = fields.String()
    version = fields.Integer()
    base = fields.Integer()


class RuleRefSchema(schemas.Schema):
    code = fields.String()
    title = fields.String()
    category = fields.String(allow_none=True)


class SourceSchema(schemas.Schema):
    kind = fields.String(metadata={"description": "hazard, inspection, case or manual"})
    id = fields.String(metadata={"description": "the hazard, inspection or case id; a manual one's reference"})


class DeductionEventSchema(schemas.Schema):
    type = fields.String(metadata={"description": "proposed, confirmed, revoked, repaired or expired"})
    at = schemas.LocalDateTime()
    actor = fields.Nested(schemas.ActorSchema)
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String(allow_none=True)


class DeductionSchema(schemas.Schema):
    id = fields.Integer()
    enterprise = fields.Nested(EnterpriseRefSchema)
    rule = fields.Nested(RuleRefSchema)
    standard = fields.Nested(StandardRefSchema)
    points = fields.Integer(metadata={"description": "points deducted while it counts"})
    veto = fields.Boolean(metadata={"description": "一票否决: forces the lowest grade while it counts"})
    source = fields.Nested(SourceSchema)
    district = fields.String()
    occurred_at = schemas.LocalDateTime()
    valid_until = schemas.LocalDateTime(metadata={"description": "it stops counting at this moment"})
    status = fields.String(metadata={"description": "proposed, effective, revoked, repaired or expired (by time)"})
    effective_at = schemas.LocalDateTime(allow_none=True)
    ended_at = schemas.LocalDateTime(allow_none=True, metadata={"description": "revoked or repaired at"})
    counts_now = fields.Boolean()
    allowed_actions = fields.List(fields.String())
    repair_possible_from = schemas.LocalDateTime(
        metadata={"description": "end of the shortest publication period (最短公示期) of its rule"})
    note = fields.String(allow_none=True)
    created_at = schemas.LocalDateTime()
    created_by = fields.Nested(schemas.ActorSchema)


class DeductionDetailSchema(DeductionSchema):
    events = fields.List(fields.Nested(DeductionEventSchema))


class DeductionPageSchema(schemas.Schema):
    items = fields.List(fields.Nested(DeductionSchema))
    next_cursor = fields.String(allow_none=True)


class DeductionQuerySchema(schemas.Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    enterprise_id = fields.UUID()
    rule = fields.String(validate=validate.Length(max=32))
    source_kind = fields.String(validate=validate.OneOf([k.value for k in SourceKind]))
    cursor = fields.String(validate=validate.Length(max=500))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class DeductionInSchema(schemas.Schema):
    id = fields.UUID(required=True, metadata={"description": "the client's id: a retry with it is answered, not repeated"})
    enterprise_id = fields.UUID(required=True)
    rule = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "a rule code of the standard in force, e.g. SC-04"})
    district = fields.String(required=True, validate=validate.Length(min=1, max=12),
                             metadata={"description": "where it happened: one of your districts"})
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64),
                              metadata={"description": "e.g. the penalty decision's number; one deduction per "
                                                       "enterprise, rule and reference"})
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ConfirmInSchema(schemas.Schema):
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ReasonInSchema(schemas.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=credit_service.REASON_MAX),
                           metadata={"description": "why: an appeal upheld, the rectification and its evidence…"})


class ScoreSchema(schemas.Schema):
    enterprise = fields.Nested(EnterpriseRefSchema)
    as_of = schemas.LocalDateTime()
    projected = fields.Boolean(metadata={"description": "as_of is in the future: only expiries are foreseen"})
    standard = fields.Nested(StandardRefSchema)
    score = fields.Integer()
    grade = fields.String()
    veto = fields.Boolean()
    deductions = fields.List(fields.Nested(DeductionSchema), metadata={"description": "those that count"})


class LedgerSchema(schemas.Schema):
    enterprise = fields.Nested(EnterpriseRefSchema)
    score = fields.Integer(metadata={"description": "now"})
    grade = fields.String()
    items = fields.List(fields.Nested(DeductionDetailSchema), metadata={"description": "newest first"})


class HistoryEntrySchema(schemas.Schema):
    at = schemas.LocalDateTime()
    change = fields.String(metadata={"description": "confirmed, revoked, repaired or expired"})
    deduction_id = fields.Integer()
    rule = fields.String()
    points = fields.Integer(metadata={"description": "the change of the score"})
    score = fields.Integer(metadata={"description": "after the change"})
    grade = fields.String()
    grade_changed = fields.Boolean()


class HistorySchema(schemas.Schema):
    enterprise = fields.Nested(EnterpriseRefSchema)
    standard = fields.Nested(StandardRefSchema)
    items = fields.List(fields.Nested(HistoryEntrySchema), metadata={"description": "oldest first"})


class RuleSchema(schemas.Schema):
    code = fields.String()
    title = fields.String()
    points = fields.Integer()
    validity_months = fields.Integer()
    category = fields.String()
    veto = fields.Boolean()
    applies_to = fields.List(fields.String())
    repair_min_months = fields.Integer()
    source = fields.String(allow_none=True)


class BandSchema(schemas.Schema):
    grade = fields.String()
    min = fields.Float()


class StandardSchema(schemas.Schema):
    code = fields.String()
    version = fields.Integer()
    title = fields.String()
    policy_note = fields.String()
    base = fields.Integer()
    grades = fields.List(fields.Nested(BandSchema))
    categories = fields.List(fields.String())
    overdue_rules = fields.Dict(keys=fields.String(), values=fields.String())
    inspection_rules = fields.Dict(keys=fields.String(), values=fields.String())
    rules = fields.List(fields.Nested(RuleSchema))


class RankingQuerySchema(AsOfQuerySchema):
    kind = fields.String(required=True, validate=validate.OneOf(standard_rules.KINDS))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class RankedSchema(schemas.Schema):
    rank = fields.Integer(metadata={"description": "equal scores share a rank"})
    enterprise = fields.Nested(EnterpriseRefSchema)
    score = fields.Integer()
    grade = fields.String()
    veto = fields.Boolean()
    deductions = fields.Integer(metadata={"description": "deductions counting"})


class RankingSchema(schemas.Schema):
    kind = fields.String()
    as_of = schemas.LocalDateTime()
    projected = fields.Boolean()
    standard = fields.Nested(StandardRefSchema)
    total = fields.Integer()
    grades = fields.Dict(keys=fields.String(), values=fields.Integer())
    items = fields.List(fields.Nested(RankedSchema))


class KindFiguresSchema(schemas.Schema):
    kind = fields.String()
    enterprises = fields.Integer()
    grades_at_start = fields.Dict(keys=fields.String(), values=fields.Integer())
    grades = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "at the end"})
    average_score = fields.Float()
    vetoed = fields.Integer()
    downgraded = fields.Integer()
    upgraded = fields.Integer()


class QuarterDeductionsSchema(schemas.Schema):
    proposed = fields.Integer()
    confirmed = fields.Integer()
    revoked = fields.Integer()
    repaired = fields.Integer()
    expired = fields.Integer()
    points_confirmed = fields.Integer()
    by_source = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "confirmed"})


class QuarterRuleSchema(schemas.Schema):
    rule = fields.String()
    title = fields.String()
    category = fields.String(allow_none=True)
    confirmed = fields.Integer()
    points = fields.Integer()


class FallenSchema(schemas.Schema):
    enterprise = fields.Nested(EnterpriseRefSchema)
    grade_at_start = fields.String()
    grade = fields.String()
    score_at_start = fields.Integer()
    score = fields.Integer()


class QuarterSchema(schemas.Schema):
    quarter = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    as_of = schemas.LocalDateTime()
    complete = fields.Boolean(metadata={"description": "false while the quarter runs: figures so far"})
    standard = fields.Nested(StandardRefSchema)
    kinds = fields.List(fields.Nested(KindFiguresSchema))
    deductions = fields.Nested(QuarterDeductionsSchema)
    rules = fields.List(fields.Nested(QuarterRuleSchema), metadata={"description": "confirmed in the quarter"})
    downgraded = fields.List(fields.Nested(FallenSchema), metadata={"description": "lowest score first, at most 100"})
    downgraded_total = fields.Integer()


# --- shaping --------------------------------------------------------------------------------------------

def _enterprise(row) -> dict:
    return {"id": row.id, "name": row.name, "credit_code": row.credit_code, "kind": row.kind}


def _actor(row: User | None) -> dict | None:
    return None if row is None else {"id": row.id, "username": row.username, "name": row.name}


class _Shaper:
    """Shapes deductions, loading their enterprises, actors and rules once per answer."""

    def __init__(self, rows, *, with_events: bool = False):
        self.now = utcnow()
        self.index = credit_service.rules_index()
        self.enterprises = credit_service.enterprises_by_id(r.enterprise_id for r in rows)
        actor_ids = {r.created_by for r in rows}
        if with_events:
            actor_ids |= {e.actor_id for r in rows for e in r.events}
        self.users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(sorted(actor_ids))))}
                      if actor_ids else {})
        self.with_events = with_events

    def __call__(self, row) -> dict:
        rule = credit_service.rule_of(row, self.index)
        data = {
            "id": row.id, "enterprise": _enterprise(self.enterprises[row.enterprise_id]),
            "rule": {"code": row.rule_code, "title": rule.get("title"), "category": rule.get("category")},
            "standard": {"code": row.standard_code, "version": row.standard_version},
            "points": row.points, "veto": row.veto, "source": {"kind": row.source_kind, "id": row.source_id},
            "district": row.district_code, "occurred_at": row.occurred_at, "valid_until": row.valid_until,
            "status": credit_service.current_status(row, self.now).value, "effective_at": row.effective_at,
            "ended_at": row.ended_at, "counts_now": credit_service.counts_at(row, self.now),
            "allowed_actions": credit_service.allowed_actions(row, self.now),
            "repair_possible_from": credit_service.repair_possible_from(row, self.index),
            "note": row.note, "created_at": row.created_at, "created_by": _actor(self.users.get(row.created_by)),
        }
        if self.with_events:
            data["events"] = [{"type": e.type, "at": e.at, "actor": _actor(self.users.get(e.actor_id)),
                               "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason}
                              for e in row.events]
        return data

    def many(self, rows) -> list[dict]:
        return [self(row) for row in rows]


def _detail(row) -> dict:
    return _Shaper([row], with_events=True)(row)


def _enterprise_visible(enterprise_id):
    return credit_service.get_enterprise(enterprise_id=enterprise_id, districts=visible_districts())


# --- views ----------------------------------------------------------------------------------------------

@blp.route("/enterprises/<uuid:enterprise_id>/credit", methods=["GET"])
@login_required(*READERS)
@blp.arguments(AsOfQuerySchema, location="query")
@blp.response(200, ScoreSchema)
@blp.doc(security=SECURITY)
def get_score(query, enterprise_id):
    """Return an enterprise's credit score and grade as of a date or time (default now), with what counts."""
    enterprise = _enterprise_visible(enterprise_id)
    result = credit_service.score(enterprise=enterprise, at=query.get("as_of") or utcnow())
    return {**result, "enterprise": _enterprise(enterprise), "deductions": _Shaper(result["counted"]).many(result["counted"])}


@blp.route("/enterprises/<uuid:enterprise_id>/credit/ledger", methods=["GET"])
@login_required(*READERS)
@blp.response(200, LedgerSchema)
@blp.doc(security=SECURITY)
def get_ledger(enterprise_id):
    """Return every deduction of an enterprise with its events, newest first, and today's score."""
    enterprise = _enterprise_visible(enterprise_id)
    rows = credit_service.ledger(enterprise=enterprise)
    now = credit_service.score(enterprise=enterprise, at=utcnow())
    return {"enterprise": _enterprise(enterprise), "score": now["score"], "grade": now["grade"],
            "items": _Shaper(rows, with_events=True).many(rows)}


@blp.route("/enterprises/<uuid:enterprise_id>/credit/history", methods=["GET"])
@login_required(*READERS)
@blp.response(200, HistorySchema)
@blp.doc(security=SECURITY)
def get_history(enterprise_id):
    """Return every change of an enterprise's score so far, oldest first, with the score and grade after it."""
    enterprise = _enterprise_visible(enterprise_id)
    return {"enterprise": _enterprise(enterprise), "items": credit_service.history(enterprise=enterprise),
            "standard": standard_rules.summary(credit_service.standard())}


@blp.route("/credit/standard", methods=["GET"])
@login_required(*READERS)
@blp.response(200, StandardSchema)
@blp.doc(security=SECURITY)
def get_standard():
    """Return the credit standard in force (local policy): base, grades, rules."""
    return credit_service.standard().to_dict()


@blp.route("/credit/deductions", methods=["GET"])
@login_required(*READERS)
@blp.arguments(DeductionQuerySchema, location="query")
@blp.response(200, DeductionPageSchema)
@blp.doc(security=SECURITY)
def list_deductions(query):
    """Return one page of deductions raised in the caller's districts, oldest first: ?status=proposed is the
    work queue of proposals waiting for confirmation."""
    rows, next_cursor = credit_service.list_page(districts=visible_districts(), **query)
    return {"items": _Shaper(rows).many(rows), "next_cursor": next_cursor}


@blp.route("/credit/deductions", methods=["POST"])
@login_required(*ACTORS)
@blp.arguments(DeductionInSchema)
@blp.response(201, DeductionDetailSchema)
@blp.alt_response(200, schema=DeductionDetailSchema, description="A retry with the same id and content")
@blp.doc(security=SECURITY)
def create_deduction(body):
    """Record a deduction by hand (proposed; confirmed separately), idempotent by the client's id."""
    def run():
        return credit_service.create_manual(data=body, actor=current_user(), districts=visible_districts())

    try:
        row, created = run()
        db.session.commit()
    except IntegrityError:  # the same id sent twice at once: the other request stored it
        db.session.rollback()
        row, created = run()
    return _detail(row), 201 if created else 200


@blp.route("/credit/deductions/<int:deduction_id>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, DeductionDetailSchema)
@blp.doc(security=SECURITY)
def get_deduction(deduction_id):
    """Return a deduction with its events."""
    return _detail(credit_service.get(deduction_id=deduction_id, districts=visible_districts()))


def _act(deduction_id: int, action: Action, reason: str | None):
    row = credit_service.act(deduction_id=deduction_id, action=action, actor=current_user(),
                             districts=visible_districts(), reason=reason)
    db.session.commit()
    return _detail(row)


@blp.route("/credit/deductions/<int:deduction_id>/confirm", methods=["POST"])
@login_required(*ACTORS)
@blp.arguments(ConfirmInSchema)
@blp.response(200, DeductionDetailSchema)
@blp.doc(security=SECURITY)
def confirm(body, deduction_id):
    """Confirm a proposed deduction: it counts from now. A second confirmation is a 409."""
    return _act(deduction_id, Action.CONFIRM, body.get("note"))


@blp.route("/credit/deductions/<int:deduction_id>/revoke", methods=["POST"])
@login_required(*ACTORS)
@blp.arguments(ReasonInSchema)
@blp.response(200, DeductionDetailSchema)
@blp.doc(security=SECURITY)
def revoke(body, deduction_id):
    """Revoke a deduction (a proposal set aside, an appeal upheld): it stops counting from now."""
    return _act(deduction_id, Action.REVOKE, body["reason"])


@blp.route("/credit/deductions/<int:deduction_id>/repair", methods=["POST"])
@login_required(*ACTORS)
@blp.arguments(ReasonInSchema)
@blp.response(200, DeductionDetailSchema)
@blp.doc(security=SECURITY)
def repair(body, deduction_id):
    """Approve a credit repair (信用修复): an effective deduction ends early, once rectified and after the
    shortest publication period of its rule."""
    return _act(deduction_id, Action.REPAIR, body["reason"])


@blp.route("/credit/ranking", methods=["GET"])
@login_required(*READERS)
@blp.arguments(RankingQuerySchema, location="query")
@blp.response(200, RankingSchema)
@blp.doc(security=SECURITY)
def get_ranking(query):
    """Rank the enterprises of one kind by score as of a date (default now), with the count per grade."""
    result = credit_service.ranking(kind=query["kind"], at=query.get("as_of") or utcnow(),
                                    districts=visible_districts(), limit=query["limit"], offset=query["offset"])
    result["items"] = [{**row, "enterprise": _enterprise(row["enterprise"])} for row in result["items"]]
    return result


@blp.route("/credit/quarters/<quarter>", methods=["GET"])
@login_required(*READERS)
@blp.response(200, QuarterSchema)
@blp.doc(security=SECURITY)
def get_quarter(quarter):
    """Return a quarter's credit figures (e.g. 2026Q3) for the safety committee's analysis."""
    result = credit_service.quarter_figures(quarter=quarter, districts=visible_districts())
    result["downgraded"] = [{**row, "enterprise": _enterprise(row["enterprise"])} for row in result["downgraded"]]
    return result

