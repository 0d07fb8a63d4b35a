"""Cases transferred to enforcement (移交违法案件): built from selected hazards, moved through their states,
and their dossier downloaded. Officers act; leaders, the committee and admins read."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts.enums import Role
from server.accounts.models import User, UserRole
from server.cases import flows as case_flows
from server.cases import service as case_service
from server.cases.enums import EVIDENCE_NAMES, PENALTY_NAMES, Action, EvidenceKind, PenaltyKind, Status
from server.console import auth, bp
from server.console.nav import CASE_READERS
from server.console.views.common import arg, commit_or_replay, form_uuid, page_size, uuid_value
from server.errors import validation_error
from server.extensions import db
from server.hazards import service as hazard_service
from server.photos.models import Photo
from server.registry.models import Enterprise, Subject

STATUSES = tuple(s.value for s in Status)


def _officers() -> list[User]:
    return list(db.session.scalars(select(User).join(UserRole, UserRole.user_id == User.id).where(
        UserRole.role == Role.ENFORCEMENT, User.active.is_(True)).order_by(User.name)))


@bp.route("/cases")
@auth.require(*CASE_READERS)
def cases():
    """List cases in the user's districts, newest first."""
    overdue = arg("overdue", ("1",)) == "1"
    rows, next_cursor = case_service.list_page(districts=auth.visible(), status=arg("status", STATUSES), q=arg("q"),
                                               overdue=True if overdue else None, cursor=arg("cursor"),
                                               limit=page_size())
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("console/cases.html", rows=rows, args=args, statuses=STATUSES,
                           days_left=case_service.days_left, is_overdue=case_service.is_overdue,
                           can_create=auth.current_user().has_role(Role.ENFORCEMENT),
                           next_url=url_for("console.cases", cursor=next_cursor, **args) if next_cursor else None)


def _selected_hazards(values) -> list:
    hazards = []
    for index, value in enumerate(values):
        hazard_id = uuid_value(value, f"hazard.{index}")
        hazard = hazard_service.get(hazard_id=hazard_id, districts=auth.visible())
        if hazard not in hazards:
            hazards.append(hazard)
    return hazards


def _hazard_photos(hazards) -> list[Photo]:
    if not hazards:
        return []
    return list(db.session.scalars(select(Photo).where(Photo.hazard_id.in_([h.id for h in hazards]),
                                                       Photo.received_at.is_not(None))
                                   .order_by(Photo.declared_at, Photo.id)))


@bp.route("/cases/new")
@auth.require(Role.ENFORCEMENT)
def case_new():
    """Show the form that files a case from the hazards selected in the list (or none)."""
    hazards = _selected_hazards(request.args.getlist("hazard"))
    subjects = {s.id: s for s in db.session.scalars(select(Subject).where(
        Subject.id.in_([h.subject_id for h in hazards])))} if hazards else {}
    enterprise_ids = {h.enterprise_id for h in hazards if h.enterprise_id}
    enterprises = [db.session.get(Enterprise, e) for e in enterprise_ids]
    photos = _hazard_photos(hazards)
    cause = ""
    if hazards:
        cause = _("Failure to rectify safety hazards: ") + "；".join(dict.fromkeys(h.description for h in hazards))
    return render_template("console/case_new.html", hazards=hazards, subjects=subjects, enterprises=enterprises,
                           photos=photos, officers=_officers(), me=auth.current_user(), cause=cause[:300],
                           evidence_kinds=[(k.value, EVIDENCE_NAMES[k]) for k in EvidenceKind],
                           client_key=uuid.uuid4())


def _lines(name: str) -> list[str]:
    return [line.strip() for line in (request.form.get(name) or "").splitlines() if line.strip()][:50]


@bp.route("/cases", methods=["POST"])
@auth.require(Role.ENFORCEMENT)
def case_create():
    """File the case: its number is given now."""
    form = request.form
    hazards = _selected_hazards(form.getlist("hazard_ids"))
    officer_ids = []
    for value in form.getlist("officers"):
        if value.isdigit() and int(value) not in officer_ids:
            officer_ids.append(int(value))
    photos = [p for p in _hazard_photos(hazards) if p.sha256 in set(form.getlist("photos"))]
    records = [{"type": "hazard", "id": h.id} for h in hazards]
    evidence = []
    if photos or records:
        evidence.append({"kind": form.get("evidence_kind") or EvidenceKind.SITE_RECORD.value,
                         "description": (form.get("evidence_description") or "").strip()[:4000],
                         "photos": list(dict.fromkeys(p.sha256 for p in photos)), "records": records})
    party = None
    if (enterprise := form.get("enterprise_id")):
        party = {"kind": "enterprise", "enterprise_id": uuid_value(enterprise, "enterprise_id")}
    cause = (form.get("cause") or "").strip()
    if not cause:
        raise validation_error("cause", _("required"))
    data = {"client_key": form_uuid("client_key"), "cause": cause[:300], "facts": (form.get("facts") or "").strip() or None,
            "articles_violated": _lines("articles_violated"), "penalty_basis": _lines("penalty_basis"),
            "officers": [{"user_id": i} for i in officer_ids], "hazard_ids": [h.id for h in hazards],
            "inspection_ids": [], "evidence": evidence, "party": party, "place": None, "source": None}
    user, districts = auth.current_user(), auth.visible()
    case, _created = commit_or_replay(lambda: case_service.create(data=data, actor=user, districts=districts))
    flash(_("Case %(number)s is filed.", number=case.case_no), "success")
    return redirect(url_for("console.case_detail", case_id=case.id))


@bp.route("/cases/<int:case_id>")
@auth.require(*CASE_READERS)
def case_detail(case_id):
    """Show a case: party, facts, evidence, events, what a transfer still needs, and the actions allowed."""
    case = case_service.get(case_id=case_id, districts=auth.visible())
    users = case_service.users_of(case)
    from server.hazards.models import Hazard

    hazards = [db.session.get(Hazard, h) for h in case.hazard_ids]
    return render_template(
        "console/case_detail.html", case=case, users=users, hazards=hazards,
        allowed=case_service.allowed_actions(case.status) if auth.current_user().has_role(Role.ENFORCEMENT) else [],
        missing=case_service.missing_for_transfer(case) if case.status in case_service.EDITABLE else {},
        days_left=case_service.days_left(case), overdue=case_service.is_overdue(case),
        penalties=[(k.value, PENALTY_NAMES[k]) for k in PenaltyKind], client_key=uuid.uuid4(),
        evidence_names={k.value: name for k, name in EVIDENCE_NAMES.items()})


def _date(name: str):
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise validation_error(name, _("must be a date YYYY-MM-DD")) from None


@bp.route("/cases/<int:case_id>/<action>", methods=["POST"])
@auth.require(Role.ENFORCEMENT)
def case_action(case_id, action):
    """Move a case: transfer (with its dossier), accept, decide, return or close."""
    form = request.form
    note = (form.get("note") or "").strip() or None
    data: dict = {"client_key": form_uuid("client_key"), "note": note}
    if action == Action.TRANSFER:
        data.update(receiving_agency=(form.get("receiving_agency") or "").strip() or None,
                    transferred_on=_date("on"))
    elif action == Action.ACCEPT:
        data["accepted_on"] = _date("on")
    elif action == Action.DECIDE:
        amount = (form.get("amount_yuan") or "").strip()
        try:
            data["amount_yuan"] = Decimal(amount).quantize(Decimal("0.01")) if amount else None
        except InvalidOperation:
            raise validation_error("amount_yuan", _("must be a number")) from None
        data.update(penalty_kinds=[k for k in form.getlist("penalty_kinds") if k in set(PenaltyKind)],
                    decision_no=(form.get("decision_no") or "").strip(), decided_on=_date("on"))
        if not data["penalty_kinds"]:
            raise validation_error("penalty_kinds", _("choose at least one"))
        if not data["decision_no"]:
            raise validation_error("decision_no", _("required"))
    elif action == Action.RETURN:
        data.update(reason=(form.get("reason") or "").strip(), returned_on=_date("on"))
        if not data["reason"]:
            raise validation_error("reason", _("required"))
    elif action != Action.CLOSE:
        raise validation_error("action", _("not one of the values offered"))
    user, districts = auth.current_user(), auth.visible()
    commit_or_replay(lambda: case_flows.act(case_id=case_id, action=Action(action), data=data, actor=user,
                                            districts=districts))
    flash(_("The case is updated."), "success")
    return redirect(url_for("console.case_detail", case_id=case_id))


@bp.route("/cases/<int:case_id>/dossier")
@auth.require(*CASE_READERS)
def case_dossier(case_id):
    """Download the dossier: the one sent with the transfer, or one built now from a draft."""
    case = case_service.get(case_id=case_id, districts=auth.visible())
    handle, sha256 = case_flows.dossier_file(case=case)
    response = send_file(handle, mimetype="application/zip", as_attachment=True,
                         download_name=f"{case.case_no}-移送材料.zip", etag=sha256, conditional=True)
    response.headers["X-Content-SHA256"] = sha256
    response.headers["Cache-Control"] = "private, no-cache"
    return response
