"""Rules of accounts: passwords, tokens, districts a user may see, rate limits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from server.accounts.enums import Role
from server.accounts.models import ApiToken, District, LoginAttempt, User, UserDistrict, UserRole
from server.database import utcnow
from server.errors import ProblemError, validation_error
from server.extensions import db


def hash_password(password: str) -> str:
    """Hash a password with scrypt."""
    return generate_password_hash(password, method="scrypt")


def create_user(*, username: str, password: str, roles: list[str], districts: list[str], name: str | None = None) -> User:
    """Create a user with roles and districts; refuse unknown roles, districts or a taken username."""
    if not username or len(username) > 64:
        raise validation_error("username", "must be 1 to 64 characters")
    if len(password) < 8:
        raise validation_error("password", "must be at least 8 characters")
    if unknown_roles(roles) or not roles:
        raise validation_error("roles", f"must be some of: {', '.join(Role)}")
    if unknown := unknown_districts(districts):
        raise validation_error("districts", f"unknown district codes: {', '.join(unknown)}")
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise ProblemError("conflict", f"username {username!r} is taken")
    user = User(username=username, name=name or username, password_hash=hash_password(password),
                role_rows=[UserRole(role=r) for r in sorted(set(roles))],
                district_rows=[UserDistrict(district_code=d) for d in sorted(set(districts))])
    db.session.add(user)
    db.session.flush()
    return user


def unknown_roles(roles) -> list[str]:
    """Return the roles that are not roles of Qingling, sorted."""
    return sorted(set(roles) - set(Role.__members__.values()))


def unknown_districts(codes) -> list[str]:
    """Return the district codes that are not in the district table, sorted."""
    codes = set(codes)
    return sorted(codes - set(db.session.scalars(select(District.code).where(District.code.in_(codes))))) if codes else []


def token_digest(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def login(*, username: str, password: str, device_id: str | None, remote_addr: str | None,
          ttl_days: int, max_failures: int, window_minutes: int) -> tuple[str, ApiToken]:
    """Check a password and issue a token; count failures and refuse when there were too many."""
    since = utcnow() - timedelta(minutes=window_minutes)
    failures = db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.at >= since))
    if failures >= max_failures:
        raise ProblemError("rate_limited", "Too many failed sign-ins; try again later.",
                           headers={"Retry-After": str(window_minutes * 60)})
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        db.session.add(LoginAttempt(username=username, remote_addr=remote_addr))
        raise ProblemError("invalid_credentials", "Wrong username or password.")
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    token = secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, user=user, token_hash=token_digest(token), device_id=device_id,
                   expires_at=utcnow() + timedelta(days=ttl_days))
    db.session.add(row)
    db.session.flush()
    return token, row


# Every request of the API asks this: the token, its user, the user's roles and districts, in one
# query built once (SQLAlchemy then skips building it and its cache key each time).
_TOKEN = select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash")).options(
    joinedload(ApiToken.user).options(joinedload(User.role_rows), joinedload(User.district_rows)))


def authenticate(token: str) -> ApiToken:
    """Return the live token row for a bearer token, or raise 401."""
    row = db.session.scalars(_TOKEN, {"token_hash": token_digest(token)}).unique().one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        raise ProblemError("unauthorized", "The token is missing, expired or revoked.",
                           headers={"WWW-Authenticate": "Bearer"})
    return row


def revoke(*, token_row: ApiToken) -> None:
    """Revoke a token: it is refused from now on."""
    token_row.revoked_at = utcnow()


def live_tokens(*, user_id: int) -> int:
    """Return how many of a user's tokens still sign a phone in (neither revoked nor expired)."""
    return db.session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow()))


def revoke_tokens(*, user_id: int) -> int:
    """Revoke every live token of a user (a lost phone, someone leaving, fewer districts); return how many."""
    return db.session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=utcnow())).rowcount


def district_children() -> dict[str, tuple[str, ...]]:
    """Return the codes of each district's children, read once per app.

    Districts are reference data (GB/T 2260 codes) written only by migrations,
    and every request of an inspector needs the tree to scope what it sees.
    """
    tree = current_app.extensions.get("qingling.district_children")
    if tree is None:
        children: dict[str, list[str]] = {}
        for code, parent in db.session.execute(select(District.code, District.parent_code)):
            if parent is not None:
                children.setdefault(parent, []).append(code)
        tree = {parent: tuple(sorted(codes)) for parent, codes in children.items()}
        current_app.extensions["qingling.district_children"] = tree
    return tree


def visible_districts(user: User) -> frozenset[str] | None:
    """Return the district codes a user may see (its districts and their descendants), or None for all."""
    if user.city_wide:
        return None
    tree = district_children()
    codes = set(user.districts)
    frontier = list(codes)
    while frontier:
        for child in tree.get(frontier.pop(), ()):
            if child not in codes:
                codes.add(child)
                frontier.append(child)
    return frozenset(codes)
