"""Helpers shared by the console's pages: filters read from the query string, districts offered, commits."""

from __future__ import annotations

import uuid
from datetime import date

from flask import current_app, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.accounts.models import District
from server.console import auth
from server.errors import ProblemError, validation_error
from server.extensions import db


def arg(name: str, allowed=None) -> str | None:
    """Return a query-string filter, None when empty; refuse a value outside ``allowed``."""
    value = (request.args.get(name) or "").strip() or None
    if value is not None and allowed is not None and value not in allowed:
        raise validation_error(name, _("not one of the values offered"))
    return value


def date_arg(name: str) -> date | None:
    value = arg(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise validation_error(name, _("must be a date YYYY-MM-DD")) from None


def uuid_value(value, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise validation_error(field, _("not a valid id")) from None


def offered_districts() -> list[tuple[str, str]]:
    """Return (code, name) of the county-level districts the user may see, for filter menus."""
    visible = auth.visible()
    query = select(District.code, District.name).where(District.level == "county").order_by(District.code)
    rows = db.session.execute(query).all()
    return [(code, name) for code, name in rows if visible is None or code in visible]


def district_filter() -> str | None:
    """Return the ``district`` filter, refused (404-like) when outside the user's districts."""
    code = arg("district")
    if code is None:
        return None
    visible = auth.visible()
    if db.session.get(District, code) is None or (visible is not None and code not in visible):
        raise validation_error("district", _("not one of your districts"))
    return code


def page_size() -> int:
    return int(current_app.config.get("CONSOLE_PAGE_SIZE", 50))


def commit_or_replay(run):
    """Commit ``run()``; when a concurrent double submission with the same id won, run it again as its retry."""
    try:
        result = run()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        result = run()
        db.session.commit()
    return result


def form_uuid(name: str = "client_id") -> uuid.UUID:
    """Return the id a form carries so that submitting it twice does the thing once."""
    value = request.form.get(name)
    if not value:
        raise ProblemError("validation_error", _("The form lacks its id; reload the page."))
    return uuid_value(value, name)
