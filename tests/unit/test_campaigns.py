"""Campaigns: creation rules, which campaign a visit belongs to, coverage, visits without access."""

from datetime import date, datetime, timedelta, timezone
from functools import partial

import pytest
from sqlalchemy import select

from field_app_api.schemas import InspectionInSchema
from helpers import hazard_item, inspection_payload, make_subject, make_user
from server.accounts import service as account_service
from server.errors import ProblemError
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections import coverage as coverage_service
from server.inspections import service as inspection_service
from server.inspections.models import Inspection
from server.notifications.models import Outbox

CST = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def cheap_password_hash(monkeypatch):
    """Hash test passwords cheaply (scrypt costs ~90 ms per user); signing in is not tested here."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(account_service, "generate_password_hash",
                        partial(lambda generate, password, method=None: generate(password, method="pbkdf2:sha256:1000"),
                                generate_password_hash))


def make_campaign(**overrides):
    """Create a campaign (gas in 兴庆区 for 2026) and commit it."""
    values = dict(name="城镇燃气安全专项整治", doc_no="银建发〔2026〕1号", domains=["gas"], districts=["640104"],
                  starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), phases=[])
    values.update(overrides)
    campaign = campaign_service.create(**values)
    db.session.commit()
    return campaign


def visit(subject, user, *, started=None, extra=None, **overrides):
    """Submit a visit through the service as the API would after validation; return the inspection."""
    started = started or datetime(2026, 5, 4, 9, 30, tzinfo=CST)
    payload = inspection_payload(subject, started_at=started.isoformat(),
                                 finished_at=(started + timedelta(minutes=20)).isoformat(), **overrides)
    data = InspectionInSchema().load(payload)
    data.update(extra or {})
    inspection, _ = inspection_service.submit(data=data, actor=user,
                                              districts=account_service.visible_districts(user))
    db.session.commit()
    return inspection


def refused(call, field: str) -> ProblemError:
    with pytest.raises(ProblemError) as error:
        call()
    db.session.rollback()
    assert error.value.code == "validation_error", error.value.detail
    assert field in (error.value.errors or {}), error.value.errors
    return error.value


# --- creation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, field", [
    ({"name": "  "}, "name"),
    ({"domains": []}, "domains"),
    ({"domains": ["gas", "water"]}, "domains"),
    ({"districts": []}, "districts"),
    ({"districts": ["999999"]}, "districts"),
    ({"starts_on": date(2026, 6, 1), "ends_on": date(2026, 5, 1)}, "ends_on"),
    ({"starts_on": "2026-13-01"}, "starts_on"),
    ({"phases": [{"name": "集中攻坚", "kind": "inspect", "starts_on": "2025-12-01", "ends_on": "2026-02-01"}]},
     "phases.0"),
    ({"phases": [{"name": "回头看", "kind": "review", "starts_on": "2026-02-01", "ends_on": "2026-03-01"}]},
     "phases.0.kind"),
    ({"phases": [{"name": "a", "starts_on": "2026-02-01", "ends_on": "2026-03-01"},
                 {"name": "a", "starts_on": "2026-03-01", "ends_on": "2026-04-01"}]}, "phases.1.name"),
    ({"phases": [{"name": "回头看", "kind": "reinspect", "starts_on": "2026-02-01", "ends_on": "2026-03-01",
                  "sample_share": 1.5}]}, "phases.0.sample_share"),
    ({"phases": [{"name": "排查", "kind": "inspect", "starts_on": "2026-02-01", "ends_on": "2026-03-01",
                  "sample_share": 0.2}]}, "phases.0.sample_share"),
])
def test_create_refuses_bad_campaigns(app, overrides, field):
    """A blank name, unknown field or district, reversed period, or a phase outside it or malformed is a 422 on its path."""
    with app.app_context():
        refused(lambda: make_campaign(**overrides), field)


def test_create_keeps_phases_with_iso_dates(app):
    """Phases are stored with ISO dates, their kind, and a reinspect phase's sample share."""
    with app.app_context():
        campaign = make_campaign(phases=[
            {"name": "集中攻坚", "starts_on": date(2026, 1, 1), "ends_on": date(2026, 6, 30)},
            {"name": "回头看", "kind": "reinspect", "starts_on": "2026-07-01", "ends_on": "2026-12-31",
             "sample_share": 0.2}])
        assert campaign_service.get(campaign_id=campaign.id).phases == [
            {"name": "集中攻坚", "kind": "inspect", "starts_on": "2026-01-01", "ends_on": "2026-06-30"},
            {"name": "回头看", "kind": "reinspect", "starts_on": "2026-07-01", "ends_on": "2026-12-31",
             "sample_share": 0.2}]


def test_campaign_for_matches_date_field_and_district(app):
    """A visit belongs to the most recently started campaign running that day for its field and district (or a parent)."""
    with app.app_context():
        city = make_campaign(name="全市燃气", districts=["640100"], starts_on=date(2026, 1, 1))
        later = make_campaign(name="兴庆区燃气", districts=["640104"], starts_on=date(2026, 3, 1),
                              ends_on=date(2026, 4, 30))
        make_campaign(name="自建房", domains=["self_built_house"], districts=["640104"], starts_on=date(2026, 4, 1))

        def found(domain, district, day):
            campaign = campaign_service.campaign_for(domain=domain, district=district, on=day)
            return campaign.name if campaign else None

        assert found("gas", "640104", date(2026, 2, 1)) == city.name
        assert found("gas", "640104", date(2026, 4, 10)) == later.name
        assert found("gas", "640106", date(2026, 4, 10)) == city.name
        assert found("gas", "640104", date(2026, 5, 1)) == city.name
        assert found("gas", "640202", date(2026, 4, 10)) is None
        assert found("construction_site", "640104", date(2026, 4, 10)) is None
        assert found("gas", "640104", date(2027, 1, 1)) is None


# --- submission: campaign, outcome --------------------------------------------------------------------

def test_visit_takes_the_running_campaign_and_tags_its_hazards(app):
    """A visit without campaign_id gets the running campaign by its local day; its hazards carry it too."""
    with app.app_context():
        campaign = make_campaign()
        user, subject = make_user(), make_subject()
        inspection = visit(subject, user, hazards=[hazard_item()])
        assert inspection.campaign_id == campaign.id and inspection.outcome == "inspected"
        assert db.session.scalar(select(Hazard.campaign_id)) == campaign.id
        # 2025-12-31 23:30 in Yinchuan is before the campaign, although 2026-01-01 has begun nowhere yet in UTC.
        before = visit(subject, user, started=datetime(2025, 12, 31, 23, 30, tzinfo=CST))
        assert before.campaign_id is None
        first_day = visit(subject, user, started=datetime(2026, 1, 1, 0, 10, tzinfo=CST))
        assert first_day.campaign_id == campaign.id


def test_named_campaign_must_cover_the_subject(app):
    """campaign_id must name a campaign covering the subject's field and district, else 422 on campaign_id."""
    with app.app_context():
        gas = make_campaign()
        houses = make_campaign(name="自建房", domains=["self_built_house"])
        elsewhere = make_campaign(name="金凤区", districts=["640106"])
        user, subject = make_user(), make_subject()
        for campaign_id in (houses.id, elsewhere.id, 9999, "1"):
            refused(lambda: visit(subject, user, extra={"campaign_id": campaign_id}), "campaign_id")
        named = visit(subject, user, started=datetime(2027, 3, 1, 10, 0, tzinfo=CST), extra={"campaign_id": gas.id})
        assert named.campaign_id == gas.id


def test_no_access_visit_has_no_results_or_hazards(app):
    """outcome no_access refuses results and hazards (422); an unknown outcome is refused too."""
    with app.app_context():
        user, subject = make_user(), make_subject()
        refused(lambda: visit(subject, user, extra={"outcome": "no_access"},
                              results=[{"item": "G02", "outcome": "fail"}]), "results")
        refused(lambda: visit(subject, user, extra={"outcome": "no_access"}, hazards=[hazard_item()]), "hazards")
        refused(lambda: visit(subject, user, extra={"outcome": "nobody"}), "outcome")
        stored = visit(subject, user, extra={"outcome": "no_access"})
        assert stored.outcome == "no_access"


def test_three_visits_without_access_escalate_once_per_streak(app):
    """The third no_access in a row queues one escalation to the duty leader; the fourth does not; a new streak does."""
    with app.app_context():
        leader = make_user(roles=["leader"], districts=["640100"])
        assignment_service.set_duty(district="640100", domain="gas", user_id=leader.id, actor=None)
        user, subject = make_user(), make_subject()
        day = datetime(2026, 5, 1, 9, 0, tzinfo=CST)

        def away(n):
            return visit(subject, user, started=day + timedelta(days=n), extra={"outcome": "no_access"})

        def outbox():
            return db.session.scalars(select(Outbox).order_by(Outbox.id)).all()

        first, _ = away(0), away(1)
        assert outbox() == []
        away(2)
        [row] = outbox()
        assert row.kind == "no_access_escalation" and row.recipient_id == leader.id
        assert row.dedupe_key == f"no_access:{subject.id}:{first.id}"
        assert subject.name in row.subject and "连续3次" in row.body
        away(3)
        assert len(outbox()) == 1
        visit(subject, user, started=day + timedelta(days=4))
        restart = away(5)
        away(6)
        away(7)
        rows = outbox()
        assert len(rows) == 2 and rows[1].dedupe_key == f"no_access:{subject.id}:{restart.id}"


def test_no_escalation_without_a_duty_leader(app):
    """Without a leader on duty for the district and field, a third no_access is stored and nobody is queued."""
    with app.app_context():
        user, subject = make_user(), make_subject()
        for n in range(3):
            visit(subject, user, started=datetime(2026, 5, 1 + n, 9, 0, tzinfo=CST), extra={"outcome": "no_access"})
        assert db.session.scalar(select(Outbox.id)) is None
        assert db.session.query(Inspection).count() == 3


def test_leader_for_falls_back_to_the_parent_district(app):
    """A district's own duty wins; without one, the nearest ancestor's leader answers; other fields are separate."""
    with app.app_context():
        city = make_user(roles=["leader"], districts=["640100"])
        local = make_user(roles=["leader"], districts=["640104"])
        assignment_service.set_duty(district="640100", domain="gas", user_id=city.id, actor=None)
        assignment_service.set_duty(district="640104", domain="gas", user_id=local.id, actor=None)
        db.session.commit()
        assert assignment_service.leader_for(district="640104", domain="gas").id == local.id
        assert assignment_service.leader_for(district="640106", domain="gas").id == city.id
        assert assignment_service.leader_for(district="640106", domain="self_built_house") is None
        refused(lambda: assignment_service.set_duty(district="640104", domain="gas",
                                                    user_id=make_user(roles=["inspector"]).id, actor=None), "user_id")


# --- coverage --------------------------------------------------------------------------------------

def test_coverage_counts_a_small_register(app):
    """registered, inspected, never inspected and no access per district and field, within the caller's districts."""
    with app.app_context():
        campaign = make_campaign(domains=["gas", "self_built_house"], districts=["640100"])
        other = make_campaign(name="另一行动", districts=["640104"])
        user = make_user(districts=["640100"])
        xq = [make_subject() for _ in range(5)]                                 # gas, 兴庆区
        houses = [make_subject(domain="self_built_house") for _ in range(2)]  # houses, 兴庆区
        jf = [make_subject(district_code="640106") for _ in range(3)]          # gas, 金凤区
        make_subject(domain="construction_site")                                # not a campaign field
        make_subject(district_code="640202")                                    # not a campaign district
        cid = {"campaign_id": campaign.id}
        visit(xq[0], user, extra=cid)
        visit(xq[0], user, extra={**cid, "outcome": "no_access"})                # let in once: inspected
        visit(xq[1], user, extra={**cid, "outcome": "no_access"})
        visit(xq[1], user, extra={**cid, "outcome": "no_access"})                # never let in: no access
        visit(xq[2], user, extra={"campaign_id": other.id})                      # another campaign's visit
        visit(houses[0], user, extra=cid, checklist=("self-built-house", 1))
        visit(jf[0], user, extra={**cid, "outcome": "no_access"})
        visit(jf[1], user, extra=cid)

        result = coverage_service.coverage(campaign_id=campaign.id, districts=None)
        assert result["campaign"] == {"id": campaign.id, "name": campaign.name}
        figures = {(r["district"], r["domain"]): (r["registered"], r["inspected"], r["never_inspected"], r["no_access"])
                   for r in result["rows"]}
        assert figures == {("640104", "gas"): (5, 1, 3, 1), ("640104", "self_built_house"): (2, 1, 1, 0),
                           ("640106", "gas"): (3, 1, 1, 1)}
        total = result["total"]
        assert (total["registered"], total["inspected"], total["never_inspected"], total["no_access"]) == (10, 3, 5, 2)
        assert total["coverage"] == pytest.approx(0.3)

        mine = coverage_service.coverage(campaign_id=campaign.id, districts=frozenset({"640106"}))
        assert [(r["district"], r["domain"], r["inspected"]) for r in mine["rows"]] == [("640106", "gas", 1)]
        assert mine["total"]["registered"] == 3

        by_domain = coverage_service.rollup(result, ("domain",))
        assert [(r["district"], r["domain"], r["registered"], r["no_access"]) for r in by_domain["rows"]] == [
            (None, "gas", 8, 2), (None, "self_built_house", 2, 0)]


def test_coverage_of_a_duty_leader_includes_the_districts_it_answers_for(app):
    """A leader sees its own districts' figures and those of the districts and fields it is on duty for."""
    with app.app_context():
        campaign = make_campaign(domains=["gas", "self_built_house"], districts=["640100"])
        leader = make_user(roles=["leader"], districts=["640104"])
        assignment_service.set_duty(district="640106", domain="gas", user_id=leader.id, actor=None)
        db.session.commit()
        make_subject(), make_subject(district_code="640106")
        make_subject(district_code="640106", domain="self_built_house")
        result = coverage_service.for_user(campaign_id=campaign.id, user_id=leader.id,
                                           districts=account_service.visible_districts(leader))
        assert [(r["district"], r["domain"]) for r in result["rows"]] == [("640104", "gas"), ("640106", "gas")]
        assert result["total"]["registered"] == 2


def test_unknown_campaign_is_not_found(app):
    """Coverage of a campaign that does not exist is 404."""
    with app.app_context():
        with pytest.raises(ProblemError) as error:
            coverage_service.coverage(campaign_id=9999, districts=None)
        assert error.value.code == "not_found"
