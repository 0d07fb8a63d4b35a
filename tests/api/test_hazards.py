"""Hazards: listing with filters and paging, events, rectification and review to closure."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from helpers import (assert_problem, hazard_item, inspection_payload, local_now, login, make_jpeg, make_subject,
                     make_user, photo_decl, put_photo, submit)
from server.extensions import db
from server.hazards.models import HazardEvent

HAZARDS = "/api/v1/hazards"
PLAN = {"responsible": "燃气公司 张三", "measures": "撤除地下室钢瓶", "funds_yuan": 5000, "deadline": "2030-01-31",
        "contingency_plan": "泄漏时切断气源并疏散"}
HAZARD_FIELDS = {"id", "inspection_id", "subject_id", "item", "description", "severity", "status", "deadline",
                 "overdue", "enterprise_id", "created_at", "closed_at"}


def _report(client, headers, subject, item="G02", *, days_ago=0, **hazard) -> str:
    """Submit an inspection with one hazard, started ``days_ago`` days ago; return the hazard id."""
    value = hazard_item(item, **hazard)
    if item.startswith("GM"):
        value["severity"] = "major"
    started = local_now() - timedelta(days=days_ago, minutes=30)
    checklist = {"gas": ("gas-user", 1), "construction_site": ("construction-site", 1)}[subject.domain]
    submit(client, headers, inspection_payload(subject, hazards=[value], started_at=started.isoformat(),
                                               finished_at=None, checklist=checklist))
    return value["id"]


def _rectify(client, headers, hazard_id, *, body=None, status=201):
    body = body or {"id": str(uuid.uuid4()), "note": "已整改", "photos": []}
    response = client.post(f"{HAZARDS}/{hazard_id}/rectifications", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _review(client, headers, hazard_id, decision="accept", *, status=201, review_id=None, note="复查"):
    body = {"id": review_id or str(uuid.uuid4()), "decision": decision, "note": note}
    response = client.post(f"{HAZARDS}/{hazard_id}/reviews", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response


def _detail(client, headers, hazard_id) -> dict:
    response = client.get(f"{HAZARDS}/{hazard_id}", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def _ids(client, headers, query="") -> set[str]:
    response = client.get(f"{HAZARDS}?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["items"]}


def _event_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(HazardEvent))


def test_list_items_have_the_contract_fields(field, client):
    """A listed hazard carries the contract's fields with real values."""
    hazard_id = _report(client, field.headers, field.subject, "G07", description="钢瓶超期未检")
    body = client.get(HAZARDS, headers=field.headers).get_json()
    assert body["next_cursor"] is None
    [item] = body["items"]
    assert set(item) >= HAZARD_FIELDS
    assert item["id"] == hazard_id and item["item"] == "G07" and item["description"] == "钢瓶超期未检"
    assert item["subject_id"] == str(field.subject.id) and item["severity"] == "general"
    assert item["status"] == "reported" and item["overdue"] is False and item["closed_at"] is None
    assert item["enterprise_id"] == str(field.enterprise.id)
    assert datetime.fromisoformat(item["created_at"]).utcoffset() == timedelta(hours=8)
    assert item["deadline"] == ((local_now() - timedelta(minutes=30)).date() + timedelta(days=15)).isoformat()


def test_list_filters_by_status_domain_and_overdue(app, field, client):
    """status=, domain= and overdue= each keep exactly the matching hazards; overdue is derived from the deadline."""
    with app.app_context():
        site = make_subject(domain="construction_site")
    h = field.headers
    today = local_now().date()
    current = _report(client, h, field.subject, "G02")
    late = _report(client, h, field.subject, "G07", days_ago=30, deadline=(today - timedelta(days=20)).isoformat())
    fixed = hazard_item("G03C", fixed_on_spot=True, deadline=(today - timedelta(days=20)).isoformat())
    started = (local_now() - timedelta(days=30)).isoformat()
    submit(client, h, inspection_payload(field.subject, hazards=[fixed], started_at=started, finished_at=None,
                                         photos=[photo_decl(b"a", role="after", hazard_id=fixed["id"])]))
    on_site = _report(client, h, site, "SM02", description="无专项施工方案")
    pending = _report(client, h, field.subject, "G04A")
    _rectify(client, h, pending)

    assert _ids(client, h) == {current, late, fixed["id"], on_site, pending}
    assert _ids(client, h, "status=reported") == {current, late, on_site}
    assert _ids(client, h, "status=closed") == {fixed["id"]}
    assert _ids(client, h, "status=pending_review") == {pending}
    assert _ids(client, h, "domain=construction_site") == {on_site}
    assert _ids(client, h, "domain=gas") == {current, late, fixed["id"], pending}
    assert _ids(client, h, "overdue=true") == {late}
    assert _ids(client, h, "overdue=false") == {current, fixed["id"], on_site, pending}
    assert _ids(client, h, "overdue=true&status=reported&domain=gas") == {late}
    assert _ids(client, h, "overdue=true&domain=construction_site") == set()
    assert _detail(client, h, late)["overdue"] is True
    closed = _detail(client, h, fixed["id"])
    assert closed["overdue"] is False and closed["deadline"] < today.isoformat()


def test_paging_walks_every_hazard_once_newest_first(field, client):
    """Following next_cursor returns every hazard exactly once, newest first, even when several share a time."""
    expected = []
    for n in range(4):
        hazards = [hazard_item("G02"), hazard_item("G07")] if n % 2 else [hazard_item("G05")]
        submit(client, field.headers, inspection_payload(field.subject, hazards=hazards))
        expected += [h["id"] for h in hazards]
    seen, cursor, pages, created = [], None, 0, []
    while True:
        url = f"{HAZARDS}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=field.headers).get_json()
        seen += [item["id"] for item in body["items"]]
        created += [item["created_at"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6 and set(seen) == set(expected)
    assert pages == 3
    instants = [datetime.fromisoformat(c) for c in created]
    assert instants == sorted(instants, reverse=True)


def test_bad_hazard_cursor_is_a_validation_error(field, client):
    """A forged hazard cursor is 422 validation_error on cursor."""
    for cursor in ("garbage", "WyJhIiwiYiJd"):  # the second is ["a","b"]
        body = assert_problem(client.get(f"{HAZARDS}?cursor={cursor}", headers=field.headers), 422,
                              "validation_error")
        assert "cursor" in body["errors"]


def test_rectification_moves_the_hazard_to_pending_review(field, client):
    """A rectification answers 201 with the event and the hazard now pending_review."""
    hazard_id = _report(client, field.headers, field.subject)
    body = {"id": str(uuid.uuid4()).upper(), "note": "已安装自闭阀", "photos": []}
    answer = _rectify(client, field.headers, hazard_id, body=body)
    assert answer["id"] == body["id"].lower() and answer["hazard_id"] == hazard_id
    assert answer["type"] == "rectification" and answer["status"] == "pending_review"
    assert answer["photos_missing"] == [] and answer["hazard"]["status"] == "pending_review"
    assert datetime.fromisoformat(answer["at"]).utcoffset() == timedelta(hours=8)
    assert _detail(client, field.headers, hazard_id)["status"] == "pending_review"


def test_detail_lists_events_with_actor_time_note_and_photos(field, client):
    """GET /hazards/{id} lists each event with type, time, actor, note and the rectification's after photos."""
    hazard_id = _report(client, field.headers, field.subject)
    data = make_jpeg(gps=(field.subject.lat, field.subject.lon), taken_at=local_now().replace(tzinfo=None))
    after = {"id": str(uuid.uuid4()), "sha256": photo_decl(data)["sha256"], "role": "after"}
    answer = _rectify(client, field.headers, hazard_id,
                      body={"id": str(uuid.uuid4()), "note": "已更换软管", "photos": [after]})
    assert answer["photos_missing"] == [after["id"]]
    detail = _detail(client, field.headers, hazard_id)
    assert [e["type"] for e in detail["events"]] == ["reported", "rectification"]
    reported, rectified = detail["events"]
    for event in detail["events"]:
        assert event["actor"]["username"] == "inspector" and event["actor"]["name"] == "检查员"
        assert datetime.fromisoformat(event["at"]).utcoffset() == timedelta(hours=8)
    assert reported["photos"] == [] and rectified["note"] == "已更换软管"
    assert datetime.fromisoformat(rectified["at"]) >= datetime.fromisoformat(reported["at"])
    assert [(p["id"], p["role"], p["received"]) for p in rectified["photos"]] == [(after["id"], "after", False)]
    assert put_photo(client, field.headers, after["id"], data).status_code == 201
    rectified = _detail(client, field.headers, hazard_id)["events"][1]
    assert rectified["photos"][0]["received"] is True and rectified["photos"][0]["hazard_id"] == hazard_id


def test_after_photo_taken_before_the_report_is_flagged(field, client):
    """An after photo shot before the hazard was reported is kept with the flag photo_taken_before_report."""
    hazard_id = _report(client, field.headers, field.subject)
    data = make_jpeg(gps=(field.subject.lat, field.subject.lon),
                     taken_at=(local_now() - timedelta(hours=2)).replace(tzinfo=None))
    after = {"id": str(uuid.uuid4()), "sha256": photo_decl(data)["sha256"], "role": "after"}
    _rectify(client, field.headers, hazard_id, body={"id": str(uuid.uuid4()), "photos": [after]})
    response = put_photo(client, field.headers, after["id"], data)
    assert response.status_code == 201
    assert [f["code"] for f in response.get_json()["flags"]] == ["photo_taken_before_report"]


def test_rectification_retry_is_200_and_identical(app, field, client):
    """The same rectification again answers 200 with the same body and writes no second event."""
    hazard_id = _report(client, field.headers, field.subject)
    body = {"id": str(uuid.uuid4()), "note": "已整改", "photos": []}
    first = _rectify(client, field.headers, hazard_id, body=body)
    events = _event_count(app)
    again = _rectify(client, field.headers, hazard_id, body=body, status=200)
    assert again == first
    assert _event_count(app) == events == 2


def test_rectification_id_with_other_content_is_a_conflict(field, client):
    """The same rectification id with another note is 409 conflict."""
    hazard_id = _report(client, field.headers, field.subject)
    body = {"id": str(uuid.uuid4()), "note": "已整改", "photos": []}
    _rectify(client, field.headers, hazard_id, body=body)
    response = client.post(f"{HAZARDS}/{hazard_id}/rectifications", json={**body, "note": "另一个"},
                           headers=field.headers)
    assert_problem(response, 409, "conflict")
    other = _report(client, field.headers, field.subject, "G07")
    response = client.post(f"{HAZARDS}/{other}/rectifications", json=body, headers=field.headers)
    assert_problem(response, 409, "conflict")


def test_rectification_photos_must_be_after_photos(field, client):
    """A rectification photo with a role other than after is 422 at photos.0.role."""
    hazard_id = _report(client, field.headers, field.subject)
    body = {"id": str(uuid.uuid4()), "photos": [{"id": str(uuid.uuid4()), "sha256": "a" * 64, "role": "before"}]}
    response = client.post(f"{HAZARDS}/{hazard_id}/rectifications", json=body, headers=field.headers)
    assert "photos.0.role" in assert_problem(response, 422, "validation_error")["errors"]


def test_accepting_a_review_closes_the_hazard(field, client):
    """An accepted review answers 201, closes the hazard and sets closed_at; nothing more is allowed."""
    hazard_id = _report(client, field.headers, field.subject)
    _rectify(client, field.headers, hazard_id)
    answer = _review(client, field.headers, hazard_id, "accept", note="复查合格").get_json()
    assert answer["type"] == "review_accepted" and answer["status"] == "closed"
    detail = _detail(client, field.headers, hazard_id)
    assert detail["status"] == "closed" and detail["overdue"] is False
    assert datetime.fromisoformat(detail["closed_at"]) == datetime.fromisoformat(answer["at"])
    assert [e["type"] for e in detail["events"]] == ["reported", "rectification", "review_accepted"]
    assert detail["events"][-1]["note"] == "复查合格"
    assert not {"rectification", "review_accepted", "review_rejected"} & set(detail["allowed_actions"])


def test_rejected_review_returns_to_rectifying_then_rectify_again(field, client):
    """A rejected review sends the hazard back to rectifying; a new rectification makes it pending_review again."""
    hazard_id = _report(client, field.headers, field.subject)
    _rectify(client, field.headers, hazard_id)
    answer = _review(client, field.headers, hazard_id, "reject", note="软管仍超长").get_json()
    assert answer["type"] == "review_rejected" and answer["status"] == "rectifying"
    assert _detail(client, field.headers, hazard_id)["closed_at"] is None
    assert _rectify(client, field.headers, hazard_id)["status"] == "pending_review"
    detail = _detail(client, field.headers, hazard_id)
    assert [(e["type"], e["from_status"], e["to_status"]) for e in detail["events"]] == [
        ("reported", None, "reported"), ("rectification", "reported", "pending_review"),
        ("review_rejected", "pending_review", "rectifying"), ("rectification", "rectifying", "pending_review")]


def test_review_retry_is_200_and_other_content_is_a_conflict(field, client):
    """The same review again answers 200 with the same body; the same id with another decision is 409 conflict."""
    hazard_id = _report(client, field.headers, field.subject)
    _rectify(client, field.headers, hazard_id)
    review_id = str(uuid.uuid4())
    first = _review(client, field.headers, hazard_id, "accept", review_id=review_id).get_json()
    again = _review(client, field.headers, hazard_id, "accept", review_id=review_id, status=200).get_json()
    assert again == first
    response = client.post(f"{HAZARDS}/{hazard_id}/reviews", json={"id": review_id, "decision": "reject",
                                                                   "note": "复查"}, headers=field.headers)
    assert_problem(response, 409, "conflict")


def test_review_in_the_wrong_state_is_an_invalid_transition(field, client):
    """Reviewing a hazard not pending review is 409 invalid_transition naming current_status and allowed_actions."""
    hazard_id = _report(client, field.headers, field.subject)
    response = _review(client, field.headers, hazard_id, "accept", status=409)
    body = assert_problem(response, 409, "invalid_transition")
    assert body["current_status"] == "reported"
    assert "rectification" in body["allowed_actions"] and "review_accepted" not in body["allowed_actions"]
    assert _detail(client, field.headers, hazard_id)["status"] == "reported"


def test_rectifying_a_closed_hazard_is_an_invalid_transition(field, client):
    """A rectification of a closed hazard is 409 invalid_transition that does not offer rectification."""
    hazard_id = _report(client, field.headers, field.subject)
    _rectify(client, field.headers, hazard_id)
    _review(client, field.headers, hazard_id, "accept")
    response = client.post(f"{HAZARDS}/{hazard_id}/rectifications", json={"id": str(uuid.uuid4())},
                           headers=field.headers)
    body = assert_problem(response, 409, "invalid_transition")
    assert body["current_status"] == "closed" and "rectification" not in body["allowed_actions"]


def test_major_hazard_is_closed_only_by_a_leader(app, field, client):
    """An inspector reviewing a major hazard is 403 forbidden; a leader of 银川市 (640100) accepts and closes it."""
    hazard_id = _report(client, field.headers, field.subject, "GM01", description="地下室使用液化气")
    response = client.post(f"{HAZARDS}/{hazard_id}/plan", json={"id": str(uuid.uuid4()), **PLAN}, headers=field.headers)
    assert response.status_code == 201, response.get_json()  # 五落实 come before rectification (design §4)
    _rectify(client, field.headers, hazard_id)
    assert_problem(_review(client, field.headers, hazard_id, "accept", status=403), 403, "forbidden")
    assert_problem(_review(client, field.headers, hazard_id, "reject", status=403), 403, "forbidden")
    assert _detail(client, field.headers, hazard_id)["status"] == "pending_review"
    with app.app_context():
        make_user("leader", roles=["leader"], districts=["640100"], name="包抓领导")
    leader = login(client, "leader")
    answer = _review(client, leader, hazard_id, "accept").get_json()
    assert answer["status"] == "closed"
    detail = _detail(client, field.headers, hazard_id)
    assert detail["status"] == "closed" and detail["severity"] == "major"
    assert detail["events"][-1]["actor"]["username"] == "leader"


def test_roles_without_field_work_may_not_submit_or_act(app, field, client):
    """Enforcement and committee users get 403 forbidden for submissions, rectifications and reviews."""
    hazard_id = _report(client, field.headers, field.subject)
    with app.app_context():
        make_user("officer", roles=["enforcement"], districts=["640104"])
        make_user("committee", roles=["committee"], districts=[])
    for username in ("officer", "committee"):
        headers = login(client, username)
        payload = inspection_payload(field.subject)
        assert_problem(client.post("/api/v1/inspections", json=payload, headers=headers), 403, "forbidden")
        assert client.get(f"/api/v1/inspections/{payload['id']}", headers=field.headers).status_code == 404
        response = client.post(f"{HAZARDS}/{hazard_id}/rectifications", json={"id": str(uuid.uuid4())},
                               headers=headers)
        assert_problem(response, 403, "forbidden")
        assert_problem(_review(client, headers, hazard_id, status=403), 403, "forbidden")
    assert _detail(client, field.headers, hazard_id)["status"] == "reported"


def test_unknown_hazard_is_not_found(field, client):
    """Reading, rectifying or reviewing an unknown hazard is 404 not_found."""
    missing = uuid.uuid4()
    assert_problem(client.get(f"{HAZARDS}/{missing}", headers=field.headers), 404, "not_found")
    response = client.post(f"{HAZARDS}/{missing}/rectifications", json={"id": str(uuid.uuid4())},
                           headers=field.headers)
    assert_problem(response, 404, "not_found")
    assert_problem(_review(client, field.headers, missing, status=404), 404, "not_found")
