"""The demo journey of the issue: log in, fetch reference data, submit, upload, rectify, review."""

import uuid
from pathlib import Path

from helpers import hazard_item, inspection_payload, login, make_enterprise, make_subject, make_user, sha256


def test_inspector_journey_from_login_to_closed_hazard(app, client, shared_photos):
    """An inspector submits two hazards and a photo, uploads it, rectifies one hazard and a review closes it."""
    with app.app_context():
        make_user("insp", roles=["inspector"], districts=["640104"])
        enterprise = make_enterprise()
        subject = make_subject(enterprises=[enterprise])
    headers = login(client, "insp")
    assert client.get("/api/v1/checklists", headers=headers).status_code == 200
    subjects = client.get("/api/v1/subjects?domain=gas", headers=headers).get_json()
    assert [s["id"] for s in subjects["items"]] == [str(subject.id)]

    photo_bytes = (shared_photos / "gps_jpeg" / "HTC Desire.jpg").read_bytes()
    first, second = hazard_item("G02"), hazard_item("G07", description="钢瓶超期未检")
    photo = {"id": str(uuid.uuid4()), "sha256": sha256(photo_bytes), "role": "evidence", "hazard_id": first["id"]}
    payload = inspection_payload(subject, hazards=[first, second], photos=[photo])
    answer = client.post("/api/v1/inspections", json=payload, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "awaiting_photos" and body["photos_missing"] == [photo["id"]]
    assert {h["id"] for h in body["hazards"]} == {first["id"], second["id"]}

    again = client.post("/api/v1/inspections", json=payload, headers=headers)
    assert again.status_code == 200 and again.get_json()["received_at"] == body["received_at"]

    upload = client.put(f"/api/v1/photos/{photo['id']}", data=photo_bytes,
                        headers={**headers, "Content-Type": "image/jpeg", "X-Content-SHA256": photo["sha256"]})
    assert upload.status_code == 201, upload.get_json()
    assert abs(upload.get_json()["gps"]["lat"] - 45.50066667) < 1e-6
    codes = {f["code"] for f in upload.get_json()["flags"]}
    assert "photo_far_from_subject" in codes

    stored = client.get(f"/api/v1/inspections/{payload['id']}", headers=headers).get_json()
    assert stored["status"] == "complete" and stored["photos"][0]["received"] is True

    rect = client.post(f"/api/v1/hazards/{first['id']}/rectifications",
                       json={"id": str(uuid.uuid4()), "note": "已安装自闭阀", "photos": []}, headers=headers)
    assert rect.status_code == 201, rect.get_json()
    assert rect.get_json()["status"] == "pending_review"
    review = client.post(f"/api/v1/hazards/{first['id']}/reviews",
                         json={"id": str(uuid.uuid4()), "decision": "accept", "note": "复查合格"}, headers=headers)
    assert review.status_code == 201, review.get_json()
    hazard = client.get(f"/api/v1/hazards/{first['id']}", headers=headers).get_json()
    assert hazard["status"] == "closed"
    assert [e["type"] for e in hazard["events"]] == ["reported", "rectification", "review_accepted"]
