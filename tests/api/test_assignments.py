"""Assignments over HTTP: the contract's GET with its since-cursor, and POST/DELETE for leaders."""

import threading
import uuid

import requests
from sqlalchemy import select

from helpers import assert_problem, inspection_payload, login, make_subject, make_user, submit
from server.extensions import db
from server.inspections.models import Assignment

ASSIGNMENTS = "/api/v1/assignments"
SUBJECT_FIELDS = {"id", "domain", "name", "address", "district", "location", "enterprise_ids", "external_ref"}


def _leader(app, client, username="leader", districts=("640104",)):
    with app.app_context():
        make_user(username, roles=["leader"], districts=list(districts), name="包抓领导")
    return login(client, username)


def _give(client, headers, user_id, subject_ids, status=201, **extra):
    response = client.post(ASSIGNMENTS, json={"user_id": user_id, "subject_ids": [str(s) for s in subject_ids],
                                              **extra}, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _sync(client, headers, since=None, status=200):
    response = client.get(ASSIGNMENTS, query_string={"since": since} if since is not None else {}, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_get_answers_the_contract_shape(app, field, client):
    """Each item has id, kind, the subject as in /subjects, hazard_id, campaign, due and the newest checklist."""
    boss = _leader(app, client)
    _give(client, boss, field.user.id, [field.subject.id], due="2026-06-01")
    body = _sync(client, field.headers)
    assert set(body) == {"items", "removed", "cursor"} and body["removed"] == []
    assert isinstance(body["cursor"], str) and body["cursor"]
    [item] = body["items"]
    assert {"id", "kind", "subject", "hazard_id", "campaign", "due", "checklist"} <= set(item)
    assert item["kind"] == "inspect" and item["hazard_id"] is None and item["campaign"] is None
    assert item["due"] == "2026-06-01" and item["checklist"] == {"code": "gas-user", "version": 1}
    assert uuid.UUID(item["id"]) and item["id"] == item["id"].lower()
    subject = client.get(f"/api/v1/subjects/{field.subject.id}", headers=field.headers).get_json()
    assert SUBJECT_FIELDS <= set(item["subject"]) and item["subject"] == subject


def test_since_brings_changes_and_removals_only(app, field, client):
    """With the previous cursor: only what was added or changed, and the ids removed; then nothing."""
    boss = _leader(app, client)
    with app.app_context():
        second, third = make_subject(), make_subject()
    [first] = _give(client, boss, field.user.id, [field.subject.id])["items"]
    start = _sync(client, field.headers)
    [added] = _give(client, boss, field.user.id, [second.id])["items"]
    _give(client, boss, field.user.id, [field.subject.id], due="2026-07-01")
    gone = client.delete(f"{ASSIGNMENTS}/{added['id']}", headers=boss)
    assert gone.status_code == 204 and gone.get_data() == b""
    [kept] = _give(client, boss, field.user.id, [third.id])["items"]
    body = _sync(client, field.headers, start["cursor"])
    assert {i["id"]: i["due"] for i in body["items"]} == {first["id"]: "2026-07-01", kept["id"]: None}
    assert body["removed"] == [added["id"]]
    assert _sync(client, field.headers, body["cursor"]) == {"items": [], "removed": [], "cursor": body["cursor"]}
    assert {i["id"] for i in _sync(client, field.headers)["items"]} == {first["id"], kept["id"]}


def test_a_cursor_not_given_by_the_server_is_422(app, field, client):
    """Garbage, or a cursor beyond the latest change, is 422 validation_error on since."""
    good = _sync(client, field.headers)["cursor"]
    import base64
    future = base64.urlsafe_b64encode(b'["assignments","999999"]').decode().rstrip("=")
    for since in ("garbage", "%%%", future, good + "x"):
        body = assert_problem(client.get(ASSIGNMENTS, query_string={"since": since}, headers=field.headers),
                              422, "validation_error")
        assert "since" in body["errors"]


def test_other_inspectors_assignments_are_invisible(app, field, client):
    """An inspector sees only what is given to it, even of a subject in its own district."""
    boss = _leader(app, client)
    with app.app_context():
        colleague = make_user("colleague", roles=["inspector"], districts=["640104"])
    _give(client, boss, colleague.id, [field.subject.id])
    assert _sync(client, field.headers)["items"] == []
    assert len(_sync(client, login(client, "colleague"))["items"]) == 1


def test_only_leaders_and_admins_give_and_take_back(app, field, client):
    """An inspector's POST or DELETE is 403 forbidden; without a token 401."""
    boss = _leader(app, client)
    [item] = _give(client, boss, field.user.id, [field.subject.id])["items"]
    assert_problem(client.post(ASSIGNMENTS, json={"user_id": field.user.id, "subject_ids": [str(field.subject.id)]},
                               headers=field.headers), 403, "forbidden")
    assert_problem(client.delete(f"{ASSIGNMENTS}/{item['id']}", headers=field.headers), 403, "forbidden")
    assert_problem(client.get(ASSIGNMENTS), 401, "unauthorized")


def test_post_checks_its_body_and_districts(app, field, client):
    """Bad bodies and subjects outside the leader's or the assignee's districts are 422 at their path."""
    boss = _leader(app, client)
    with app.app_context():
        far = make_subject(district_code="640106")
        other = make_user("other", roles=["inspector"], districts=["640106"])
    cases = [
        ({"subject_ids": [str(field.subject.id)]}, "user_id"),
        ({"user_id": field.user.id}, "subject_ids"),
        ({"user_id": field.user.id, "subject_ids": [str(field.subject.id)], "district": "640104"}, "subject_ids"),
        ({"user_id": field.user.id, "subject_ids": ["not-a-uuid"]}, "subject_ids.0"),
        ({"user_id": field.user.id, "subject_ids": [str(far.id)]}, "subject_ids.0"),
        ({"user_id": other.id, "subject_ids": [str(field.subject.id)]}, "user_id"),
        ({"user_id": field.user.id, "subject_ids": [str(field.subject.id)], "kind": "visit"}, "kind"),
        ({"user_id": field.user.id, "subject_ids": [str(field.subject.id)], "due": "tomorrow"}, "due"),
        ({"user_id": field.user.id, "subject_ids": [str(field.subject.id)], "campaign_id": 12345}, "campaign_id"),
        ({"user_id": field.user.id, "district": "640106"}, "district"),
    ]
    for body, path in cases:
        problem = assert_problem(client.post(ASSIGNMENTS, json=body, headers=boss), 422, "validation_error")
        assert path in problem["errors"], (body, problem)
    with app.app_context():
        assert db.session.scalar(select(Assignment.id)) is None


def test_a_district_is_given_whole(app, field, client):
    """district (with domain) gives every subject of it to the inspector at once."""
    boss = _leader(app, client)
    with app.app_context():
        more = [make_subject().id for _ in range(3)]
        make_subject(domain="self_built_house")
    body = client.post(ASSIGNMENTS, json={"user_id": field.user.id, "district": "640104", "domain": "gas"},
                       headers=boss)
    assert body.status_code == 201, body.get_json()
    assert {i["subject"]["id"] for i in body.get_json()["items"]} == {str(s) for s in [field.subject.id, *more]}


def test_delete_is_idempotent_and_scoped(app, field, client):
    """DELETE twice answers 204 both times; an unknown id or another district's assignment is 404."""
    boss = _leader(app, client)
    stranger = _leader(app, client, "stranger", districts=("640106",))
    [item] = _give(client, boss, field.user.id, [field.subject.id])["items"]
    assert_problem(client.delete(f"{ASSIGNMENTS}/{item['id']}", headers=stranger), 404, "not_found")
    assert_problem(client.delete(f"{ASSIGNMENTS}/{uuid.uuid4()}", headers=boss), 404, "not_found")
    assert client.delete(f"{ASSIGNMENTS}/{item['id']}", headers=boss).status_code == 204
    assert client.delete(f"{ASSIGNMENTS}/{item['id']}", headers=boss).status_code == 204
    assert _sync(client, field.headers)["items"] == []


def test_submitting_the_inspection_fulfils_the_assignment(app, field, client):
    """The assignee's inspection of the subject removes the assignment; the phone sees it in removed."""
    boss = _leader(app, client)
    [item] = _give(client, boss, field.user.id, [field.subject.id])["items"]
    cursor = _sync(client, field.headers)["cursor"]
    submit(client, field.headers, inspection_payload(field.subject))
    assert _sync(client, field.headers, cursor)["removed"] == [item["id"]]


def test_concurrent_changes_never_slip_past_a_polling_phone(app, field, client, live_server):
    """Leaders giving and taking back in parallel while the phone polls: the phone ends with the server's list."""
    with app.app_context():
        subjects = [make_subject().id for _ in range(16)]
        for n in range(4):
            make_user(f"boss{n}", roles=["leader"], districts=["640104"])
    bosses = [login(client, f"boss{n}") for n in range(4)]
    errors, stop = [], threading.Event()

    def work(n):
        session = requests.Session()
        for subject_id in subjects[n::4]:
            answer = session.post(f"{live_server}{ASSIGNMENTS}", headers=bosses[n],
                                  json={"user_id": field.user.id, "subject_ids": [str(subject_id)]})
            if answer.status_code != 201:
                errors.append(answer.text)
                continue
            if subject_id.int % 2:
                given = answer.json()["items"][0]["id"]
                gone = session.delete(f"{live_server}{ASSIGNMENTS}/{given}", headers=bosses[n])
                if gone.status_code != 204:
                    errors.append(gone.text)

    phone, cursor = {}, None

    def poll():
        nonlocal cursor
        session = requests.Session()
        while True:
            done = stop.is_set()
            answer = session.get(f"{live_server}{ASSIGNMENTS}", headers=field.headers,
                                 params={"since": cursor} if cursor else {})
            if answer.status_code != 200:
                errors.append(answer.text)
                return
            body = answer.json()
            phone.update({i["id"]: i for i in body["items"]})
            for removed in body["removed"]:
                phone.pop(removed, None)
            cursor = body["cursor"]
            if done:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    stop.set()
    poller.join(timeout=60)
    assert errors == []
    assert set(phone) == {i["id"] for i in _sync(client, field.headers)["items"]}
    assert len(phone) == sum(1 for s in subjects if not s.int % 2)
