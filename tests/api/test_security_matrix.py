"""Security matrix: every operation of the served OpenAPI document × every role × two districts.

兴庆区 (A, 640104) and 金凤区 (B, 640106) each have an inspector, a leader and an enforcement officer; a
committee member and an administrator see the whole city. A holds an enterprise, a gas subject, a visit with a
general, a major and a rectified hazard, an overdue hazard, a received photo and one declared but not received,
credit deductions (proposed and effective), a case built by its officer, an assignment, a leader duty and a
campaign; B holds fewer of the same (so that figures differ).

``TABLE`` classifies every operation of ``/api/v1/openapi.json`` (a test fails when one is missing):

- ``object``: the path names one of A's objects. Every actor of B, and every actor whose role is not allowed,
  is refused with 403 (role) or 404 (district) — the very answer a nonexistent object gets — and nothing in the
  database or the file stores changes; then A's owner sends the same valid request and succeeds.
- ``body``: the body names one of A's objects (a subject to inspect, hazards to file a case from, a district).
  B's actors get 422 naming that field, the same answer as for an object that does not exist.
- ``list``: lists and figures; B's answers never hold A's objects or figures, A's do (the control).
- ``citywide``: city-wide figures, refused to every district-scoped user.
- ``open``: no object behind it (the reason is given).

Object and body rows run in ``GROUPS``, one world per group, in an order where each request is valid (a row marked
xfail runs alone). Photos are served as their sniffed type with nosniff; expired and signed-out tokens get 401.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest
from sqlalchemy import func, select, update

from helpers import (hazard_item, inspection_payload, local_now, login, make_enterprise, make_jpeg, make_png,
                     make_subject, make_user, photo_decl, put_photo, sha256, submit)
from server.accounts.models import ApiToken
from server.accounts.service import token_digest
from server.credit import standard as standard_rules
from server.credit.models import CreditDeduction
from server.extensions import db
from server.hazards.enums import Status
from server.hazards.models import Hazard

API = "/api/v1"
A, B = "640104", "640106"  # 兴庆区, 金凤区
MISSING_INT = 987654321

PLAN = {"responsible": "某燃气公司 张三", "measures": "撤除液化气钢瓶，改用电炊具", "funds_yuan": 12000,
        "deadline": "2030-01-31", "contingency_plan": "泄漏时切断气源、疏散人员、报警"}

# actor -> (role, district side: "A", "B" or None for city-wide)
ACTORS = {
    "inspector_A": ("inspector", "A"), "leader_A": ("leader", "A"), "enforcement_A": ("enforcement", "A"),
    "inspector_B": ("inspector", "B"), "leader_B": ("leader", "B"), "enforcement_B": ("enforcement", "B"),
    "committee": ("committee", None), "admin": ("admin", None),
}
ALL_ROLES = ("inspector", "leader", "enforcement", "committee", "admin")
FIELD_ROLES = ("inspector", "leader")  # inspections, photo uploads, hazard actions
CASE_READERS = ("enforcement", "leader", "committee", "admin")
CASE_ACTORS = ("enforcement",)
CREDIT_READERS = ("leader", "enforcement", "committee", "admin")
CREDIT_ACTORS = ("leader", "enforcement")
GIVERS = ("leader", "admin")  # assignments, campaigns, samples

_STANDARDS: dict = {}


@pytest.fixture(autouse=True)
def credit_standard_parsed_once(monkeypatch):
    """Parse the credit standard once per session instead of once per app (~0.1 s): it is read-only rule data."""
    load_file = standard_rules.load_file

    def cached(path):
        info = Path(path).stat()
        key = (str(path), info.st_mtime_ns, info.st_size)
        if key not in _STANDARDS:
            _STANDARDS[key] = load_file(path)
        return _STANDARDS[key]

    monkeypatch.setattr(standard_rules, "load_file", cached)


# --- the world ------------------------------------------------------------------------------------------

def _ok(response, status=(200, 201)):
    assert response.status_code in status, (response.status_code, response.get_data(as_text=True)[:800])
    return response.get_json()


def _post(client, headers, path, body, status=(200, 201)):
    return _ok(client.post(API + path, json=body, headers=headers), status)


def campaign_body(districts, **overrides) -> dict:
    """A gas campaign running today with a 回头看 (reinspect) phase not sampled yet."""
    today = local_now().date()
    body = {"name": "城镇燃气安全专项整治", "doc_no": "银建发〔2026〕12号", "domains": ["gas"], "districts": districts,
            "starts_on": (today - timedelta(days=30)).isoformat(), "ends_on": (today + timedelta(days=60)).isoformat(),
            "phases": [{"name": "回头看", "kind": "reinspect", "starts_on": (today + timedelta(days=11)).isoformat(),
                        "ends_on": (today + timedelta(days=60)).isoformat(), "sample_share": 0.5}]}
    return {**body, **overrides}


def case_body(w, **overrides) -> dict:
    """A complete case from the district's general hazard: two officers, records (and the photo) as evidence."""
    evidence = [{"kind": "site_record", "description": "现场检查笔录", "records": [{"type": "hazard", "id": w.general}]}]
    if w.full:
        evidence.append({"kind": "audiovisual", "description": "现场照片", "photos": [sha256(w.png)]})
    body = {"client_key": str(uuid.uuid4()), "cause": "未按规定安装燃气安全装置", "facts": "检查发现该用户未安装自闭阀。",
            "articles_violated": ["《城镇燃气管理条例》第二十八条"],
            "officers": [{"user_id": w.user.enforcement, "certificate_no": "64010001"},
                         {"user_id": w.user.enforcement2, "certificate_no": "64010002"}],
            "hazard_ids": [w.general], "inspection_ids": [w.inspection], "evidence": evidence}
    return {**body, **overrides}


def _district(app, client, code: str, tag: str, *, lat: float, lon: float, full: bool) -> SimpleNamespace:
    """Users and objects of one district; ``full`` adds photos, an overdue hazard, an effective deduction and a
    campaign (B is built without them, so that its figures differ from A's)."""
    with app.app_context():
        users = {role: make_user(f"{role}_{tag}", roles=[role], districts=[code], name=f"{role} {tag}")
                 for role in ("inspector", "leader", "enforcement")}
        second = make_user(f"enforcement2_{tag}", roles=["enforcement"], districts=[code], name=f"执法员乙 {tag}")
        enterprise = make_enterprise(name=f"{tag}燃气有限公司")
        subject = make_subject(enterprises=[enterprise], district_code=code, name=f"{tag}餐馆{code}",
                               address=f"{tag}某路1号", lat=lat, lon=lon)
        ids = SimpleNamespace(**{role: u.id for role, u in users.items()}, enforcement2=second.id)
    w = SimpleNamespace(code=code, tag=tag, full=full, enterprise=str(enterprise.id), subject=str(subject.id),
                        user=ids, subject_name=subject.name, enterprise_name=enterprise.name,
                        credit_code=enterprise.credit_code, lat=lat, lon=lon)
    w.h = {role: login(client, f"{role}_{tag}") for role in ("inspector", "leader", "enforcement")}
    w.subject_ref = SimpleNamespace(id=w.subject, lat=lat, lon=lon)

    # One visit: a general hazard (reported), a major one (reported), one rectified (pending review).
    general = hazard_item("G02", enterprise_id=w.enterprise)
    major = hazard_item("GM01", description="地下室使用液化气", severity="major", enterprise_id=w.enterprise)
    pending = hazard_item("G07", description="钢瓶超期未检", enterprise_id=w.enterprise)
    photos = []
    if full:  # a PNG received (sent as image/jpeg) and a JPEG declared but not received yet
        w.png, w.waiting_bytes = make_png(), make_jpeg(color=(1, 2, 3))
        photos = [photo_decl(w.png, hazard_id=general["id"]), photo_decl(w.waiting_bytes)]
        w.photo, w.waiting = photos[0]["id"], photos[1]["id"]
    visit = inspection_payload(w.subject_ref, hazards=[general, major, pending], photos=photos)
    submit(client, w.h["inspector"], visit)
    if full:
        _ok(put_photo(client, w.h["inspector"], w.photo, w.png, content_type="image/jpeg"), (201,))
    _post(client, w.h["inspector"], f"/hazards/{pending['id']}/rectifications", {"id": str(uuid.uuid4())})
    w.inspection, w.general, w.major, w.pending = visit["id"], general["id"], major["id"], pending["id"]

    # The general hazard proposed RQ-03 against the enterprise (a proposal waiting for confirmation).
    queue = _ok(client.get(f"{API}/credit/deductions?source_kind=hazard", headers=w.h["leader"]))["items"]
    w.proposed = next(d["id"] for d in queue if d["source"]["id"] == w.general)
    w.deductions = [d["id"] for d in queue]
    if full:
        # An older visit whose hazard is overdue (for 挂账).
        started = local_now() - timedelta(days=40)
        late = hazard_item("G05", description="软管老化", deadline=(started + timedelta(days=10)).date().isoformat())
        submit(client, w.h["inspector"], inspection_payload(w.subject_ref, hazards=[late],
                                                            started_at=started.isoformat(), finished_at=None))
        w.late = late["id"]
        # A deduction recorded by hand four months ago and confirmed: effective, old enough to be repaired.
        manual = _post(client, w.h["leader"], "/credit/deductions", {
            "id": str(uuid.uuid4()), "enterprise_id": w.enterprise, "rule": "RQ-01", "district": code,
            "occurred_at": (local_now() - timedelta(days=125)).isoformat(), "reference": f"{tag}建罚〔2026〕1号"})
        w.effective = _post(client, w.h["leader"], f"/credit/deductions/{manual['id']}/confirm", {})["id"]
        w.deductions.append(w.effective)
        w.campaign = _post(client, w.h["leader"], "/campaigns", campaign_body([code], name=f"{tag}燃气专项整治"),
                           (201,))["id"]

    case = _post(client, w.h["enforcement"], "/cases", case_body(w), (201,))
    w.case, w.case_no = case["id"], case["case_no"]
    w.assignment = _post(client, w.h["leader"], "/assignments",
                         {"user_id": ids.inspector, "subject_ids": [w.subject]}, (201,))["items"][0]["id"]
    return w


def build_world(app, client) -> SimpleNamespace:
    """Both districts, the city-wide users, leader duties (包抓) and a campaign over A and B."""
    app.config["CASE_DOSSIER_ROOT"] = str(app.config["PHOTO_ROOT"]) + "-dossiers"
    with app.app_context():
        make_user("committee", roles=["committee"], districts=[], name="安委会")
        make_user("admin", roles=["admin"], districts=[], name="管理员")
    a = _district(app, client, A, "兴庆", lat=38.4680, lon=106.2850, full=True)
    b = _district(app, client, B, "金凤", lat=38.4800, lon=106.2200, full=False)
    today = local_now().date()
    world = SimpleNamespace(a=a, b=b, app=app, headers={}, quarter=f"{today.year}Q{(today.month - 1) // 3 + 1}")
    for side, w in (("A", a), ("B", b)):
        for role in ("inspector", "leader", "enforcement"):
            world.headers[f"{role}_{side}"] = w.h[role]
    world.headers["committee"], world.headers["admin"] = login(client, "committee"), login(client, "admin")
    for w in (a, b):
        _ok(client.put(f"{API}/leader-duties/{w.code}/gas", json={"user_id": w.user.leader},
                       headers=world.headers["admin"]))
    world.both = _post(client, world.headers["admin"], "/campaigns", campaign_body([A, B], name="全市燃气专项整治"),
                       (201,))["id"]
    return world


# --- requests and what must not change ----------------------------------------------------------------

@dataclass
class Req:
    method: str
    path: str
    json: object = None
    data: bytes | None = None
    headers: dict = field(default_factory=dict)


def send(client, request: Req, auth: dict):
    kwargs = {"json": request.json} if request.data is None else {"data": request.data}
    return client.open(API + request.path, method=request.method, headers={**auth, **request.headers}, **kwargs)


def fingerprint(app) -> dict:
    """Every table's rows (digested) and every stored file: what a refused request must leave as it was."""
    state = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if table.name == "district":
                continue
            rows = sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            state[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
    for key in ("PHOTO_ROOT", "CASE_DOSSIER_ROOT"):
        root = Path(app.config[key])
        state[key] = sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()) \
            if root.exists() else []
    return state


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# --- the table -----------------------------------------------------------------------------------------

@dataclass
class Op:
    kind: str  # object | body | list | citywide | open
    roles: tuple = ALL_ROLES
    owner: str | None = None
    build: Callable | None = None  # world -> Req: a valid request on A's object
    missing: Callable | None = None  # world -> Req: the same on an object that does not exist
    prepare: Callable | None = None  # (client, world) -> None: bring A's object into the state the request needs
    refers: str | None = None  # body: the field naming A's object, which B's refusal names
    check: Callable | None = None  # (response, world) -> None: more about the owner's answer
    reason: str = ""
    xfail: str | None = None


def _assert_equal(value, expected) -> None:
    assert value == expected


def _uuid() -> str:
    return str(uuid.uuid4())


def _hazard_action(action: str, hazard: str, **body):
    return Op("object", FIELD_ROLES, "inspector_A",
              build=lambda w: Req("POST", f"/hazards/{getattr(w.a, hazard)}/{action}", {"id": _uuid(), **body}),
              missing=lambda w: Req("POST", f"/hazards/{_uuid()}/{action}", {"id": _uuid(), **body}))


def _case_action(action: str, body: Callable, *, before: tuple = ()):
    def prepare(client, w):
        for step, step_body in before:
            _post(client, w.headers["enforcement_A"], f"/cases/{w.a.case}/{step}", step_body, (201,))

    return Op("object", CASE_ACTORS, "enforcement_A", prepare=prepare if before else None,
              build=lambda w: Req("POST", f"/cases/{w.a.case}/{action}", body(w)),
              missing=lambda w: Req("POST", f"/cases/{MISSING_INT}/{action}", body(w)))


def _credit_action(action: str, deduction: str, body: dict):
    return Op("object", CREDIT_ACTORS, "leader_A",
              build=lambda w: Req("POST", f"/credit/deductions/{getattr(w.a, deduction)}/{action}", body),
              missing=lambda w: Req("POST", f"/credit/deductions/{MISSING_INT}/{action}", body))


def _object_read(path: Callable, missing: Callable, roles=ALL_ROLES, owner="inspector_A", check=None):
    return Op("object", roles, owner, build=lambda w: Req("GET", path(w)), missing=lambda w: Req("GET", missing(w)),
              check=check)


def _photo_read(suffix: str, media: str):
    def check(response, w):
        assert response.mimetype == media, response.mimetype
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if not suffix:  # the original: the bytes as received, with the type sniffed from them
            assert response.get_data() == w.a.png

    return _object_read(lambda w: f"/photos/{w.a.photo}{suffix}", lambda w: f"/photos/{_uuid()}{suffix}",
                        check=check)


def _report(method: str, suffix: str):
    return Op("citywide", build=lambda w: Req(method, f"/reports/quarterly/{w.quarter}{suffix}"))


TRANSFER = ("transfer", {"client_key": "00000000-0000-4000-8000-000000000001"})

TABLE: dict[tuple[str, str], Op] = {
    # --- no object behind them
    ("POST", "/auth/token"): Op("open", reason="signing in: anonymous, by username and password"),
    ("DELETE", "/auth/token"): Op("open", reason="signs out the caller's own token, nobody else's"),
    ("GET", "/me"): Op("open", reason="the caller's own account"),
    ("GET", "/checklists"): Op("open", reason="checklist rule data, the same for every district"),
    ("GET", "/credit/standard"): Op("open", reason="the credit standard: city-wide policy data, no district's "
                                                   "figures (readers by role: tests/api/test_credit.py)"),

    # --- city-wide analysis: only the committee, admins and city-level leaders (tests/api/test_reports.py)
    ("GET", "/reports/quarterly"): Op("citywide", build=lambda w: Req("GET", "/reports/quarterly")),
    ("POST", "/reports/quarterly/{quarter}"): _report("POST", ""),
    ("GET", "/reports/quarterly/{quarter}"): _report("GET", ""),
    ("GET", "/reports/quarterly/{quarter}/xlsx"): _report("GET", "/xlsx"),
    ("GET", "/reports/quarterly/{quarter}/docx"): _report("GET", "/docx"),

    # --- lists and figures: test_lists_and_figures_hold_only_the_callers_districts
    ("GET", "/assignments"): Op("list"),
    ("GET", "/campaigns"): Op("list"),
    ("GET", "/leader-duties"): Op("list"),
    ("GET", "/cases"): Op("list"),
    ("GET", "/credit/deductions"): Op("list"),
    ("GET", "/credit/ranking"): Op("list"),
    ("GET", "/credit/quarters/{quarter}"): Op("list"),
    ("GET", "/figures/zero"): Op("list"),
    ("GET", "/hazards"): Op("list"),
    ("GET", "/subjects"): Op("list"),

    # --- the body names A's object
    ("POST", "/inspections"): Op(
        "body", FIELD_ROLES, "inspector_A", refers="subject_id",
        build=lambda w: Req("POST", "/inspections", inspection_payload(w.a.subject_ref, hazards=[hazard_item("G05")])),
        missing=lambda w: Req("POST", "/inspections", inspection_payload(
            SimpleNamespace(id=_uuid(), lat=w.a.lat, lon=w.a.lon), hazards=[hazard_item("G05")]))),
    ("POST", "/assignments"): Op(
        "body", GIVERS, "leader_A", refers="subject_ids",
        build=lambda w: Req("POST", "/assignments", {"user_id": w.a.user.inspector, "subject_ids": [w.a.subject],
                                                     "due": (local_now().date() + timedelta(days=7)).isoformat()}),
        missing=lambda w: Req("POST", "/assignments", {"user_id": w.a.user.inspector, "subject_ids": [_uuid()],
                                                       "due": (local_now().date() + timedelta(days=7)).isoformat()})),
    ("POST", "/campaigns"): Op(
        "body", GIVERS, "leader_A", refers="districts",
        build=lambda w: Req("POST", "/campaigns", campaign_body([A], name="兴庆区瓶装液化气专项整治"))),
    ("POST", "/cases"): Op(
        "body", CASE_ACTORS, "enforcement_A", refers="hazard_ids",
        build=lambda w: Req("POST", "/cases", case_body(w.a)),
        missing=lambda w: Req("POST", "/cases", case_body(w.a, hazard_ids=[_uuid()], inspection_ids=[_uuid()]))),
    ("POST", "/credit/deductions"): Op(
        "body", CREDIT_ACTORS, "leader_A", refers="district",
        build=lambda w: Req("POST", "/credit/deductions", {
            "id": _uuid(), "enterprise_id": w.a.enterprise, "rule": "SC-05", "district": A,
            "occurred_at": (local_now() - timedelta(days=3)).isoformat(), "reference": "银建通〔2026〕9号"})),

    # --- the path names A's object
    ("DELETE", "/assignments/{assignment_id}"): Op(
        "object", GIVERS, "leader_A", build=lambda w: Req("DELETE", f"/assignments/{w.a.assignment}"),
        missing=lambda w: Req("DELETE", f"/assignments/{_uuid()}")),
    ("GET", "/campaigns/{campaign_id}"): _object_read(
        lambda w: f"/campaigns/{w.a.campaign}", lambda w: f"/campaigns/{MISSING_INT}", owner="leader_A"),
    ("GET", "/campaigns/{campaign_id}/coverage"): _object_read(
        lambda w: f"/campaigns/{w.a.campaign}/coverage", lambda w: f"/campaigns/{MISSING_INT}/coverage",
        owner="leader_A"),
    ("POST", "/campaigns/{campaign_id}/samples"): Op(
        "object", GIVERS, "leader_A",
        build=lambda w: Req("POST", f"/campaigns/{w.a.campaign}/samples", {"phase": "回头看", "seed": 7}),
        missing=lambda w: Req("POST", f"/campaigns/{MISSING_INT}/samples", {"phase": "回头看", "seed": 7})),
    ("PUT", "/leader-duties/{district}/{domain}"): Op(
        "object", ("admin",), "admin",
        build=lambda w: Req("PUT", f"/leader-duties/{A}/gas", {"user_id": w.a.user.leader}),
        missing=lambda w: Req("PUT", "/leader-duties/649999/gas", {"user_id": w.a.user.leader})),
    ("DELETE", "/leader-duties/{district}/{domain}"): Op(
        "object", ("admin",), "admin", build=lambda w: Req("DELETE", f"/leader-duties/{A}/gas"),
        missing=lambda w: Req("DELETE", "/leader-duties/649999/gas")),

    ("GET", "/cases/{case_id}"): _object_read(
        lambda w: f"/cases/{w.a.case}", lambda w: f"/cases/{MISSING_INT}", CASE_READERS, "enforcement_A"),
    ("PATCH", "/cases/{case_id}"): Op(
        "object", CASE_ACTORS, "enforcement_A",
        build=lambda w: Req("PATCH", f"/cases/{w.a.case}", {"facts": "复查发现仍未安装自闭阀。"}),
        missing=lambda w: Req("PATCH", f"/cases/{MISSING_INT}", {"facts": "复查发现仍未安装自闭阀。"})),
    ("POST", "/cases/{case_id}/evidence"): _case_action("evidence", lambda w: {
        "kind": "documentary", "description": "整改通知书", "records": [{"type": "inspection", "id": w.a.inspection}]}),
    ("POST", "/cases/{case_id}/transfer"): _case_action("transfer", lambda w: {
        "client_key": _uuid(), "receiving_agency": "银川市兴庆区综合行政执法局"}),
    ("POST", "/cases/{case_id}/accept"): _case_action("accept", lambda w: {}),
    ("POST", "/cases/{case_id}/decide"): _case_action(
        "decide", lambda w: {"penalty_kinds": ["warning"], "decision_no": "银综执罚决字〔2026〕15号"}),
    ("POST", "/cases/{case_id}/return"): _case_action("return", lambda w: {"reason": "证据不足"}, before=(TRANSFER,)),
    ("POST", "/cases/{case_id}/close"): _case_action("close", lambda w: {"note": "结案"}),
    ("GET", "/cases/{case_id}/dossier"): _object_read(
        lambda w: f"/cases/{w.a.case}/dossier", lambda w: f"/cases/{MISSING_INT}/dossier", CASE_READERS,
        "enforcement_A"),

    ("GET", "/enterprises/{enterprise_id}/credit"): _object_read(
        lambda w: f"/enterprises/{w.a.enterprise}/credit", lambda w: f"/enterprises/{_uuid()}/credit",
        CREDIT_READERS, "leader_A"),
    ("GET", "/enterprises/{enterprise_id}/credit/ledger"): _object_read(
        lambda w: f"/enterprises/{w.a.enterprise}/credit/ledger", lambda w: f"/enterprises/{_uuid()}/credit/ledger",
        CREDIT_READERS, "leader_A"),
    ("GET", "/enterprises/{enterprise_id}/credit/history"): _object_read(
        lambda w: f"/enterprises/{w.a.enterprise}/credit/history",
        lambda w: f"/enterprises/{_uuid()}/credit/history", CREDIT_READERS, "leader_A"),
    ("GET", "/credit/deductions/{deduction_id}"): _object_read(
        lambda w: f"/credit/deductions/{w.a.proposed}", lambda w: f"/credit/deductions/{MISSING_INT}",
        CREDIT_READERS, "leader_A"),
    ("POST", "/credit/deductions/{deduction_id}/confirm"): _credit_action("confirm", "proposed", {"note": "核实无误"}),
    ("POST", "/credit/deductions/{deduction_id}/revoke"): _credit_action("revoke", "proposed", {"reason": "申诉成立"}),
    ("POST", "/credit/deductions/{deduction_id}/repair"): _credit_action("repair", "effective", {"reason": "已整改"}),

    ("GET", "/hazards/{hazard_id}"): _object_read(lambda w: f"/hazards/{w.a.general}", lambda w: f"/hazards/{_uuid()}"),
    ("POST", "/hazards/{hazard_id}/rectifications"): _hazard_action("rectifications", "general", note="已安装自闭阀"),
    ("POST", "/hazards/{hazard_id}/reviews"): _hazard_action("reviews", "pending", decision="accept", note="复查合格"),
    ("POST", "/hazards/{hazard_id}/plan"): _hazard_action("plan", "major", **PLAN),
    ("POST", "/hazards/{hazard_id}/notices"): _hazard_action("notices", "general", note="责令15日内整改"),
    ("POST", "/hazards/{hazard_id}/explanations"): _hazard_action("explanations", "late", note="用户外出，已书面告知"),

    ("GET", "/inspections/{inspection_id}"): _object_read(
        lambda w: f"/inspections/{w.a.inspection}", lambda w: f"/inspections/{_uuid()}"),
    ("GET", "/subjects/{subject_id}"): _object_read(
        lambda w: f"/subjects/{w.a.subject}", lambda w: f"/subjects/{_uuid()}"),

    ("PUT", "/photos/{photo_id}"): Op(
        "object", FIELD_ROLES, "inspector_A",
        build=lambda w: Req("PUT", f"/photos/{w.a.waiting}", data=w.a.waiting_bytes,
                            headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha256(w.a.waiting_bytes)}),
        missing=lambda w: Req("PUT", f"/photos/{_uuid()}", data=w.a.waiting_bytes,
                              headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha256(w.a.waiting_bytes)})),
    ("GET", "/photos/{photo_id}"): _photo_read("", "image/png"),
    ("GET", "/photos/{photo_id}/display"): _photo_read("/display", "image/jpeg"),
    ("GET", "/photos/{photo_id}/thumbnail"): _photo_read("/thumbnail", "image/jpeg"),
    ("GET", "/photos/{photo_id}/info"): _object_read(
        lambda w: f"/photos/{w.a.photo}/info", lambda w: f"/photos/{_uuid()}/info",
        check=lambda response, w: _assert_equal(response.get_json()["content_type"], "image/png")),
}


def _operations(client) -> set[tuple[str, str]]:
    document = client.get(f"{API}/openapi.json").get_json()
    return {(method.upper(), path.removeprefix(API)) for path, item in document["paths"].items()
            for method in item if method in ("get", "put", "post", "patch", "delete")}


def test_the_table_classifies_every_operation_of_the_document(client):
    """A new endpoint cannot be added without its row here (and a row cannot outlive its endpoint)."""
    served = _operations(client)
    assert served - TABLE.keys() == set(), "operations without a row in the security matrix"
    assert TABLE.keys() - served == set(), "rows of the security matrix for operations no longer served"
    for key, op in TABLE.items():
        assert op.kind in ("object", "body", "list", "citywide", "open"), key
        assert op.kind != "open" or op.reason, key
        if op.kind in ("object", "body"):
            assert op.owner in ACTORS and ACTORS[op.owner][1] == ("A" if op.owner != "admin" else None), key
            assert ACTORS[op.owner][0] in op.roles and op.build is not None, key
            assert op.kind != "body" or op.refers, key


# --- object-bound operations ------------------------------------------------------------------------------

def expectation(op: Op, actor: str):
    """Return (status, code) the actor must get, or None when it may act (or read)."""
    role, side = ACTORS[actor]
    if role not in op.roles:
        return 403, "forbidden"
    if side == "B":
        return (422, "validation_error") if op.kind == "body" else (404, "not_found")
    return None


def _problem(response) -> dict:
    assert response.mimetype == "application/problem+json", (response.status_code, response.mimetype)
    return response.get_json(force=True)


# Operations on A's objects run in groups, each on one world, in an order where every request is valid: a row
# marked xfail runs alone.
GROUPS = {
    "reads": [
        ("GET", "/subjects/{subject_id}"), ("GET", "/inspections/{inspection_id}"), ("GET", "/hazards/{hazard_id}"),
        ("GET", "/photos/{photo_id}"), ("GET", "/photos/{photo_id}/display"), ("GET", "/photos/{photo_id}/thumbnail"),
        ("GET", "/photos/{photo_id}/info"), ("GET", "/cases/{case_id}"), ("GET", "/credit/deductions/{deduction_id}"),
        ("GET", "/enterprises/{enterprise_id}/credit"), ("GET", "/enterprises/{enterprise_id}/credit/ledger"),
        ("GET", "/enterprises/{enterprise_id}/credit/history"), ("GET", "/campaigns/{campaign_id}"),
        ("GET", "/campaigns/{campaign_id}/coverage")],
    "field work": [("POST", "/inspections"), ("PUT", "/photos/{photo_id}")],
    "hazard lifecycle": [
        ("POST", "/hazards/{hazard_id}/notices"), ("POST", "/hazards/{hazard_id}/rectifications"),
        ("POST", "/hazards/{hazard_id}/reviews"), ("POST", "/hazards/{hazard_id}/plan"),
        ("POST", "/hazards/{hazard_id}/explanations")],
    "credit": [
        ("POST", "/credit/deductions"), ("POST", "/credit/deductions/{deduction_id}/confirm"),
        ("POST", "/credit/deductions/{deduction_id}/revoke"), ("POST", "/credit/deductions/{deduction_id}/repair")],
    "case": [
        ("POST", "/cases"), ("PATCH", "/cases/{case_id}"), ("POST", "/cases/{case_id}/evidence"),
        ("POST", "/cases/{case_id}/transfer"), ("GET", "/cases/{case_id}/dossier"),
        ("POST", "/cases/{case_id}/accept"), ("POST", "/cases/{case_id}/decide"), ("POST", "/cases/{case_id}/close")],
    "case returned": [("POST", "/cases/{case_id}/return")],
    "giving work": [
        ("POST", "/assignments"), ("DELETE", "/assignments/{assignment_id}"), ("POST", "/campaigns"),
        ("POST", "/campaigns/{campaign_id}/samples"), ("PUT", "/leader-duties/{district}/{domain}"),
        ("DELETE", "/leader-duties/{district}/{domain}")],
}


def _groups():
    for name, keys in GROUPS.items():
        together = [key for key in keys if not TABLE[key].xfail]
        if together:
            yield pytest.param(together, id=name)
        for key in keys:
            if TABLE[key].xfail:
                yield pytest.param([key], id=f"{key[0]} {key[1]}",
                                   marks=pytest.mark.xfail(strict=True, reason=TABLE[key].xfail))


def test_every_object_operation_runs_in_one_group():
    grouped = [key for keys in GROUPS.values() for key in keys]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {key for key, op in TABLE.items() if op.kind in ("object", "body")}


def check_out_of_reach(client, world, key) -> None:
    """Every B actor and every role not allowed is refused (403/404, or 422 at the field naming A's object),
    exactly as for an object that does not exist, and nothing changes; then A's owner succeeds."""
    op, app = TABLE[key], world.app
    if op.prepare:
        op.prepare(client, world)
    request = op.build(world)
    before = fingerprint(app)
    for actor in ACTORS:
        expected = expectation(op, actor)
        if expected is None:
            continue
        response = send(client, request, world.headers[actor])
        assert (response.status_code, _problem(response)["code"]) == expected, (
            key, actor, response.status_code, response.get_data(as_text=True)[:500])
        body = _problem(response)
        if expected[0] == 422:
            assert any(name == op.refers or name.startswith(op.refers + ".") for name in body.get("errors", {})), (
                key, actor, body)
        if op.missing is not None:  # the same answer as for nothing: the refusal reveals no existence
            nothing = send(client, op.missing(world), world.headers[actor])
            assert (nothing.status_code, _problem(nothing)) == (response.status_code, body), (key, actor)
    assert _changed(before, fingerprint(app)) == [], key

    if request.method == "GET":  # the others allowed read it too
        for actor in ACTORS:
            if expectation(op, actor) is None and actor != op.owner:
                assert send(client, request, world.headers[actor]).status_code == 200, (key, actor)

    response = send(client, request, world.headers[op.owner])
    assert response.status_code in (200, 201, 204), (key, response.status_code,
                                                      response.get_data(as_text=True)[:800])
    if request.method != "GET":
        assert _changed(before, fingerprint(app)), (key, "the owner's write changed nothing: no control")
    if op.check:
        op.check(response, world)


@pytest.mark.parametrize("keys", list(_groups()))
def test_another_districts_object_is_out_of_reach(app, client, keys):
    """Each operation on one of A's objects, in turn, on one world (see check_out_of_reach)."""
    world = build_world(app, client)
    for key in keys:
        check_out_of_reach(client, world, key)


# --- lists and figures --------------------------------------------------------------------------------

def _markers(w) -> set[str]:
    """What identifies A's objects in any answer: their ids, names, credit code and case number."""
    return {w.subject, w.enterprise, w.inspection, w.general, w.major, w.pending, w.late, w.photo, w.waiting,
            w.assignment, w.subject_name, w.enterprise_name, w.credit_code, w.case_no}


def _item_ids(body) -> set:
    return {item["id"] for item in body["items"]}


def _open_hazards(app, districts) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Hazard).where(
            Hazard.district_code.in_(districts), Hazard.status != Status.CLOSED))


def _deductions(app, district, *, confirmed=False) -> int:
    with app.app_context():
        query = select(func.count()).select_from(CreditDeduction).where(CreditDeduction.district_code == district)
        if confirmed:
            query = query.where(CreditDeduction.effective_at.is_not(None))
        return db.session.scalar(query)


def _list_probes(w):
    """(request path, roles allowed, control actor of A, check of one side's answer: (body, side world))."""
    a = w.a
    quarter = f"/credit/quarters/{w.quarter}"

    def has(*values):
        return lambda body, side: all(str(getattr(side, v)) in str(body) for v in values)

    def ids(attribute):  # the answer's items are exactly the side's objects of that kind
        return lambda body, side: _item_ids(body) == set(getattr(side, attribute))

    def zero(body, side):
        return body["total"] == _open_hazards(w.app, [side.code]) and all(
            row["district"] == side.code for row in body["rows"])

    def coverage(body, side):
        return [row["district"] for row in body["rows"]] == [side.code] and body["total"]["registered"] == 1

    def quarter_figures(body, side):
        return (body["deductions"]["proposed"], body["deductions"]["confirmed"]) == (
            _deductions(w.app, side.code), _deductions(w.app, side.code, confirmed=True))

    def only_a(check):  # a query naming A: B's answer must merely hold nothing of A's
        return lambda body, side: side is not a or check(body, side)

    near = f"near={a.lat},{a.lon}&radius_m=2000"
    return [
        ("/subjects", ALL_ROLES, "inspector_A", has("subject")),
        (f"/subjects?q={a.subject_name}", ALL_ROLES, "inspector_A", only_a(has("subject"))),
        (f"/subjects?{near}", ALL_ROLES, "inspector_A", only_a(has("subject"))),
        ("/hazards", ALL_ROLES, "inspector_A", has("general", "major", "pending")),
        ("/hazards?status=pending_review", ALL_ROLES, "inspector_A", has("pending")),
        ("/assignments", ALL_ROLES, "inspector_A",  # the caller's own: B's inspector holds B's
         lambda body, side: _item_ids(body) <= {side.assignment}
         and (side is not a or a.assignment in _item_ids(body))),
        ("/campaigns", ALL_ROLES, "leader_A", lambda body, side: getattr(side, "campaign", None) in _item_ids(body)
         or not side.full),
        ("/campaigns?active=true", ALL_ROLES, "leader_A", lambda body, side: w.both in _item_ids(body)),
        ("/leader-duties", ALL_ROLES, "leader_A",
         lambda body, side: [item["district"] for item in body["items"]] == [side.code]),
        ("/cases", CASE_READERS, "enforcement_A", has("case_no")),
        (f"/cases?enterprise_id={a.enterprise}", CASE_READERS, "enforcement_A", only_a(has("case_no"))),
        (f"/cases?q={a.case_no}", CASE_READERS, "enforcement_A", only_a(has("case_no"))),
        ("/credit/deductions", CREDIT_READERS, "leader_A", ids("deductions")),
        (f"/credit/deductions?enterprise_id={a.enterprise}", CREDIT_READERS, "leader_A", only_a(ids("deductions"))),
        ("/credit/ranking?kind=gas_operator", CREDIT_READERS, "leader_A", has("enterprise")),
        (quarter, CREDIT_READERS, "leader_A", quarter_figures),
        ("/figures/zero", ALL_ROLES, "inspector_A", zero),
        ("/figures/zero?by=district,severity", ALL_ROLES, "inspector_A", zero),
        (f"/campaigns/{w.both}/coverage?by=district", ALL_ROLES, "leader_A", coverage),
    ]


def test_lists_and_figures_hold_only_the_callers_districts(app, client):
    """B's actors never see A's objects or figures in a list, whatever they ask; A's control actor does."""
    world = build_world(app, client)
    a, markers = world.a, _markers(world.a)
    for path, roles, control, check in _list_probes(world):
        for actor, (role, side) in ACTORS.items():
            if side != "B":
                continue
            response = client.get(API + path, headers=world.headers[actor])
            if role not in roles:
                assert (response.status_code, _problem(response)["code"]) == (403, "forbidden"), (path, actor)
                continue
            assert response.status_code == 200, (path, actor, response.get_data(as_text=True)[:500])
            text = response.get_data(as_text=True)
            assert not [m for m in markers if m in text], (path, actor, "holds A's", text[:800])
            assert check(response.get_json(), world.b), (path, actor, text[:800])
        response = client.get(API + path, headers=world.headers[control])
        assert response.status_code == 200 and check(response.get_json(), a), (path, control,
                                                                              response.get_data(as_text=True)[:800])

    # Naming A explicitly does not open it: the district of the figures, a campaign of A.
    for actor in ("inspector_B", "leader_B", "enforcement_B"):
        headers = world.headers[actor]
        assert (client.get(f"{API}/figures/zero?district={A}", headers=headers).status_code,
                client.get(f"{API}/figures/zero?campaign_id={a.campaign}", headers=headers).status_code) == (403, 422)
    control = world.headers["inspector_A"]
    named = client.get(f"{API}/figures/zero?district={A}", headers=control)
    assert named.get_json()["total"] == _open_hazards(app, [A])
    assert client.get(f"{API}/figures/zero?campaign_id={a.campaign}", headers=control).status_code == 200
    # The figures do differ between the districts (else the checks above could not tell them apart).
    assert _open_hazards(app, [A]) != _open_hazards(app, [B]) and _deductions(app, A) != _deductions(app, B)


def test_a_shared_campaign_is_sampled_only_by_a_leader_of_all_its_districts(app, client):
    """A 回头看 phase is drawn once for the whole campaign: a leader of B alone (or of A alone) drawing the campaign
    of A and B would use the phase up for the other district, so it is refused (403) and nothing changes; an
    administrator draws it, A's closed hazard included."""
    world = build_world(app, client)
    _post(client, world.headers["inspector_A"], f"/hazards/{world.a.pending}/reviews",
          {"id": _uuid(), "decision": "accept", "note": "复查合格"}, (201,))
    request = Req("POST", f"/campaigns/{world.both}/samples", {"phase": "回头看", "seed": 7})
    before = fingerprint(app)
    for actor in ("leader_B", "leader_A"):
        response = send(client, request, world.headers[actor])
        assert (response.status_code, _problem(response)["code"]) == (403, "forbidden"), actor
    assert _changed(before, fingerprint(app)) == []
    drawn = _ok(send(client, request, world.headers["admin"]), (201,))
    assert [item["hazard_id"] for item in drawn["items"]] == [world.a.pending]


# --- photos: served only as their sniffed image type --------------------------------------------------------

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


def test_photos_are_served_only_as_their_sniffed_image_type(app, client):
    """Whatever Content-Type came with the bytes, a photo is served as the image type sniffed from them, with
    nosniff, never as HTML; markup sent as a photo is refused (415) and nothing of it is kept."""
    world = build_world(app, client)
    a, headers = world.a, world.headers["inspector_A"]
    png, jpeg = make_png((48, 32)), make_jpeg((48, 32), color=(9, 99, 199))
    polyglot = png + HTML  # a whole PNG with markup after its end
    # (bytes, Content-Type sent, type it must be served as; None: refused)
    sent = [(png, "text/html", "image/png"), (jpeg, "image/png", "image/jpeg"), (polyglot, "text/html", "image/png"),
            (make_png((20, 20)), "application/xhtml+xml", "image/png"), (HTML, "image/png", None),
            (SVG, "image/svg+xml", None)]
    declared = [photo_decl(data) for data, _, _ in sent]
    submit(client, headers, inspection_payload(a.subject_ref, photos=declared))
    for (data, content_type, sniffed), photo in zip(sent, declared):
        upload = put_photo(client, headers, photo["id"], data, content_type=content_type)
        info = client.get(f"{API}/photos/{photo['id']}/info", headers=headers).get_json()
        if sniffed is None:
            assert (upload.status_code, _problem(upload)["code"]) == (415, "unsupported_media"), content_type
            assert info["received"] is False
            assert client.get(f"{API}/photos/{photo['id']}", headers=headers).status_code == 404
            continue
        assert upload.status_code == 201 and info["content_type"] == sniffed, (content_type, upload.get_json())
        for suffix, media in (("", sniffed), ("/display", "image/jpeg"), ("/thumbnail", "image/jpeg")):
            served = client.get(f"{API}/photos/{photo['id']}{suffix}", headers=headers)
            assert served.status_code == 200 and served.mimetype == media, (suffix, served.mimetype)
            assert served.headers["X-Content-Type-Options"] == "nosniff"
            assert "html" not in served.headers["Content-Type"] and "xml" not in served.headers["Content-Type"]
            if not suffix:
                assert served.get_data() == data
    # The unreceived markup left no file: the store holds the received photos' originals and renditions only.
    stored = " ".join(str(p) for p in Path(app.config["PHOTO_ROOT"]).rglob("*") if p.is_file())
    assert all(sha256(data) in stored for data, _, sniffed in sent if sniffed is not None)
    assert not any(sha256(data) in stored for data, _, sniffed in sent if sniffed is None)


# --- dead tokens --------------------------------------------------------------------------------------

TOKEN_SAMPLE = [("GET", "/hazards/{hazard_id}"), ("POST", "/hazards/{hazard_id}/notices"),
                ("PUT", "/photos/{photo_id}"), ("PATCH", "/cases/{case_id}"),
                ("POST", "/credit/deductions/{deduction_id}/confirm"), ("DELETE", "/assignments/{assignment_id}"),
                ("POST", "/inspections")]


def test_expired_and_revoked_tokens_are_refused_everywhere(app, client):
    """An expired and a signed-out token of the owner get 401 on a sample of operations (lists, reads and writes)
    and change nothing; the owner's live token then succeeds. (/me alone: tests/api/test_auth.py.)"""
    world = build_world(app, client)
    usernames = {"inspector_A": "inspector_兴庆", "leader_A": "leader_兴庆", "enforcement_A": "enforcement_兴庆"}
    dead = {}
    for actor, username in usernames.items():
        expired, revoked = login(client, username), login(client, username)
        with app.app_context():
            token = expired["Authorization"].removeprefix("Bearer ")
            db.session.execute(update(ApiToken).where(ApiToken.token_hash == token_digest(token)).values(
                expires_at=local_now() - timedelta(seconds=1)))
            db.session.commit()
        assert client.delete(f"{API}/auth/token", headers=revoked).status_code == 204
        dead[actor] = (expired, revoked)
    sample = [(TABLE[key].owner, TABLE[key].build(world)) for key in TOKEN_SAMPLE]
    sample += [("inspector_A", Req("GET", "/subjects")), ("leader_A", Req("GET", "/credit/deductions")),
               ("inspector_A", Req("GET", "/figures/zero"))]
    before = fingerprint(app)
    for owner, request in sample:
        for headers in dead[owner]:
            response = send(client, request, headers)
            assert (response.status_code, _problem(response)["code"]) == (401, "unauthorized"), request.path
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _changed(before, fingerprint(app)) == []
    for owner, request in sample:
        response = send(client, request, world.headers[owner])
        assert response.status_code in (200, 201, 204), (request.path, response.get_data(as_text=True)[:500])


# --- city-wide analysis ------------------------------------------------------------------------------------

def test_city_wide_reports_are_refused_to_district_users(app, client):
    """The quarterly analysis holds every district's figures: each district-scoped user gets 403 on every report
    operation and nothing is made; the committee makes, reads and downloads it."""
    world = build_world(app, client)
    keys = [key for key, op in TABLE.items() if op.kind == "citywide"]
    before = fingerprint(app)
    for key in keys:
        request = TABLE[key].build(world)
        for actor, (_, side) in ACTORS.items():
            if side is not None:
                response = send(client, request, world.headers[actor])
                assert (response.status_code, _problem(response)["code"]) == (403, "forbidden"), (key, actor)
    assert _changed(before, fingerprint(app)) == []
    order = sorted(keys, key=lambda k: k[0] != "POST")  # make the snapshot first
    for key in order:
        response = send(client, TABLE[key].build(world), world.headers["committee"])
        assert response.status_code in (200, 201), (key, response.get_data(as_text=True)[:500])
