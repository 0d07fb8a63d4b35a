"""Campaigns over HTTP: creation, listing, coverage, re-inspection samples, leader duties, and visits in campaigns."""

import uuid
from datetime import timedelta

from sqlalchemy import select

from helpers import (assert_problem, hazard_item, inspection_payload, local_now, login, make_subject, make_user,
                     submit)
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections.models import Inspection
from server.notifications.models import Outbox
from server.registry.models import Subject

CAMPAIGNS = "/api/v1/campaigns"
DUTIES = "/api/v1/leader-duties"


def _campaign_body(**overrides) -> dict:
    today = local_now().date()
    body = {"name": "城镇燃气安全专项整治", "doc_no": "银建发〔2026〕12号", "domains": ["gas"],
            "districts": ["640100"], "starts_on": (today - timedelta(days=30)).isoformat(),
            "ends_on": (today + timedelta(days=60)).isoformat(),
            "phases": [{"name": "集中攻坚", "starts_on": (today - timedelta(days=30)).isoformat(),
                        "ends_on": (today + timedelta(days=10)).isoformat()},
                       {"name": "回头看", "kind": "reinspect", "starts_on": (today + timedelta(days=11)).isoformat(),
                        "ends_on": (today + timedelta(days=60)).isoformat(), "sample_share": 0.5}]}
    body.update(overrides)
    return body


def _admin(app, client):
    with app.app_context():
        make_user("admin", roles=["admin"], districts=[], name="管理员")
    return login(client, "admin")


def _create(client, headers, status=201, **overrides) -> dict:
    response = client.post(CAMPAIGNS, json=_campaign_body(**overrides), headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_create_and_read_a_campaign(app, field, client):
    """An admin creates a campaign (201) and anyone in its districts lists and reads it; phases come back with dates."""
    admin = _admin(app, client)
    created = _create(client, admin)
    assert created["name"] == "城镇燃气安全专项整治" and created["doc_no"] == "银建发〔2026〕12号"
    assert created["domains"] == ["gas"] and created["districts"] == ["640100"]
    assert [(p["name"], p["kind"]) for p in created["phases"]] == [("集中攻坚", "inspect"), ("回头看", "reinspect")]
    assert created["phases"][1]["sample_share"] == 0.5
    listed = client.get(CAMPAIGNS, headers=field.headers).get_json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert client.get(f"{CAMPAIGNS}?active=true", headers=field.headers).get_json()["items"] == listed
    assert client.get(f"{CAMPAIGNS}/{created['id']}", headers=field.headers).get_json() == created


def test_campaigns_are_scoped_to_districts(app, field, client):
    """A campaign of 兴庆区 is invisible (404) to a user of 石嘴山; a leader creates only within its districts."""
    admin = _admin(app, client)
    created = _create(client, admin, districts=["640104"])
    with app.app_context():
        make_user("north", roles=["leader"], districts=["640200"])
    north = login(client, "north")
    assert client.get(CAMPAIGNS, headers=north).get_json()["items"] == []
    assert_problem(client.get(f"{CAMPAIGNS}/{created['id']}", headers=north), 404, "not_found")
    assert_problem(client.get(f"{CAMPAIGNS}/{created['id']}/coverage", headers=north), 404, "not_found")
    problem = assert_problem(client.post(CAMPAIGNS, json=_campaign_body(), headers=north), 422, "validation_error")
    assert "districts" in problem["errors"]
    _create(client, north, districts=["640202"])


def test_create_refuses_bad_bodies_and_inspectors(app, field, client):
    """Bad fields are 422 at their path; an inspector's POST is 403."""
    admin = _admin(app, client)
    today = local_now().date()
    cases = [
        ({"domains": ["water"]}, "domains.0"),
        ({"domains": []}, "domains"),
        ({"districts": ["999999"]}, "districts"),
        ({"ends_on": (today - timedelta(days=60)).isoformat()}, "ends_on"),
        ({"name": ""}, "name"),
        ({"phases": [{"name": "x", "starts_on": "2000-01-01", "ends_on": "2000-02-01"}]}, "phases.0"),
        ({"phases": [{"name": "x", "kind": "later", "starts_on": today.isoformat(), "ends_on": today.isoformat()}]},
         "phases.0.kind"),
    ]
    for overrides, path in cases:
        problem = assert_problem(client.post(CAMPAIGNS, json=_campaign_body(**overrides), headers=admin),
                                 422, "validation_error")
        assert path in problem["errors"], (overrides, problem)
    assert_problem(client.post(CAMPAIGNS, json=_campaign_body(), headers=field.headers), 403, "forbidden")


def test_coverage_counts_visits_of_the_campaign(app, field, client):
    """Visits on the campaign's days count: registered, inspected, never inspected per district and field."""
    admin = _admin(app, client)
    created = _create(client, admin, domains=["gas", "self_built_house"])
    with app.app_context():
        others = [make_subject() for _ in range(3)]
        make_subject(domain="self_built_house")
        make_subject(district_code="640106")
        make_subject(district_code="640202")
    submit(client, field.headers, inspection_payload(field.subject))
    submit(client, field.headers, inspection_payload(others[0]))
    submit(client, field.headers, inspection_payload(others[0]))
    old = (local_now() - timedelta(days=90)).isoformat()
    submit(client, field.headers, inspection_payload(others[1], started_at=old, finished_at=None))

    body = client.get(f"{CAMPAIGNS}/{created['id']}/coverage", headers=admin).get_json()
    assert body["campaign"] == {"id": created["id"], "name": created["name"]}
    figures = {(r["district"], r["domain"]): (r["registered"], r["inspected"], r["never_inspected"], r["no_access"])
               for r in body["rows"]}
    assert figures == {("640104", "gas"): (4, 2, 2, 0), ("640104", "self_built_house"): (1, 0, 1, 0),
                       ("640106", "gas"): (1, 0, 1, 0)}
    assert body["total"]["registered"] == 6 and body["total"]["inspected"] == 2
    assert abs(body["total"]["coverage"] - 2 / 6) < 1e-3

    mine = client.get(f"{CAMPAIGNS}/{created['id']}/coverage?by=district", headers=field.headers).get_json()
    assert [(r["district"], r["domain"], r["registered"], r["inspected"]) for r in mine["rows"]] == [
        ("640104", None, 5, 2)]
    only_total = client.get(f"{CAMPAIGNS}/{created['id']}/coverage?by=", headers=field.headers).get_json()
    assert only_total["rows"] == [] and only_total["total"]["registered"] == 5
    problem = assert_problem(client.get(f"{CAMPAIGNS}/{created['id']}/coverage?by=street", headers=admin),
                             422, "validation_error")
    assert "by" in problem["errors"]
    assert_problem(client.get(f"{CAMPAIGNS}/9999/coverage", headers=admin), 404, "not_found")


def test_leader_duties_are_set_by_admins(app, field, client):
    """PUT names a leader for a district and field, GET lists it, DELETE ends it; others may not set it."""
    admin = _admin(app, client)
    with app.app_context():
        leader = make_user("leader", roles=["leader"], districts=["640104"], name="王局")
    response = client.put(f"{DUTIES}/640104/gas", json={"user_id": leader.id}, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"district": "640104", "domain": "gas",
                                   "user": {"id": leader.id, "username": "leader", "name": "王局"}}
    assert client.get(DUTIES, headers=field.headers).get_json()["items"] == [response.get_json()]
    assert_problem(client.put(f"{DUTIES}/640104/gas", json={"user_id": field.user.id}, headers=admin),
                   422, "validation_error")
    assert_problem(client.put(f"{DUTIES}/999999/gas", json={"user_id": leader.id}, headers=admin),
                   422, "validation_error")
    assert_problem(client.put(f"{DUTIES}/640104/water", json={"user_id": leader.id}, headers=admin),
                   422, "validation_error")
    assert_problem(client.put(f"{DUTIES}/640104/gas", json={"user_id": leader.id}, headers=login(client, "leader")),
                   403, "forbidden")
    assert client.delete(f"{DUTIES}/640104/gas", headers=admin).status_code == 204
    assert_problem(client.delete(f"{DUTIES}/640104/gas", headers=admin), 404, "not_found")
    assert client.get(DUTIES, headers=admin).get_json()["items"] == []


def test_reinspection_sample_over_http(app, field, client):
    """POST /campaigns/{id}/samples draws the closed hazards into reinspect assignments once; again is 409."""
    admin = _admin(app, client)
    created = _create(client, admin)
    hazard_ids = []
    for _ in range(4):
        with app.app_context():
            subject = make_subject()
        value = hazard_item()
        submit(client, field.headers, inspection_payload(subject, hazards=[value]))
        for path, body in (("rectifications", {"id": str(uuid.uuid4()), "note": "已整改"}),
                           ("reviews", {"id": str(uuid.uuid4()), "decision": "accept", "note": "复查合格"})):
            answer = client.post(f"/api/v1/hazards/{value['id']}/{path}", json=body, headers=field.headers)
            assert answer.status_code == 201, answer.get_json()
        hazard_ids.append(value["id"])
    response = client.post(f"{CAMPAIGNS}/{created['id']}/samples", json={"phase": "回头看", "seed": 42},
                           headers=admin)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["phase"]["sampled"] == 2 and body["phase"]["seed"] == 42 and body["phase"]["share"] == 0.5
    assert len(body["items"]) == 2 and {i["hazard_id"] for i in body["items"]} <= set(hazard_ids)
    assert all(i["kind"] == "reinspect" and i["campaign"]["id"] == created["id"] for i in body["items"])
    phone = client.get("/api/v1/assignments", headers=field.headers).get_json()["items"]
    assert {i["hazard_id"] for i in phone} == {i["hazard_id"] for i in body["items"]}
    assert_problem(client.post(f"{CAMPAIGNS}/{created['id']}/samples", json={"phase": "回头看"}, headers=admin),
                   409, "conflict")
    assert_problem(client.post(f"{CAMPAIGNS}/{created['id']}/samples", json={"phase": "集中攻坚", "share": 0.5},
                               headers=admin), 422, "validation_error")
    assert_problem(client.post(f"{CAMPAIGNS}/{created['id']}/samples", json={"phase": "回头看"},
                               headers=field.headers), 403, "forbidden")

    # Found again by the inspector sent there: the hazard is reopened.
    item = body["items"][0]
    with app.app_context():
        subject = db.session.get(Subject, db.session.get(Hazard, uuid.UUID(item["hazard_id"])).subject_id)
        payload = inspection_payload(subject, results=[{"item": "G02", "outcome": "fail", "note": "复查仍未整改"}])
    submit(client, field.headers, payload)
    detail = client.get(f"/api/v1/hazards/{item['hazard_id']}", headers=field.headers).get_json()
    assert detail["status"] == "rectifying" and detail["events"][-1]["type"] == "reopened"


# --- new fields of POST /inspections (campaign_id, outcome) -------------------------------------------

def test_inspection_names_its_campaign(app, field, client):
    """campaign_id names the campaign (stored on the inspection and its hazards); one not covering the subject is 422."""
    admin = _admin(app, client)
    first = _create(client, admin)
    elsewhere = _create(client, admin, name="金凤区燃气", districts=["640106"])
    problem = assert_problem(client.post("/api/v1/inspections", headers=field.headers,
                                         json=inspection_payload(field.subject, campaign_id=elsewhere["id"])),
                             422, "validation_error")
    assert "campaign_id" in problem["errors"]
    value = hazard_item()
    answer = submit(client, field.headers, inspection_payload(field.subject, campaign_id=first["id"], hazards=[value]))
    with app.app_context():
        assert db.session.get(Inspection, uuid.UUID(answer["id"])).campaign_id == first["id"]
        assert db.session.get(Hazard, uuid.UUID(value["id"])).campaign_id == first["id"]


def test_visits_without_access_escalate_to_the_duty_leader(app, field, client):
    """outcome no_access refuses results; the third such visit in a row queues one message to the duty leader."""
    admin = _admin(app, client)
    with app.app_context():
        leader = make_user("leader", roles=["leader"], districts=["640104"])
    assert client.put(f"{DUTIES}/640104/gas", json={"user_id": leader.id}, headers=admin).status_code == 200
    problem = assert_problem(client.post("/api/v1/inspections", headers=field.headers, json=inspection_payload(
        field.subject, outcome="no_access", results=[{"item": "G02", "outcome": "pass"}])), 422, "validation_error")
    assert "results" in problem["errors"]
    for days in (3, 2, 1, 0):
        started = (local_now() - timedelta(days=days, minutes=30)).isoformat()
        submit(client, field.headers, inspection_payload(field.subject, outcome="no_access", started_at=started,
                                                         finished_at=None))
    with app.app_context():
        rows = db.session.scalars(select(Outbox)).all()
        assert [(r.kind, r.recipient_id) for r in rows] == [("no_access_escalation", leader.id)]
