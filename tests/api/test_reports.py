"""The quarterly analysis through the API: the committee makes, reads and downloads a quarter built from
inspections and reviews sent through the phone API; versions, roles, bad input, the OpenAPI document."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from helpers import assert_problem, hazard_item, inspection_payload, login, make_subject, make_user
from server import canonical
from server.database import set_now

SHANGHAI = ZoneInfo("Asia/Shanghai")
API = "/api/v1"


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def local(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    set_now(None)


@pytest.fixture
def city(app, client):
    """A second quarter of 2026 in 兴庆区 sent through the phone API: two hazards found, one closed; then July.

    Users: an inspector, a leader of 银川市 (city level), a leader of 金凤区, an officer, a committee member,
    an administrator.
    """
    set_now(at("2026-04-01T08:00"))
    with app.app_context():
        make_user("insp", roles=["inspector"], districts=["640104"])
        make_user("boss", roles=["leader"], districts=["640100"], name="包抓领导")
        make_user("far", roles=["leader"], districts=["640106"])
        make_user("cop", roles=["enforcement"], districts=["640100"])
        make_user("board", roles=["committee"], districts=[], name="安委会委员")
        make_user("root", roles=["admin"], districts=[])
        subject = make_subject()
    set_now(at("2026-04-02T10:00"))
    insp, boss = login(client, "insp"), login(client, "boss")
    valve, cylinder = hazard_item("G02"), hazard_item("G07", description="钢瓶超期未检")
    payload = inspection_payload(subject, hazards=[valve, cylinder], started_at=local("2026-04-02T09:30"),
                                 finished_at=local("2026-04-02T09:55"))
    assert client.post(f"{API}/inspections", json=payload, headers=insp).status_code == 201
    set_now(at("2026-04-10T09:00"))
    for headers, action, body in ((insp, "rectifications", {"note": "已安装自闭阀"}),
                                  (boss, "reviews", {"decision": "accept", "note": "现场核查已整改"})):
        response = client.post(f"{API}/hazards/{valve['id']}/{action}", json={"id": str(uuid.uuid4()), **body},
                               headers=headers)
        assert response.status_code == 201, response.get_json()
    set_now(at("2026-07-03T09:00"))
    return {name: login(client, name) for name in ("insp", "boss", "far", "cop", "board", "root")}


def test_the_committee_makes_reads_and_downloads_a_quarter(client, city):
    """Made on demand (201), read back whole (the figures keep their digest), again as version 2, downloaded."""
    made = client.post(f"{API}/reports/quarterly/2026Q2", headers=city["board"])
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["quarter"], body["label"], body["version"], body["complete"]) == ("2026Q2", "2026年第二季度", 1, True)
    assert body["made_by"]["username"] == "board" and body["verified"] is True
    assert body["as_of"] == "2026-06-30T23:59:59.999999+08:00"
    # every stored figure comes back: the answer's figures have the snapshot's digest
    assert canonical.digest(body["figures"]) == body["sha256"]
    total = body["figures"]["hazards"]["total"]
    assert (total["found"], total["closed"], total["open_at_end"], total["overdue_at_end"]) == (2, 1, 1, 1)
    assert total["closure_rate"] == 0.5 and total["median_days_to_close"] == 8.0
    assert body["figures"]["inspections"]["total"] == 1
    assert [t["item"] for t in body["figures"]["top_items"]] == ["G02", "G07"]
    previous = body["figures"]["comparisons"]["previous"]
    assert (previous["quarter"], previous["source"]) == ("2026Q1", "computed")

    second = client.post(f"{API}/reports/quarterly/2026q2", headers=city["boss"]).get_json()
    assert second["version"] == 2 and second["made_by"]["name"] == "包抓领导"
    assert second["figures"]["key_figures"] == body["figures"]["key_figures"]
    latest = client.get(f"{API}/reports/quarterly/2026Q2", headers=city["root"]).get_json()
    assert latest["version"] == 2 and latest["sha256"] == second["sha256"]
    first = client.get(f"{API}/reports/quarterly/2026Q2", query_string={"version": 1}, headers=city["board"])
    assert first.get_json()["sha256"] == body["sha256"]
    listed = client.get(f"{API}/reports/quarterly", headers=city["board"]).get_json()["items"]
    assert [(r["quarter"], r["version"]) for r in listed] == [("2026Q2", 2), ("2026Q2", 1)]
    assert "figures" not in listed[0]

    workbook = client.get(f"{API}/reports/quarterly/2026Q2/xlsx", query_string={"version": 1},
                          headers=city["board"])
    assert workbook.status_code == 200 and workbook.mimetype.endswith("spreadsheetml.sheet")
    assert workbook.headers["X-Snapshot-SHA256"] == body["sha256"]
    assert "2026年第二季度安全生产形势分析（第1版）.xlsx" in unquote(workbook.headers["Content-Disposition"])
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook.data))["隐患（领域×等级）"]
    assert list(sheet.iter_rows(values_only=True))[-1][:6] == ("合计", None, 2, 1, 1, 0.5)

    report = client.get(f"{API}/reports/quarterly/2026Q2/docx", headers=city["board"])
    assert report.status_code == 200 and report.mimetype.endswith("wordprocessingml.document")
    assert report.headers["X-Snapshot-SHA256"] == second["sha256"]
    from docx import Document

    document = Document(io.BytesIO(report.data))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "关于2026年第二季度全市住房城乡建设领域安全生产形势的分析报告" in text
    assert "排查发现隐患2处" in text and "当季整改率50.0%" in text and second["sha256"] in text
    assert len(document.inline_shapes) >= 3


def test_only_the_committee_city_leaders_and_admins(client, city):
    """Inspectors, officers and county leaders are 403 on every endpoint; without a token 401."""
    assert client.post(f"{API}/reports/quarterly/2026Q2", headers=city["board"]).status_code == 201
    paths = ["/reports/quarterly", "/reports/quarterly/2026Q2", "/reports/quarterly/2026Q2/xlsx",
             "/reports/quarterly/2026Q2/docx"]
    for who in ("insp", "cop", "far"):
        for path in paths:
            assert_problem(client.get(f"{API}{path}", headers=city[who]), 403, "forbidden")
        assert_problem(client.post(f"{API}/reports/quarterly/2026Q2", headers=city[who]), 403, "forbidden")
    for path in paths:
        assert_problem(client.get(f"{API}{path}"), 401, "unauthorized")
    for who in ("boss", "root"):
        assert client.get(f"{API}/reports/quarterly/2026Q2", headers=city[who]).status_code == 200
    assert len(client.get(f"{API}/reports/quarterly", headers=city["board"]).get_json()["items"]) == 1


def test_bad_quarters_versions_and_methods(client, city):
    """A malformed or future quarter is 422, one never made 404, a bad version 422; snapshots cannot be changed."""
    headers = city["board"]
    for quarter in ("2026Q5", "26Q1", "2026-Q1", "x" * 40):
        assert "quarter" in assert_problem(client.get(f"{API}/reports/quarterly/{quarter}", headers=headers),
                                           422, "validation_error")["errors"]
    assert_problem(client.post(f"{API}/reports/quarterly/2026Q4", headers=headers), 422, "validation_error")
    assert_problem(client.get(f"{API}/reports/quarterly/2025Q4", headers=headers), 404, "not_found")
    assert_problem(client.get(f"{API}/reports/quarterly/2025Q4/docx", headers=headers), 404, "not_found")
    assert client.post(f"{API}/reports/quarterly/2026Q2", headers=headers).status_code == 201
    for version in ("0", "abc", "-1"):
        assert_problem(client.get(f"{API}/reports/quarterly/2026Q2", query_string={"version": version},
                                  headers=headers), 422, "validation_error")
    assert_problem(client.get(f"{API}/reports/quarterly/2026Q2", query_string={"version": 7}, headers=headers),
                   404, "not_found")
    assert_problem(client.get(f"{API}/reports/quarterly", query_string={"quarter": "2026Q9"}, headers=headers),
                   422, "validation_error")
    for method in (client.put, client.delete, client.patch):
        assert_problem(method(f"{API}/reports/quarterly/2026Q2", headers=headers, json={}), 405,
                       "method_not_allowed")
    # a running quarter may be made on demand: its figures say so
    running = client.post(f"{API}/reports/quarterly/2026Q3", headers=headers).get_json()
    assert running["complete"] is False and running["as_of"] == "2026-07-03T09:00:00+08:00"


def test_the_openapi_document_describes_the_reports(client):
    """The endpoints, their files and the figures' schema are in the OpenAPI document."""
    spec = client.get(f"{API}/openapi.json").get_json()
    for path in ("/api/v1/reports/quarterly", "/api/v1/reports/quarterly/{quarter}",
                 "/api/v1/reports/quarterly/{quarter}/xlsx", "/api/v1/reports/quarterly/{quarter}/docx"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/api/v1/reports/quarterly/{quarter}"]
    docx = spec["paths"]["/api/v1/reports/quarterly/{quarter}/docx"]["get"]["responses"]["200"]["content"]
    assert list(docx) == ["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
    figures = spec["components"]["schemas"]["QuarterFigures"]["properties"]
    assert {"hazards", "majors", "recurrences", "coverage", "credit", "cases", "top_items", "comparisons"} <= set(figures)
