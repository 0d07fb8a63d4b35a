"""Bearer-token authentication and role checks for API views."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from server import database
from server.accounts import service as account_service
from server.accounts.models import User
from server.errors import ProblemError

SECURITY = [{"bearerAuth": []}]


def login_required(*roles: str):
    """Require a live bearer token, and one of ``roles`` when given."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ProblemError("unauthorized", "Send Authorization: Bearer <token>.",
                                   headers={"WWW-Authenticate": "Bearer"})
            # A read of its own: a writing request takes SQLite's write lock only when it writes.
            with database.reading():
                row = account_service.authenticate(token.strip())
            database.end_reading()
            g.token = row
            g.user = row.user
            if roles and not row.user.has_role(*roles):
                raise ProblemError("forbidden", f"This needs one of the roles: {', '.join(roles)}.")
            return view(*args, **kwargs)

        wrapper._apidoc = getattr(view, "_apidoc", {})  # keep flask-smorest's docs
        return wrapper

    return decorator


def current_user() -> User:
    """Return the authenticated user of this request."""
    return g.user


def visible_districts() -> frozenset[str] | None:
    """Return the districts the current user may see (None: all), once per request."""
    if "visible_districts" not in g:
        g.visible_districts = account_service.visible_districts(g.user)
    return g.visible_districts
