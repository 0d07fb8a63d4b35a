"""Signing in and out: tokens, their lifetime, revocation, rate limiting."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from helpers import PASSWORD, assert_problem, login, make_user
from server.accounts.models import ApiToken, LoginAttempt
from server.extensions import db

TOKEN_URL = "/api/v1/auth/token"


def _sign_in(client, username, password=PASSWORD, **extra):
    return client.post(TOKEN_URL, json={"username": username, "password": password, **extra})


def _assert_unauthorized(response):
    body = assert_problem(response, 401, "unauthorized")
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return body


def test_sign_in_issues_a_bearer_token_with_the_user(app, client):
    """Signing in answers a bearer token valid for 30 days and the user with its roles and districts as strings."""
    with app.app_context():
        user = make_user("wang", roles=["inspector", "leader"], districts=["640104", "640106"], name="王伟")
        user_id = user.id
    before = datetime.now(timezone.utc)
    response = _sign_in(client, "wang", device_id="phone-1")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) >= {"access_token", "token_type", "expires_at", "user"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.utcoffset() is not None
    assert abs(expires - (before + timedelta(days=30))) < timedelta(minutes=2)
    assert body["user"] == {"id": user_id, "username": "wang", "name": "王伟",
                            "roles": ["inspector", "leader"], "districts": ["640104", "640106"]}


def test_token_opens_the_other_endpoints(app, client):
    """The issued token is accepted on /me, which answers the same user object as sign-in."""
    with app.app_context():
        make_user("li", districts=["640106"])
    token = _sign_in(client, "li").get_json()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.get_json() == token["user"]
    assert me.get_json()["districts"] == ["640106"]


def test_wrong_password_is_invalid_credentials(app, client):
    """A wrong password is refused with 401 invalid_credentials and no token."""
    with app.app_context():
        make_user("zhao")
    body = assert_problem(_sign_in(client, "zhao", "not the password"), 401, "invalid_credentials")
    assert "access_token" not in body


def test_unknown_user_looks_like_a_wrong_password(app, client):
    """An unknown username gets exactly the answer of a wrong password: its existence is not revealed."""
    with app.app_context():
        make_user("zhao")
    wrong = assert_problem(_sign_in(client, "zhao", "not the password"), 401, "invalid_credentials")
    unknown = assert_problem(_sign_in(client, "nobody-here", "not the password"), 401, "invalid_credentials")
    assert unknown == wrong


def test_missing_token_is_unauthorized(app, client):
    """A call without Authorization is refused with 401 unauthorized and a Bearer challenge."""
    _assert_unauthorized(client.get("/api/v1/me"))
    _assert_unauthorized(client.get("/api/v1/checklists"))


def test_garbage_and_non_bearer_tokens_are_unauthorized(app, client):
    """A made-up token, an empty one or another scheme is refused with 401 unauthorized."""
    for header in ("Bearer not-a-token", "Bearer ", "Basic d2FuZzpwYXNz", "Bearer x" * 300, "garbage"):
        _assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": header}))


def test_signed_out_token_is_dead(app, client):
    """After DELETE /auth/token (204, empty) the same token is refused with 401 unauthorized."""
    with app.app_context():
        make_user("sun")
    headers = login(client, "sun")
    response = client.delete(TOKEN_URL, headers=headers)
    assert response.status_code == 204 and response.get_data() == b""
    _assert_unauthorized(client.get("/api/v1/me", headers=headers))
    _assert_unauthorized(client.delete(TOKEN_URL, headers=headers))


def test_signing_out_one_token_keeps_the_others(app, client):
    """Signing out on one phone leaves the user's other token working."""
    with app.app_context():
        make_user("zhou")
    first, second = login(client, "zhou"), login(client, "zhou")
    assert client.delete(TOKEN_URL, headers=first).status_code == 204
    assert client.get("/api/v1/me", headers=second).status_code == 200


def test_expired_token_is_unauthorized(app, client):
    """A token past its expires_at is refused with 401 unauthorized."""
    with app.app_context():
        make_user("wu")
    headers = login(client, "wu")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        db.session.commit()
    _assert_unauthorized(client.get("/api/v1/me", headers=headers))


def test_too_many_failures_are_rate_limited_even_with_the_right_password(make_app):
    """After LOGIN_MAX_FAILURES failures the next sign-in is 429 rate_limited with Retry-After, even if right."""
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_WINDOW_MINUTES=15)
    client = app.test_client()
    with app.app_context():
        make_user("zheng")
        make_user("other")
    for _ in range(3):
        assert_problem(_sign_in(client, "zheng", "wrong password"), 401, "invalid_credentials")
    limited = _sign_in(client, "zheng")
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert int(limited.headers["Retry-After"]) <= 15 * 60
    # The limit is per username: another user still signs in.
    assert _sign_in(client, "other").status_code == 201
    # Once the failures are older than the window, the right password works again.
    with app.app_context():
        db.session.execute(update(LoginAttempt).values(at=datetime.now(timezone.utc) - timedelta(minutes=16)))
        db.session.commit()
    assert _sign_in(client, "zheng").status_code == 201


def test_a_successful_sign_in_resets_the_failure_count(make_app):
    """Failures below the limit followed by a good sign-in do not add up with later failures."""
    app = make_app(LOGIN_MAX_FAILURES=3)
    client = app.test_client()
    with app.app_context():
        make_user("qian")
    for _ in range(2):
        _sign_in(client, "qian", "wrong password")
    assert _sign_in(client, "qian").status_code == 201
    for _ in range(2):
        assert_problem(_sign_in(client, "qian", "wrong password"), 401, "invalid_credentials")
    assert _sign_in(client, "qian").status_code == 201


def test_token_is_stored_only_hashed(app, client):
    """No column of any table holds the issued token: only its hash is stored."""
    with app.app_context():
        make_user("feng")
    token = _sign_in(client, "feng").get_json()["access_token"]
    with app.app_context():
        assert db.session.scalar(select(ApiToken.token_hash)) not in (None, token)
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                assert all(token not in str(value) for value in row), table.name


def test_sign_in_body_is_validated(app, client):
    """A sign-in without a password is 422 validation_error keyed by the field."""
    body = assert_problem(client.post(TOKEN_URL, json={"username": "x"}), 422, "validation_error")
    assert "password" in body["errors"]


def test_every_endpoint_needs_a_token(app, client):
    """Every endpoint but sign-in and the OpenAPI document answers 401 without a token, before looking at the body."""
    some = "0b6f5a1e-8a43-4d2c-9d7e-2f1c3b4a5d6e"
    calls = [("get", "/api/v1/me"), ("delete", TOKEN_URL), ("get", "/api/v1/checklists"), ("get", "/api/v1/subjects"),
             ("get", f"/api/v1/subjects/{some}"), ("post", "/api/v1/inspections"), ("get", f"/api/v1/inspections/{some}"),
             ("put", f"/api/v1/photos/{some}"), ("get", f"/api/v1/photos/{some}"),
             ("get", f"/api/v1/photos/{some}/display"), ("get", f"/api/v1/photos/{some}/thumbnail"),
             ("get", "/api/v1/hazards"), ("get", f"/api/v1/hazards/{some}"),
             ("post", f"/api/v1/hazards/{some}/rectifications"), ("post", f"/api/v1/hazards/{some}/reviews")]
    for method, path in calls:
        response = getattr(client, method)(path, data="{not json", content_type="application/json")
        _assert_unauthorized(response)


def test_an_operator_ends_every_session_of_a_user(app, client):
    """`users revoke-tokens` kills the tokens of both phones; with --deactivate, signing in again fails too."""
    with app.app_context():
        make_user("lost-phone")
    phones = [login(client, "lost-phone") for _ in range(2)]
    outcome = app.test_cli_runner().invoke(args=["users", "revoke-tokens", "lost-phone", "--deactivate"])
    assert outcome.exit_code == 0 and "revoked 2 token(s)" in outcome.output
    for headers in phones:
        _assert_unauthorized(client.get("/api/v1/subjects", headers=headers))
    assert _sign_in(client, "lost-phone").status_code == 401
