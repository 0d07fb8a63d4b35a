"""Credit: the queue of proposed deductions, and confirming, revoking or repairing one (leaders, officers)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from server.console import auth, bp
from server.console.nav import CREDIT_READERS
from server.console.views.common import arg, page_size
from server.credit import service as credit_service
from server.credit.enums import Action, Status
from server.database import utcnow
from server.extensions import db

STATUSES = tuple(s.value for s in Status)


@bp.route("/credit")
@auth.require(*CREDIT_READERS)
def deductions():
    """List deductions raised in the user's districts, oldest first; by default the proposals waiting."""
    status = arg("status", STATUSES + ("all",)) or "proposed"
    rows, next_cursor = credit_service.list_page(districts=auth.visible(), status=None if status == "all" else status,
                                                 cursor=arg("cursor"), limit=page_size())
    now = utcnow()
    index = credit_service.rules_index()
    enterprises = credit_service.enterprises_by_id(r.enterprise_id for r in rows)
    return render_template(
        "console/deductions.html", rows=rows, status=status, statuses=STATUSES, enterprises=enterprises,
        rules={r.id: credit_service.rule_of(r, index) for r in rows},
        current={r.id: credit_service.current_status(r, now).value for r in rows},
        allowed={r.id: credit_service.allowed_actions(r, now) for r in rows},
        can_act=auth.current_user().has_role(*credit_service.ACTORS),
        next_url=url_for("console.deductions", status=status, cursor=next_cursor) if next_cursor else None)


def _act(deduction_id: int, action: Action, done: str):
    reason = (request.form.get("reason") or "").strip() or None
    credit_service.act(deduction_id=deduction_id, action=action, actor=auth.current_user(),
                       districts=auth.visible(), reason=reason)
    db.session.commit()
    flash(done, "success")
    return redirect(auth.safe_next(request.form.get("next") or url_for("console.deductions")))


@bp.route("/credit/<int:deduction_id>/confirm", methods=["POST"])
@auth.require(*credit_service.ACTORS)
def deduction_confirm(deduction_id):
    """Confirm a proposed deduction: it counts from now."""
    return _act(deduction_id, Action.CONFIRM, _("The deduction is confirmed."))


@bp.route("/credit/<int:deduction_id>/revoke", methods=["POST"])
@auth.require(*credit_service.ACTORS)
def deduction_revoke(deduction_id):
    """Revoke a deduction (a proposal set aside, an appeal upheld); a reason is required."""
    return _act(deduction_id, Action.REVOKE, _("The deduction is revoked."))
