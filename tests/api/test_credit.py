"""Enterprise credit through the API: a contractor's year from hazards to expiry, roles and districts,
bad input, idempotent and concurrent requests, the OpenAPI document."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from helpers import assert_problem, hazard_item, inspection_payload, login, make_enterprise, make_subject, make_user
from server.audit import service as audit_service
from server.audit.models import AuditEvent
from server.credit.models import CreditDeduction, CreditDeductionEvent
from server.database import set_now
from server.extensions import db
from server.scheduler import jobs

SHANGHAI = ZoneInfo("Asia/Shanghai")
API = "/api/v1"


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def local(text: str) -> str:
    """Return a local time as the API writes it (ISO 8601 with +08:00)."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()


@pytest.fixture
def clock():
    """Set the application's clock; always give the real clock back."""
    yield set_now
    set_now(None)


class City:
    """兴庆区 (640104) with a contractor's site, an inspector, a leader of 银川市, an enforcement officer,
    a committee member, and a leader of 金凤区 (640105) who must not see it."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        with app.app_context():
            make_user("insp", roles=["inspector"], districts=["640104"])
            make_user("boss", roles=["leader"], districts=["640100"], name="包抓领导")
            make_user("cop", roles=["enforcement"], districts=["640104"], name="执法队员")
            make_user("board", roles=["committee"], districts=[])
            make_user("far", roles=["leader"], districts=["640105"])
            self.contractor = make_enterprise(kind="contractor", name="宁夏某建设工程有限公司")
            self.gas = make_enterprise(kind="gas_operator", name="某燃气公司")
            self.site = make_subject(domain="construction_site", name="某住宅项目", enterprises=[self.contractor])
        self.signin()

    def signin(self):
        """Sign everyone in again (tokens expire after 30 days of the simulated clock)."""
        for name in ("insp", "boss", "cop", "board", "far"):
            setattr(self, name, login(self.client, name))

    def get(self, path, headers, **params):
        response = self.client.get(f"{API}{path}", headers=headers, query_string=params)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def post(self, path, headers, body=None, status=200):
        response = self.client.post(f"{API}{path}", headers=headers, json=body or {})
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def score(self, headers=None, **params) -> tuple[int, str]:
        answer = self.get(f"/enterprises/{self.contractor.id}/credit", headers or self.boss, **params)
        return answer["score"], answer["grade"]

    def queue(self, headers=None, **params) -> list[dict]:
        return self.get("/credit/deductions", headers or self.boss, status="proposed", **params)["items"]

    def sweep(self, when: str) -> dict:
        with self.app.app_context():
            assert jobs.run_job("credit_sweep", now=at(when), slot=when)
            return dict(db.session.execute(select(jobs.JobRun.job, jobs.JobRun.result)).all())


def test_a_contractor_from_hazards_to_expiry(app, client, clock):
    """Hazards propose deductions; leaders and officers confirm them and the grade falls; the overdue sweep
    adds one; an appeal revokes one; a repair ends one early; validity ends the rest; every step is kept."""
    clock(at("2026-01-05T10:00"))
    city = City(app, client)

    # an inspection of the site finds three hazards on items that carry credit rules
    plan = hazard_item("SM02", description="专项施工方案未经审批")
    crane = hazard_item("TC06", description="塔吊未经验收即投入使用")
    pit = hazard_item("ZD0502", severity="major", description="基坑超挖未采取措施", deadline="2027-06-30")
    payload = inspection_payload(city.site, checklist=("construction-site", 1), hazards=[plan, crane, pit],
                                 started_at=local("2026-01-05T09:00"), finished_at=local("2026-01-05T09:50"))
    assert client.post(f"{API}/inspections", json=payload, headers=city.insp).status_code == 201
    assert client.post(f"{API}/inspections", json=payload, headers=city.insp).status_code == 200  # a retry
    proposals = city.queue()
    assert sorted((d["rule"]["code"], d["points"], d["source"]["kind"], d["status"]) for d in proposals) == [
        ("ZA-03", 10, "hazard", "proposed"), ("ZA-04", 8, "hazard", "proposed"), ("ZA-07", 5, "hazard", "proposed")]
    assert {d["source"]["id"] for d in proposals} == {plan["id"], crane["id"], pit["id"]}
    assert proposals[0]["enterprise"]["name"] == "宁夏某建设工程有限公司"
    assert proposals[0]["allowed_actions"] == ["confirm", "revoke"]
    assert proposals[0]["valid_until"] == local("2027-01-05T00:00")
    assert city.score() == (100, "A")  # proposals do not count
    by_rule = {d["rule"]["code"]: d["id"] for d in proposals}

    # the leader confirms the major one (still A), the officer the plan (B); a double click is refused
    clock(at("2026-01-06T10:00"))
    city.post(f"/credit/deductions/{by_rule['ZA-03']}/confirm", city.boss, {"note": "挂牌督办属实"})
    assert city.score() == (90, "A")
    clock(at("2026-01-06T10:05"))
    confirmed = city.post(f"/credit/deductions/{by_rule['ZA-04']}/confirm", city.cop)
    assert confirmed["status"] == "effective" and confirmed["counts_now"] is True
    assert city.score() == (82, "B")
    again = client.post(f"{API}/credit/deductions/{by_rule['ZA-04']}/confirm", headers=city.boss, json={})
    assert assert_problem(again, 409, "invalid_transition")["current_status"] == "effective"
    clock(at("2026-01-06T10:10"))
    city.post(f"/credit/deductions/{by_rule['ZA-07']}/confirm", city.boss)
    assert city.score() == (77, "B")

    # the crane is put right and closed before its deadline; the plan stays open past deadline + 7 days
    clock(at("2026-01-15T10:00"))
    assert client.post(f"{API}/hazards/{crane['id']}/rectifications", headers=city.insp,
                       json={"id": str(uuid.uuid4()), "note": "塔吊已检测验收"}).status_code == 201
    assert client.post(f"{API}/hazards/{crane['id']}/reviews", headers=city.boss,
                       json={"id": str(uuid.uuid4()), "decision": "accept", "note": "验收资料齐全"}).status_code == 201
    clock(at("2026-01-28T06:00"))
    city.sweep("2026-01-28T06:00")
    overdue = city.queue()
    assert [(d["rule"]["code"], d["points"], d["source"]["id"]) for d in overdue] == [
        ("OVERDUE-GENERAL", 2, plan["id"])]
    assert overdue[0]["occurred_at"] == local("2026-01-21T00:00")
    city.sweep("2026-01-28T07:00")
    assert len(city.queue()) == 1  # the sweep is idempotent
    city.post(f"/credit/deductions/{overdue[0]['id']}/confirm", city.boss)
    assert city.score() == (75, "B")

    # an administrative penalty recorded by hand by the officer, confirmed: C
    clock(at("2026-02-01T10:00"))
    penalty = {"id": str(uuid.uuid4()), "enterprise_id": str(city.contractor.id), "rule": "SC-04",
               "district": "640104", "occurred_at": local("2026-01-30T16:00"), "reference": "银建罚〔2026〕3号",
               "note": "未按方案施工，罚款两万元"}
    recorded = city.post("/credit/deductions", city.cop, penalty, status=201)
    assert city.post("/credit/deductions", city.cop, penalty, status=200)["id"] == recorded["id"]  # a retry
    assert recorded["status"] == "proposed" and recorded["source"] == {"kind": "manual", "id": "银建罚〔2026〕3号"}
    city.post(f"/credit/deductions/{recorded['id']}/confirm", city.boss)
    assert city.score() == (65, "C")

    # the appeal is upheld: the penalty's deduction is revoked with the reason; the past is kept
    clock(at("2026-03-01T10:00"))
    city.signin()
    revoked = city.post(f"/credit/deductions/{recorded['id']}/revoke", city.cop, {"reason": "行政复议决定撤销原处罚"})
    assert revoked["status"] == "revoked" and revoked["events"][-1]["reason"] == "行政复议决定撤销原处罚"
    assert city.score() == (75, "B")
    assert city.score(as_of="2026-02-15") == (65, "C")
    assert city.score(as_of="2026-01-05") == (100, "A")

    # credit repair of the crane: refused before the shortest period, approved after it
    refused = client.post(f"{API}/credit/deductions/{by_rule['ZA-07']}/repair", headers=city.boss,
                          json={"reason": "已整改"})
    assert assert_problem(refused, 409, "invalid_transition")["repair_possible_from"] == local("2026-04-05T00:00")
    clock(at("2026-04-06T10:00"))
    city.signin()
    city.post(f"/credit/deductions/{by_rule['ZA-07']}/repair", city.boss, {"reason": "隐患已整改销号，满三个月，同意修复"})
    assert city.score() == (80, "B")

    # the committee's figures for the first quarter, and the ranking of contractors
    quarter = city.get("/credit/quarters/2026Q1", city.board)
    contractors = next(k for k in quarter["kinds"] if k["kind"] == "contractor")
    assert contractors["grades_at_start"]["A"] == 1 and contractors["grades"]["B"] == 1
    assert contractors["downgraded"] == 1 and quarter["complete"] is True
    assert quarter["deductions"]["confirmed"] == 5 and quarter["deductions"]["revoked"] == 1
    assert quarter["deductions"]["points_confirmed"] == 35
    assert quarter["downgraded"][0]["enterprise"]["id"] == str(city.contractor.id)
    assert (quarter["downgraded"][0]["score_at_start"], quarter["downgraded"][0]["score"]) == (100, 75)
    ranking = city.get("/credit/ranking", city.board, kind="contractor", as_of="2026-02-15")
    assert [(r["rank"], r["score"], r["grade"]) for r in ranking["items"]] == [(1, 65, "C")]

    # a year after the inspection the confirmed hazards' deductions end; the overdue one a little later
    clock(at("2027-01-05T06:00"))
    city.signin()
    assert city.score() == (98, "A")
    city.sweep("2027-01-05T06:00")
    clock(at("2027-01-22T06:00"))
    city.signin()
    city.sweep("2027-01-22T06:00")
    assert city.score() == (100, "A")
    ledger = city.get(f"/enterprises/{city.contractor.id}/credit/ledger", city.board)
    assert sorted((d["rule"]["code"], d["status"]) for d in ledger["items"]) == [
        ("OVERDUE-GENERAL", "expired"), ("SC-04", "revoked"), ("ZA-03", "expired"), ("ZA-04", "expired"),
        ("ZA-07", "repaired")]
    za04 = next(d for d in ledger["items"] if d["rule"]["code"] == "ZA-04")
    assert [(e["type"], e["actor"]["username"]) for e in za04["events"]] == [
        ("proposed", "insp"), ("confirmed", "cop"), ("expired", "system")]
    history = city.get(f"/enterprises/{city.contractor.id}/credit/history", city.boss)["items"]
    assert [(h["change"], h["grade"]) for h in history if h["grade_changed"]] == [
        ("confirmed", "B"), ("confirmed", "C"), ("revoked", "B"), ("expired", "A")]
    scores = [h["score"] for h in history]  # ZA-03 and ZA-04 expire at the same instant, in id order
    assert scores[:7] == [90, 82, 77, 75, 65, 75, 80] and scores[8:] == [98, 100] and len(scores) == 10
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "credit_deduction")))
        assert actions.count("credit.proposed") == 5 and actions.count("credit.confirmed") == 5
        assert actions.count("credit.revoked") == 1 and actions.count("credit.repaired") == 1
        assert actions.count("credit.expired") == 3
        assert audit_service.verify().ok


def _seeded(app, client, clock) -> tuple[City, dict]:
    """A city with one proposed deduction (ZA-04) against the contractor, raised in 兴庆区."""
    clock(at("2026-01-05T10:00"))
    city = City(app, client)
    payload = inspection_payload(city.site, checklist=("construction-site", 1), hazards=[hazard_item("SM02")],
                                 started_at=local("2026-01-05T09:00"), finished_at=local("2026-01-05T09:30"))
    assert client.post(f"{API}/inspections", json=payload, headers=city.insp).status_code == 201
    return city, city.queue()[0]


def test_roles_and_districts(app, client, clock):
    """Leaders and officers act, the committee reads, inspectors are refused; another district's leader sees nothing."""
    city, deduction = _seeded(app, client, clock)
    paths = [f"/enterprises/{city.contractor.id}/credit", f"/enterprises/{city.contractor.id}/credit/ledger",
             f"/enterprises/{city.contractor.id}/credit/history", "/credit/standard", "/credit/deductions",
             f"/credit/deductions/{deduction['id']}", "/credit/quarters/2026Q1"]
    for path in paths:
        assert_problem(client.get(f"{API}{path}", headers=city.insp), 403, "forbidden")
        assert client.get(f"{API}{path}", headers=city.board).status_code == 200, path
    assert_problem(client.get(f"{API}/credit/ranking?kind=contractor", headers=city.insp), 403, "forbidden")
    assert_problem(client.get(f"{API}/credit/deductions", headers={}), 401, "unauthorized")
    for action, body in (("confirm", {}), ("revoke", {"reason": "x"}), ("repair", {"reason": "x"})):
        assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/{action}", headers=city.board,
                                   json=body), 403, "forbidden")
        assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/{action}", headers=city.insp,
                                   json=body), 403, "forbidden")
    # 金凤区's leader: the enterprise and the deduction do not exist for them
    assert_problem(client.get(f"{API}/enterprises/{city.contractor.id}/credit", headers=city.far), 404, "not_found")
    assert_problem(client.get(f"{API}/credit/deductions/{deduction['id']}", headers=city.far), 404, "not_found")
    assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/confirm", headers=city.far, json={}),
                   404, "not_found")
    assert city.queue(city.far) == []
    assert city.get("/credit/ranking", city.far, kind="contractor")["total"] == 0
    assert city.get("/credit/ranking", city.boss, kind="contractor")["total"] == 1
    # once the contractor has a site in 金凤区 too, its leader reads the whole ledger but decides only there
    with app.app_context():
        make_subject(domain="construction_site", district_code="640105", enterprises=[city.contractor])
    assert city.get(f"/enterprises/{city.contractor.id}/credit/ledger", city.far)["items"][0]["id"] == deduction["id"]
    assert city.get(f"/credit/deductions/{deduction['id']}", city.far)["district"] == "640104"
    other = assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/confirm", headers=city.far,
                                       json={}), 403, "forbidden")
    assert "640104" in other["detail"]
    assert city.queue(city.far) == []  # the work queue is the district's
    # the officer of 兴庆区 acts
    assert city.post(f"/credit/deductions/{deduction['id']}/confirm", city.cop)["status"] == "effective"


def test_a_district_cannot_deduct_from_an_enterprise_that_does_not_operate_there(app, client, clock):
    """金凤区's leader recording a deduction against 兴庆区's contractor would make it and its ledger visible
    there: refused, and the enterprise stays out of reach."""
    city, _ = _seeded(app, client, clock)
    body = {"id": str(uuid.uuid4()), "enterprise_id": str(city.contractor.id), "rule": "SC-04",
            "district": "640105", "occurred_at": local("2026-01-05T09:00"), "reference": "金执罚〔2026〕1号"}
    problem = assert_problem(client.post(f"{API}/credit/deductions", json=body, headers=city.far),
                             422, "validation_error")
    assert list(problem["errors"]) == ["enterprise_id"]
    assert_problem(client.get(f"{API}/enterprises/{city.contractor.id}/credit", headers=city.far), 404, "not_found")


def test_bad_input_is_refused_with_a_clear_message(app, client, clock):
    """Unknown rules, rules for another kind, dates out of range, foreign districts, missing reasons: 4xx, no row."""
    city, deduction = _seeded(app, client, clock)
    base = {"enterprise_id": str(city.contractor.id), "rule": "SC-04", "district": "640104",
            "occurred_at": local("2026-01-04T10:00")}

    def refused(status, code, **change):
        body = {"id": str(uuid.uuid4()), **base, **change}
        return assert_problem(client.post(f"{API}/credit/deductions", headers=city.cop, json=body), status, code)

    assert "not a rule of the credit standard" in refused(422, "validation_error", rule="NOPE-9")["errors"]["rule"][0]
    assert "applies to gas_operator" in refused(422, "validation_error", rule="RQ-01")["detail"]
    assert "future" in refused(422, "validation_error", occurred_at=local("2026-02-01T10:00"))["detail"]
    assert "older than" in refused(422, "validation_error", occurred_at=local("2024-01-01T10:00"))["detail"]
    assert refused(422, "validation_error", enterprise_id=str(uuid.uuid4()))["errors"]["enterprise_id"]
    assert "not among your districts" in refused(422, "validation_error", district="640105")["detail"]
    assert refused(422, "validation_error", district="999999")["errors"]["district"] == ["no such district"]
    assert refused(422, "validation_error", occurred_at="2026-01-04T10:00")["errors"]["occurred_at"]
    assert refused(422, "validation_error", points=-5)["errors"]["points"]  # points come from the rule
    assert refused(422, "validation_error", rule="")["errors"]["rule"]
    # the same id with other content, the same reference twice
    body = {"id": str(uuid.uuid4()), **base, "reference": "银建罚〔2026〕9号"}
    assert client.post(f"{API}/credit/deductions", headers=city.cop, json=body).status_code == 201
    assert_problem(client.post(f"{API}/credit/deductions", headers=city.cop, json={**body, "rule": "SC-05"}),
                   409, "conflict")
    twice = assert_problem(client.post(f"{API}/credit/deductions", headers=city.cop,
                                       json={**body, "id": str(uuid.uuid4())}), 409, "conflict")
    assert "already records rule SC-04" in twice["detail"]
    # actions
    assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/revoke", headers=city.boss, json={}),
                   422, "validation_error")
    assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/revoke", headers=city.boss,
                               json={"reason": ""}), 422, "validation_error")
    assert_problem(client.post(f"{API}/credit/deductions/{deduction['id']}/repair", headers=city.boss,
                               json={"reason": "已整改"}), 409, "invalid_transition")
    assert_problem(client.post(f"{API}/credit/deductions/99999/confirm", headers=city.boss, json={}), 404, "not_found")
    # queries
    for path in ("/credit/quarters/2026Q5", "/credit/quarters/26Q1", "/credit/quarters/2027Q1",
                 "/credit/ranking", "/credit/ranking?kind=builder", "/credit/ranking?kind=contractor&limit=0",
                 f"/enterprises/{city.contractor.id}/credit?as_of=yesterday",
                 f"/enterprises/{city.contractor.id}/credit?as_of=2026-01-05T10:00",
                 "/credit/deductions?status=pending", "/credit/deductions?cursor=zzz"):
        assert_problem(client.get(f"{API}{path}", headers=city.boss), 422, "validation_error")
    assert_problem(client.get(f"{API}/enterprises/{uuid.uuid4()}/credit", headers=city.boss), 404, "not_found")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CreditDeduction)) == 2


def test_work_queue_pages_and_filters(app, client, clock):
    """The queue lists proposals oldest first in pages; filters by enterprise, rule and source; a projected score."""
    city, first = _seeded(app, client, clock)
    ids = [first["id"]]
    for n in range(4):
        body = {"id": str(uuid.uuid4()), "enterprise_id": str(city.contractor.id), "rule": "SC-05",
                "district": "640104", "occurred_at": local("2026-01-04T10:00"), "reference": f"通报{n}"}
        ids.append(city.post("/credit/deductions", city.boss, body, status=201)["id"])
    page = city.get("/credit/deductions", city.boss, status="proposed", limit=3)
    assert [d["id"] for d in page["items"]] == ids[:3] and page["next_cursor"]
    rest = city.get("/credit/deductions", city.boss, status="proposed", limit=3, cursor=page["next_cursor"])
    assert [d["id"] for d in rest["items"]] == ids[3:] and rest["next_cursor"] is None
    assert len(city.get("/credit/deductions", city.boss, source_kind="manual")["items"]) == 4
    assert len(city.get("/credit/deductions", city.boss, rule="ZA-04")["items"]) == 1
    assert city.get("/credit/deductions", city.boss, enterprise_id=str(city.gas.id))["items"] == []
    city.post(f"/credit/deductions/{ids[1]}/confirm", city.boss)
    assert [d["id"] for d in city.queue()] == [ids[0], *ids[2:]]
    assert [d["id"] for d in city.get("/credit/deductions", city.boss, status="effective")["items"]] == [ids[1]]
    projected = city.get(f"/enterprises/{city.contractor.id}/credit", city.boss, as_of="2027-01-05")
    assert projected["projected"] is True and projected["score"] == 100  # SC-05 will have expired by then
    standard = city.get("/credit/standard", city.board)
    assert standard["code"] == "yc-zjj-credit" and len(standard["rules"]) == 32
    assert "not national law" in standard["policy_note"]


def _together(count: int, send) -> list[requests.Response]:
    """Run ``send()`` in ``count`` threads released at the same instant; return the responses."""
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_simultaneous_confirmations_write_one_event(app, client, live_server):
    """Ten confirmations of one proposal at once (double clicks, two leaders): one 200, nine 409, one event."""
    city, deduction = _seeded(app, client, lambda _: None)
    url = f"{live_server}{API}/credit/deductions/{deduction['id']}/confirm"
    responses = _together(10, lambda: requests.post(url, json={}, headers=city.boss, timeout=60))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert all(r.json()["code"] == "invalid_transition" for r in responses if r.status_code == 409)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CreditDeductionEvent).where(
            CreditDeductionEvent.type == "confirmed")) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "credit.confirmed")) == 1


def test_simultaneous_manual_retries_store_one_deduction(app, client, live_server):
    """Ten identical manual deductions at once: one 201, nine 200 with the same id, one row."""
    city, _ = _seeded(app, client, lambda _: None)
    body = {"id": str(uuid.uuid4()), "enterprise_id": str(city.contractor.id), "rule": "SC-05",
            "district": "640104", "occurred_at": local("2026-01-04T10:00")}
    responses = _together(10, lambda: requests.post(f"{live_server}{API}/credit/deductions", json=body,
                                                    headers=city.cop, timeout=60))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CreditDeduction).where(
            CreditDeduction.rule_code == "SC-05")) == 1


def test_the_openapi_document_lists_the_credit_endpoints(client):
    """Every credit endpoint is in the OpenAPI document with its methods."""
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    expected = {
        "/api/v1/enterprises/{enterprise_id}/credit": "get", "/api/v1/enterprises/{enterprise_id}/credit/ledger": "get",
        "/api/v1/enterprises/{enterprise_id}/credit/history": "get", "/api/v1/credit/standard": "get",
        "/api/v1/credit/deductions": "post", "/api/v1/credit/deductions/{deduction_id}": "get",
        "/api/v1/credit/deductions/{deduction_id}/confirm": "post",
        "/api/v1/credit/deductions/{deduction_id}/revoke": "post",
        "/api/v1/credit/deductions/{deduction_id}/repair": "post", "/api/v1/credit/ranking": "get",
        "/api/v1/credit/quarters/{quarter}": "get",
    }
    for path, method in expected.items():
        assert method in paths.get(path, {}), path
    assert "get" in paths["/api/v1/credit/deductions"]
