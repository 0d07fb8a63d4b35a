"""Assigning inspectors (任务): leaders give subjects, or every subject of a district, to an inspector."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts.enums import Role
from server.accounts.models import User, UserRole
from server.console import auth, bp
from server.console.views.common import arg, offered_districts, uuid_value
from server.errors import validation_error
from server.extensions import db
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections.models import Assignment
from server.registry import service as registry_service
from server.registry.models import Subject

DOMAINS = ("gas", "self_built_house", "construction_site")


def _assignees() -> list[User]:
    """Return the active inspectors who work in the leader's districts."""
    visible = auth.visible()
    users = db.session.scalars(select(User).join(UserRole, UserRole.user_id == User.id)
                               .where(UserRole.role == Role.INSPECTOR, User.active.is_(True))
                               .order_by(User.name)).all()
    if visible is None:
        return list(users)
    return [u for u in users if set(u.districts) & visible]


@bp.route("/assignments")
@auth.require(Role.LEADER, Role.ADMIN)
def assignments():
    """Show the assignment form and the latest assignments in the user's districts."""
    subject = None
    if (subject_id := arg("subject")):
        subject = registry_service.get_subject(subject_id=uuid_value(subject_id, "subject"), districts=auth.visible())
    visible = auth.visible()
    query = (select(Assignment, Subject.name, User.name).join(Subject, Subject.id == Assignment.subject_id)
             .join(User, User.id == Assignment.user_id).where(Assignment.removed_at.is_(None)))
    if visible is not None:
        query = query.where(Subject.district_code.in_(sorted(visible)))
    rows = db.session.execute(query.order_by(Assignment.created_at.desc()).limit(100)).all()
    return render_template("console/assignments.html", subject=subject, rows=rows, inspectors=_assignees(),
                           districts=offered_districts(), domains=DOMAINS,
                           campaigns=campaign_service.list_campaigns(districts=visible))


@bp.route("/assignments", methods=["POST"])
@auth.require(Role.LEADER, Role.ADMIN)
def assign():
    """Give one subject, or every subject of a district (optionally one field), to an inspector."""
    form = request.form
    try:
        user_id = int(form.get("user_id") or "")
    except ValueError:
        raise validation_error("user_id", _("choose an inspector")) from None
    due = None
    if (value := (form.get("due") or "").strip()):
        try:
            due = date.fromisoformat(value)
        except ValueError:
            raise validation_error("due", _("must be a date YYYY-MM-DD")) from None
    campaign = form.get("campaign_id") or None
    subject = form.get("subject_id") or None
    rows = assignment_service.assign(
        user_id=user_id, subject_ids=[uuid_value(subject, "subject_id")] if subject else None,
        district=None if subject else (form.get("district") or None), domain=form.get("domain") or None,
        kind="inspect", campaign_id=int(campaign) if campaign and campaign.isdigit() else None, due=due,
        actor=auth.current_user())
    db.session.commit()
    flash(_("%(count)d subject(s) assigned.", count=len(rows)), "success")
    if subject:
        return redirect(url_for("console.subject_detail", subject_id=subject))
    return redirect(url_for("console.assignments"))


@bp.route("/assignments/<uuid:assignment_id>/remove", methods=["POST"])
@auth.require(Role.LEADER, Role.ADMIN)
def assignment_remove(assignment_id):
    """Take an assignment back."""
    assignment_service.remove(assignment_id=assignment_id, actor=auth.current_user())
    db.session.commit()
    flash(_("The assignment is taken back."), "success")
    return redirect(url_for("console.assignments"))
