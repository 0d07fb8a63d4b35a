"""Re-inspection (回头看): the stratified sample of closed hazards, and reopening a hazard found again."""

import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from functools import partial

import pytest
from sqlalchemy import select

from field_app_api.schemas import InspectionInSchema
from helpers import hazard_item, inspection_payload, make_subject, make_user
from server.accounts import service as account_service
from server.accounts.models import User
from server.errors import ProblemError
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action
from server.hazards.models import Hazard, HazardEvent
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections import reinspection
from server.inspections import service as inspection_service
from server.registry.models import Subject

CST = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def cheap_password_hash(monkeypatch):
    """Hash test passwords cheaply (scrypt costs ~90 ms per user); signing in is not tested here."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(account_service, "generate_password_hash",
                        partial(lambda generate, password, method=None: generate(password, method="pbkdf2:sha256:1000"),
                                generate_password_hash))


def make_campaign():
    phases = [{"name": "集中攻坚", "kind": "inspect", "starts_on": "2026-01-01", "ends_on": "2026-06-30"},
              {"name": "回头看", "kind": "reinspect", "starts_on": "2026-07-01", "ends_on": "2026-09-30",
               "sample_share": 0.25},
              {"name": "再回头看", "kind": "reinspect", "starts_on": "2026-10-01", "ends_on": "2026-12-31"}]
    campaign = campaign_service.create(name="燃气专项整治", doc_no=None, domains=["gas"], districts=["640100"],
                                       starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), phases=phases)
    db.session.commit()
    return campaign


def visit(subject, user, **overrides):
    """Submit a visit of 2026-05-04 through the service; return the inspection."""
    started = datetime(2026, 5, 4, 9, 30, tzinfo=CST)
    payload = inspection_payload(subject, started_at=started.isoformat(), finished_at=None, **overrides)
    inspection, _ = inspection_service.submit(data=InspectionInSchema().load(payload), actor=user,
                                              districts=account_service.visible_districts(user))
    db.session.commit()
    return inspection


def closed_hazard(user, leader, *, district="640104", severity="general", close=True) -> Hazard:
    """Report a hazard on a new subject in a visit and (unless told not to) close it by rectification and review."""
    subject = make_subject(district_code=district)
    value = hazard_item("G02", severity=severity)
    visit(subject, user, hazards=[value])
    hazard = db.session.get(Hazard, uuid.UUID(value["id"]))
    if close:
        if severity == "major":
            hazard.plan = {"responsible": "张三", "measures": "更换软管", "funds_yuan": 500,
                           "deadline": "2026-06-30", "contingency_plan": "关阀停气"}
        hazard_service.transition(hazard=hazard, action=Action.RECTIFY, actor=user)
        hazard_service.transition(hazard=hazard, action=Action.ACCEPT, actor=leader)
        db.session.commit()
    return hazard


@pytest.fixture
def register(app):
    """A campaign with closed hazards: 兴庆区 10 general + 2 major, 金凤区 3 general + 1 major, and some not to draw."""
    with app.app_context():
        leader = make_user(roles=["leader"], districts=["640100"])
        reporter = make_user(districts=["640100"])
        campaign = make_campaign()
        hazards = ([closed_hazard(reporter, leader) for _ in range(10)]
                   + [closed_hazard(reporter, leader, severity="major") for _ in range(2)]
                   + [closed_hazard(reporter, leader, district="640106") for _ in range(3)]
                   + [closed_hazard(reporter, leader, district="640106", severity="major")])
        still_open = closed_hazard(reporter, leader, close=False)
        xq = [make_user(districts=["640104"]), make_user(districts=["640104"])]
        jf = make_user(districts=["640106"])
        # The first 兴庆区 inspector already carries work: the draw goes to the second first.
        assignment_service.assign(user_id=xq[0].id, subject_ids=[make_subject().id, make_subject().id], actor=None)
        db.session.commit()
        yield {"campaign_id": campaign.id, "hazards": [h.id for h in hazards], "open": still_open.id,
               "leader_id": leader.id, "xq": [u.id for u in xq], "jf": jf.id}


def test_sample_is_stratified_and_takes_every_major_hazard(app, register):
    """ceil(share × n) general hazards per district and every major one, assigned as reinspect with the phase's due date."""
    with app.app_context():
        rows = reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=None, seed=7, actor=None)
        db.session.commit()
        drawn = {r.hazard_id: db.session.get(Hazard, r.hazard_id) for r in rows}
        strata = Counter((h.district_code, h.severity) for h in drawn.values())
        assert strata == {("640104", "general"): 3, ("640104", "major"): 2, ("640106", "general"): 1,
                          ("640106", "major"): 1}
        assert register["open"] not in drawn
        assert all(r.kind == "reinspect" and r.campaign_id == register["campaign_id"] and r.due == date(2026, 9, 30)
                   and r.subject_id == drawn[r.hazard_id].subject_id for r in rows)
        by_user = Counter(r.user_id for r in rows)
        xq_first, xq_second = register["xq"]
        assert by_user[register["jf"]] == 2
        # Fewest open assignments first: the first inspector already had two, so the loads end balanced (4 and 3).
        assert by_user[xq_first] + by_user[xq_second] == 5
        assert sorted([by_user[xq_first] + 2, by_user[xq_second]]) == [3, 4]
        phase = campaign_service.phase(campaign_service.get(campaign_id=register["campaign_id"]), "回头看")
        assert phase["sampled"] == 7 and phase["seed"] == 7 and phase["share"] == 0.25 and phase["unassigned"] == []


def test_sample_is_deterministic_with_a_seed(app, register):
    """The same seed over the same closed hazards draws the same ones."""
    with app.app_context():
        first = reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=0.25, seed=11, actor=None)
        again = reinspection.sample(campaign_id=register["campaign_id"], phase="再回头看", share=0.25, seed=11,
                                    actor=None)
        assert sorted(r.hazard_id for r in first) == sorted(r.hazard_id for r in again)
        draws = {frozenset(h.id for h in reinspection.draw(
            reinspection.population(campaign=campaign_service.get(campaign_id=register["campaign_id"]), districts=None),
            share=0.25, seed=seed)) for seed in range(20)}
        assert len(draws) > 1


def test_share_one_draws_everything(app, register):
    """A share of 1 draws every closed hazard of the campaign."""
    with app.app_context():
        rows = reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=1, seed=1, actor=None)
        assert sorted(r.hazard_id for r in rows) == sorted(register["hazards"])


def test_a_phase_is_sampled_once_and_only_a_reinspect_phase(app, register):
    """Sampling a phase twice is 409 conflict; an inspect phase, an unknown phase or a bad share is 422."""
    with app.app_context():
        reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=None, seed=3, actor=None)
        db.session.commit()
        for phase, share, code in (("回头看", None, "conflict"), ("集中攻坚", 0.5, "validation_error"),
                                   ("没有", 0.5, "validation_error"), ("再回头看", None, "validation_error"),
                                   ("再回头看", 1.5, "validation_error")):
            with pytest.raises(ProblemError) as error:
                reinspection.sample(campaign_id=register["campaign_id"], phase=phase, share=share, actor=None)
            assert error.value.code == code, (phase, error.value.detail)
            db.session.rollback()


def test_finding_the_hazard_again_reopens_it_as_a_recurrence(app, register):
    """The assignee's visit failing the hazard's item reopens it (rectifying, event reopened) and fulfils the assignment."""
    with app.app_context():
        rows = reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=0.25, seed=5, actor=None)
        db.session.commit()
        found_again, fixed = rows[0], rows[1]
        inspector = db.session.get(User, found_again.user_id)
        visit(db.session.get(Subject, found_again.subject_id), inspector,
              results=[{"item": "G02", "outcome": "fail", "note": "仍未安装自闭阀"}])
        hazard = db.session.get(Hazard, found_again.hazard_id)
        assert hazard.status == "rectifying" and hazard.closed_at is None
        event = db.session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hazard.id)
                                   .order_by(HazardEvent.id.desc())).first()
        assert (event.type, event.from_status, event.to_status, event.note) == (
            "reopened", "closed", "rectifying", "回头看复查发现")
        assert reinspection.recurrences(hazard_id=hazard.id) == 1
        assert reinspection.recurrences(campaign_id=register["campaign_id"]) == 1
        assert found_again.id not in {r.id for r in assignment_service.current(user_id=inspector.id)}

        other = db.session.get(User, fixed.user_id)
        visit(db.session.get(Subject, fixed.subject_id), other,
              results=[{"item": "G02", "outcome": "pass"}])
        assert db.session.get(Hazard, fixed.hazard_id).status == "closed"
        assert reinspection.recurrences(campaign_id=register["campaign_id"]) == 1


def test_a_failed_item_without_a_reinspect_assignment_reopens_nothing(app, register):
    """Only the inspector sent to re-inspect a hazard reopens it; another visitor's failed item leaves it closed."""
    with app.app_context():
        rows = reinspection.sample(campaign_id=register["campaign_id"], phase="回头看", share=0.25, seed=5, actor=None)
        db.session.commit()
        row = next(r for r in rows if r.user_id != register["jf"])
        bystander = make_user(districts=["640100"])
        visit(db.session.get(Subject, row.subject_id), bystander,
              results=[{"item": "G02", "outcome": "fail"}])
        assert db.session.get(Hazard, row.hazard_id).status == "closed"
        assert reinspection.recurrences() == 0


def test_a_reopened_hazard_gets_a_new_period_and_is_escalated_again_when_it_passes(app):
    """The old deadline belongs to the old fix: reopening gives a fresh period, and missing it escalates anew."""
    from server.database import set_now
    from server.hazards.enums import Record
    from server.notifications.models import Outbox
    from server.scheduler import jobs

    def escalations(hazard_id):
        return db.session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hazard_id,
                                                            HazardEvent.type == Record.OVERDUE_ESCALATED)).all()

    try:
        with app.app_context():
            set_now(datetime(2026, 5, 4, 3, 0, tzinfo=timezone.utc))
            leader = make_user(roles=["leader"], districts=["640100"])
            inspector = make_user(districts=["640104"])
            campaign = make_campaign()
            hazard = closed_hazard(inspector, leader, close=False)  # reported 2026-05-04, deadline 05-19
            assert hazard.deadline == date(2026, 5, 19)
            set_now(datetime(2026, 5, 21, 1, 0, tzinfo=timezone.utc))
            jobs.overdue_sweep(now=datetime(2026, 5, 21, 1, 0, tzinfo=timezone.utc))
            assert len(escalations(hazard.id)) == 1
            hazard_service.transition(hazard=hazard, action=Action.RECTIFY, actor=inspector)
            hazard_service.transition(hazard=hazard, action=Action.ACCEPT, actor=leader)
            db.session.commit()

            set_now(datetime(2026, 7, 2, 2, 0, tzinfo=timezone.utc))
            (row,) = reinspection.sample(campaign_id=campaign.id, phase="回头看", share=1.0, seed=1, actor=None)
            db.session.commit()
            visit(db.session.get(Subject, row.subject_id), db.session.get(User, row.user_id),
                  results=[{"item": "G02", "outcome": "fail", "note": "仍未安装自闭阀"}])
            hazard = db.session.get(Hazard, hazard.id)
            assert hazard.status == "rectifying" and hazard.deadline == date(2026, 7, 17)
            assert not hazard_service.is_overdue(hazard, today=date(2026, 7, 3))

            jobs.overdue_sweep(now=datetime(2026, 7, 3, 1, 0, tzinfo=timezone.utc))
            assert len(escalations(hazard.id)) == 1  # within its new period: nothing to escalate
            jobs.overdue_sweep(now=datetime(2026, 7, 19, 1, 0, tzinfo=timezone.utc))
            jobs.overdue_sweep(now=datetime(2026, 7, 19, 1, 15, tzinfo=timezone.utc))
            db.session.commit()
            assert len(escalations(hazard.id)) == 2
            keys = db.session.scalars(select(Outbox.dedupe_key).where(Outbox.kind == "overdue")).all()
            assert sorted(keys) == [f"overdue:{hazard.id}:2026-05-19", f"overdue:{hazard.id}:2026-07-17"]
    finally:
        set_now(None)
