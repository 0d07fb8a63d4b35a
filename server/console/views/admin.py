"""Administration: users, districts, checklist and credit-standard versions, registry imports."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from server.accounts import service as account_service
from server.accounts.enums import Role
from server.accounts.models import District, User
from server.console import admin, auth, bp
from server.credit import service as credit_service
from server.errors import ProblemError
from server.extensions import db
from server.inspections import service as inspection_service

ADMIN = (Role.ADMIN,)


@bp.route("/admin/users")
@auth.require(*ADMIN)
def admin_users():
    """List users with their roles, districts and state; the form to create one."""
    users = db.session.scalars(select(User).order_by(User.username)).all()
    districts = db.session.execute(select(District.code, District.name, District.level).order_by(District.code)).all()
    return render_template("console/admin_users.html", users=users, roles=list(Role), districts=districts)


@bp.route("/admin/users", methods=["POST"])
@auth.require(*ADMIN)
def admin_user_create():
    """Create a user (the same rules as `flask users create`)."""
    form = request.form
    user = account_service.create_user(username=(form.get("username") or "").strip(), password=form.get("password") or "",
                                       roles=form.getlist("roles"), districts=form.getlist("districts"),
                                       name=(form.get("name") or "").strip() or None)
    from server.audit import service as audit_service

    audit_service.record(action="user.created", entity="user", entity_id=user.id, actor_id=auth.current_user().id,
                         data={"username": user.username, "roles": user.roles, "districts": user.districts})
    db.session.commit()
    flash(_("User %(name)s is created.", name=user.username), "success")
    return redirect(url_for("console.admin_users"))


def _user(user_id: int, *, lock: bool = False) -> User:
    """The user of the page; ``lock``: its row locked until commit (PostgreSQL), so that two administrators'
    changes of one user apply one after the other."""
    user = db.session.get(User, user_id, with_for_update=lock or None, populate_existing=lock)
    if user is None:
        raise ProblemError("not_found", _("No such user."))
    return user


def _updated(user: User, revoked: int) -> None:
    flash(_("User %(name)s is updated.", name=user.username), "success")
    if revoked:
        flash(_("%(count)d signed-in phone(s) of %(name)s are signed out (API tokens revoked).",
                count=revoked, name=user.username), "info")


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@auth.require(*ADMIN)
def admin_user_active(user_id):
    """Deactivate (no more sign-ins, API tokens revoked) or reactivate a user."""
    user = _user(user_id, lock=True)
    revoked = admin.set_active(user=user, active=request.form.get("active") == "1", actor=auth.current_user())
    db.session.commit()
    _updated(user, revoked)
    return redirect(url_for("console.admin_users"))


@bp.route("/admin/users/<int:user_id>")
@auth.require(*ADMIN)
def admin_user(user_id):
    """Show a user with the form to change their roles, districts and state."""
    user = _user(user_id)
    districts = db.session.execute(select(District.code, District.name, District.level).order_by(District.code)).all()
    return render_template("console/admin_user.html", user=user, roles=list(Role), districts=districts,
                           live_tokens=account_service.live_tokens(user_id=user.id),
                           is_me=user.id == auth.current_user().id)


@bp.route("/admin/users/<int:user_id>", methods=["POST"])
@auth.require(*ADMIN)
def admin_user_update(user_id):
    """Change a user's roles, districts and state (see ``admin.update_user`` for the rules)."""
    user = _user(user_id, lock=True)
    form = request.form
    active = user.active if form.get("active") is None else form.get("active") == "1"
    revoked = admin.update_user(user=user, roles=form.getlist("roles"), districts=form.getlist("districts"),
                                active=active, actor=auth.current_user())
    db.session.commit()
    _updated(user, revoked)
    return redirect(url_for("console.admin_user", user_id=user.id))


@bp.route("/admin/districts")
@auth.require(*ADMIN)
def admin_districts():
    """List the districts (GB/T 2260 codes; reference data written by the migrations)."""
    rows = db.session.execute(select(District.code, District.name, District.parent_code, District.level)
                              .order_by(District.code)).all()
    return render_template("console/admin_districts.html", rows=rows)


@bp.route("/admin/rules")
@auth.require(*ADMIN)
def admin_rules():
    """Show the checklist versions and the credit standard in force, with the versions the ledger froze."""
    checklists = sorted(inspection_service.checklists(), key=lambda c: (c.domain, c.code, c.version))
    return render_template("console/admin_rules.html", checklists=checklists, standard=credit_service.standard(),
                           frozen=credit_service.frozen_versions())


@bp.route("/admin/rules/checklists/<code>/<int:version>")
@auth.require(*ADMIN)
def admin_checklist(code, version):
    """Show one checklist version item by item."""
    checklist = inspection_service.checklist(code=code, version=version)
    if checklist is None:
        raise ProblemError("not_found", _("No such checklist."))
    return render_template("console/admin_checklist.html", checklist=checklist)


@bp.route("/admin/rules/checklists", methods=["POST"])
@auth.require(*ADMIN)
def admin_checklist_upload():
    """Add a checklist version from an uploaded YAML file."""
    upload = request.files.get("file")
    checklist = admin.upload_checklist(content=upload.read() if upload else b"", actor=auth.current_user())
    db.session.commit()
    flash(_("Checklist %(code)s version %(version)s is added.", code=checklist.code, version=checklist.version),
          "success")
    return redirect(url_for("console.admin_rules"))


@bp.route("/admin/rules/credit-standard", methods=["POST"])
@auth.require(*ADMIN)
def admin_standard_upload():
    """Put a new version of the credit standard in force from an uploaded YAML file."""
    upload = request.files.get("file")
    standard = admin.upload_credit_standard(content=upload.read() if upload else b"", actor=auth.current_user())
    db.session.commit()
    flash(_("Credit standard version %(version)s is in force.", version=standard.version), "success")
    return redirect(url_for("console.admin_rules"))


@bp.route("/admin/import", methods=["GET", "POST"])
@auth.require(*ADMIN)
def admin_import():
    """Import the register (底数) from CSV or XLSX; show the report and offer the error report."""
    report = report_id = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ProblemError("validation_error", _("Choose a file to import."))
        report, report_id = admin.run_import(stream=upload, filename=upload.filename, actor=auth.current_user())
        db.session.commit()
    return render_template("console/admin_import.html", report=report, report_id=report_id)


@bp.route("/admin/import/errors/<report_id>.csv")
@auth.require(*ADMIN)
def admin_import_errors(report_id):
    """Download the rows an import refused, with the reason of each."""
    return send_file(admin.error_report_path(report_id), mimetype="text/csv", as_attachment=True,
                     download_name=f"import-errors-{report_id[:8]}.csv")
