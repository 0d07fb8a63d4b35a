"""Hazards: the list with filters and exports, the detail with its timeline and photos, and the actions."""

from __future__ import annotations

import uuid

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts.enums import Role
from server.accounts.models import User
from server.console import auth, bp, exports, i18n, lists, supervision
from server.console.views.common import (arg, commit_or_replay, date_arg, district_filter, form_uuid,
                                         offered_districts, page_size, uuid_value)
from server.credit.models import CreditDeduction
from server.errors import validation_error
from server.extensions import db
from server.hazards import evidence
from server.hazards import flows as hazard_flows
from server.hazards import service as hazard_service
from server.hazards.enums import Severity, Status
from server.inspections import campaigns as campaign_service
from server.photos.models import Photo
from server.registry.models import Enterprise, Subject

STATES = ("open", "closed")
STATUSES = tuple(s.value for s in Status)
DOMAINS = ("gas", "self_built_house", "construction_site")
SEVERITIES = tuple(s.value for s in Severity)
EXPORT_HEADER = ("id", "reported_at", "district", "field", "subject", "address", "item", "description", "severity",
                 "status", "deadline", "overdue", "closed_at")


def _filters(*, supervised: bool = False) -> lists.HazardFilters:
    """Read the list's filters from the query string (each checked against what the page offers)."""
    visible = auth.visible()
    district = district_filter()
    districts = visible if district is None else (
        campaign_service.covered([district]) if visible is None else campaign_service.covered([district]) & visible)
    campaign = arg("campaign")
    subject = arg("subject")
    enterprise = arg("enterprise")
    return lists.HazardFilters(
        districts=districts, state=arg("state", STATES), status=arg("status", STATUSES), domain=arg("domain", DOMAINS),
        severity=arg("severity", SEVERITIES), overdue=arg("overdue", ("1",)) == "1",
        supervised=supervised or arg("supervised", ("1",)) == "1",
        campaign_id=int(campaign) if campaign and campaign.isdigit() else None,
        subject_id=uuid_value(subject, "subject") if subject else None,
        enterprise_id=uuid_value(enterprise, "enterprise") if enterprise else None,
        q=arg("q"), created_from=date_arg("from"), created_to=date_arg("to"))


def _list_args() -> dict:
    return {k: v for k, v in request.args.items() if k not in ("cursor", "format") and v}


def _shape(row) -> list:
    from server.console.templating import district_name, local_time

    hazard, name, address = row
    return [str(hazard.id), local_time(hazard.created_at), district_name(hazard.district_code),
            i18n.label("domain", hazard.domain), name, address, hazard.item_code, hazard.description,
            i18n.label("severity", hazard.severity), i18n.label("hazard_status", hazard.status),
            hazard.deadline.isoformat(), _("yes") if hazard_service.is_overdue(hazard) else "",
            local_time(hazard.closed_at)]


def _render_list(template: str, filters: lists.HazardFilters, endpoint: str):
    if arg("format") in ("csv", "xlsx"):
        header = [_("Id"), _("Reported at"), _("District"), _("Field"), _("Subject"), _("Address"), _("Item"),
                  _("Description"), _("Severity"), _("Status"), _("Deadline"), _("Overdue"), _("Closed at")]
        return exports.export(arg("format"), query=lists.hazard_query(filters), header=header, shape=_shape,
                              filename=f"hazards.{arg('format')}", title=_("Hazards"))
    page = lists.hazard_page(filters, cursor=arg("cursor"), limit=page_size())
    args = _list_args()
    next_url = url_for(endpoint, cursor=page.next_cursor, **args) if page.next_cursor else None
    return render_template(template, rows=page.rows, next_url=next_url, searched_to=page.searched_to, args=args,
                           districts=offered_districts(), is_overdue=hazard_service.is_overdue, endpoint=endpoint,
                           can_build_case=auth.current_user().has_role(Role.ENFORCEMENT))


@bp.route("/hazards")
def hazards():
    """List hazards with filters; ?format=csv|xlsx exports the whole filtered list."""
    return _render_list("console/hazards.html", _filters(), "console.hazards")


@bp.route("/supervision", endpoint="supervision")
def supervision_list():
    """List the hazards under supervision (挂牌督办), major ones first by age."""
    return _render_list("console/hazards.html", _filters(supervised=True), "console.supervision")


def _photos(hazard) -> tuple[list[Photo], list[Photo], dict[int, list[Photo]]]:
    """Return the hazard's before photos (evidence from the inspection), after photos, and photos per event."""
    rows = db.session.scalars(select(Photo).where(Photo.hazard_id == hazard.id)
                              .order_by(Photo.declared_at, Photo.id)).all()
    before = [p for p in rows if p.role != "after"]
    after = [p for p in rows if p.role == "after"]
    per_event: dict[int, list[Photo]] = {}
    for p in rows:
        if p.event_id is not None:
            per_event.setdefault(p.event_id, []).append(p)
    return before, after, per_event


def _can_review(hazard, user) -> bool:
    if hazard.status != Status.PENDING_REVIEW:
        return False
    if hazard.severity == Severity.MAJOR:
        return user.has_role(Role.LEADER)
    return user.has_role(Role.LEADER, Role.INSPECTOR)


@bp.route("/hazards/<uuid:hazard_id>")
def hazard_detail(hazard_id):
    """Show a hazard: facts, the timeline of its events, before / after photos, checks and the actions allowed."""
    user = auth.current_user()
    hazard = hazard_service.get(hazard_id=hazard_id, districts=auth.visible())
    subject = db.session.get(Subject, hazard.subject_id)
    enterprise = db.session.get(Enterprise, hazard.enterprise_id) if hazard.enterprise_id else None
    actor_ids = {e.actor_id for e in hazard.events} | {hazard.reported_by}
    actors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))}
    before, after, per_event = _photos(hazard)
    listing = hazard_service.supervision(hazard)
    checks = evidence.checks(hazard) if hazard.status == Status.PENDING_REVIEW else []
    deductions = db.session.scalars(select(CreditDeduction).where(
        CreditDeduction.source_kind == "hazard", CreditDeduction.source_id == str(hazard.id))).all()
    acting = user.has_role(Role.LEADER, Role.INSPECTOR)
    return render_template(
        "console/hazard_detail.html", hazard=hazard, subject=subject, enterprise=enterprise, actors=actors,
        before=before, after=after, per_event=per_event, listing=listing, checks=checks,
        failed_checks=evidence.failed(checks), deductions=deductions,
        overdue=hazard_service.is_overdue(hazard), carried=hazard_service.is_carried(hazard),
        plan_missing=hazard_service.plan_missing(hazard), recurrences=hazard_service.recurrences(hazard),
        can_review=_can_review(hazard, user),
        can_notify=acting and hazard.status == Status.REPORTED,
        can_plan=acting and hazard.severity == Severity.MAJOR and hazard.status != Status.CLOSED,
        can_explain=acting and hazard_service.is_overdue(hazard),
        can_supervise=user.has_role(Role.LEADER) and hazard.status != Status.CLOSED
        and (listing is None or listing.lifted_at is not None),
        can_build_case=user.has_role(Role.ENFORCEMENT),
        client_id=uuid.uuid4(), supervising_unit=current_app.config["SUPERVISING_UNIT"])


def _act(flow, hazard_id, data: dict, done: str):
    """Run one hazard flow once for this form's id, commit, and go back to the hazard."""
    user, districts = auth.current_user(), auth.visible()
    commit_or_replay(lambda: flow(hazard_id=hazard_id, data=data, actor=user, districts=districts))
    flash(done, "success")
    return redirect(url_for("console.hazard_detail", hazard_id=hazard_id))


def _note(required: bool = False) -> str | None:
    note = (request.form.get("note") or "").strip() or None
    if note is not None and len(note) > 4000:
        raise validation_error("note", _("at most 4000 characters"))
    if required and note is None:
        raise validation_error("note", _("required"))
    return note


@bp.route("/hazards/<uuid:hazard_id>/review", methods=["POST"])
@auth.require(Role.LEADER, Role.INSPECTOR)
def hazard_review(hazard_id):
    """Accept (close) or reject a rectification; a major hazard only by a leader."""
    decision = request.form.get("decision")
    if decision not in ("accept", "reject"):
        raise validation_error("decision", _("accept or reject"))
    data = {"id": form_uuid(), "decision": decision, "note": _note()}
    return _act(hazard_flows.review, hazard_id, data,
                _("The hazard is closed.") if decision == "accept" else _("The rectification was rejected."))


@bp.route("/hazards/<uuid:hazard_id>/notice", methods=["POST"])
@auth.require(Role.LEADER, Role.INSPECTOR)
def hazard_notice(hazard_id):
    """Issue the rectification notice (整改通知)."""
    return _act(hazard_flows.notify, hazard_id, {"id": form_uuid(), "note": _note()},
                _("The rectification notice is issued."))


@bp.route("/hazards/<uuid:hazard_id>/plan", methods=["POST"])
@auth.require(Role.LEADER, Role.INSPECTOR)
def hazard_plan(hazard_id):
    """Record the five implementations (五落实) of a major hazard."""
    from datetime import date

    form = request.form
    data: dict = {"id": form_uuid()}
    for name in ("responsible", "measures", "contingency_plan"):
        value = (form.get(name) or "").strip()
        if value:
            data[name] = value[:4000]
    if (funds := (form.get("funds_yuan") or "").strip()):
        try:
            data["funds_yuan"] = float(funds)
        except ValueError:
            raise validation_error("funds_yuan", _("must be a number")) from None
        if not 0 <= data["funds_yuan"] <= 1e10:
            raise validation_error("funds_yuan", _("must be a number")) from None
    if (deadline := (form.get("deadline") or "").strip()):
        try:
            data["deadline"] = date.fromisoformat(deadline)
        except ValueError:
            raise validation_error("deadline", _("must be a date YYYY-MM-DD")) from None
    if len(data) == 1:
        raise validation_error("plan", _("fill in at least one part of the plan"))
    return _act(hazard_flows.plan, hazard_id, data, _("The plan is recorded."))


@bp.route("/hazards/<uuid:hazard_id>/explanation", methods=["POST"])
@auth.require(Role.LEADER, Role.INSPECTOR)
def hazard_explain(hazard_id):
    """Carry an overdue hazard on the books (挂账) with a written explanation."""
    return _act(hazard_flows.explain, hazard_id, {"id": form_uuid(), "note": _note(required=True)},
                _("The explanation is recorded."))


@bp.route("/hazards/<uuid:hazard_id>/supervise", methods=["POST"])
@auth.require(Role.LEADER)
def hazard_supervise(hazard_id):
    """List an open hazard for supervision (挂牌督办)."""
    hazard = hazard_service.get_for_update(hazard_id=hazard_id, districts=auth.visible())
    supervision.list_for_supervision(hazard=hazard, unit=request.form.get("unit") or "",
                                     actor=auth.current_user(), note=_note())
    db.session.commit()
    flash(_("The hazard is listed for supervision."), "success")
    return redirect(url_for("console.hazard_detail", hazard_id=hazard_id))
