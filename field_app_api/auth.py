"""Sign in and out, and who am I."""

from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint

from field_app_api import schemas, shapes
from field_app_api.security import SECURITY, current_user, login_required
from server.accounts import service as account_service
from server.errors import ProblemError
from server.extensions import db

blp = Blueprint("auth", __name__, description="Authentication")


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(schemas.LoginSchema)
@blp.response(201, schemas.TokenSchema)
def create_token(body):
    """Sign in with username and password and receive a bearer token."""
    config = current_app.config
    try:
        token, row = account_service.login(
            username=body["username"], password=body["password"], device_id=body["device_id"],
            remote_addr=request.remote_addr, ttl_days=int(config["TOKEN_TTL_DAYS"]),
            max_failures=int(config["LOGIN_MAX_FAILURES"]), window_minutes=int(config["LOGIN_WINDOW_MINUTES"]))
    except ProblemError as error:
        db.session.commit()  # keep the record of the failed attempt
        raise error
    db.session.commit()
    return {"access_token": token, "token_type": "Bearer", "expires_at": row.expires_at, "user": shapes.user(row.user)}


@blp.route("/auth/token", methods=["DELETE"])
@login_required()
@blp.response(204)
@blp.doc(security=SECURITY)
def delete_token():
    """Sign out: the token is refused from now on."""
    account_service.revoke(token_row=g.token)
    db.session.commit()


@blp.route("/me", methods=["GET"])
@login_required()
@blp.response(200, schemas.UserSchema)
@blp.doc(security=SECURITY)
def me():
    """Return the signed-in user."""
    return shapes.user(current_user())
