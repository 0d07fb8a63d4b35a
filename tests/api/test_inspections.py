"""Submitting inspections: the answer, idempotent retries, positions, flags, hazards and JGJ 59 scores."""

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from helpers import (assert_problem, hazard_item, inspection_payload, make_enterprise, make_jpeg, make_subject,
                     offset_m, photo_decl, put_photo, submit)
from server.extensions import db
from server.geo import crs
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Inspection

URL = "/api/v1/inspections"


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _errors(response) -> dict:
    return assert_problem(response, 422, "validation_error")["errors"]


def test_submission_answer_has_the_contract_fields(field, client):
    """A new inspection answers 201: lower-case id, received_at with offset, status, missing photos, flags, hazards."""
    photo = photo_decl(b"not uploaded yet")
    general, major = hazard_item("G02"), hazard_item("GM01", description="在地下室使用瓶装液化气")
    del general["severity"], major["severity"]  # defaults to the item's severity
    payload = inspection_payload(field.subject, hazards=[general, major], photos=[photo],
                                 started_at="2026-05-03T17:30:00+00:00", finished_at="2026-05-03T17:50:00+00:00")
    before = datetime.now().astimezone()
    body = submit(client, field.headers, payload)
    assert set(body) >= {"id", "received_at", "status", "photos_missing", "flags", "hazards"}
    assert body["id"] == payload["id"] == payload["id"].lower()
    received = datetime.fromisoformat(body["received_at"])
    assert received.utcoffset() == timedelta(hours=8)
    assert abs(received - before) < timedelta(minutes=1)
    assert body["status"] == "awaiting_photos" and body["photos_missing"] == [photo["id"]]
    assert body["flags"] == []
    # started_at is 2026-05-04 01:30 in Asia/Shanghai: deadlines count from that local date.
    assert {h["id"]: (h["status"], h["deadline"]) for h in body["hazards"]} == {
        general["id"]: ("reported", "2026-05-19"), major["id"]: ("reported", "2026-07-03")}


def test_explicit_deadline_is_kept(field, client):
    """A hazard sent with its own deadline keeps it."""
    hazard = hazard_item("G07", deadline="2026-06-30")
    body = submit(client, field.headers, inspection_payload(field.subject, hazards=[hazard],
                                                            started_at="2026-05-04T09:00:00+08:00"))
    assert body["hazards"] == [{"id": hazard["id"], "status": "reported", "deadline": "2026-06-30"}]


def test_inspection_without_photos_is_complete(field, client):
    """An inspection declaring no photos is complete at once."""
    body = submit(client, field.headers, inspection_payload(field.subject))
    assert body["status"] == "complete" and body["photos_missing"] == [] and body["hazards"] == []


def test_retry_answers_200_with_the_same_body_and_stores_nothing(app, field, client):
    """The same submission again answers 200 with an identical body; no second row or event is stored."""
    payload = inspection_payload(field.subject, hazards=[hazard_item()], photos=[photo_decl(b"x")])
    first = client.post(URL, json=payload, headers=field.headers)
    assert first.status_code == 201
    counts = (_count(app, Inspection), _count(app, Hazard), _count(app, HazardEvent))
    again = client.post(URL, json=payload, headers=field.headers)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert (_count(app, Inspection), _count(app, Hazard), _count(app, HazardEvent)) == counts == (1, 1, 1)


def test_retry_is_recognised_whatever_the_zone_and_key_order(field, client):
    """A retry writing the same instants in UTC and the keys in another order is the same submission."""
    payload = inspection_payload(field.subject, started_at="2026-05-04T09:30:00+08:00",
                                 finished_at="2026-05-04T10:00:00+08:00")
    first = submit(client, field.headers, payload)
    retry = dict(reversed(list({**payload, "started_at": "2026-05-04T01:30:00+00:00",
                                "finished_at": "2026-05-04T02:00:00Z"}.items())))
    assert submit(client, field.headers, retry, status=200) == first


def test_same_id_with_other_content_is_a_conflict(field, client):
    """The same id with different content is 409 conflict and the stored inspection is unchanged."""
    payload = inspection_payload(field.subject, note="第一次")
    submit(client, field.headers, payload)
    assert_problem(client.post(URL, json={**payload, "note": "改过的"}, headers=field.headers), 409, "conflict")
    assert client.get(f"{URL}/{payload['id']}", headers=field.headers).get_json()["note"] == "第一次"


def test_upper_case_id_is_the_same_id(field, client):
    """An id sent in upper case is the same inspection: answered in lower case, retried as 200."""
    payload = inspection_payload(field.subject)
    upper = {**payload, "id": payload["id"].upper(), "subject_id": payload["subject_id"].upper()}
    first = submit(client, field.headers, upper)
    assert first["id"] == payload["id"]
    assert submit(client, field.headers, payload, status=200) == first
    fetched = client.get(f"{URL}/{payload['id'].upper()}", headers=field.headers)
    assert fetched.status_code == 200 and fetched.get_json()["id"] == payload["id"]


def test_stored_inspection_reads_back(field, client):
    """GET /inspections/{id} returns results, hazards, photos (received false, then true) and the WGS-84 location."""
    data = make_jpeg()
    hazard = hazard_item("G02", enterprise_id=None)
    photo = photo_decl(data, hazard_id=hazard["id"])
    payload = inspection_payload(field.subject, hazards=[hazard], photos=[photo],
                                 results=[{"item": "G02", "outcome": "fail", "note": "无自闭阀"},
                                          {"item": "G07", "outcome": "pass"}, {"item": "G01A", "outcome": "na"}])
    submit(client, field.headers, payload)
    body = client.get(f"{URL}/{payload['id']}", headers=field.headers).get_json()
    assert body["id"] == payload["id"] and body["subject_id"] == str(field.subject.id)
    assert body["checklist"] == {"code": "gas-user", "version": 1}
    assert datetime.fromisoformat(body["started_at"]) == datetime.fromisoformat(payload["started_at"])
    assert body["note"] == "入户检查"
    assert [(r["item"], r["outcome"], r["note"]) for r in body["results"]] == [
        ("G02", "fail", "无自闭阀"), ("G07", "pass", None), ("G01A", "na", None)]
    [stored] = body["hazards"]
    assert stored["id"] == hazard["id"] and stored["item"] == "G02" and stored["status"] == "reported"
    assert stored["inspection_id"] == payload["id"] and stored["subject_id"] == str(field.subject.id)
    assert stored["enterprise_id"] == str(field.enterprise.id)  # the subject's responsible enterprise
    assert stored["severity"] == "general" and stored["overdue"] is False and stored["closed_at"] is None
    [declared] = body["photos"]
    assert declared["id"] == photo["id"] and declared["received"] is False and declared["sha256"] == photo["sha256"]
    assert declared["role"] == "evidence" and declared["hazard_id"] == hazard["id"]
    assert body["status"] == "awaiting_photos" and body["photos_missing"] == [photo["id"]]
    lat, lon = field.subject.lat, field.subject.lon
    assert body["location"] == {"lat": lat, "lon": lon, "accuracy_m": 8.0, "crs": "wgs84",
                                "source": {"lat": lat, "lon": lon, "crs": "wgs84"}}
    assert put_photo(client, field.headers, photo["id"], data).status_code == 201
    after = client.get(f"{URL}/{payload['id']}", headers=field.headers).get_json()
    assert after["photos"][0]["received"] is True and after["photos"][0]["width"] == 64
    assert after["status"] == "complete" and after["photos_missing"] == []


def _submit_position(client, field, lat, lon, crs_name):
    payload = inspection_payload(field.subject)
    payload["location"] = {"lat": lat, "lon": lon, "accuracy_m": 10.0, "crs": crs_name}
    answer = submit(client, field.headers, payload)
    return answer, client.get(f"{URL}/{payload['id']}", headers=field.headers).get_json()["location"]


def test_gcj02_position_is_stored_as_wgs84(field, client):
    """A GCJ-02 position (Amap) is stored converted to WGS-84, with the position as sent kept as source."""
    sent = crs.from_wgs84(field.subject.lat, field.subject.lon, "gcj02")
    assert crs.distance_m(sent, (field.subject.lat, field.subject.lon)) > 200  # the shift is real here
    answer, location = _submit_position(client, field, *sent, "gcj02")
    expected = crs.to_wgs84(*sent, "gcj02")
    assert abs(location["lat"] - expected[0]) < 1e-9 and abs(location["lon"] - expected[1]) < 1e-9
    assert abs(location["lat"] - field.subject.lat) < 1e-6 and abs(location["lon"] - field.subject.lon) < 1e-6
    assert location["crs"] == "wgs84"
    assert location["source"] == {"lat": sent[0], "lon": sent[1], "crs": "gcj02"}
    assert answer["flags"] == []  # converted, it is at the subject


def test_bd09_position_is_stored_as_wgs84(field, client):
    """A BD-09 position (Baidu) is stored converted to WGS-84."""
    sent = crs.from_wgs84(field.subject.lat, field.subject.lon, "bd09")
    answer, location = _submit_position(client, field, *sent, "bd09")
    expected = crs.to_wgs84(*sent, "bd09")
    assert abs(location["lat"] - expected[0]) < 1e-9 and abs(location["lon"] - expected[1]) < 1e-9
    assert abs(location["lat"] - field.subject.lat) < 1e-6 and abs(location["lon"] - field.subject.lon) < 1e-6
    assert location["source"] == {"lat": sent[0], "lon": sent[1], "crs": "bd09"}
    assert answer["flags"] == []


def _flags(client, field, position, accuracy):
    payload = inspection_payload(field.subject)
    payload["location"] = {"lat": position[0], "lon": position[1], "accuracy_m": accuracy}
    answer = submit(client, field.headers, payload)
    return {flag["code"]: flag for flag in answer["flags"]}


def test_position_far_from_subject_is_flagged_not_refused(field, client):
    """A position 500 m from the subject is accepted with the flag location_far_from_subject."""
    flags = _flags(client, field, offset_m((field.subject.lat, field.subject.lon), north_m=500), 10.0)
    assert set(flags) == {"location_far_from_subject"}
    assert flags["location_far_from_subject"]["detail"]


def test_low_accuracy_is_flagged(field, client):
    """A position accurate to 150 m only is accepted with the flag low_location_accuracy."""
    assert set(_flags(client, field, (field.subject.lat, field.subject.lon), 150.0)) == {"low_location_accuracy"}


def test_close_and_accurate_position_has_no_flag(field, client):
    """A position 50 m from the subject, accurate to 20 m, carries no flag."""
    assert _flags(client, field, offset_m((field.subject.lat, field.subject.lon), east_m=50), 20.0) == {}


def test_missing_position_is_flagged(field, client):
    """An inspection without a position is accepted with the flag location_missing."""
    answer = submit(client, field.headers, inspection_payload(field.subject, location=None))
    assert [flag["code"] for flag in answer["flags"]] == ["location_missing"]


def test_flag_thresholds_are_settings(app, field, make_app):
    """With FLAG_LOCATION_FAR_M=1000 and FLAG_LOW_ACCURACY_M=200, 500 m and 150 m carry no flag."""
    client = make_app(FLAG_LOCATION_FAR_M=1000.0, FLAG_LOW_ACCURACY_M=200.0).test_client()
    assert _flags(client, field, offset_m((field.subject.lat, field.subject.lon), north_m=500), 150.0) == {}
    strict = make_app(FLAG_LOCATION_FAR_M=20.0).test_client()
    assert set(_flags(strict, field, offset_m((field.subject.lat, field.subject.lon), north_m=50), 5.0)) == {
        "location_far_from_subject"}


def test_unknown_subject_is_refused_on_subject_id(app, field, client):
    """An unknown subject, or one of another district, is 422 at subject_id."""
    with app.app_context():
        elsewhere = make_subject(district_code="640106")
    for subject_id in (str(uuid.uuid4()), str(elsewhere.id)):
        payload = inspection_payload(field.subject, subject_id=subject_id)
        assert "subject_id" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_checklist_must_exist_and_fit_the_subject(field, client):
    """A checklist of another field, or an unknown code or version, is 422 at checklist."""
    for checklist in (("construction-site", 1), ("gas-user", 99), ("no-such-list", 1)):
        payload = inspection_payload(field.subject, checklist=checklist)
        assert "checklist" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_unknown_items_are_refused_at_their_index(field, client):
    """An item not in the checklist is 422 at results.N.item or hazards.N.item."""
    payload = inspection_payload(field.subject, results=[{"item": "G02", "outcome": "pass"},
                                                         {"item": "SM01", "outcome": "fail"}])
    assert "results.1.item" in _errors(client.post(URL, json=payload, headers=field.headers))
    payload = inspection_payload(field.subject, hazards=[hazard_item("G02"), hazard_item("X99")])
    assert "hazards.1.item" in _errors(client.post(URL, json=payload, headers=field.headers))
    payload = inspection_payload(field.subject, results=[{"item": "G02", "outcome": "pass"},
                                                         {"item": "G02", "outcome": "fail"}])
    assert "results.1.item" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_refused_submission_stores_nothing(app, field, client):
    """A submission refused for its second hazard leaves no inspection or hazard behind."""
    payload = inspection_payload(field.subject, hazards=[hazard_item("G02"), hazard_item("X99")])
    _errors(client.post(URL, json=payload, headers=field.headers))
    assert (_count(app, Inspection), _count(app, Hazard)) == (0, 0)


def test_fixed_on_spot_with_after_photo_closes_the_hazard(field, client):
    """A hazard fixed on the spot with an after photo is closed at once, with events reported and fixed_on_spot."""
    hazard = hazard_item("G03C", fixed_on_spot=True)
    photos = [photo_decl(b"before", role="before", hazard_id=hazard["id"]),
              photo_decl(b"after", role="after", hazard_id=hazard["id"])]
    answer = submit(client, field.headers, inspection_payload(field.subject, hazards=[hazard], photos=photos))
    assert [h["status"] for h in answer["hazards"]] == ["closed"]
    detail = client.get(f"/api/v1/hazards/{hazard['id']}", headers=field.headers).get_json()
    assert detail["status"] == "closed" and detail["fixed_on_spot"] is True and detail["closed_at"]
    assert [e["type"] for e in detail["events"]] == ["reported", "fixed_on_spot"]
    assert detail["events"][1]["actor"]["username"] == "inspector"


def test_fixed_on_spot_needs_an_after_photo(field, client):
    """fixed_on_spot without an after photo of that hazard is 422 at hazards.N.fixed_on_spot."""
    hazard = hazard_item("G03C", fixed_on_spot=True)
    other = hazard_item("G07")
    photos = [photo_decl(b"evidence", role="evidence", hazard_id=hazard["id"]),
              photo_decl(b"after of another", role="after", hazard_id=other["id"])]
    payload = inspection_payload(field.subject, hazards=[other, hazard], photos=photos)
    assert "hazards.1.fixed_on_spot" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_major_hazard_cannot_be_fixed_on_the_spot(field, client):
    """A major hazard sent as fixed_on_spot is 422 at hazards.0.fixed_on_spot, even with an after photo."""
    hazard = hazard_item("GM02", severity="major", fixed_on_spot=True)
    payload = inspection_payload(field.subject, hazards=[hazard],
                                 photos=[photo_decl(b"after", role="after", hazard_id=hazard["id"])])
    assert "hazards.0.fixed_on_spot" in _errors(client.post(URL, json=payload, headers=field.headers))
    defaulted = hazard_item("GM02", fixed_on_spot=True)
    del defaulted["severity"]  # major by the checklist item
    payload = inspection_payload(field.subject, hazards=[defaulted],
                                 photos=[photo_decl(b"after", role="after", hazard_id=defaulted["id"])])
    assert "hazards.0.fixed_on_spot" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_hazard_id_of_another_inspection_is_a_conflict(app, field, client):
    """A hazard id already reported in another inspection is 409 conflict and the second inspection is not stored."""
    hazard = hazard_item()
    submit(client, field.headers, inspection_payload(field.subject, hazards=[hazard]))
    second = inspection_payload(field.subject, hazards=[{**hazard, "description": "另一处"}])
    assert_problem(client.post(URL, json=second, headers=field.headers), 409, "conflict")
    assert client.get(f"{URL}/{second['id']}", headers=field.headers).status_code == 404
    assert _count(app, Hazard) == 1


def test_photo_id_of_another_inspection_is_a_conflict(field, client):
    """A photo id already declared in another inspection is 409 conflict."""
    photo = photo_decl(b"one")
    submit(client, field.headers, inspection_payload(field.subject, photos=[photo]))
    second = inspection_payload(field.subject, photos=[photo])
    assert_problem(client.post(URL, json=second, headers=field.headers), 409, "conflict")


def test_hazard_fields_are_checked_against_the_data(field, client):
    """An unknown enterprise, a deadline before the visit, a foreign hazard_id or a repeated id is 422 at its path."""
    started = "2026-05-04T09:00:00+08:00"
    cases = [
        ([hazard_item(enterprise_id=str(uuid.uuid4()))], [], "hazards.0.enterprise_id"),
        ([hazard_item(deadline="2026-05-03")], [], "hazards.0.deadline"),
        ([hazard_item()], [photo_decl(b"p", hazard_id=str(uuid.uuid4()))], "photos.0.hazard_id"),
    ]
    for hazards, photos, path in cases:
        payload = inspection_payload(field.subject, hazards=hazards, photos=photos, started_at=started,
                                     finished_at=None)
        assert path in _errors(client.post(URL, json=payload, headers=field.headers))
    same = hazard_item()
    payload = inspection_payload(field.subject, hazards=[same, {**same, "item": "G07"}])
    assert "hazards.1.id" in _errors(client.post(URL, json=payload, headers=field.headers))
    photo = photo_decl(b"twice")
    payload = inspection_payload(field.subject, photos=[photo, photo])
    assert "photos.1.id" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_deadline_on_the_visit_day_is_allowed(field, client):
    """A deadline equal to the local date of the visit is accepted."""
    payload = inspection_payload(field.subject, hazards=[hazard_item(deadline="2026-05-04")],
                                 started_at="2026-05-03T16:30:00+00:00", finished_at=None)
    assert submit(client, field.headers, payload)["hazards"][0]["deadline"] == "2026-05-04"


# --- construction sites: JGJ 59 ---------------------------------------------------------------------

def _site_items(client, headers) -> list[dict]:
    checklists = client.get("/api/v1/checklists", headers=headers).get_json()["items"]
    site = next(c for c in checklists if c["code"] == "construction-site")
    return [item for item in site["items"] if item.get("table")]


def _site(app):
    with app.app_context():
        return make_subject(domain="construction_site", name="银川某住宅项目工地")


def test_site_inspection_is_scored_by_jgj59(app, field, client):
    """Every scored item passed gives 100 points, grade 优良, and a score per sub-table."""
    site = _site(app)
    items = _site_items(client, field.headers)
    results = [{"item": item["code"], "outcome": "pass"} for item in items]
    answer = submit(client, field.headers,
                    inspection_payload(site, checklist=("construction-site", 1), results=results))
    score = answer["score"]
    assert score["total"] == 100.0 and score["grade"] == "优良" and score["zero_tables"] == []
    assert {t["code"] for t in score["tables"]} == {item["table"] for item in items}
    assert all(t["score"] == 100.0 for t in score["tables"])


def test_failed_guarantee_item_zeroes_its_table_and_fails_the_site(app, field, client):
    """A failed guarantee item zeroes its sub-table and the grade is 不合格 however good the rest is."""
    site = _site(app)
    items = _site_items(client, field.headers)
    results = [{"item": item["code"], "outcome": "fail" if item["code"] == "SM01" else "pass"} for item in items]
    score = submit(client, field.headers,
                   inspection_payload(site, checklist=("construction-site", 1), results=results))["score"]
    tables = {t["code"]: t for t in score["tables"]}
    assert tables["SM"]["score"] == 0 and tables["SM"]["zero_reason"] == "guarantee_item_zero"
    assert score["zero_tables"] == ["SM"]
    assert score["total"] >= 80  # the other tables are perfect: the zero table alone fails the site
    assert score["grade"] == "不合格"


def test_deductions_reduce_the_table_score(app, field, client):
    """A general item failed with a 4-point deduction out of 10 leaves its table at 96."""
    site = _site(app)
    results = [{"item": f"SM{n:02d}", "outcome": "pass"} for n in range(1, 11)]
    results[6] = {"item": "SM07", "outcome": "fail", "deduction": 4}
    score = submit(client, field.headers,
                   inspection_payload(site, checklist=("construction-site", 1), results=results))["score"]
    assert [(t["code"], t["score"]) for t in score["tables"]] == [("SM", 96.0)]
    assert score["total"] == 96.0 and score["grade"] == "优良"


def test_bad_deductions_are_refused(app, field, client):
    """A deduction above the item's points, or on an unscored gas item, is 422 at results.N.deduction."""
    site = _site(app)
    payload = inspection_payload(site, checklist=("construction-site", 1),
                                 results=[{"item": "SM07", "outcome": "fail", "deduction": 11}])
    assert "results.0.deduction" in _errors(client.post(URL, json=payload, headers=field.headers))
    payload = inspection_payload(field.subject, results=[{"item": "G02", "outcome": "fail", "deduction": 1}])
    assert "results.0.deduction" in _errors(client.post(URL, json=payload, headers=field.headers))


def test_gas_inspection_has_no_score(field, client):
    """A gas inspection is not scored: score is null."""
    assert submit(client, field.headers, inspection_payload(field.subject))["score"] is None


def test_dates_answered_are_iso(field, client):
    """Deadlines are YYYY-MM-DD dates."""
    answer = submit(client, field.headers, inspection_payload(field.subject, hazards=[hazard_item()]))
    deadline = answer["hazards"][0]["deadline"]
    assert date.fromisoformat(deadline).isoformat() == deadline


def test_a_hazard_names_an_enterprise_of_its_district_only(app, field, client):
    """A hazard may name another enterprise operating in the subject's district (a contractor at work there),
    not an enterprise of another district: that would expose it and its credit ledger to this district."""
    with app.app_context():
        local = make_enterprise(name="兴庆区某安装公司")
        make_subject(enterprises=[local])
        elsewhere = make_enterprise(name="金凤区某燃气公司")
        make_subject(district_code="640106", enterprises=[elsewhere])
    fine = hazard_item("G02", enterprise_id=str(local.id))
    stored = submit(client, field.headers, inspection_payload(field.subject, hazards=[fine]))
    assert stored["hazards"][0]["id"] == fine["id"]
    assert client.get(f"/api/v1/hazards/{fine['id']}", headers=field.headers).get_json()["enterprise_id"] == str(
        local.id)
    response = client.post(URL, json=inspection_payload(field.subject, hazards=[
        hazard_item("G02", enterprise_id=str(elsewhere.id))]), headers=field.headers)
    assert "hazards.0.enterprise_id" in assert_problem(response, 422, "validation_error")["errors"]
