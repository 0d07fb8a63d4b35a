"""Major hazards (五落实, 挂牌督办), notices, 挂账 and closing-evidence checks through the API."""

import uuid
from datetime import datetime, timedelta, timezone

from helpers import hazard_item, inspection_payload, login, make_jpeg, make_subject, make_user, put_photo, sha256

PLAN = {"responsible": "某燃气公司 张三", "measures": "地下室撤除液化气钢瓶，改用电炊具", "funds_yuan": 12000,
        "deadline": "2030-01-31", "contingency_plan": "泄漏时切断气源、疏散人员、报警"}


def _setup(app, client):
    with app.app_context():
        make_user("insp", roles=["inspector"], districts=["640104"])
        make_user("boss", roles=["leader"], districts=["640100"])
        subject = make_subject()
    return subject, login(client, "insp"), login(client, "boss")


def _submit(client, headers, subject, hazard, **overrides):
    payload = inspection_payload(subject, hazards=[hazard], **overrides)
    answer = client.post("/api/v1/inspections", json=payload, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return answer


def _post(client, headers, hazard_id, action, **body):
    return client.post(f"/api/v1/hazards/{hazard_id}/{action}", json={"id": str(uuid.uuid4()), **body},
                       headers=headers)


def test_major_hazard_needs_its_plan_is_supervised_and_closed_by_a_leader(app, client):
    """A major hazard is listed for supervision, cannot be rectified before 五落实, and only a leader closes it."""
    subject, insp, boss = _setup(app, client)
    hazard = hazard_item("GM01", description="地下室使用液化气", severity="major")
    _submit(client, insp, subject, hazard)
    detail = client.get(f"/api/v1/hazards/{hazard['id']}", headers=insp).get_json()
    assert detail["supervision"]["supervising_unit"] == "银川市住房和城乡建设局"
    assert detail["supervision"]["lifted_at"] is None

    refused = _post(client, insp, hazard["id"], "rectifications", note="已整改")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "invalid_transition"
    assert refused.get_json()["missing_plan"] == list(PLAN)

    partial = _post(client, insp, hazard["id"], "plan", responsible=PLAN["responsible"])
    assert partial.status_code == 201
    assert _post(client, insp, hazard["id"], "rectifications").get_json()["missing_plan"] == list(PLAN)[1:]
    assert _post(client, insp, hazard["id"], "plan", **{k: v for k, v in PLAN.items() if k != "responsible"}).status_code == 201

    assert _post(client, insp, hazard["id"], "rectifications", note="钢瓶已撤除").status_code == 201
    assert _post(client, insp, hazard["id"], "reviews", decision="accept", note="ok").status_code == 403
    closed = _post(client, boss, hazard["id"], "reviews", decision="accept", note="现场核查已撤除")
    assert closed.status_code == 201 and closed.get_json()["status"] == "closed"
    detail = client.get(f"/api/v1/hazards/{hazard['id']}", headers=boss).get_json()
    assert detail["plan"]["funds_yuan"] == 12000
    assert detail["supervision"]["lifted_at"] is not None
    assert [e["type"] for e in detail["events"]] == [
        "reported", "plan_recorded", "plan_recorded", "rectification", "review_accepted"]


def test_notice_starts_rectifying_and_a_general_hazard_has_no_plan(app, client):
    """A rectification notice moves a reported hazard to rectifying; a plan for a general hazard is refused."""
    subject, insp, _ = _setup(app, client)
    hazard = hazard_item("G02")
    _submit(client, insp, subject, hazard)
    notice = _post(client, insp, hazard["id"], "notices", note="责令3日内整改")
    assert notice.status_code == 201 and notice.get_json()["status"] == "rectifying"
    assert _post(client, insp, hazard["id"], "plan", **PLAN).status_code == 409
    again = _post(client, insp, hazard["id"], "notices")
    assert again.status_code == 409 and again.get_json()["allowed_actions"] == ["rectification"]


def test_only_an_overdue_hazard_is_carried_with_an_explanation(app, client):
    """挂账 needs the hazard to be overdue; afterwards it is listed as carried."""
    subject, insp, _ = _setup(app, client)
    fresh = hazard_item("G02")
    _submit(client, insp, subject, fresh)
    assert _post(client, insp, fresh["id"], "explanations", note="资金未到位").status_code == 409

    started = datetime.now(timezone(timedelta(hours=8))) - timedelta(days=40)
    late = hazard_item("G07", deadline=(started + timedelta(days=10)).date().isoformat())
    _submit(client, insp, subject, late, started_at=started.isoformat(), finished_at=None)
    assert client.get(f"/api/v1/hazards/{late['id']}", headers=insp).get_json()["carried"] is False
    carried = _post(client, insp, late["id"], "explanations", note="用户外出务工，已书面告知")
    assert carried.status_code == 201
    assert client.get(f"/api/v1/hazards/{late['id']}", headers=insp).get_json()["carried"] is True


def test_failed_evidence_checks_need_a_note_to_accept(app, client, shared_photos):
    """An after photo taken years before the report, far away, fails its checks; accepting then needs a note."""
    subject, insp, _ = _setup(app, client)
    hazard = hazard_item("G02")
    _submit(client, insp, subject, hazard)
    data = (shared_photos / "gps_jpeg" / "HTC Desire.jpg").read_bytes()
    photo_id = str(uuid.uuid4())
    rect = _post(client, insp, hazard["id"], "rectifications",
                 photos=[{"id": photo_id, "sha256": sha256(data), "role": "after"}])
    assert rect.get_json()["photos_missing"] == [photo_id]
    put = client.put(f"/api/v1/photos/{photo_id}", data=data,
                     headers={**insp, "Content-Type": "image/jpeg", "X-Content-SHA256": sha256(data)})
    assert put.status_code == 201
    assert "photo_taken_before_report" in {f["code"] for f in put.get_json()["flags"]}
    checks = client.get(f"/api/v1/hazards/{hazard['id']}", headers=insp).get_json()["evidence_checks"]
    assert {c["code"]: c["passed"] for c in checks} == {
        "after_photo_taken_after_report": False, "after_photo_near_subject": False}

    refused = _post(client, insp, hazard["id"], "reviews", decision="accept")
    assert refused.status_code == 422 and "note" in refused.get_json()["errors"]
    accepted = _post(client, insp, hazard["id"], "reviews", decision="accept", note="用户提供的整改照片为旧照，已电话核实")
    assert accepted.status_code == 201
    events = client.get(f"/api/v1/hazards/{hazard['id']}", headers=insp).get_json()["events"]
    assert [c["passed"] for c in events[-1]["checks"]] == [False, False]


def _rectify_with_after_photo(client, headers, subject, hazard_id, taken_at) -> list[dict]:
    """Rectify with one after photo shot at the subject at ``taken_at`` (local); return the evidence checks."""
    data = make_jpeg(gps=(subject.lat, subject.lon), taken_at=taken_at.replace(tzinfo=None))
    photo_id = str(uuid.uuid4())
    assert _post(client, headers, hazard_id, "rectifications",
                 photos=[{"id": photo_id, "sha256": sha256(data), "role": "after"}]).status_code == 201
    upload = put_photo(client, headers, photo_id, data)
    assert upload.status_code == 201, upload.get_json()
    return client.get(f"/api/v1/hazards/{hazard_id}", headers=headers).get_json()["evidence_checks"]


def test_after_photo_is_compared_with_the_start_of_the_visit_that_found_the_hazard(app, client):
    """An after photo shot after the visit started passes 'taken after the report' even though the server received
    the inspection later (and accepting needs no note); one shot before the visit started fails."""
    subject, insp, _ = _setup(app, client)
    started = datetime.now(timezone(timedelta(hours=8))) - timedelta(minutes=30)
    during, before = hazard_item("G02"), hazard_item("G07")
    _submit(client, insp, subject, during, started_at=started.isoformat(), finished_at=None)
    _submit(client, insp, subject, before, started_at=started.isoformat(), finished_at=None)

    checks = _rectify_with_after_photo(client, insp, subject, during["id"], started + timedelta(minutes=10))
    assert {c["code"]: c["passed"] for c in checks} == {
        "after_photo_taken_after_report": True, "after_photo_near_subject": True}
    accepted = _post(client, insp, during["id"], "reviews", decision="accept")
    assert accepted.status_code == 201 and accepted.get_json()["status"] == "closed"

    checks = _rectify_with_after_photo(client, insp, subject, before["id"], started - timedelta(hours=1))
    assert {c["code"]: c["passed"] for c in checks} == {
        "after_photo_taken_after_report": False, "after_photo_near_subject": True}
    assert _post(client, insp, before["id"], "reviews", decision="accept").status_code == 422
