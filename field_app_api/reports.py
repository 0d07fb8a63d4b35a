"""The quarterly analysis (每季度安全生产形势分析) for the safety committee and city-level leaders.

Snapshots are immutable: ``POST`` makes a new version of a quarter from the
records as they were at its end; ``GET`` reads the latest version (or the one
asked for) and its files (XLSX tables, DOCX report). City-wide: the committee,
administrators and leaders of a city (or the region) only; everyone else 403.
See docs/quarterly.md.
"""

from __future__ import annotations

import io

from flask import send_file
from flask_smorest import Blueprint
from marshmallow import fields, validate

from field_app_api import schemas
from field_app_api.security import SECURITY, current_user, login_required
from server import database
from server.errors import ProblemError
from server.extensions import db
from server.fonts import FontMissing
from server.reports import quarterly

blp = Blueprint("reports", __name__, description="Quarterly analysis: immutable snapshots, XLSX and DOCX")

QUARTER = {"description": "a quarter written YYYYQn, e.g. 2026Q3 (Asia/Shanghai calendar)"}


# --- schemas: the figures (what server/reports/quarterly.py computes) ---------------------------------

class Figures(schemas.Schema):
    """Base of the figure schemas: numbers as stored in the snapshot's JSON."""


def _count(description: str = "") -> fields.Integer:
    return fields.Integer(metadata={"description": description} if description else {})


def _rate(description: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={"description": description + " (a share 0..1; null: nothing to "
                                                                                "divide by)"})


def _day() -> fields.String:
    return fields.String(metadata={"format": "date"})


class QuarterInspectionDomainSchema(Figures):
    domain = fields.String()
    total = _count("inspections recorded in the quarter")
    inspected = _count("let in")
    no_access = _count("nobody home")


class QuarterInspectionsSchema(Figures):
    total = _count("inspections recorded (received) in the quarter")
    inspected = _count()
    no_access = _count()
    subjects = fields.Integer(allow_none=True, metadata={
        "description": "distinct subjects visited (null in the figures of a compared quarter)"})
    by_domain = fields.List(fields.Nested(QuarterInspectionDomainSchema))


class QuarterHazardFiguresSchema(Figures):
    domain = fields.String(metadata={"description": "in rows and by_domain"})
    severity = fields.String(metadata={"description": "in rows: general or major"})
    district = fields.String(metadata={"description": "in by_district: the district code"})
    name = fields.String(metadata={"description": "in by_district: the district name"})
    found = _count("reported in the quarter")
    closed = _count("closed in the quarter (each hazard once)")
    found_closed = _count("reported in the quarter and closed at its end")
    closure_rate = _rate("found_closed / found")
    median_days_to_close = fields.Float(allow_none=True, metadata={
        "description": "median days from report to closure of the hazards closed in the quarter"})
    open_at_start = _count("open at the quarter's first instant")
    open_at_end = _count("open at as_of")
    overdue_at_end = _count("open at as_of with a deadline before the quarter's last day")
    reported_to_date = _count("in total: every hazard reported by as_of")
    closure_rate_to_date = _rate("in total: share of the hazards reported by as_of that were closed then")


class QuarterHazardsSchema(Figures):
    total = fields.Nested(QuarterHazardFiguresSchema)
    rows = fields.List(fields.Nested(QuarterHazardFiguresSchema), metadata={"description": "every field × severity"})
    by_domain = fields.List(fields.Nested(QuarterHazardFiguresSchema))
    by_district = fields.List(fields.Nested(QuarterHazardFiguresSchema))


class QuarterMajorSchema(Figures):
    id = fields.String()
    district = fields.String()
    district_name = fields.String(allow_none=True)
    domain = fields.String()
    item = fields.String()
    description = fields.String()
    reported_on = _day()
    deadline = _day()
    days_open = _count("whole days from the report to the quarter's last day")
    overdue = fields.Boolean()


class QuarterMajorsSchema(Figures):
    found = _count()
    closed = _count()
    open_at_end = _count()
    overdue_at_end = _count()
    open_list = fields.List(fields.Nested(QuarterMajorSchema), metadata={"description": "oldest first, at most 20"})


class QuarterRecurrenceDomainSchema(Figures):
    domain = fields.String()
    recurrences = _count()


class QuarterRecurrencesSchema(Figures):
    total = _count("hazards reopened by re-inspection (回头看) in the quarter")
    to_date = fields.Integer(allow_none=True, metadata={
        "description": "reopenings up to as_of (null in the figures of a compared quarter)"})
    sampled = fields.Integer(allow_none=True, metadata={
        "description": "re-inspection assignments drawn in the quarter (null in a compared quarter's figures)"})
    by_domain = fields.List(fields.Nested(QuarterRecurrenceDomainSchema))


class QuarterCoverageDomainSchema(Figures):
    domain = fields.String()
    registered = _count()
    inspected = _count()
    never_inspected = _count()
    no_access = _count()
    coverage = fields.Float()


class QuarterCampaignCoverageSchema(QuarterCoverageDomainSchema):
    id = fields.Integer()
    name = fields.String()
    doc_no = fields.String(allow_none=True)
    domains = fields.List(fields.String())
    starts_on = _day()
    ends_on = _day()
    by_domain = fields.List(fields.Nested(QuarterCoverageDomainSchema))


class QuarterCoverageSchema(Figures):
    measured_at = fields.String(allow_none=True, metadata={
        "description": "coverage is as at the making time (UTC ISO 8601), not rebuilt as of the quarter's end"})
    campaigns = fields.List(fields.Nested(QuarterCampaignCoverageSchema), metadata={
        "description": "campaigns running at some time in the quarter"})


class QuarterCreditKindSchema(Figures):
    kind = fields.String()
    name = fields.String()
    enterprises = _count()
    grades_at_start = fields.Dict(keys=fields.String(), values=fields.Integer())
    grades = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "at the end"})
    average_score = fields.Float()
    vetoed = _count()
    downgraded = _count()
    upgraded = _count()


class QuarterCreditRuleSchema(Figures):
    rule = fields.String()
    title = fields.String()
    category = fields.String(allow_none=True)
    confirmed = _count()
    points = _count()


class QuarterCreditFallenSchema(Figures):
    name = fields.String()
    credit_code = fields.String()
    kind = fields.String()
    grade_at_start = fields.String()
    grade = fields.String()
    score_at_start = fields.Integer()
    score = fields.Integer()


class QuarterCreditStandardSchema(Figures):
    code = fields.String()
    version = fields.Integer()
    base = fields.Integer()


class QuarterCreditDeductionsSchema(Figures):
    proposed = _count()
    confirmed = _count()
    revoked = _count()
    repaired = _count()
    expired = _count()
    points_confirmed = _count()
    by_source = fields.Dict(keys=fields.String(), values=fields.Integer())


class QuarterCreditSchema(Figures):
    standard = fields.Nested(QuarterCreditStandardSchema)
    grades = fields.List(fields.String(), metadata={"description": "the grades of the standard, best first"})
    kinds = fields.List(fields.Nested(QuarterCreditKindSchema))
    deductions = fields.Nested(QuarterCreditDeductionsSchema)
    rules = fields.List(fields.Nested(QuarterCreditRuleSchema), metadata={"description": "most confirmed first, at most 10"})
    downgraded_total = _count()
    downgraded = fields.List(fields.Nested(QuarterCreditFallenSchema))


class QuarterPenaltyCountSchema(Figures):
    kind = fields.String()
    name = fields.String()
    cases = _count()


class QuarterDecidedCaseSchema(Figures):
    case_no = fields.String()
    party = fields.String()
    cause = fields.String()
    district = fields.String()
    decided_on = _day()
    decision_no = fields.String(allow_none=True)
    penalties = fields.List(fields.String())
    amount_yuan = fields.String(allow_none=True, metadata={"description": "yuan with two decimals"})


class QuarterCasesSchema(Figures):
    filed = _count("filed (立案) in the quarter")
    transferred = _count("cases whose transfer date is in the quarter")
    returned = _count()
    decided = _count("penalty decisions dated in the quarter")
    fines = _count("decisions with a fine")
    fine_total_yuan = fields.String(metadata={"description": "yuan with two decimals"})
    by_penalty = fields.List(fields.Nested(QuarterPenaltyCountSchema))
    decided_list = fields.List(fields.Nested(QuarterDecidedCaseSchema))


class QuarterTopItemSchema(Figures):
    rank = fields.Integer()
    domain = fields.String()
    checklist = fields.String()
    item = fields.String()
    text = fields.String()
    found = _count()
    major = _count()


class QuarterChangeSchema(Figures):
    difference = fields.Raw(allow_none=True, metadata={
        "description": "value − other: a number (rates as a share: 0.015 = 1.5 points), money as a string"})
    percent = fields.Float(allow_none=True, metadata={"description": "difference / other for counts and money"})


class QuarterComparisonRowSchema(Figures):
    key = fields.String(validate=validate.OneOf([key for key, _, _ in quarterly.KPIS]))
    label = fields.String()
    kind = fields.String(metadata={"description": "count, rate, days or money"})
    value = fields.Raw(allow_none=True)
    previous = fields.Raw(allow_none=True)
    year_ago = fields.Raw(allow_none=True)
    vs_previous = fields.Nested(QuarterChangeSchema)
    vs_year_ago = fields.Nested(QuarterChangeSchema)


class QuarterReferenceSchema(Figures):
    quarter = fields.String()
    label = fields.String()
    source = fields.String(metadata={"description": "snapshot (its latest complete version), computed (no snapshot: "
                                                    "computed when this one was made) or none (not begun)"})
    version = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    figures = fields.Dict(allow_none=True, metadata={"description": "its key figures"})


class QuarterComparisonsSchema(Figures):
    previous = fields.Nested(QuarterReferenceSchema)
    year_ago = fields.Nested(QuarterReferenceSchema)
    rows = fields.List(fields.Nested(QuarterComparisonRowSchema))


class QuarterFiguresSchema(Figures):
    schema = fields.Integer(metadata={"description": "the layout version of these figures"})
    quarter = fields.String()
    label = fields.String(metadata={"example": "2026年第三季度"})
    starts_on = _day()
    ends_on = _day()
    as_of = fields.String(metadata={"description": "UTC ISO 8601: the time the figures are true at"})
    complete = fields.Boolean()
    inspections = fields.Nested(QuarterInspectionsSchema)
    hazards = fields.Nested(QuarterHazardsSchema)
    majors = fields.Nested(QuarterMajorsSchema)
    recurrences = fields.Nested(QuarterRecurrencesSchema)
    coverage = fields.Nested(QuarterCoverageSchema)
    credit = fields.Nested(QuarterCreditSchema)
    cases = fields.Nested(QuarterCasesSchema)
    top_items = fields.List(fields.Nested(QuarterTopItemSchema))
    key_figures = fields.Dict(metadata={"description": "the compared figures by key (see comparisons.rows)"})
    comparisons = fields.Nested(QuarterComparisonsSchema)


# --- schemas: snapshots --------------------------------------------------------------------------------

class QuarterMakerSchema(schemas.Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()


class SnapshotMetaSchema(schemas.Schema):
    quarter = fields.String()
    label = fields.String()
    version = fields.Integer()
    made_at = schemas.LocalDateTime()
    made_by = fields.Nested(QuarterMakerSchema, allow_none=True, metadata={"description": "null: the scheduler"})
    as_of = schemas.LocalDateTime(metadata={"description": "the time the figures are true at"})
    complete = fields.Boolean(metadata={"description": "false: made while the quarter ran"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the figures' canonical JSON"})
    verified = fields.Boolean(metadata={"description": "the stored figures still have that digest"})


class SnapshotSchema(SnapshotMetaSchema):
    figures = fields.Nested(QuarterFiguresSchema)


class SnapshotListSchema(schemas.Schema):
    items = fields.List(fields.Nested(SnapshotMetaSchema))


class QuarterListQuerySchema(schemas.Schema):
    quarter = fields.String(load_default=None, validate=validate.Length(max=16), metadata=QUARTER)


class QuarterVersionQuerySchema(schemas.Schema):
    version = fields.Integer(load_default=None, validate=validate.Range(1, 10_000),
                             metadata={"description": "a version; default the latest"})


# --- shaping and views ------------------------------------------------------------------------------------

def _reader():
    user = current_user()
    quarterly.check_reader(user)
    return user


def _meta(report, users: dict) -> dict:
    maker = users.get(report.made_by)
    return {"quarter": report.quarter, "label": quarterly.label(report.quarter), "version": report.version,
            "made_at": report.made_at, "as_of": report.as_of, "complete": report.complete, "sha256": report.sha256,
            "verified": quarterly.verify(report),
            "made_by": None if maker is None else {"id": maker.id, "username": maker.username, "name": maker.name}}


def _snapshot(report) -> dict:
    return {**_meta(report, quarterly.makers([report])), "figures": report.figures}


@blp.route("/reports/quarterly", methods=["GET"])
@login_required(*quarterly.READERS)
@blp.arguments(QuarterListQuerySchema, location="query")
@blp.response(200, SnapshotListSchema)
@blp.doc(security=SECURITY)
def list_quarterly(query):
    """List the quarterly analysis snapshots, newest quarter and version first."""
    _reader()
    reports = quarterly.listing(quarter=query["quarter"])
    users = quarterly.makers(reports)
    return {"items": [_meta(r, users) for r in reports]}


@blp.route("/reports/quarterly/<quarter>", methods=["POST"])
@login_required(*quarterly.READERS)
@blp.response(201, SnapshotSchema)
@blp.doc(security=SECURITY)
def make_quarterly(quarter):
    """Make a new version of a quarter's analysis now, from the records as they were at its end."""
    # The figures are read beside other writers; only the new row takes SQLite's write lock.
    with database.reading():
        user = _reader()
        figures = quarterly.build(quarter)
    database.end_reading()
    report = quarterly.store(figures=figures, made_by=user.id)
    db.session.commit()
    return _snapshot(report)


@blp.route("/reports/quarterly/<quarter>", methods=["GET"])
@login_required(*quarterly.READERS)
@blp.arguments(QuarterVersionQuerySchema, location="query")
@blp.response(200, SnapshotSchema)
@blp.doc(security=SECURITY)
def get_quarterly(query, quarter):
    """Return a quarter's latest snapshot (or the version asked for): its figures and comparisons."""
    _reader()
    return _snapshot(quarterly.latest(quarter, version=query["version"]))


def _file_doc(media: str, what: str) -> dict:
    return {"security": SECURITY, "responses": {"200": {
        "description": what,
        "headers": {"X-Snapshot-SHA256": {"schema": {"type": "string"},
                                          "description": "SHA-256 of the snapshot's figures"}},
        "content": {media: {"schema": {"type": "string", "format": "binary"}}}}}}


def _send(report, data: bytes, media: str, extension: str):
    response = send_file(io.BytesIO(data), mimetype=media, as_attachment=True,
                         download_name=quarterly.file_name(report, extension))
    response.headers["X-Snapshot-SHA256"] = report.sha256
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@blp.route("/reports/quarterly/<quarter>/xlsx", methods=["GET"])
@login_required(*quarterly.READERS)
@blp.arguments(QuarterVersionQuerySchema, location="query")
@blp.doc(**_file_doc(quarterly.XLSX_TYPE, "The snapshot's tables, one sheet each (XLSX)"))
def get_quarterly_xlsx(query, quarter):
    """Download a snapshot's tables as an XLSX workbook."""
    _reader()
    report = quarterly.latest(quarter, version=query["version"])
    return _send(report, quarterly.xlsx(report), quarterly.XLSX_TYPE, "xlsx")


@blp.route("/reports/quarterly/<quarter>/docx", methods=["GET"])
@login_required(*quarterly.READERS)
@blp.arguments(QuarterVersionQuerySchema, location="query")
@blp.doc(**_file_doc(quarterly.DOCX_TYPE, "The report as a government document with its charts (DOCX)"))
def get_quarterly_docx(query, quarter):
    """Download a snapshot as a report laid out as a government document, with charts (DOCX)."""
    _reader()
    report = quarterly.latest(quarter, version=query["version"])
    try:
        data = quarterly.docx(report)
    except FontMissing as error:
        raise ProblemError("internal_error", f"The report's charts cannot be drawn: {error}") from None
    return _send(report, data, quarterly.DOCX_TYPE, "docx")
