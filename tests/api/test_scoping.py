"""District isolation: users see and act only within their districts (and those below); others get 404."""

import uuid
from types import SimpleNamespace

import pytest

from helpers import (assert_problem, hazard_item, inspection_payload, login, make_jpeg, make_subject, make_user,
                     photo_decl, put_photo, submit)


@pytest.fixture
def world(app, client, field):
    """兴庆区 (640104) with an inspection, a pending hazard and photos; 金凤区 (640106) and 惠农区 (640205) with their own."""
    data, waiting = make_jpeg(color=(10, 20, 30)), make_jpeg(color=(200, 10, 10))
    hazard = hazard_item("G02")
    photos = [photo_decl(data, hazard_id=hazard["id"]), photo_decl(waiting)]
    xingqing = inspection_payload(field.subject, hazards=[hazard], photos=photos)
    submit(client, field.headers, xingqing)
    assert put_photo(client, field.headers, photos[0]["id"], data).status_code == 201
    rect = client.post(f"/api/v1/hazards/{hazard['id']}/rectifications", json={"id": str(uuid.uuid4())},
                       headers=field.headers)
    assert rect.status_code == 201
    with app.app_context():
        make_user("jinfeng", districts=["640106"])
        make_user("huinong", districts=["640205"])
        make_user("leader", roles=["leader"], districts=["640100"])
        make_user("committee", roles=["committee"], districts=[])
        jinfeng_subject = make_subject(district_code="640106", name="金凤区用户")
        huinong_subject = make_subject(district_code="640205", name="惠农区用户")
    jinfeng = login(client, "jinfeng")
    other_hazard = hazard_item("G07")
    submit(client, jinfeng, inspection_payload(jinfeng_subject, hazards=[other_hazard]))
    huinong_hazard = hazard_item("G05")
    submit(client, login(client, "huinong"), inspection_payload(huinong_subject, hazards=[huinong_hazard]))
    return SimpleNamespace(
        subject=str(field.subject.id), inspection=xingqing["id"], hazard=hazard["id"], photo=photos[0]["id"],
        waiting_photo=photos[1]["id"], waiting_bytes=waiting, jinfeng=jinfeng, jinfeng_subject=str(jinfeng_subject.id),
        jinfeng_hazard=other_hazard["id"], huinong_subject=str(huinong_subject.id), huinong_hazard=huinong_hazard["id"])


def _not_found_like_nothing(response, missing_response):
    """Assert a 404 identical to the one for an id that does not exist."""
    body = assert_problem(response, 404, "not_found")
    assert body == assert_problem(missing_response, 404, "not_found")


def test_other_district_reads_are_not_found(client, world):
    """An inspector of 640106 gets the same 404 for 640104's subject, inspection, hazard and photo as for nothing."""
    h, nothing = world.jinfeng, uuid.uuid4()
    for path in ("subjects/{}", "inspections/{}", "hazards/{}", "photos/{}", "photos/{}/display",
                 "photos/{}/thumbnail", "photos/{}/info"):
        target = {"subjects/{}": world.subject, "inspections/{}": world.inspection,
                  "hazards/{}": world.hazard}.get(path, world.photo)
        _not_found_like_nothing(client.get("/api/v1/" + path.format(target), headers=h),
                                client.get("/api/v1/" + path.format(nothing), headers=h))


def test_other_district_writes_are_not_found(client, world, field):
    """An inspector of 640106 gets 404 rectifying, reviewing or uploading a photo of 640104, and nothing changes."""
    h = world.jinfeng
    response = client.post(f"/api/v1/hazards/{world.hazard}/rectifications", json={"id": str(uuid.uuid4())}, headers=h)
    assert_problem(response, 404, "not_found")
    response = client.post(f"/api/v1/hazards/{world.hazard}/reviews",
                           json={"id": str(uuid.uuid4()), "decision": "accept"}, headers=h)
    assert_problem(response, 404, "not_found")
    assert_problem(put_photo(client, h, world.waiting_photo, world.waiting_bytes), 404, "not_found")
    hazard = client.get(f"/api/v1/hazards/{world.hazard}", headers=field.headers).get_json()
    assert hazard["status"] == "pending_review" and len(hazard["events"]) == 2
    info = client.get(f"/api/v1/photos/{world.waiting_photo}/info", headers=field.headers).get_json()
    assert info["received"] is False


def test_other_district_subject_cannot_be_inspected(client, world):
    """An inspector of 640106 submitting an inspection of a 640104 subject gets 422 at subject_id."""
    payload = inspection_payload(SimpleNamespace(id=world.subject, lat=38.468, lon=106.285))
    response = client.post("/api/v1/inspections", json=payload, headers=world.jinfeng)
    assert "subject_id" in assert_problem(response, 422, "validation_error")["errors"]


def test_lists_hold_only_the_users_districts(client, world, field):
    """Subject and hazard lists of a district inspector hold only its district's rows."""
    def ids(path, headers):
        return {item["id"] for item in client.get(path, headers=headers).get_json()["items"]}

    assert ids("/api/v1/subjects", world.jinfeng) == {world.jinfeng_subject}
    assert ids("/api/v1/hazards", world.jinfeng) == {world.jinfeng_hazard}
    assert ids("/api/v1/subjects", field.headers) == {world.subject}
    assert ids("/api/v1/hazards", field.headers) == {world.hazard}
    assert ids("/api/v1/hazards?status=pending_review", world.jinfeng) == set()


def test_leader_of_the_city_sees_its_districts(client, world):
    """A leader of 银川市 (640100) sees 兴庆区 and 金凤区, but not 石嘴山's 惠农区."""
    leader = login(client, "leader")
    subjects = {s["id"] for s in client.get("/api/v1/subjects", headers=leader).get_json()["items"]}
    assert subjects == {world.subject, world.jinfeng_subject}
    hazards = {h["id"] for h in client.get("/api/v1/hazards", headers=leader).get_json()["items"]}
    assert hazards == {world.hazard, world.jinfeng_hazard}
    for path in (f"/api/v1/inspections/{world.inspection}", f"/api/v1/hazards/{world.hazard}",
                 f"/api/v1/photos/{world.photo}", f"/api/v1/hazards/{world.jinfeng_hazard}"):
        assert client.get(path, headers=leader).status_code == 200, path
    assert_problem(client.get(f"/api/v1/hazards/{world.huinong_hazard}", headers=leader), 404, "not_found")
    assert_problem(client.get(f"/api/v1/subjects/{world.huinong_subject}", headers=leader), 404, "not_found")


def test_committee_sees_the_whole_city(client, world):
    """A committee member without districts sees every district's subjects and hazards."""
    committee = login(client, "committee")
    subjects = {s["id"] for s in client.get("/api/v1/subjects", headers=committee).get_json()["items"]}
    assert subjects == {world.subject, world.jinfeng_subject, world.huinong_subject}
    hazards = {h["id"] for h in client.get("/api/v1/hazards", headers=committee).get_json()["items"]}
    assert hazards == {world.hazard, world.jinfeng_hazard, world.huinong_hazard}
    assert client.get(f"/api/v1/inspections/{world.inspection}", headers=committee).status_code == 200
    assert client.get(f"/api/v1/photos/{world.photo}", headers=committee).status_code == 200
