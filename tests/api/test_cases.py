"""Cases (移交违法案件) through the API: filing from hazards, evidence, dossier, transfer, outcome, refusals, races."""

import threading
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import func, select

from helpers import (assert_problem, hazard_item, inspection_payload, login, make_enterprise, make_jpeg, make_subject,
                     make_user, photo_decl, put_photo, sha256, submit)
from server.accounts.models import User
from server.audit.models import AuditEvent
from server.cases import dossier
from server.cases.models import Case
from server.extensions import db

CASES = "/api/v1/cases"
PERSON_ID = "11010519491231002X"  # the GB 11643 example number, check character X


@pytest.fixture(autouse=True)
def dossier_root(request, tmp_path):
    """Keep each test's dossiers in its own folder (the default is the repository's instance/)."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["CASE_DOSSIER_ROOT"] = str(tmp_path / "dossiers")


def _world(app, client):
    """An inspector reports two hazards (one with a received photo) of one enterprise; two officers, a leader."""
    with app.app_context():
        make_user("insp", roles=["inspector"], districts=["640104"], name="检查员")
        one = make_user("zf1", roles=["enforcement"], districts=["640104"], name="执法员甲")
        two = make_user("zf2", roles=["enforcement"], districts=["640104"], name="执法员乙")
        make_user("boss", roles=["leader"], districts=["640100"], name="领导")
        make_user("far", roles=["enforcement"], districts=["640105"], name="西夏区执法员")
        enterprise = make_enterprise(name="宁夏某燃气有限公司")
        subject = make_subject(enterprises=[enterprise])
        officers = [one.id, two.id]
    insp = login(client, "insp")
    first = hazard_item("G02", description="未安装自闭阀", enterprise_id=str(enterprise.id))
    second = hazard_item("G07", description="钢瓶超期未检", enterprise_id=str(enterprise.id))
    data = make_jpeg((320, 240))
    photo = photo_decl(data, hazard_id=first["id"])
    inspection = inspection_payload(subject, hazards=[first, second], photos=[photo])
    submit(client, insp, inspection)
    assert put_photo(client, insp, photo["id"], data).status_code == 201
    return SimpleNamespace(enterprise=enterprise, subject=subject, officers=officers, photo=data,
                           hazards=[first["id"], second["id"]], inspection=inspection["id"],
                           zf=login(client, "zf1"), boss=login(client, "boss"), insp=insp)


def _body(world, **overrides) -> dict:
    """A complete case built from the world's two hazards."""
    body = {
        "client_key": str(uuid.uuid4()),
        "cause": "未按规定安装燃气安全装置",
        "facts": "2026年5月4日检查发现，该用户餐饮场所未安装自闭阀，液化石油气钢瓶超期未检。",
        "articles_violated": ["《城镇燃气管理条例》第二十八条"],
        "penalty_basis": ["《城镇燃气管理条例》第四十九条"],
        "officers": [{"user_id": world.officers[0], "certificate_no": "64010001"},
                     {"user_id": world.officers[1], "certificate_no": "64010002"}],
        "hazard_ids": world.hazards,
        "inspection_ids": [world.inspection],
        "evidence": [
            {"kind": "site_record", "description": "现场检查笔录及隐患记录",
             "records": [{"type": "inspection", "id": world.inspection}, {"type": "hazard", "id": world.hazards[0]}]},
            {"kind": "audiovisual", "description": "现场照片：未安装自闭阀", "photos": [sha256(world.photo)]},
        ],
    }
    body.update(overrides)
    return body


def _create(client, headers, body, status=201) -> dict:
    response = client.post(CASES, json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _post(client, headers, case_id, action, status=201, **body) -> dict:
    response = client.post(f"{CASES}/{case_id}/{action}", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_an_officer_builds_a_case_from_two_hazards_transfers_it_and_records_the_penalty(app, client, tmp_path):
    """The whole path: file from two hazards, dossier verified, transfer (retried), accept, decide, close."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    year = case["year"]
    assert case["case_no"] == f"银建罚移〔{year}〕1号" and case["number"] == 1
    assert case["status"] == "draft"
    assert case["party"] == {"kind": "enterprise", "enterprise_id": str(world.enterprise.id),
                             "name": "宁夏某燃气有限公司", "id_number": None, "representative": None,
                             "address": None, "phone": None}
    assert case["place"]["district"] == "640104" and case["place"]["address"] == world.subject.address
    assert [o["name"] for o in case["officers"]] == ["执法员甲", "执法员乙"]
    assert case["days_left"] == 90 and case["overdue"] is False
    assert case["missing_for_transfer"] == {}
    assert case["allowed_actions"] == ["update", "add_evidence", "transfer"]

    # The draft's dossier: letter (DOCX, PDF), summary, the photo original, records, manifest.
    response = client.get(f"{CASES}/{case['id']}/dossier", headers=world.zf)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["X-Content-SHA256"] == sha256(response.get_data())
    path = tmp_path / "draft.zip"
    path.write_bytes(response.get_data())
    assert dossier.verify(path).ok
    names = zipfile.ZipFile(path).namelist()
    assert f"photos/{sha256(world.photo)}.jpg" in names
    assert {"transfer-letter.docx", "transfer-letter.pdf", "case-summary.txt", "case.json", "manifest.json",
            f"records/hazard-{world.hazards[0]}.json", f"records/hazard-{world.hazards[1]}.json",
            f"records/inspection-{world.inspection}.json"} <= set(names)
    assert dossier.read_member(path, f"photos/{sha256(world.photo)}.jpg") == world.photo

    key = str(uuid.uuid4())
    transfer = {"client_key": key, "receiving_agency": "银川市兴庆区综合行政执法局"}
    sent = _post(client, world.zf, case["id"], "transfer", **transfer)
    assert sent["case"]["status"] == "transferred" and sent["event"]["type"] == "transfer"
    assert sent["case"]["receiving_agency"] == "银川市兴庆区综合行政执法局"
    again = _post(client, world.zf, case["id"], "transfer", status=200, **transfer)
    assert again["event"]["id"] == sent["event"]["id"]
    assert again["case"]["dossier_sha256"] == sent["case"]["dossier_sha256"]

    # The dossier sent is kept: the same bytes every time, and they verify.
    first = client.get(f"{CASES}/{case['id']}/dossier", headers=world.boss)
    assert first.status_code == 200 and sha256(first.get_data()) == sent["case"]["dossier_sha256"]
    assert client.get(f"{CASES}/{case['id']}/dossier", headers=world.zf).get_data() == first.get_data()
    path.write_bytes(first.get_data())
    assert dossier.verify(path).ok
    letter = dossier.read_member(path, "case-summary.txt").decode()
    assert "银川市兴庆区综合行政执法局" in letter and "《城镇燃气管理条例》第二十八条" in letter

    _post(client, world.zf, case["id"], "accept")
    decided = _post(client, world.zf, case["id"], "decide", penalty_kinds=["fine", "warning"], amount_yuan="20000",
                    decision_no="银综执罚决字〔2026〕15号")
    assert decided["case"]["decision"] == {"penalty_kinds": ["fine", "warning"], "amount_yuan": "20000.00",
                                           "decision_no": "银综执罚决字〔2026〕15号",
                                           "decided_on": decided["case"]["decision"]["decided_on"]}
    # The penalty against the enterprise proposes its credit deduction, waiting for confirmation.
    queue = client.get("/api/v1/credit/deductions", query_string={"status": "proposed"}, headers=world.zf)
    proposed = [d for d in queue.get_json()["items"] if d["source"]["kind"] == "case"]
    assert [(d["rule"]["code"], d["source"]["id"], d["enterprise"]["id"]) for d in proposed] == [
        ("SC-04", str(case["id"]), case["party"]["enterprise_id"])]
    assert decided["event"]["data"]["credit_proposal"] == proposed[0]["id"]
    closed = _post(client, world.zf, case["id"], "close", note="罚款已缴纳")
    assert closed["case"]["status"] == "closed" and closed["case"]["allowed_actions"] == []
    assert [e["type"] for e in closed["case"]["events"]] == ["create", "transfer", "accept", "decide", "close"]
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "case")
                                     .order_by(AuditEvent.id)).all()
    assert actions == ["case.create", "case.transfer", "case.accept", "case.decide", "case.close"]


def test_numbers_count_up_per_year_and_a_retry_returns_the_same_case(app, client):
    """Same client_key and body: 200 with the same case; another body under that key: 409; numbers 1, 2."""
    world = _world(app, client)
    body = _body(world)
    first = _create(client, world.zf, body)
    assert _create(client, world.zf, body, status=200)["id"] == first["id"]
    assert_problem(client.post(CASES, json={**body, "cause": "另一案由"}, headers=world.zf), 409, "conflict")
    second = _create(client, world.zf, _body(world))
    assert (first["number"], second["number"]) == (1, 2)
    assert second["case_no"] == f"银建罚移〔{second['year']}〕2号"


def test_a_refused_creation_takes_no_number(app, client):
    """A creation refused half-way gives its number back: the next case still gets 1."""
    world = _world(app, client)
    bad = _body(world, evidence=[{"kind": "audiovisual", "description": "照片", "photos": ["f" * 64]}])
    body = assert_problem(client.post(CASES, json=bad, headers=world.zf), 422, "validation_error")
    assert "evidence.0.photos.0" in body["errors"]
    assert _create(client, world.zf, _body(world))["number"] == 1


def test_bad_cases_are_refused_with_a_clear_message(app, client):
    """No evidence, one officer, an officer twice, a bad ID number, an unknown kind, a bare item: 422 on the field."""
    world = _world(app, client)
    cases = [
        (_body(world, evidence=[]), "evidence", "at least one item of evidence"),
        (_body(world, officers=[{"user_id": world.officers[0]}]), "officers", "at least 2 officers"),
        (_body(world, officers=[{"user_id": world.officers[0]}, {"user_id": world.officers[0]}]), "officers.1.user_id",
         "listed twice"),
        (_body(world, party={"kind": "person", "name": "张三", "id_number": "110105194912310021"}), "party.id_number",
         "check character"),
        (_body(world, evidence=[{"kind": "rumour", "description": "x", "photos": [sha256(world.photo)]}]),
         "evidence.0.kind", "Must be one of"),
        (_body(world, evidence=[{"kind": "witness", "description": "证人证言"}]), "evidence.0", "attach at least one"),
        (_body(world, hazard_ids=[str(uuid.uuid4())]), "hazard_ids.0", "no such hazard"),
        (_body(world, articles_violated=["第\x00条"]), "articles_violated.0", "NUL"),
    ]
    for body, field, words in cases:
        problem = assert_problem(client.post(CASES, json=body, headers=world.zf), 422, "validation_error")
        assert field in problem["errors"], (field, problem)
        assert words in " ".join(problem["errors"][field]), (words, problem)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_person_party_and_a_case_from_nothing(app, client):
    """A case from no hazard: a person with a valid ID number, the place given; the ID's x is upper-cased."""
    world = _world(app, client)
    body = _body(world, hazard_ids=[], inspection_ids=[], party={
        "kind": "person", "name": "张三", "id_number": PERSON_ID.lower(), "address": "兴庆区解放东街1号"},
        place={"district": "640104", "address": "兴庆区解放东街1号"}, source="complaint",
        evidence=[{"kind": "audiovisual", "description": "群众举报照片", "photos": [sha256(world.photo)]}])
    case = _create(client, world.zf, body)
    assert case["party"]["id_number"] == PERSON_ID and case["source"] == "complaint"
    assert case["hazard_ids"] == [] and case["place"]["address"] == "兴庆区解放东街1号"
    nowhere = _body(world, hazard_ids=[], inspection_ids=[], party=body["party"], evidence=body["evidence"])
    problem = assert_problem(client.post(CASES, json=nowhere, headers=world.zf), 422, "validation_error")
    assert "place.district" in problem["errors"]


def test_transferring_an_incomplete_draft_is_refused_until_it_is_completed(app, client):
    """A draft without facts and articles cannot be transferred (422 naming both); after an update it can,
    even with control characters a Word document cannot hold in its facts."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world, facts=None, articles_violated=[]))
    assert set(case["missing_for_transfer"]) == {"facts", "articles_violated"}
    refused = client.post(f"{CASES}/{case['id']}/transfer", json={"client_key": str(uuid.uuid4())}, headers=world.zf)
    problem = assert_problem(refused, 422, "validation_error")
    assert set(problem["errors"]) == {"facts", "articles_violated"}
    completion = {"facts": "经查\x01属实\x0b\r\n另查明：无", "articles_violated": ["某条例第X条"]}
    updated = client.patch(f"{CASES}/{case['id']}", json=completion, headers=world.zf)
    assert updated.status_code == 200 and updated.get_json()["missing_for_transfer"] == {}
    sent = _post(client, world.zf, case["id"], "transfer", client_key=str(uuid.uuid4()))
    assert sent["case"]["receiving_agency"] == "银川市综合行政执法局"
    assert [e["type"] for e in sent["case"]["events"]] == ["create", "update", "transfer"]


def test_wrong_state_actions_are_409_naming_the_state_and_what_is_allowed(app, client):
    """Deciding a draft, editing a transferred case, transferring twice: 409 invalid_transition."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    problem = assert_problem(client.post(f"{CASES}/{case['id']}/decide", json={
        "penalty_kinds": ["warning"], "decision_no": "X"}, headers=world.zf), 409, "invalid_transition")
    assert problem["current_status"] == "draft" and problem["allowed_actions"] == ["update", "add_evidence", "transfer"]
    _post(client, world.zf, case["id"], "transfer", client_key=str(uuid.uuid4()))
    problem = assert_problem(client.patch(f"{CASES}/{case['id']}", json={"facts": "改"}, headers=world.zf),
                             409, "invalid_transition")
    assert problem["allowed_actions"] == ["accept", "return"]
    assert_problem(client.post(f"{CASES}/{case['id']}/transfer", json={"client_key": str(uuid.uuid4())},
                               headers=world.zf), 409, "invalid_transition")


def test_a_returned_case_is_completed_and_transferred_again(app, client):
    """Returned by the agency: evidence can be added, and a second transfer sends a new dossier."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    first = _post(client, world.zf, case["id"], "transfer", client_key=str(uuid.uuid4()))
    returned = _post(client, world.zf, case["id"], "return", reason="证据不足，请补充当事人陈述")
    assert returned["case"]["status"] == "returned" and returned["case"]["return_reason"] == "证据不足，请补充当事人陈述"
    added = _post(client, world.zf, case["id"], "evidence", kind="party_statement", description="当事人陈述笔录",
                  records=[{"type": "hazard", "id": world.hazards[1]}])
    assert [e["kind"] for e in added["case"]["evidence"]] == ["site_record", "audiovisual", "party_statement"]
    second = _post(client, world.zf, case["id"], "transfer", client_key=str(uuid.uuid4()))
    assert second["case"]["status"] == "transferred"
    assert second["case"]["dossier_sha256"] != first["case"]["dossier_sha256"]


def test_decisions_are_checked(app, client):
    """A fine needs an amount; no_penalty stands alone; dates cannot precede acceptance or be in the future."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    _post(client, world.zf, case["id"], "transfer", client_key=str(uuid.uuid4()))
    _post(client, world.zf, case["id"], "accept")
    url = f"{CASES}/{case['id']}/decide"
    for body, field in [({"penalty_kinds": ["fine"], "decision_no": "X"}, "amount_yuan"),
                        ({"penalty_kinds": ["fine"], "decision_no": "X", "amount_yuan": "-1"}, "amount_yuan"),
                        ({"penalty_kinds": ["fine"], "decision_no": "X", "amount_yuan": 10**11}, "amount_yuan"),
                        ({"penalty_kinds": ["no_penalty", "warning"], "decision_no": "X"}, "penalty_kinds"),
                        ({"penalty_kinds": ["warning"], "decision_no": "X", "decided_on": "2999-01-01"}, "decided_on"),
                        ({"penalty_kinds": ["warning"], "decision_no": "X", "decided_on": "2000-01-01"}, "decided_on")]:
        problem = assert_problem(client.post(url, json=body, headers=world.zf), 422, "validation_error")
        assert field in problem["errors"], problem
    assert client.get(f"{CASES}/{case['id']}", headers=world.zf).get_json()["status"] == "accepted"


def test_roles_and_districts(app, client):
    """Inspectors 403; leaders read but do not act; an officer of another district sees nothing (404)."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    assert_problem(client.get(CASES, headers=world.insp), 403, "forbidden")
    assert_problem(client.post(CASES, json=_body(world), headers=world.insp), 403, "forbidden")
    assert client.get(f"{CASES}/{case['id']}", headers=world.boss).status_code == 200
    assert [c["id"] for c in client.get(CASES, headers=world.boss).get_json()["items"]] == [case["id"]]
    assert_problem(client.post(f"{CASES}/{case['id']}/transfer", json={"client_key": str(uuid.uuid4())},
                               headers=world.boss), 403, "forbidden")
    far = login(client, "far")
    assert_problem(client.get(f"{CASES}/{case['id']}", headers=far), 404, "not_found")
    assert client.get(CASES, headers=far).get_json()["items"] == []
    # Evidence of another district cannot be attached: the photo is not visible there.
    body = _body(world, hazard_ids=[], inspection_ids=[], place={"district": "640105", "address": "西夏区某路"},
                 officers=[{"user_id": world.officers[0]}, {"user_id": world.officers[1]}],
                 evidence=[{"kind": "audiovisual", "description": "照片", "photos": [sha256(world.photo)]}])
    problem = assert_problem(client.post(CASES, json=body, headers=far), 422, "validation_error")
    assert "evidence.0.photos.0" in problem["errors"] or "place.district" in problem["errors"]


def test_listing_filters_and_pages(app, client):
    """Cases list newest first, filter by status and text, and page with a cursor."""
    world = _world(app, client)
    ids = [_create(client, world.zf, _body(world))["id"] for _ in range(3)]
    _post(client, world.zf, ids[0], "transfer", client_key=str(uuid.uuid4()))
    page = client.get(f"{CASES}?limit=2", headers=world.zf).get_json()
    assert [c["id"] for c in page["items"]] == [ids[2], ids[1]]
    rest = client.get(f"{CASES}?limit=2&cursor={page['next_cursor']}", headers=world.zf).get_json()
    assert [c["id"] for c in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    transferred = client.get(f"{CASES}?status=transferred", headers=world.zf).get_json()["items"]
    assert [c["id"] for c in transferred] == [ids[0]]
    assert len(client.get(f"{CASES}?q=燃气", headers=world.zf).get_json()["items"]) == 3
    assert_problem(client.get(f"{CASES}?cursor=nonsense", headers=world.zf), 422, "validation_error")


def test_the_dossier_is_in_the_openapi_document(client):
    """The case endpoints are documented, the dossier as application/zip."""
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/transfer",
            "/api/v1/cases/{case_id}/dossier"} <= set(spec["paths"])
    assert "application/zip" in spec["paths"]["/api/v1/cases/{case_id}/dossier"]["get"]["responses"]["200"]["content"]


def _together(count: int, send) -> list:
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(timeout=30)
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_twenty_parallel_creations_get_twenty_consecutive_numbers(app, client, live_server):
    """Twenty different cases filed at the same instant: numbers 1..20, each once, no 5xx."""
    world = _world(app, client)
    bodies = [_body(world) for _ in range(20)]
    responses = _together(20, lambda i: requests.post(f"{live_server}{CASES}", json=bodies[i], headers=world.zf,
                                                      timeout=120))
    assert sorted(r.status_code for r in responses) == [201] * 20, [r.text[:300] for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == list(range(1, 21))
    assert len({r.json()["case_no"] for r in responses}) == 20


def test_parallel_retries_of_one_creation_and_one_transfer_make_one_of_each(app, client, live_server):
    """Ten copies of one creation, then ten of one transfer, at once: one 201 each, the rest 200, one number used."""
    world = _world(app, client)
    body = _body(world)
    created = _together(10, lambda i: requests.post(f"{live_server}{CASES}", json=body, headers=world.zf, timeout=120))
    assert sorted(r.status_code for r in created) == [200] * 9 + [201], [r.text[:300] for r in created]
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    case_id = created[0].json()["id"]
    transfer = {"client_key": str(uuid.uuid4())}
    sent = _together(10, lambda i: requests.post(f"{live_server}{CASES}/{case_id}/transfer", json=transfer,
                                                 headers=world.zf, timeout=120))
    assert sorted(r.status_code for r in sent) == [200] * 9 + [201], [r.text[:300] for r in sent]
    assert len({r.json()["event"]["id"] for r in sent}) == 1
    assert _create(client, world.zf, _body(world))["number"] == 2


def test_without_a_chinese_font_the_transfer_fails_whole_and_says_why(app, client):
    """No CJK font: the transfer answers 500 naming the package to install, and the case stays a draft."""
    world = _world(app, client)
    case = _create(client, world.zf, _body(world))
    app.config["CASE_PDF_FONT"] = "/nonexistent/font.ttf"
    response = client.post(f"{CASES}/{case['id']}/transfer", json={"client_key": str(uuid.uuid4())}, headers=world.zf)
    problem = assert_problem(response, 500, "internal_error")
    assert "fonts-wqy-zenhei" in problem["detail"]
    app.config["CASE_PDF_FONT"] = None
    detail = client.get(f"{CASES}/{case['id']}", headers=world.zf).get_json()
    assert detail["status"] == "draft" and [e["type"] for e in detail["events"]] == ["create"]


def test_another_districts_enterprise_and_officers_cannot_be_named(app, client):
    """A 西夏区 officer can neither make a 兴庆区 enterprise a party of its case (which would expose the
    enterprise) nor put 兴庆区 officers on it; a 兴庆区 case cannot take the 西夏区 officer either."""
    world = _world(app, client)
    with app.app_context():
        make_user("far2", roles=["enforcement"], districts=["640105"], name="西夏区执法员乙")
        make_user("xx", roles=["inspector"], districts=["640105"], name="西夏区检查员")
        theirs = make_subject(district_code="640105", enterprises=[make_enterprise(name="西夏某公司")])
        ids = {u.username: u.id for u in db.session.scalars(select(User))}
    visit = inspection_payload(theirs)
    submit(client, login(client, "xx"), visit)
    far = login(client, "far")
    body = _body(world, hazard_ids=[], inspection_ids=[visit["id"]],
                 officers=[{"user_id": ids["far"]}, {"user_id": ids["far2"]}],
                 evidence=[{"kind": "site_record", "description": "现场检查笔录",
                            "records": [{"type": "inspection", "id": visit["id"]}]}])
    assert client.post(CASES, json=body, headers=far).status_code == 201  # its own enterprise: fine
    someone_elses = {"kind": "enterprise", "enterprise_id": str(world.enterprise.id)}
    problem = assert_problem(client.post(CASES, json={**body, "client_key": str(uuid.uuid4()),
                                                      "party": someone_elses}, headers=far), 422, "validation_error")
    assert list(problem["errors"]) == ["party.enterprise_id"]
    problem = assert_problem(client.post(CASES, json=_body(world, officers=[{"user_id": world.officers[0]},
                                                                          {"user_id": ids["far"]}]),
                                         headers=world.zf), 422, "validation_error")
    assert "officers.1.user_id" in problem["errors"]
