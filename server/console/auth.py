"""Signing in to the console with a session cookie, and who may open which page."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash

from server.accounts import service as account_service
from server.accounts.models import LoginAttempt, User
from server.console import bp
from server.database import utcnow
from server.errors import ProblemError
from server.extensions import db

# Pages anyone may open without signing in.
PUBLIC = frozenset({"console.login", "console.static", "console.set_language"})


def _stamp(user: User) -> str:
    """A fingerprint of the password hash: changing the password ends every session signed in with the old one."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def check_credentials(*, username: str, password: str, remote_addr: str | None) -> User:
    """Return the user for a correct username and password; count failures and refuse after too many.

    The same rule and counters as the API's sign-in (LOGIN_MAX_FAILURES within
    LOGIN_WINDOW_MINUTES), so guessing through the console gains nothing.
    """
    config = current_app.config
    since = utcnow() - timedelta(minutes=int(config["LOGIN_WINDOW_MINUTES"]))
    failures = db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.at >= since))
    if failures >= int(config["LOGIN_MAX_FAILURES"]):
        raise ProblemError("rate_limited", _("Too many failed sign-ins; try again later."))
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        db.session.add(LoginAttempt(username=username[:64], remote_addr=remote_addr))
        raise ProblemError("invalid_credentials", _("Wrong username or password."))
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    return user


def current_user() -> User:
    """Return the signed-in user of this request."""
    return g.user


def visible() -> frozenset[str] | None:
    """Return the districts the signed-in user may see (None: the whole city), once per request."""
    if "visible_districts" not in g:
        g.visible_districts = account_service.visible_districts(g.user)
    return g.visible_districts


def safe_next(target: str | None) -> str:
    """Return a redirect target inside the console; anything else (another site) becomes the dashboard."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console") and "\\" not in target:
            return target
    return url_for("console.dashboard")


def require(*roles: str):
    """Let only users with one of ``roles`` open a page; others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not g.user.has_role(*roles):
                raise ProblemError("forbidden", _("This page is not open to your role."))
            return view(*args, **kwargs)

        wrapper.roles = roles
        return wrapper

    return decorator


@bp.before_request
def _load_user():
    """Find the signed-in user; send anyone else to the sign-in page."""
    g.user = None
    user_id = session.get("uid")
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is not None and user.active and session.get("stamp") == _stamp(user):
            g.user = user
        else:
            session.pop("uid", None)
    if g.user is None and request.endpoint not in PUBLIC:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        raise ProblemError("unauthorized", _("Please sign in."))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign in."""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        try:
            user = check_credentials(username=username, password=password, remote_addr=request.remote_addr)
        except ProblemError as refused:
            db.session.commit()  # the failed attempt counts
            return render_template("console/login.html", error=refused.detail, username=username), refused.status
        db.session.commit()
        lang = session.get("lang")
        session.clear()
        session.permanent = True
        session["uid"], session["stamp"] = user.id, _stamp(user)
        if lang:
            session["lang"] = lang
        return redirect(safe_next(request.args.get("next")))
    if g.user is not None:
        return redirect(url_for("console.dashboard"))
    return render_template("console/login.html", error=None, username="")


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: the session is forgotten (the language choice is kept)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("console.login"))


@bp.route("/language/<code>", methods=["POST"])
def set_language(code):
    """Switch the console's language for this browser."""
    from server.console.i18n import LOCALES

    if code in LOCALES:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next")))
