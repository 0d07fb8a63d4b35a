"""Simultaneous retries against a real threaded HTTP server: one winner, no duplicates, no 5xx."""

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from helpers import files_under, hazard_item, inspection_payload, make_jpeg, photo_decl, sha256
from server.extensions import db
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Inspection


def _together(count: int, send) -> list[requests.Response]:
    """Run ``send()`` in ``count`` threads released at the same instant; return the responses."""
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _statuses(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_twenty_simultaneous_submissions_store_one_inspection(app, field, live_server):
    """Twenty identical submissions at once: one 201, nineteen 200 with its body, one row, no duplicate hazards."""
    payload = inspection_payload(field.subject, hazards=[hazard_item("G02"), hazard_item("G07")],
                                 photos=[photo_decl(b"later")])
    responses = _together(20, lambda: requests.post(f"{live_server}/api/v1/inspections", json=payload,
                                                    headers=field.headers, timeout=60))
    assert _statuses(responses) == [200] * 19 + [201], [r.text[:200] for r in responses if r.status_code >= 500]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert _count(app, Inspection) == 1
    assert _count(app, Hazard) == 2
    assert _count(app, HazardEvent) == 2


def test_twenty_simultaneous_uploads_store_one_file(app, field, client, live_server):
    """Twenty simultaneous uploads of one photo: one 201, nineteen 200, one stored original, nothing left in tmp."""
    data = make_jpeg((640, 480), gps=(field.subject.lat, field.subject.lon))
    photo = photo_decl(data)
    assert client.post("/api/v1/inspections", json=inspection_payload(field.subject, photos=[photo]),
                       headers=field.headers).status_code == 201
    headers = {**field.headers, "Content-Type": "image/jpeg", "X-Content-SHA256": sha256(data)}
    responses = _together(20, lambda: requests.put(f"{live_server}/api/v1/photos/{photo['id']}", data=data,
                                                   headers=headers, timeout=60))
    assert _statuses(responses) == [200] * 19 + [201], [r.text[:200] for r in responses if r.status_code >= 500]
    assert all(r.json()["sha256"] == sha256(data) and r.json()["received"] for r in responses)
    root = app.config["PHOTO_ROOT"]
    stored = files_under(os.path.join(root, "store"))
    assert [p.name for p in stored if p.name == sha256(data)] == [sha256(data)]
    assert sorted(p.name for p in stored) == sorted([sha256(data), f"{sha256(data)}.display.jpg",
                                                     f"{sha256(data)}.thumbnail.jpg"])
    assert files_under(os.path.join(root, "tmp")) == []
    assert client.get(f"/api/v1/photos/{photo['id']}", headers=field.headers).get_data() == data


def test_two_simultaneous_reviews_have_one_winner(app, field, client, live_server):
    """Two different reviews of one pending hazard at once: one 201, one 409 invalid_transition, one review event."""
    hazard = hazard_item("G02")
    client.post("/api/v1/inspections", json=inspection_payload(field.subject, hazards=[hazard]), headers=field.headers)
    assert client.post(f"/api/v1/hazards/{hazard['id']}/rectifications", json={"id": str(uuid.uuid4())},
                       headers=field.headers).status_code == 201
    decisions = iter(["accept", "reject"])
    lock = threading.Lock()

    def review():
        with lock:
            decision = next(decisions)
        return requests.post(f"{live_server}/api/v1/hazards/{hazard['id']}/reviews",
                             json={"id": str(uuid.uuid4()), "decision": decision, "note": "复查"},
                             headers=field.headers, timeout=60)

    responses = _together(2, review)
    assert _statuses(responses) == [201, 409], [r.text[:300] for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["Content-Type"].startswith("application/problem+json")
    assert loser.json()["code"] == "invalid_transition"
    winner = next(r for r in responses if r.status_code == 201).json()
    reviews = HazardEvent.type.in_(["review_accepted", "review_rejected"])
    assert _count(app, HazardEvent, HazardEvent.hazard_id == uuid.UUID(hazard["id"]), reviews) == 1
    detail = client.get(f"/api/v1/hazards/{hazard['id']}", headers=field.headers).get_json()
    assert detail["status"] == winner["status"] == ("closed" if winner["type"] == "review_accepted" else "rectifying")
    assert loser.json()["current_status"] == detail["status"]


def test_ten_simultaneous_identical_rectifications_write_one_event(app, field, client, live_server):
    """Ten simultaneous copies of one rectification: one 201, nine 200 with the same body, one event."""
    hazard = hazard_item("G07")
    client.post("/api/v1/inspections", json=inspection_payload(field.subject, hazards=[hazard]), headers=field.headers)
    body = {"id": str(uuid.uuid4()), "note": "已整改", "photos": [{"id": str(uuid.uuid4()), "sha256": "b" * 64}]}
    responses = _together(10, lambda: requests.post(f"{live_server}/api/v1/hazards/{hazard['id']}/rectifications",
                                                    json=body, headers=field.headers, timeout=60))
    assert _statuses(responses) == [200] * 9 + [201], [r.text[:300] for r in responses if r.status_code != 200]
    answers = [r.json() for r in responses]
    assert all(answer == answers[0] for answer in answers)
    assert _count(app, HazardEvent, HazardEvent.type == "rectification") == 1
    assert client.get(f"/api/v1/hazards/{hazard['id']}", headers=field.headers).get_json()["status"] == "pending_review"


def test_slow_upload_does_not_hold_up_other_phones(field, client, live_server):
    """While one phone's upload is stalled half-way, another phone's submission is answered, not locked out."""
    data = make_jpeg((640, 480))
    photo = photo_decl(data)
    assert client.post("/api/v1/inspections", json=inspection_payload(field.subject, photos=[photo]),
                       headers=field.headers).status_code == 201
    half_sent, other_answered = threading.Event(), threading.Event()

    def stalled():
        yield data[: len(data) // 2]
        half_sent.set()
        # The rest only comes once the other phone has its answer: if the upload held the
        # database, that answer would be a "database is locked" failure, not a 201.
        other_answered.wait(timeout=60)
        yield data[len(data) // 2:]

    uploaded = {}

    def upload():
        uploaded["response"] = requests.put(
            f"{live_server}/api/v1/photos/{photo['id']}", data=stalled(), timeout=120,
            headers={**field.headers, "Content-Type": "image/jpeg", "X-Content-SHA256": sha256(data)})

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert half_sent.wait(timeout=60)
    time.sleep(0.3)  # let the server start reading the body; ordering only, nothing is timed
    other = requests.post(f"{live_server}/api/v1/inspections", json=inspection_payload(field.subject),
                          headers=field.headers, timeout=120)
    upload_was_pending = "response" not in uploaded
    other_answered.set()
    uploader.join(timeout=120)
    assert other.status_code == 201, other.text
    assert upload_was_pending and uploaded["response"].status_code == 201
