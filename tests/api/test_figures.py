"""GET /api/v1/figures/zero and `flask figures zero`: open hazards as of a time, within the caller's districts."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from helpers import assert_problem, login, make_subject, make_user
from server.database import set_now, utcnow
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action
from server.hazards.models import Hazard
from server.inspections.models import Campaign, Inspection

SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/figures/zero"


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    set_now(None)


def _report(user, when: str, *, district: str, domain: str = "gas", severity: str = "general",
            campaign: int | None = None) -> Hazard:
    set_now(at(when))
    subject = make_subject(district_code=district, domain=domain)
    inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=user.id, district_code=district,
                            domain=domain, checklist_code="gas-user", checklist_version=1, started_at=utcnow(),
                            payload_hash="x", campaign_id=campaign)
    db.session.add(inspection)
    db.session.flush()
    hazard = Hazard(id=uuid.uuid4(), inspection_id=inspection.id, subject_id=subject.id, district_code=district,
                    domain=domain, checklist_code="gas-user", item_code="G02", description="软管老化",
                    severity=severity, deadline=date(2026, 12, 31), reported_by=user.id, created_at=utcnow(),
                    campaign_id=campaign)
    hazard_service.report(hazard=hazard, actor=user, supervising_unit="银川市住房和城乡建设局")
    db.session.commit()
    return hazard


@pytest.fixture
def city(app, client):
    """兴庆区 (640104): two hazards, one closed on 03-02; 金凤区 (640106): one in a campaign; 惠农区 (640205): one.

    The hazard of 金凤区 is reported at 23:30 on 2026-03-01 (Shanghai), 15:30 UTC: it belongs to that day.
    """
    with app.app_context():
        make_user("xingqing", districts=["640104"])
        make_user("leader", roles=["leader"], districts=["640100"])
        make_user("committee", roles=["committee"], districts=[])
        admin = make_user("admin", roles=["admin"], districts=[])
        campaign = Campaign(name="燃气安全专项整治", domains=["gas"], districts=["640106"], starts_on=date(2026, 3, 1),
                            ends_on=date(2026, 6, 30), phases=[])
        db.session.add(campaign)
        db.session.commit()
        closed = _report(admin, "2026-03-01T09:00", district="640104")
        _report(admin, "2026-03-01T10:00", district="640104", severity="major", domain="self_built_house")
        _report(admin, "2026-03-01T23:30", district="640106", campaign=campaign.id)
        _report(admin, "2026-03-02T00:30", district="640205")
        set_now(at("2026-03-02T12:00"))
        hazard_service.transition(hazard=closed, action=Action.RECTIFY, actor=admin)
        hazard_service.transition(hazard=closed, action=Action.ACCEPT, actor=admin)
        db.session.commit()
        set_now(at("2026-03-10T12:00"))
        campaign_id = campaign.id
    return SimpleNamespace(campaign=campaign_id, xingqing=login(client, "xingqing"), leader=login(client, "leader"),
                           committee=login(client, "committee"))


def _get(client, headers, **query):
    response = client.get(URL, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_city_figures_now_and_as_of_a_past_day(client, city):
    """The committee sees the city: 3 open now; on 2026-03-01 (end of day, Shanghai) 3 too, but another three."""
    now = _get(client, city.committee, by="district")
    assert now["total"] == 3 and now["as_of"] == "2026-03-10T12:00:00+08:00"
    assert now["rows"] == [{"district": "640104", "open": 1}, {"district": "640106", "open": 1},
                           {"district": "640205", "open": 1}]
    day = _get(client, city.committee, as_of="2026-03-01", by="district")
    assert day["as_of"].startswith("2026-03-01T23:59:59.999999+08:00")
    assert day["rows"] == [{"district": "640104", "open": 2}, {"district": "640106", "open": 1}]
    morning = _get(client, city.committee, as_of="2026-03-01T09:30:00+08:00")
    assert morning["total"] == 1 and morning["rows"] == [] and morning["group_by"] == []
    utc = _get(client, city.committee, as_of="2026-03-01T01:30:00Z")  # the same instant
    assert utc["total"] == 1


def test_groupings_and_filters(client, city):
    """Several groupings at once, and district, domain and campaign filters."""
    body = _get(client, city.committee, by="domain,severity,campaign,age")
    assert body["group_by"] == ["domain", "severity", "campaign", "age"]
    assert body["rows"] == [
        {"domain": "gas", "severity": "general", "campaign": city.campaign, "age": "8-30", "open": 1},
        {"domain": "gas", "severity": "general", "campaign": None, "age": "8-30", "open": 1},
        {"domain": "self_built_house", "severity": "major", "campaign": None, "age": "8-30", "open": 1}]
    assert _get(client, city.committee, domain="self_built_house")["total"] == 1
    assert _get(client, city.committee, campaign_id=city.campaign)["total"] == 1
    filtered = _get(client, city.committee, district="640100", by="district")  # 银川市 and its counties
    assert filtered["district"] == "640100" and filtered["total"] == 2
    assert [row["district"] for row in filtered["rows"]] == ["640104", "640106"]


def test_an_inspector_sees_only_its_districts(client, city):
    """兴庆区's inspector counts only 兴庆区; naming its own district works, another is 403."""
    mine = _get(client, city.xingqing, by="district")
    assert mine["total"] == 1 and mine["rows"] == [{"district": "640104", "open": 1}]
    assert _get(client, city.xingqing, district="640104", as_of="2026-03-01")["total"] == 2
    assert_problem(client.get(URL, query_string={"district": "640106"}, headers=city.xingqing), 403, "forbidden")
    assert_problem(client.get(URL, query_string={"district": "640100"}, headers=city.xingqing), 403, "forbidden")
    # A campaign of 金凤区 is not the inspector's: refused as if it did not exist.
    body = assert_problem(client.get(URL, query_string={"campaign_id": city.campaign}, headers=city.xingqing),
                          422, "validation_error")
    assert list(body["errors"]) == ["campaign_id"]


def test_a_leader_sees_the_districts_under_its_city(client, city):
    """A leader of 银川市 (640100) counts 兴庆区 and 金凤区 but not 惠农区 (石嘴山市)."""
    body = _get(client, city.leader, by="district")
    assert body["total"] == 2 and [row["district"] for row in body["rows"]] == ["640104", "640106"]
    assert _get(client, city.leader, district="640106")["total"] == 1
    assert_problem(client.get(URL, query_string={"district": "640205"}, headers=city.leader), 403, "forbidden")


@pytest.mark.parametrize("query, field", [
    ({"by": "district,status"}, "by"),
    ({"as_of": "2026-03-01T10:00:00"}, "as_of"),  # no offset
    ({"as_of": "2026-02-30"}, "as_of"),
    ({"as_of": "last week"}, "as_of"),
    ({"as_of": "0001-01-01T00:00:00+08:00"}, "as_of"),
    ({"as_of": "2026-03-01T10:00:00+08:00" + "0" * 80}, "as_of"),
    ({"district": "999999"}, "district"),
    ({"domain": "water"}, "domain"),
    ({"campaign_id": "abc"}, "campaign_id"),
    ({"campaign_id": "999"}, "campaign_id"),
])
def test_bad_input_is_422_naming_the_field(client, city, query, field):
    """Every bad query parameter answers 422 problem+json naming it, never 500."""
    body = assert_problem(client.get(URL, query_string=query, headers=city.committee), 422, "validation_error")
    assert field in body["errors"], body


def test_far_future_is_now_and_a_token_is_needed(client, city):
    """9999-12-31 answers as of now; without a token 401."""
    assert _get(client, city.committee, as_of="9999-12-31")["as_of"] == "2026-03-10T12:00:00+08:00"
    assert_problem(client.get(URL), 401, "unauthorized")


def test_openapi_documents_the_endpoint(client):
    """The figures endpoint is in the OpenAPI document with its query parameters."""
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/figures/zero"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert names == {"as_of", "district", "domain", "campaign_id", "by"}


def test_cli_prints_a_table_and_json(app, city):
    """`flask figures zero` prints a table with district names and Chinese labels, or the same figures as JSON."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["figures", "zero", "--by", "district,severity"])
    assert result.exit_code == 0, result.output
    assert "未销号隐患 3" in result.output
    assert "640104 兴庆区" in result.output and "重大" in result.output and "合计" in result.output
    result = runner.invoke(args=["figures", "zero", "--as-of", "2026-03-01", "--district", "640100", "--by", "district",
                                 "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["total"] == 3 and body["as_of"].startswith("2026-03-01T23:59:59")
    assert body["rows"] == [{"district": "640104", "open": 2}, {"district": "640106", "open": 1}]
    result = runner.invoke(args=["figures", "zero", "--campaign", str(city.campaign), "--domain", "gas"])
    assert result.exit_code == 0 and "燃气安全专项整治" in result.output and "未销号隐患 1" in result.output


@pytest.mark.parametrize("args, message", [
    (["--by", "status"], "by"),
    (["--as-of", "2026-03-01T10:00"], "as_of"),
    (["--district", "999999"], "district"),
    (["--campaign", "999"], "campaign_id"),
])
def test_cli_refuses_bad_input(app, city, args, message):
    """A bad option is an error message and exit status 1, not a traceback."""
    result = app.test_cli_runner().invoke(args=["figures", "zero", *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
