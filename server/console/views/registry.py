"""The register: subjects and enterprises (lists, exports, details), with an enterprise's credit."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from server.accounts.enums import Role
from server.console import auth, bp, exports, i18n, lists
from server.console.nav import CREDIT_READERS
from server.console.views.common import arg, district_filter, offered_districts, page_size, uuid_value
from server.credit import service as credit_service
from server.database import utcnow
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections import campaigns as campaign_service
from server.inspections.models import Assignment, Inspection
from server.registry import service as registry_service
from server.registry.models import Enterprise, SubjectEnterprise

DOMAINS = ("gas", "self_built_house", "construction_site")
KINDS = ("gas_operator", "contractor", "developer", "supervisor", "property_manager", "other")


def _args() -> dict:
    return {k: v for k, v in request.args.items() if k not in ("cursor", "format") and v}


def _subject_filters() -> lists.SubjectFilters:
    visible = auth.visible()
    district = district_filter()
    districts = visible if district is None else (
        campaign_service.covered([district]) if visible is None else campaign_service.covered([district]) & visible)
    enterprise = arg("enterprise")
    return lists.SubjectFilters(districts=districts, domain=arg("domain", DOMAINS), q=arg("q"),
                                enterprise_id=uuid_value(enterprise, "enterprise") if enterprise else None,
                                with_open_hazards=arg("open", ("1",)) == "1")


def _subject_row(row) -> list:
    from server.console.templating import district_name

    subject = row[0]
    return [str(subject.id), subject.external_ref, district_name(subject.district_code),
            i18n.label("domain", subject.domain), subject.name, subject.address, subject.lat, subject.lon]


@bp.route("/subjects")
def subjects():
    """List the subjects of the register (底数) with filters; ?format=csv|xlsx exports them."""
    filters = _subject_filters()
    if arg("format") in ("csv", "xlsx"):
        header = [_("Id"), _("Register number"), _("District"), _("Field"), _("Name"), _("Address"),
                  _("Latitude (WGS-84)"), _("Longitude (WGS-84)")]
        return exports.export(arg("format"), query=lists.subject_query(filters), header=header, shape=_subject_row,
                              filename=f"subjects.{arg('format')}", title=_("Subjects"))
    rows, next_cursor = lists.subject_page(filters, cursor=arg("cursor"), limit=page_size())
    args = _args()
    return render_template("console/subjects.html", rows=rows, args=args, districts=offered_districts(),
                           next_url=url_for("console.subjects", cursor=next_cursor, **args) if next_cursor else None)


@bp.route("/subjects/<uuid:subject_id>")
def subject_detail(subject_id):
    """Show a subject: its attributes, enterprises, visits, hazards and current assignments."""
    subject = registry_service.get_subject(subject_id=subject_id, districts=auth.visible())
    enterprises = credit_service.enterprises_by_id(subject.enterprise_ids).values()
    inspections = db.session.scalars(select(Inspection).where(Inspection.subject_id == subject.id)
                                     .order_by(Inspection.started_at.desc()).limit(20)).all()
    hazards = db.session.scalars(select(Hazard).where(Hazard.subject_id == subject.id)
                                 .order_by(Hazard.created_at.desc()).limit(50)).all()
    assignments = db.session.scalars(select(Assignment).where(Assignment.subject_id == subject.id,
                                                              Assignment.removed_at.is_(None))).all()
    from server.accounts.models import User

    users = {u.id: u for u in db.session.scalars(select(User).where(
        User.id.in_({a.user_id for a in assignments} | {i.inspector_id for i in inspections})))}
    return render_template("console/subject_detail.html", subject=subject, enterprises=enterprises,
                           inspections=inspections, hazards=hazards, assignments=assignments, users=users,
                           can_assign=auth.current_user().has_role(Role.LEADER, Role.ADMIN))


def _enterprise_filters() -> lists.EnterpriseFilters:
    visible = auth.visible()
    district = district_filter()
    districts = visible if district is None else (
        campaign_service.covered([district]) if visible is None else campaign_service.covered([district]) & visible)
    return lists.EnterpriseFilters(districts=districts, kind=arg("kind", KINDS), q=arg("q"))


def _enterprise_row(row) -> list:
    enterprise = row[0]
    return [str(enterprise.id), enterprise.credit_code, enterprise.name, i18n.label("kind", enterprise.kind)]


@bp.route("/enterprises")
def enterprises():
    """List the enterprises answering for something in the user's districts; ?format=csv|xlsx exports them."""
    filters = _enterprise_filters()
    if arg("format") in ("csv", "xlsx"):
        header = [_("Id"), _("Unified social credit code"), _("Name"), _("Kind")]
        return exports.export(arg("format"), query=lists.enterprise_query(filters), header=header,
                              shape=_enterprise_row, filename=f"enterprises.{arg('format')}", title=_("Enterprises"))
    rows, next_cursor = lists.enterprise_page(filters, cursor=arg("cursor"), limit=page_size())
    scores = {}
    if auth.current_user().has_role(*CREDIT_READERS) and rows:
        rules = credit_service.standard()
        points = credit_service.points_by_enterprise(at=utcnow(), enterprise_condition=Enterprise.id.in_(
            [e.id for e in rows]))
        for e in rows:
            lost, veto, _count = points.get(e.id, (0, False, 0))
            scores[e.id] = (rules.base - lost, rules.grade(rules.base - lost, veto=veto))
    args = _args()
    return render_template("console/enterprises.html", rows=rows, args=args, districts=offered_districts(),
                           scores=scores, kinds=KINDS,
                           next_url=url_for("console.enterprises", cursor=next_cursor, **args) if next_cursor else None)


@bp.route("/enterprises/<uuid:enterprise_id>")
def enterprise_detail(enterprise_id):
    """Show an enterprise: its score and grade, the ledger of deductions, the score's history as a chart."""
    user = auth.current_user()
    enterprise = credit_service.get_enterprise(enterprise_id=enterprise_id, districts=auth.visible())
    subjects_count = db.session.scalar(select(func.count()).select_from(SubjectEnterprise).where(
        SubjectEnterprise.enterprise_id == enterprise.id))
    open_hazards = db.session.scalar(select(func.count()).select_from(Hazard).where(
        Hazard.enterprise_id == enterprise.id, Hazard.status.in_(lists.OPEN),
        *([Hazard.district_code.in_(sorted(auth.visible()))] if auth.visible() is not None else [])))
    credit = None
    if user.has_role(*CREDIT_READERS):
        now = utcnow()
        score = credit_service.score(enterprise=enterprise, at=now)
        history = credit_service.history(enterprise=enterprise)
        ledger = credit_service.ledger(enterprise=enterprise)
        index = credit_service.rules_index()
        base = score["standard"]["base"]
        from server.console.templating import local_time

        chart = {"labels": [_("start")] + [local_time(h["at"], "%Y-%m-%d") for h in history] + [_("now")],
                 "values": [base] + [h["score"] for h in history] + [score["score"]],
                 "name": _("Credit score"), "min": min([base] + [h["score"] for h in history]) - 5, "max": base}
        credit = {"score": score, "history": history, "ledger": ledger, "chart": chart, "now": now,
                  "rules": {d.id: credit_service.rule_of(d, index) for d in ledger},
                  "status": {d.id: credit_service.current_status(d, now).value for d in ledger},
                  "allowed": {d.id: credit_service.allowed_actions(d, now) for d in ledger},
                  "can_act": user.has_role(*credit_service.ACTORS)}
    return render_template("console/enterprise_detail.html", enterprise=enterprise, credit=credit,
                           subjects_count=subjects_count, open_hazards=open_hazards)
