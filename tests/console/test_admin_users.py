"""Administrators edit a user's roles, districts and state on the user's page: validated, audited, and taking
effect at once (scoping of the console and the API, phones signed out when the user loses a district)."""

from __future__ import annotations

import html

from sqlalchemy import select

from console.web import console_login, csrf_token, post_form
from helpers import PASSWORD, login
from server.accounts.models import ApiToken, User
from server.audit.models import AuditEvent
from server.extensions import db


def _user(client, username: str) -> User:
    with client.application.app_context():
        return db.session.scalar(select(User).where(User.username == username))  # roles, districts: selectin


def _live_tokens(client, user_id: int) -> int:
    with client.application.app_context():
        return len(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id,
                                                             ApiToken.revoked_at.is_(None))).all())


def _audit(client, user_id: int) -> list[tuple[str, dict]]:
    with client.application.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "user",
                                                           AuditEvent.entity_id == str(user_id))
                                  .order_by(AuditEvent.id)).all()
        return [(row.action, row.data) for row in rows]


def _edit(client, user_id: int, *, roles=("inspector",), districts=(), active="1", referrer: bool = False):
    """Post the edit form of a user's page (with its CSRF token) as a browser would."""
    page = f"/console/admin/users/{user_id}"
    data = {"roles": list(roles), "districts": list(districts), "csrf_token": csrf_token(client, page)}
    if active is not None:
        data["active"] = active
    headers = {"Referer": f"http://localhost{page}"} if referrer else {}
    return client.post(page, data=data, headers=headers)


def _hazards_seen_by_api(client, headers) -> set[str]:
    response = client.get("/api/v1/hazards", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["items"]}


def test_an_admin_moves_an_inspector_to_another_district(city, client):
    """The admin changes 兴庆 inspector's district to 金凤区 on the user's page: the page shows it, the change is
    audited, the phone's token is revoked, and the inspector then sees only 金凤区's hazards (API and console)."""
    phone = login(client, "insp_a")
    assert _hazards_seen_by_api(client, phone) == {city.hazard_a}
    insp_a = _user(client, "insp_a")

    console_login(client, "admin")
    users = client.get("/console/admin/users").get_data(as_text=True)
    assert f'href="/console/admin/users/{insp_a.id}"' in users
    page = client.get(f"/console/admin/users/{insp_a.id}").get_data(as_text=True)
    assert 'id="user-edit-form"' in page and 'value="640104" selected' in page
    tokens = _live_tokens(client, insp_a.id)  # this phone's, and the one the fixture reported with
    assert tokens >= 1 and f'id="user-tokens">{tokens}<' in page

    response = _edit(client, insp_a.id, roles=["inspector"], districts=["640106"])
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/console/admin/users/{insp_a.id}")
    page = client.get(f"/console/admin/users/{insp_a.id}").get_data(as_text=True)
    assert "用户 insp_a 已更新。" in page and "已被登出" in page
    assert 'id="user-districts">金凤区<' in page and 'value="640106" selected' in page
    assert 'value="640104" selected' not in page and 'id="user-tokens">0<' in page

    moved = _user(client, "insp_a")
    assert (moved.roles, moved.districts) == (["inspector"], ["640106"])
    [(action, data)] = _audit(client, insp_a.id)
    assert action == "user.updated"
    assert data == {"username": "insp_a", "roles": {"from": ["inspector"], "to": ["inspector"]},
                    "districts": {"from": ["640104"], "to": ["640106"]}, "tokens_revoked": tokens}
    assert _live_tokens(client, insp_a.id) == 0

    # The phone signed in before the move is signed out; signed in again, it sees 金凤区 only.
    assert client.get("/api/v1/hazards", headers=phone).status_code == 401
    assert _hazards_seen_by_api(client, login(client, "insp_a")) == {city.hazard_b}
    inspector = client.application.test_client()
    console_login(inspector, "insp_a")
    listing = inspector.get("/console/hazards").get_data(as_text=True)
    assert city.hazard_b in listing and city.hazard_a not in listing
    assert inspector.get(f"/console/hazards/{city.hazard_a}").status_code == 404
    assert inspector.get(f"/console/hazards/{city.hazard_b}").status_code == 200


def test_adding_a_district_or_a_role_keeps_the_phone_signed_in(city, client):
    """Only seeing less (or being deactivated) signs the phone out: gaining a district or a role does not."""
    phone = login(client, "insp_a")
    insp_a = _user(client, "insp_a")
    console_login(client, "admin")
    assert _edit(client, insp_a.id, roles=["inspector", "leader"], districts=["640104", "640106"]).status_code == 302
    assert _hazards_seen_by_api(client, phone) == {city.hazard_a, city.hazard_b}
    [(action, data)] = _audit(client, insp_a.id)
    assert action == "user.updated" and data["tokens_revoked"] == 0
    assert data["roles"] == {"from": ["inspector"], "to": ["inspector", "leader"]}


def test_losing_a_city_wide_role_signs_the_phone_out(city, client):
    """A committee member (the whole city) made an inspector of 兴庆区 sees less: the phone signs in again."""
    phone = login(client, "committee")
    committee = _user(client, "committee")
    console_login(client, "admin")
    assert _edit(client, committee.id, roles=["inspector"], districts=["640104"]).status_code == 302
    assert client.get("/api/v1/hazards", headers=phone).status_code == 401
    [(action, data)] = _audit(client, committee.id)
    assert action == "user.updated" and data["tokens_revoked"] >= 1
    assert _hazards_seen_by_api(client, login(client, "committee")) == {city.hazard_a}


def test_deactivating_signs_the_user_out_and_reactivating_lets_them_in(city, client):
    """Deactivated on the user's page, the user's tokens are revoked and sign-ins refused; reactivated, they sign
    in again. Both are audited."""
    phone = login(client, "insp_b")
    insp_b = _user(client, "insp_b")
    tokens = _live_tokens(client, insp_b.id)
    console_login(client, "admin")
    assert _edit(client, insp_b.id, roles=["inspector"], districts=["640106"], active="0").status_code == 302
    page = client.get(f"/console/admin/users/{insp_b.id}").get_data(as_text=True)
    assert 'id="user-state">已停用<' in page
    assert client.get("/api/v1/hazards", headers=phone).status_code == 401
    refused = client.post("/api/v1/auth/token", json={"username": "insp_b", "password": PASSWORD})
    assert refused.status_code == 401
    assert console_login(client.application.test_client(), "insp_b").status_code == 401

    assert _edit(client, insp_b.id, roles=["inspector"], districts=["640106"], active="1").status_code == 302
    assert 'id="user-state">启用<' in client.get(f"/console/admin/users/{insp_b.id}").get_data(as_text=True)
    assert _hazards_seen_by_api(client, login(client, "insp_b")) == {city.hazard_b}
    # Roles and districts did not change: only the state is recorded.
    assert [(a, d.get("tokens_revoked")) for a, d in _audit(client, insp_b.id)] == [
        ("user.deactivated", tokens), ("user.activated", None)]


def test_the_list_button_deactivating_a_user_revokes_their_tokens_too(city, client):
    """The Deactivate button of the users list also signs the user's phones out."""
    phone = login(client, "insp_b")
    insp_b = _user(client, "insp_b")
    tokens = _live_tokens(client, insp_b.id)
    console_login(client, "admin")
    assert post_form(client, f"/console/admin/users/{insp_b.id}/active", {"active": "0"}).status_code == 302
    assert client.get("/api/v1/hazards", headers=phone).status_code == 401
    assert _live_tokens(client, insp_b.id) == 0
    assert _audit(client, insp_b.id) == [("user.deactivated", {"username": "insp_b", "tokens_revoked": tokens})]


def test_invalid_edits_are_refused_with_a_message_and_change_nothing(city, client):
    """No role, an unknown role, an unknown district code, an admin dropping their own admin role or deactivating
    themself: refused with a visible message (back on the page with the form, or on the error page), nothing
    changed and nothing audited."""
    insp_a, admin = _user(client, "insp_a"), _user(client, "admin")
    phone = login(client, "insp_a")
    console_login(client, "admin")
    cases = [
        (insp_a, dict(roles=[], districts=["640106"]), 422, "请至少选择一个角色。"),
        (insp_a, dict(roles=["inspector", "superuser"], districts=["640106"]), 422, "未知角色：superuser。"),
        (insp_a, dict(roles=["inspector"], districts=["640106", "999999"]), 422, "未知的行政区划代码：999999。"),
        (admin, dict(roles=["leader"], districts=["640100"]), 409, "不能取消自己的管理员角色。"),
        (admin, dict(roles=["admin"], districts=[], active="0"), 409, "不能停用自己的账号。"),
    ]
    for user, form, status, message in cases:
        # Sent from the user's page: back to it, with the message shown above the form.
        back = _edit(client, user.id, referrer=True, **form)
        assert back.status_code == 302, (form, back.status_code)
        page = client.get(back.headers["Location"]).get_data(as_text=True)
        assert message in html.unescape(page) and 'id="user-edit-form"' in page, message
        # Without a page to go back to: the error page says it, with the status.
        error = _edit(client, user.id, **form)
        assert error.status_code == status and message in html.unescape(error.get_data(as_text=True)), message
    assert (_user(client, "insp_a").roles, _user(client, "insp_a").districts) == (["inspector"], ["640104"])
    assert (_user(client, "admin").roles, _user(client, "admin").active) == (["admin"], True)
    assert _audit(client, insp_a.id) == [] and _audit(client, admin.id) == []
    assert _hazards_seen_by_api(client, phone) == {city.hazard_a}


def test_the_messages_are_in_english_when_chosen(city, client):
    """The page and its refusals follow the language switch (Simplified Chinese by default)."""
    insp_a = _user(client, "insp_a")
    console_login(client, "admin")
    assert "编辑用户" in client.get(f"/console/admin/users/{insp_a.id}").get_data(as_text=True)
    post_form(client, "/console/language/en", {"next": "/console/dashboard"})
    page = client.get(f"/console/admin/users/{insp_a.id}").get_data(as_text=True)
    assert "Edit user" in page and "Signed-in phones" in page
    error = _edit(client, insp_a.id, roles=[], districts=["640104"])
    assert error.status_code == 422 and "Choose at least one role." in error.get_data(as_text=True)


def test_only_an_admin_edits_users(city, client):
    """A leader (or any non-admin) gets 403 on the user's page and on the form; the user is unchanged. The form
    without its CSRF token is refused."""
    insp_a = _user(client, "insp_a")
    console_login(client, "leader")
    assert client.get(f"/console/admin/users/{insp_a.id}").status_code == 403
    refused = post_form(client, f"/console/admin/users/{insp_a.id}",
                        {"roles": ["admin"], "districts": ["640106"], "active": "1"})
    assert refused.status_code == 403
    other = client.application.test_client()
    console_login(other, "admin")
    assert other.post(f"/console/admin/users/{insp_a.id}",
                      data={"roles": ["inspector"], "districts": ["640106"], "active": "1"}).status_code == 400
    assert other.get("/console/admin/users/999999").status_code == 404
    assert (_user(client, "insp_a").roles, _user(client, "insp_a").districts) == (["inspector"], ["640104"])
    assert _audit(client, insp_a.id) == []
