"""What every console template gets: filters for times and labels, the navigation, and the error pages."""

from __future__ import annotations

import logging
from datetime import date, datetime

from flask import Flask, flash, g, redirect, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server import clock
from server.console import bp, i18n, nav
from server.errors import ProblemError
from server.extensions import db

log = logging.getLogger(__name__)


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show a stored UTC time in the bureau's zone (Asia/Shanghai)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return clock.local(value).strftime(fmt)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def percent(value) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def init_app(app: Flask) -> None:
    """Register the filters and globals (once per app)."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["label"] = lambda code, table: i18n.label(table, code)


@bp.app_context_processor
def _globals():
    user = g.get("user")
    return {"current_user": user, "nav_entries": nav.visible_entries(user),
            "locale": i18n.select_locale(), "locale_names": i18n.LOCALE_NAMES,
            "district_name": district_name}


def district_name(code: str | None) -> str:
    """Return a district's name (the table is small reference data, read once per request)."""
    if code is None:
        return ""
    names = g.get("_district_names")
    if names is None:
        from sqlalchemy import select

        from server.accounts.models import District

        names = dict(db.session.execute(select(District.code, District.name)).all())
        g._district_names = names
    return names.get(code, code)


def _same_site_referrer() -> str | None:
    """Return the path of the page that sent this form, when it is a console page of this site."""
    from urllib.parse import urlsplit

    if not request.referrer:
        return None
    parts = urlsplit(request.referrer)
    if parts.netloc != request.host or not parts.path.startswith("/console"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _wants_page() -> bool:
    return request.method == "GET"


@bp.errorhandler(ProblemError)
def _problem(error: ProblemError):
    """A refusal: on a form, back to the page with the message; on a page, an error page."""
    db.session.rollback()
    back = _same_site_referrer()
    if not _wants_page() and error.status in (409, 422) and back:
        flash(error.detail, "error")
        return redirect(back)
    return render_template("console/error.html", status=error.status, message=error.detail), error.status


@bp.errorhandler(CSRFError)
def _csrf(error: CSRFError):
    db.session.rollback()
    message = _("The form has expired or did not come from this site. Reload the page and try again.")
    return render_template("console/error.html", status=400, message=message), 400


@bp.errorhandler(HTTPException)
def _http(error: HTTPException):
    db.session.rollback()
    return render_template("console/error.html", status=error.code or 500,
                           message=error.description), error.code or 500


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("console: unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return render_template("console/error.html", status=500,
                           message=_("An unexpected error occurred; it has been logged.")), 500
