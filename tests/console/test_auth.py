"""Signing in to the console: the session cookie, CSRF, security headers, languages and roles."""

from __future__ import annotations

from console.web import console_login, csrf_token, post_form


def test_pages_need_a_session(city, client):
    """A console page without a session sends the browser to the sign-in page, keeping where it was going."""
    response = client.get("/console/hazards?state=open")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=/console/hazards")


def test_sign_in_sets_a_protected_cookie_and_goes_back(city, client):
    """A right password signs in with an HttpOnly, SameSite=Lax cookie and returns to the page asked for."""
    token = csrf_token(client)
    response = client.post("/console/login?next=/console/hazards", data={
        "username": "leader", "password": "correct horse battery", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/console/hazards"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "张领导" in client.get("/console/dashboard").get_data(as_text=True)


def test_secure_cookie_when_configured(make_app_console):
    """With CONSOLE_SECURE_COOKIE (the production default) the session cookie is Secure."""
    app = make_app_console(CONSOLE_SECURE_COOKIE=True)
    client = app.test_client()
    response = console_login(client, "leader")
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_is_refused_and_counted(city, client):
    """A wrong password shows the sign-in page again with a message; no session is made."""
    response = console_login(client, "leader", "wrong password")
    assert response.status_code == 401
    assert "login-error" in response.get_data(as_text=True)
    assert client.get("/console/dashboard").status_code == 302


def test_too_many_failures_lock_the_username(city, app, client):
    """After LOGIN_MAX_FAILURES wrong passwords even the right one is refused for a while (429)."""
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert console_login(client, "leader", "nope nope").status_code == 401
    assert console_login(client, "leader").status_code == 429


def test_a_form_without_its_csrf_token_is_refused(city, client):
    """A POST without the CSRF token (a forged cross-site form) is refused with 400 and changes nothing."""
    response = client.post("/console/login", data={"username": "leader", "password": "correct horse battery"})
    assert response.status_code == 400
    console_login(client, "leader")
    response = client.post(f"/console/hazards/{city.hazard_a}/supervise", data={"unit": "某单位"})
    assert response.status_code == 400
    page = client.get(f"/console/hazards/{city.hazard_a}").get_data(as_text=True)
    assert "supervision-badge" not in page


def test_the_api_needs_no_csrf_token(city, client):
    """The bearer-token API is exempt from CSRF: a phone's POST still works."""
    response = client.post("/api/v1/auth/token", json={"username": "leader", "password": "correct horse battery"})
    assert response.status_code == 201


def test_console_answers_carry_security_headers(city, client):
    """Console pages forbid framing, inline scripts and other origins, and leak no referrer."""
    console_login(client, "leader")
    response = client.get("/console/dashboard")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.get_data(as_text=True)  # only src= and JSON data blocks


def test_tile_server_is_allowed_by_the_csp(make_app_console):
    """A configured tile server (with {s} subdomains) is the one other origin images may come from."""
    app = make_app_console(TILE_URL="https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&z={z}&tk=k")
    client = app.test_client()
    console_login(client, "leader")
    csp = client.get("/console/map").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tianditu.gov.cn" in csp


def test_chinese_by_default_english_on_request(city, client):
    """The console speaks Simplified Chinese by default; the switch turns it to English for this browser."""
    console_login(client, "leader")
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert "隐患" in page and 'lang="zh-CN"' in page
    post_form(client, "/console/language/en", {"next": "/console/dashboard"})
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert "Open hazards" in page and 'lang="en"' in page


def test_sign_out_ends_the_session(city, client):
    """After signing out the pages ask for a sign-in again."""
    console_login(client, "leader")
    assert post_form(client, "/console/logout", {}).status_code == 302
    assert client.get("/console/dashboard").status_code == 302


def test_a_deactivated_user_loses_the_session(city, app, client):
    """Deactivating a user ends the sessions already open."""
    from server.accounts.models import User
    from server.extensions import db

    console_login(client, "leader")
    with app.app_context():
        db.session.get(User, city.users.leader.id).active = False
        db.session.commit()
    assert client.get("/console/dashboard").status_code == 302


def test_redirect_after_sign_in_stays_on_this_site(city, client):
    """A ?next= pointing elsewhere is ignored: no open redirect."""
    token = csrf_token(client)
    response = client.post("/console/login?next=https://evil.example/", data={
        "username": "leader", "password": "correct horse battery", "csrf_token": token})
    assert response.headers["Location"] == "/console/dashboard"


def test_roles_close_pages(city, client):
    """An inspector may not open credit, cases or administration; an admin may."""
    console_login(client, "insp_a")
    for path in ("/console/credit", "/console/cases", "/console/admin/users", "/console/assignments"):
        assert client.get(path).status_code == 403, path
    nav = client.get("/console/dashboard").get_data(as_text=True)
    assert "/console/admin/users" not in nav
    other = client.application.test_client()
    console_login(other, "admin")
    assert other.get("/console/admin/users").status_code == 200
