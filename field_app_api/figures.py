"""Zero-out figures (清零): open hazards by field, district, campaign, severity and age, as of any time."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate, validates_schema

from field_app_api import schemas
from field_app_api.security import SECURITY, login_required, visible_districts
from server.errors import ProblemError
from server.registry.enums import Domain
from server.reports import zero

blp = Blueprint("figures", __name__, description="Zero-out figures (清零): open hazards as of any time")


class AsOf(fields.String):
    """An ISO 8601 date-time with an offset, or a date meaning the end of that day in the bureau's zone."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 64:
            raise ValidationError("too long")
        try:
            return zero.parse_as_of(text)
        except ProblemError as error:
            raise ValidationError(error.errors["as_of"]) from None


class ZeroQuerySchema(schemas.Schema):
    as_of = AsOf(load_default=None, metadata={
        "description": "the time of the figures: 2026-05-04T18:00:00+08:00, or 2026-05-04 for the end of that "
                       "day in Asia/Shanghai; default now; a later time is taken as now"})
    district = fields.String(load_default=None, validate=validate.Length(min=1, max=12), metadata={
        "description": "a district code; its descendants are included (640100: every county of 银川市)"})
    domain = fields.String(load_default=None, validate=validate.OneOf([d.value for d in Domain]))
    campaign_id = fields.Integer(load_default=None, validate=validate.Range(1, 2**31 - 1),
                                 metadata={"description": "only hazards found in this campaign"})
    by = fields.String(load_default="", validate=validate.Length(max=100), metadata={
        "description": "comma-separated groupings, some of: " + ", ".join(zero.GROUPS) + "; empty: the total only"})

    @validates_schema
    def _by(self, data, **kwargs):
        parts = [p.strip() for p in data.get("by", "").split(",") if p.strip()]
        unknown = [p for p in parts if p not in zero.GROUPS]
        if unknown:
            raise ValidationError(f"unknown grouping {unknown[0]!r}; use some of: {', '.join(zero.GROUPS)}", "by")
        data["by"] = list(dict.fromkeys(parts))


class ZeroRowSchema(schemas.Schema):
    domain = fields.String(metadata={"description": "present when grouped by domain"})
    district = fields.String(metadata={"description": "district code; present when grouped by district"})
    campaign = fields.Integer(allow_none=True,
                              metadata={"description": "campaign id, null for hazards found outside any campaign"})
    severity = fields.String(metadata={"description": "general or major"})
    age = fields.String(metadata={"description": "whole days open since reported: "
                                                 + ", ".join(label for _, _, label in zero.AGE_BUCKETS)})
    open = fields.Integer(metadata={"description": "hazards open (not closed) at as_of"})


class ZeroFiguresSchema(schemas.Schema):
    as_of = schemas.LocalDateTime(metadata={"description": "the time the figures are true at"})
    district = fields.String(allow_none=True)
    domain = fields.String(allow_none=True)
    campaign_id = fields.Integer(allow_none=True)
    group_by = fields.List(fields.String())
    total = fields.Integer(metadata={"description": "hazards open at as_of within the caller's districts and filters"})
    rows = fields.List(fields.Nested(ZeroRowSchema),
                       metadata={"description": "one row per group with open hazards; groups at zero are left out"})


@blp.route("/figures/zero", methods=["GET"])
@login_required()
@blp.arguments(ZeroQuerySchema, location="query")
@blp.response(200, ZeroFiguresSchema)
@blp.doc(security=SECURITY)
def zero_figures(query):
    """Return the hazards open at a time (default now), in total and by the groupings asked, rebuilt from events."""
    return zero.for_caller(visible=visible_districts(), as_of=query["as_of"], district=query["district"],
                           domain=query["domain"], campaign_id=query["campaign_id"], group_by=query["by"])
