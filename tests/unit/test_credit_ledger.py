"""The credit ledger at controlled times: proposals once per source, transitions, scores as of any time,
expiry, credit repair, the daily sweep, the inspection hook, frozen standard versions, audit rows."""

from __future__ import annotations

import shutil
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpers import hazard_item, inspection_payload, make_enterprise, make_subject, make_user
from server.audit import service as audit_service
from server.audit.models import AuditEvent
from server.credit import jobs as credit_jobs
from server.credit import service as credit_service
from server.credit.enums import Action, Status
from server.credit.models import CreditDeduction, CreditDeductionEvent, CreditStandardVersion
from server.database import set_now
from server.errors import ProblemError
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections.models import Inspection

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = Path(__file__).resolve().parents[2] / "config" / "rules"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Every test here runs on SQLite and on PostgreSQL: ON CONFLICT, RETURNING and compare-and-set differ."""
    return request.param


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.fixture
def clock():
    """Set the application's clock; always give the real clock back."""
    yield set_now
    set_now(None)


@pytest.fixture
def ctx(app, clock):
    with app.app_context():
        clock(at("2026-01-05T10:00"))
        yield app


class Scene:
    """A contractor with a site in 兴庆区, an inspector, a leader, an officer and one inspection to hang hazards on."""

    def __init__(self):
        self.inspector = make_user(roles=["inspector"], districts=["640104"])
        self.leader = make_user(roles=["leader"], districts=["640100"])
        self.officer = make_user(roles=["enforcement"], districts=["640104"])
        self.contractor = make_enterprise(kind="contractor", name="宁夏某建设工程有限公司")
        self.subject = make_subject(domain="construction_site", enterprises=[self.contractor])
        self.inspection = Inspection(id=uuid.uuid4(), subject_id=self.subject.id, inspector_id=self.inspector.id,
                                     district_code="640104", domain="construction_site",
                                     checklist_code="construction-site", checklist_version=1,
                                     started_at=at("2026-01-05T09:00"), payload_hash="x")
        db.session.add(self.inspection)
        db.session.commit()

    def hazard(self, *, deadline: date, severity: str = "general", status: str = "reported",
               closed: str | None = None, enterprise=None) -> Hazard:
        hazard = Hazard(id=uuid.uuid4(), inspection_id=self.inspection.id, subject_id=self.subject.id,
                        district_code="640104", domain="construction_site", checklist_code="construction-site",
                        item_code="SM02", description="专项施工方案未审批", severity=severity, status=status,
                        deadline=deadline, reported_by=self.inspector.id, created_at=at("2026-01-05T10:00"),
                        enterprise_id=(enterprise or self.contractor).id, closed_at=at(closed) if closed else None)
        db.session.add(hazard)
        db.session.commit()
        return hazard

    def propose(self, rule: str = "ZA-04", *, source: str = "s1", occurred: str = "2026-01-05T09:00",
                enterprise=None, kind: str = "manual"):
        deduction, created = credit_service.propose(
            enterprise=enterprise or self.contractor, rule_code=rule, source_kind=kind, source_id=source,
            district_code="640104", occurred_at=at(occurred), actor=self.inspector)
        db.session.commit()
        return deduction, created

    def act(self, deduction, action: Action, *, actor=None, reason: str | None = None):
        credit_service.transition(deduction=deduction, action=action, actor=actor or self.leader, reason=reason)
        db.session.commit()


def _score(enterprise, when: str) -> tuple[int, str]:
    result = credit_service.score(enterprise=enterprise, at=at(when))
    return result["score"], result["grade"]


def _events(deduction) -> list[str]:
    return list(db.session.scalars(select(CreditDeductionEvent.type).where(
        CreditDeductionEvent.deduction_id == deduction.id).order_by(CreditDeductionEvent.id)))


# --- time ------------------------------------------------------------------------------------------------

def test_validity_is_counted_in_local_calendar_months(ctx):
    """A deduction counts until the local midnight N months after its day; month ends are clamped."""
    assert credit_service.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert credit_service.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert credit_service.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    # 2026-03-15 01:00 local is still 2026-03-14 in UTC: the local day decides
    assert credit_service.valid_until(at("2026-03-15T01:00"), 12) == at("2027-03-15T00:00")
    assert credit_service.end_of_day(date(2027, 3, 14)) == at("2027-03-15T00:00") - timedelta(microseconds=1)


# --- proposing -------------------------------------------------------------------------------------------

def test_the_same_rule_and_source_deduct_once(ctx):
    """Proposing one rule for one source again returns the stored deduction: one row, one event, one audit row."""
    scene = Scene()
    first, created = scene.propose("ZA-04", source="h1")
    again, created_again = scene.propose("ZA-04", source="h1")
    other_rule, created_other = scene.propose("OVERDUE-GENERAL", source="h1")
    assert (created, created_again, created_other) == (True, False, True)
    assert again.id == first.id != other_rule.id
    assert db.session.scalar(select(func.count()).select_from(CreditDeduction)) == 2
    assert _events(first) == ["proposed"]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "credit.proposed")) == 2
    assert (first.points, first.veto, first.standard_code, first.standard_version) == (8, False, "yc-zjj-credit", 1)
    assert first.valid_until == at("2027-01-05T00:00")
    assert first.status == Status.PROPOSED and first.effective_at is None


@pytest.mark.parametrize(("rule", "occurred", "kind", "field", "message"), [
    ("NOPE-1", "2026-01-05T09:00", "contractor", "rule", "is not a rule of the credit standard yc-zjj-credit version 1"),
    ("RQ-03", "2026-01-05T09:00", "contractor", "rule", "RQ-03 applies to gas_operator, not to this enterprise's "
                                                       "kind contractor"),
    ("ZA-04", "2026-01-06T09:00", "contractor", "occurred_at", "must not be in the future"),
    ("ZA-04", "2024-12-01T09:00", "contractor", "occurred_at", "is older than the 12 months ZA-04 stays valid"),
])
def test_proposals_refused_with_a_clear_message(ctx, rule, occurred, kind, field, message):
    """An unknown rule, a rule for another kind, a future event or one older than its validity: 422, nothing stored."""
    scene = Scene()
    with pytest.raises(ProblemError) as info:
        scene.propose(rule, occurred=occurred)
    assert info.value.code == "validation_error" and message in info.value.errors[field][0]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CreditDeduction)) == 0


# --- transitions and scores ------------------------------------------------------------------------------

def test_only_confirmed_deductions_count_and_a_second_confirmation_is_refused(ctx, clock):
    """A proposal does not count; a confirmation counts from its moment; confirming twice is 409, one event."""
    scene = Scene()
    deduction, _ = scene.propose("ZA-03")
    assert _score(scene.contractor, "2026-01-05T10:00") == (100, "A")
    clock(at("2026-01-06T09:30"))
    scene.act(deduction, Action.CONFIRM)
    assert deduction.status == Status.EFFECTIVE and deduction.effective_at == at("2026-01-06T09:30")
    with pytest.raises(ProblemError) as info:
        scene.act(deduction, Action.CONFIRM, actor=scene.officer)
    db.session.rollback()
    assert info.value.code == "invalid_transition" and info.value.status == 409
    assert info.value.extra == {"current_status": "effective", "allowed_actions": ["revoke", "repair"]}
    assert _events(deduction) == ["proposed", "confirmed"]
    assert _score(scene.contractor, "2026-01-06T09:29") == (100, "A")
    assert _score(scene.contractor, "2026-01-06T09:30") == (90, "A")
    assert credit_service.score(enterprise=scene.contractor, at=credit_service.end_of_day(date(2026, 1, 6)))[
        "score"] == 90


def test_revocation_ends_counting_from_its_moment_and_keeps_the_past(ctx, clock):
    """An appeal upheld revokes a deduction: it stops counting then; scores before are as they were."""
    scene = Scene()
    deduction, _ = scene.propose("SC-01")
    scene.act(deduction, Action.CONFIRM)
    with pytest.raises(ProblemError) as info:
        scene.act(deduction, Action.REVOKE, reason="  ")
    db.session.rollback()
    assert info.value.code == "validation_error" and "reason" in info.value.errors
    clock(at("2026-02-01T15:00"))
    scene.act(deduction, Action.REVOKE, actor=scene.officer, reason="行政复议撤销原处罚决定")
    assert _score(scene.contractor, "2026-01-20T00:00") == (80, "B")
    assert _score(scene.contractor, "2026-02-01T15:00") == (100, "A")
    assert deduction.status == Status.REVOKED and deduction.ended_at == at("2026-02-01T15:00")
    event = db.session.scalar(select(CreditDeductionEvent).where(CreditDeductionEvent.type == "revoked"))
    assert (event.actor_id, event.reason, event.from_status) == (scene.officer.id, "行政复议撤销原处罚决定", "effective")


def test_a_veto_forces_the_lowest_grade_while_it_counts(ctx):
    """一票否决: a counting veto deduction gives D whatever the score."""
    scene = Scene()
    veto, _ = scene.propose("VETO-05", source="order-1")
    scene.act(veto, Action.CONFIRM)
    result = credit_service.score(enterprise=scene.contractor, at=at("2026-01-05T11:00"))
    assert (result["score"], result["grade"], result["veto"]) == (50, "D", True)
    assert _score(scene.contractor, "2028-01-05T00:00") == (100, "A")  # after its 24 months


def test_expiry_is_derived_from_time_and_recorded_once_by_the_sweep(ctx, clock):
    """Past its validity a deduction no longer counts (before any sweep); the sweep records one expired event."""
    scene = Scene()
    kept, _ = scene.propose("ZA-07", source="a")
    scene.act(kept, Action.CONFIRM)
    waiting, _ = scene.propose("ZA-06", source="b")
    assert _score(scene.contractor, "2027-01-04T23:59") == (95, "A")
    assert _score(scene.contractor, "2027-01-05T00:00") == (100, "A")
    clock(at("2027-01-05T06:00"))
    assert credit_service.current_status(kept) == Status.EXPIRED  # derived, not yet recorded
    assert kept.status == Status.EFFECTIVE
    with pytest.raises(ProblemError) as info:
        scene.act(waiting, Action.CONFIRM)
    db.session.rollback()
    assert info.value.code == "invalid_transition" and info.value.extra["current_status"] == "expired"
    assert credit_jobs.credit_sweep(now=at("2027-01-05T06:00"))["expired"] == 2
    db.session.commit()
    assert credit_jobs.credit_sweep(now=at("2027-01-05T06:00"))["expired"] == 0
    db.session.commit()
    db.session.refresh(kept)
    assert kept.status == Status.EXPIRED and _events(kept) == ["proposed", "confirmed", "expired"]
    assert _events(waiting) == ["proposed", "expired"]
    # an appeal decided after expiry is still recorded
    scene.act(kept, Action.REVOKE, reason="申诉成立")
    assert _score(scene.contractor, "2026-06-01T00:00") == (95, "A")


def test_credit_repair_needs_the_shortest_period_and_a_closed_hazard(ctx, clock):
    """信用修复 ends a deduction early: refused before the rule's shortest period and while its hazard is open."""
    scene = Scene()
    hazard = scene.hazard(deadline=date(2026, 1, 20))
    deduction, _ = scene.propose("ZA-04", source=str(hazard.id), kind="hazard")
    scene.act(deduction, Action.CONFIRM)
    clock(at("2026-03-01T10:00"))
    with pytest.raises(ProblemError) as info:
        scene.act(deduction, Action.REPAIR, reason="已整改")
    db.session.rollback()
    assert info.value.code == "invalid_transition"
    assert "possible from 2026-04-05" in info.value.detail
    assert info.value.extra["repair_possible_from"].startswith("2026-04-05T00:00:00+08:00")
    clock(at("2026-04-05T09:00"))
    with pytest.raises(ProblemError) as info:
        scene.act(deduction, Action.REPAIR, reason="已整改")
    db.session.rollback()
    assert "rectified and closed" in info.value.detail and info.value.extra["hazard_status"] == "reported"
    hazard = db.session.get(Hazard, hazard.id)
    hazard.status, hazard.closed_at = "closed", at("2026-04-01T10:00")
    db.session.commit()
    scene.act(deduction, Action.REPAIR, reason="隐患已整改销号，满最短公示期，同意信用修复")
    assert deduction.status == Status.REPAIRED
    assert _score(scene.contractor, "2026-04-05T08:59") == (92, "A")
    assert _score(scene.contractor, "2026-04-05T09:00") == (100, "A")


def test_history_lists_every_change_with_the_grade_after_it(ctx, clock):
    """The history shows confirmations, revocations and expiries in order, marking grade changes."""
    scene = Scene()
    first, _ = scene.propose("SC-01", source="a")
    second, _ = scene.propose("ZA-04", source="b")
    clock(at("2026-01-06T10:00"))
    scene.act(first, Action.CONFIRM)
    clock(at("2026-01-07T10:00"))
    scene.act(second, Action.CONFIRM)
    clock(at("2026-02-01T10:00"))
    scene.act(first, Action.REVOKE, reason="申诉成立")
    entries = credit_service.history(enterprise=scene.contractor, until=at("2027-06-01T00:00"))
    assert [(e["change"], e["rule"], e["points"], e["score"], e["grade"], e["grade_changed"]) for e in entries] == [
        ("confirmed", "SC-01", -20, 80, "B", True),
        ("confirmed", "ZA-04", -8, 72, "C", True),
        ("revoked", "SC-01", 20, 92, "A", True),
        ("expired", "ZA-04", 8, 100, "A", False),
    ]
    assert entries[-1]["at"] == at("2027-01-05T00:00")


# --- the daily sweep -------------------------------------------------------------------------------------

def test_the_sweep_proposes_the_overdue_rule_after_the_grace_once(ctx, app):
    """A hazard open past deadline + grace proposes its severity's overdue rule once; on time or in grace, nothing."""
    scene = Scene()
    late = scene.hazard(deadline=date(2026, 1, 10))
    late_major = scene.hazard(deadline=date(2026, 1, 10), severity="major")
    in_grace = scene.hazard(deadline=date(2026, 1, 12))
    on_time = scene.hazard(deadline=date(2026, 1, 10), status="closed", closed="2026-01-09T10:00")
    closed_late = scene.hazard(deadline=date(2026, 1, 5), status="closed", closed="2026-01-17T10:00")
    gas = make_enterprise(kind="gas_operator")
    scene.hazard(deadline=date(2026, 1, 10), enterprise=gas)  # OVERDUE-* apply to every kind: proposed as well
    assert app.config["CREDIT_OVERDUE_GRACE_DAYS"] == 7
    first = credit_jobs.credit_sweep(now=at("2026-01-18T06:00"))  # 1-10 + 7 days of grace < 1-18
    db.session.commit()
    assert first["overdue_proposed"] == 4 and first["expired"] == 0
    rows = {(d.source_id, d.rule_code) for d in db.session.scalars(select(CreditDeduction))}
    assert rows >= {(str(late.id), "OVERDUE-GENERAL"), (str(late_major.id), "OVERDUE-MAJOR"),
                    (str(closed_late.id), "OVERDUE-GENERAL")}
    assert not {str(in_grace.id), str(on_time.id)} & {source for source, _ in rows}
    deduction = db.session.scalar(select(CreditDeduction).where(CreditDeduction.source_id == str(late.id)))
    assert deduction.occurred_at == at("2026-01-11T00:00") and deduction.status == Status.PROPOSED
    system = db.session.get(type(scene.leader), deduction.created_by)
    assert system.username == "system"
    again = credit_jobs.credit_sweep(now=at("2026-01-18T07:00"))
    db.session.commit()
    assert again["overdue_proposed"] == 0
    assert db.session.scalar(select(func.count()).select_from(CreditDeduction)) == 4
    later = credit_jobs.credit_sweep(now=at("2026-01-20T06:00"))
    assert later["overdue_proposed"] == 1  # in_grace's grace has passed now


def test_the_grace_is_a_setting(ctx, app):
    """CREDIT_OVERDUE_GRACE_DAYS = 0 proposes the day after the deadline."""
    app.config["CREDIT_OVERDUE_GRACE_DAYS"] = 0
    scene = Scene()
    scene.hazard(deadline=date(2026, 1, 10))
    assert credit_jobs.credit_sweep(now=at("2026-01-10T23:00"))["overdue_proposed"] == 0
    assert credit_jobs.credit_sweep(now=at("2026-01-11T06:00"))["overdue_proposed"] == 1


# --- the inspection hook ---------------------------------------------------------------------------------

def test_an_inspection_proposes_its_hazards_credit_rules(ctx, clock):
    """Submitting hazards on items with a credit rule proposes them against the responsible enterprise, once."""
    from server.inspections import service as inspection_service

    scene = Scene()
    fixed_photo = str(uuid.uuid4())
    plan = hazard_item("SM02", description="专项施工方案未经审批")
    crane = hazard_item("TC06", description="塔吊未验收即使用")
    plain = hazard_item("SM01", description="安全生产责任制不健全")
    fixed = hazard_item("FP01", description="方案缺失", fixed_on_spot=True)
    payload = inspection_payload(scene.subject, checklist=("construction-site", 1), hazards=[plan, crane, plain, fixed],
                                 photos=[{"id": fixed_photo, "sha256": "0" * 64, "role": "after",
                                          "hazard_id": fixed["id"]}],
                                 started_at=at("2026-01-05T09:00"), finished_at=at("2026-01-05T09:40"))
    from field_app_api.schemas import InspectionInSchema

    data = InspectionInSchema().load(payload)
    inspection_service.submit(data=data, actor=scene.inspector, districts=None)
    db.session.commit()
    rows = list(db.session.scalars(select(CreditDeduction).order_by(CreditDeduction.rule_code)))
    assert [(r.rule_code, r.source_kind, r.source_id, r.points) for r in rows] == [
        ("ZA-04", "hazard", plan["id"], 8), ("ZA-07", "hazard", crane["id"], 5)]
    assert all(r.enterprise_id == scene.contractor.id and r.created_by == scene.inspector.id for r in rows)
    assert rows[0].occurred_at == at("2026-01-05T09:00") and "专项施工方案未经审批" in rows[0].note
    # a retry of the submission proposes nothing new
    inspection_service.submit(data=data, actor=scene.inspector, districts=None)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CreditDeduction)) == 2


def test_a_changed_standard_under_a_used_version_is_refused_until_the_version_is_raised(ctx, app, tmp_path):
    """Editing points without raising the version: proposals refused (409); a new version works and old
    deductions keep their points and version."""
    scene = Scene()
    old, _ = scene.propose("ZA-04", source="a")
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES, rules_dir)
    edited = rules_dir / "credit_standard.yaml"
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("points: 8, validity_months: 12", "points: 12, validity_months: 12"),
                      encoding="utf-8")
    app.config["RULES_DIR"] = str(rules_dir)
    with pytest.raises(ProblemError) as info:
        scene.propose("ZA-04", source="b")
    db.session.rollback()
    assert info.value.code == "conflict" and "raise its version" in info.value.detail
    edited.write_text(text.replace("points: 8, validity_months: 12", "points: 12, validity_months: 12")
                      .replace("version: 1", "version: 2", 1), encoding="utf-8")
    new, _ = scene.propose("ZA-04", source="b")
    assert (new.points, new.standard_version) == (12, 2)
    db.session.refresh(old)
    assert (old.points, old.standard_version) == (8, 1)
    assert [v.version for v in credit_service.frozen_versions()] == [1, 2]
    assert credit_service.rule_of(old)["points"] == 8
    assert db.session.scalar(select(func.count()).select_from(CreditStandardVersion)) == 2
    frozen = list(db.session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "credit.standard_frozen")
                                     .order_by(AuditEvent.id)))
    assert frozen == ["yc-zjj-credit@1", "yc-zjj-credit@2"]


def test_every_change_is_audited_in_an_intact_chain(ctx):
    """Proposal, confirmation, revocation and expiry each append an audit row; the chain verifies."""
    scene = Scene()
    one, _ = scene.propose("ZA-04", source="a")
    two, _ = scene.propose("ZA-07", source="b")
    scene.act(one, Action.CONFIRM)
    scene.act(two, Action.REVOKE, reason="误报")
    credit_jobs.credit_sweep(now=at("2027-02-01T06:00"))
    db.session.commit()
    actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "credit_deduction")
                                      .order_by(AuditEvent.id)))
    assert actions == ["credit.proposed", "credit.proposed", "credit.confirmed", "credit.revoked", "credit.expired"]
    assert audit_service.verify().ok


def test_a_site_scored_unqualified_proposes_the_inspection_rule(ctx):
    """A construction site scored 不合格 (JGJ 59) proposes ZA-01 against its contractor, not its developer."""
    from field_app_api.schemas import InspectionInSchema
    from server.inspections import service as inspection_service

    scene = Scene()
    developer = make_enterprise(kind="developer")
    site = make_subject(domain="construction_site", enterprises=[developer, scene.contractor])
    payload = inspection_payload(site, checklist=("construction-site", 1),
                                 results=[{"item": "SM02", "outcome": "fail", "deduction": 10}],
                                 started_at=at("2026-01-05T09:00"), finished_at=at("2026-01-05T09:40"))
    inspection, _ = inspection_service.submit(data=InspectionInSchema().load(payload), actor=scene.inspector,
                                              districts=None)
    db.session.commit()
    assert inspection.score["grade_code"] == "fail"
    rows = list(db.session.scalars(select(CreditDeduction)))
    assert [(r.rule_code, r.source_kind, r.source_id, r.enterprise_id) for r in rows] == [
        ("ZA-01", "inspection", payload["id"], scene.contractor.id)]
