"""Scheduler jobs at controlled times: overdue escalation, daily digest, weekly dispatch, slot claims, runner, CLI."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
import uuid
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from helpers import make_subject, make_user
from server.extensions import db
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections.models import Campaign, Inspection, LeaderDuty
from server.notifications.models import Outbox
from server.scheduler import jobs, runner
from server.scheduler.models import JobRun

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Every test here runs on SQLite and on PostgreSQL: ON CONFLICT, RETURNING and locking differ."""
    return request.param


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


class Scene:
    """A small city: one inspector, one inspection that all hazards hang on, leaders with duties."""

    def __init__(self):
        self.inspector = make_user(roles=["inspector"], districts=["640104", "640105", "640106"])
        subject = make_subject()
        self.inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=self.inspector.id,
                                     district_code="640104", domain="gas", checklist_code="gas-user",
                                     checklist_version=1, started_at=at("2026-10-01T09:00"), payload_hash="x")
        db.session.add(self.inspection)
        db.session.commit()
        self.subject = subject

    def leader(self, username: str, *duties: tuple[str, str], name: str | None = None):
        user = make_user(username, roles=["leader"], districts=sorted({d for d, _ in duties}), name=name)
        for district, domain in duties:
            db.session.add(LeaderDuty(district_code=district, domain=domain, user_id=user.id))
        db.session.commit()
        return user

    def hazard(self, *, deadline: date, created: str = "2026-11-01T10:00", district: str = "640104",
               domain: str = "gas", severity: str = "general", status: str = "reported", closed: str | None = None,
               description: str = "未安装燃气泄漏报警器") -> Hazard:
        hazard = Hazard(id=uuid.uuid4(), inspection_id=self.inspection.id, subject_id=self.subject.id,
                        district_code=district, domain=domain, checklist_code="gas-user", item_code="G02",
                        description=description, severity=severity, status=status, deadline=deadline,
                        reported_by=self.inspector.id, created_at=at(created),
                        closed_at=at(closed) if closed else None)
        db.session.add(hazard)
        db.session.commit()
        return hazard


def _escalations() -> list[HazardEvent]:
    return list(db.session.scalars(select(HazardEvent).where(HazardEvent.type == "overdue_escalated")
                                   .order_by(HazardEvent.id)))


def _outbox(prefix: str = "") -> list[Outbox]:
    return list(db.session.scalars(select(Outbox).where(Outbox.dedupe_key.startswith(prefix)).order_by(Outbox.id)))


def _sweep(now: datetime) -> dict:
    result = jobs.overdue_sweep(now=now)
    db.session.commit()
    return result


# --- overdue sweep ----------------------------------------------------------------------------

def test_not_overdue_on_the_deadline_day_overdue_the_next_local_day(app):
    """Deadline 24 Nov: nothing at 23:59 local that day; escalated at 00:00 local on the 25th (still the 24th in UTC)."""
    with app.app_context():
        scene = Scene()
        scene.hazard(deadline=date(2026, 11, 24))
        assert _sweep(at("2026-11-24T23:59"))["escalated"] == 0
        assert _escalations() == [] and _outbox() == []
        midnight = at("2026-11-25T00:00")
        assert midnight.date() == date(2026, 11, 24)
        result = _sweep(midnight)
        assert result["escalated"] == 1 and result["today"] == "2026-11-25"
        assert len(_escalations()) == 1


def test_one_escalation_per_hazard_however_many_sweeps(app):
    """Three sweeps write one event and one notice per hazard, signed by the system user, status unchanged."""
    with app.app_context():
        scene = Scene()
        hazard = scene.hazard(deadline=date(2026, 11, 20), status="rectifying")
        first = at("2026-11-25T09:00")
        for now in (first, at("2026-11-25T09:15"), at("2026-11-26T09:00")):
            _sweep(now)
        (event,) = _escalations()
        assert (event.hazard_id, event.from_status, event.to_status, event.at) == (hazard.id, "rectifying",
                                                                                   "rectifying", first)
        assert [row.dedupe_key for row in _outbox()] == [f"overdue:{hazard.id}:{hazard.deadline}"]
        system = jobs.get_system_user()
        assert event.actor_id == system.id and system.username == "system"
        assert system.roles == ["admin"] and not system.active
        assert not check_password_hash(system.password_hash, "")
        db.session.refresh(hazard)
        assert hazard.status == "rectifying"


def test_overdue_major_hazard_is_listed_for_supervision(app):
    """An overdue major hazard gets a Supervision row (once); one already listed keeps its listing; general ones get none."""
    with app.app_context():
        app.config["SUPERVISING_UNIT"] = "银川市安全生产委员会办公室"
        scene = Scene()
        major = scene.hazard(deadline=date(2026, 11, 20), severity="major")
        listed = scene.hazard(deadline=date(2026, 11, 20), severity="major")
        general = scene.hazard(deadline=date(2026, 11, 20))
        db.session.add(Supervision(hazard_id=listed.id, supervising_unit="银川市住房和城乡建设局",
                                   listed_at=at("2026-11-01T10:00")))
        db.session.commit()
        now = at("2026-11-25T09:00")
        result = _sweep(now)
        assert result["escalated"] == 3 and result["supervised"] == 1
        rows = {s.hazard_id: s for s in db.session.scalars(select(Supervision))}
        assert set(rows) == {major.id, listed.id}
        assert (rows[major.id].supervising_unit, rows[major.id].listed_at) == ("银川市安全生产委员会办公室", now)
        assert rows[listed.id].listed_at == at("2026-11-01T10:00")
        assert general.id not in rows
        notice = next(r for r in _outbox() if r.dedupe_key == f"overdue:{major.id}:{major.deadline}")
        assert "重大隐患" in notice.subject and "挂牌督办" in notice.body
        assert _sweep(at("2026-11-26T09:00"))["supervised"] == 0


def test_the_notice_goes_to_the_duty_leader(app):
    """The leader of the hazard's district and field is the recipient; without a duty the notice has none."""
    with app.app_context():
        scene = Scene()
        gas_leader = scene.leader("leader_gas", ("640104", "gas"))
        scene.leader("leader_house", ("640104", "self_built_house"))
        covered = scene.hazard(deadline=date(2026, 11, 20), description="软管老化")
        orphan = scene.hazard(deadline=date(2026, 11, 20), district="640105")
        result = _sweep(at("2026-11-25T09:00"))
        assert (result["notified_leader"], result["without_leader"]) == (1, 1)
        notices = {r.dedupe_key: r for r in _outbox("overdue:")}
        notice = notices[f"overdue:{covered.id}:{covered.deadline}"]
        assert notice.recipient_id == gas_leader.id and notice.kind == "overdue"
        assert "软管老化" in notice.body and "已逾期 5 天" in notice.body and "2026-11-20" in notice.body
        assert notices[f"overdue:{orphan.id}:{orphan.deadline}"].recipient_id is None
        assert "尚未设置包抓领导" in notices[f"overdue:{orphan.id}:{orphan.deadline}"].body


def test_closed_hazards_are_ignored(app):
    """A closed hazard past its deadline is not overdue; one waiting for review is."""
    with app.app_context():
        scene = Scene()
        scene.hazard(deadline=date(2026, 11, 1), status="closed", closed="2026-11-05T10:00")
        waiting = scene.hazard(deadline=date(2026, 11, 1), status="pending_review")
        result = _sweep(at("2026-11-25T09:00"))
        assert result["found"] == 1 and [e.hazard_id for e in _escalations()] == [waiting.id]


def test_a_duty_on_the_city_answers_for_its_districts_without_their_own(app):
    """包抓 as in assignments.leader_for: the district's own duty, else the nearest ancestor's (640100 covers 640106)."""
    with app.app_context():
        scene = Scene()
        city = scene.leader("leader_city", ("640100", "gas"))
        county = scene.leader("leader_xq", ("640104", "gas"))
        own = scene.hazard(deadline=date(2026, 11, 20))
        inherited = scene.hazard(deadline=date(2026, 11, 20), district="640106")
        other_field = scene.hazard(deadline=date(2026, 11, 20), district="640106", domain="self_built_house")
        result = _sweep(at("2026-11-25T09:00"))
        assert (result["notified_leader"], result["without_leader"]) == (2, 1)
        recipients = {r.dedupe_key: r.recipient_id for r in _outbox("overdue:")}
        assert recipients == {f"overdue:{own.id}:{own.deadline}": county.id, f"overdue:{inherited.id}:{inherited.deadline}": city.id,
                              f"overdue:{other_field.id}:{other_field.deadline}": None}


def test_the_duty_of_an_inactive_leader_passes_to_the_ancestor_duty(app):
    """A leader who left (inactive) receives nothing: the next duty up the tree does."""
    with app.app_context():
        scene = Scene()
        city = scene.leader("leader_city", ("640100", "gas"))
        gone = scene.leader("leader_gone", ("640104", "gas"))
        gone.active = False
        db.session.commit()
        hazard = scene.hazard(deadline=date(2026, 11, 20))
        assert _sweep(at("2026-11-25T09:00"))["notified_leader"] == 1
        (notice,) = _outbox("overdue:")
        assert notice.dedupe_key == f"overdue:{hazard.id}:{hazard.deadline}" and notice.recipient_id == city.id


# --- digests ----------------------------------------------------------------------------------

def _digest_scene():
    """Leader A answers for gas in 兴庆区 and 金凤区, leader B for houses in 兴庆区; hazards around 24 Nov."""
    scene = Scene()
    a = scene.leader("leader_a", ("640104", "gas"), ("640106", "gas"), name="王局长")
    b = scene.leader("leader_b", ("640104", "self_built_house"))
    h = scene.hazard
    h(created="2026-11-24T10:00", deadline=date(2026, 12, 9))                       # new, open
    h(created="2026-11-24T00:30", deadline=date(2026, 12, 9))                       # new (23 Nov in UTC)
    h(created="2026-11-23T23:30", deadline=date(2026, 12, 8), status="closed",
      closed="2026-11-24T12:00")                                                    # closed that day, not new
    h(created="2026-11-10T10:00", deadline=date(2026, 11, 20), district="640106",
      description="钢瓶超期未检")                                                     # overdue
    h(created="2026-11-01T10:00", deadline=date(2026, 11, 22), district="640106", severity="major",
      description="地下室使用瓶装液化气")                                                 # overdue major
    h(created="2026-11-01T10:00", deadline=date(2026, 11, 16), district="640106", status="closed",
      closed="2026-11-02T10:00")                                                    # closed long ago
    h(created="2026-11-25T01:00", deadline=date(2026, 12, 10))                      # after the day: open only
    h(created="2026-11-24T15:00", deadline=date(2026, 12, 24), domain="self_built_house")  # B's
    h(created="2026-11-24T15:00", deadline=date(2026, 11, 1), district="640105")    # nobody's
    return scene, a, b


def test_daily_digest_counts_the_previous_local_day(app, monkeypatch):
    """Per leader: new and closed on 24 Nov local, open and overdue now, totals, and districts ranked."""
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, None)  # coverage not written yet
    with app.app_context():
        _, a, b = _digest_scene()
        result = jobs.daily_digest(now=at("2026-11-25T07:30"))
        db.session.commit()
        assert result["period"] == ["2026-11-24", "2026-11-24"] and result["enqueued"] == 2
        numbers = result["leaders"][a.id]
        assert {k: numbers[k] for k in ("new", "closed", "open", "overdue", "overdue_major", "total",
                                        "closed_total")} == {
            "new": 2, "closed": 1, "open": 5, "overdue": 2, "overdue_major": 1, "total": 7, "closed_total": 2}
        assert numbers["closure_rate"] == round(2 / 7, 4)
        assert [(d["rank"], d["district_code"], d["open"], d["total"], d["closure_rate"])
                for d in numbers["districts"]] == [(1, "640106", 2, 3, 0.3333), (2, "640104", 3, 4, 0.25)]
        assert numbers["coverage"] is None and "覆盖率" in numbers["coverage_note"]
        assert {k: result["leaders"][b.id][k] for k in ("new", "closed", "open", "overdue")} == {
            "new": 1, "closed": 0, "open": 1, "overdue": 0}
        (message,) = [r for r in _outbox("daily:") if r.recipient_id == a.id]
        assert message.dedupe_key == f"daily:{a.id}:2026-11-24" and message.kind == "daily_digest"
        assert "一日一汇报" in message.subject and "2026年11月24日" in message.subject
        assert message.body.startswith("王局长：")
        assert "当日新增隐患 2 处，销号 1 处" in message.body and "未销号 5 处，其中逾期 2 处" in message.body
        assert "1. 金凤区" in message.body and "［重大］金凤区·燃气：地下室使用瓶装液化气" in message.body


def test_a_city_duty_digest_ranks_the_districts_it_answers_for(app, monkeypatch):
    """A duty on 银川市 reports the districts below it that hold hazards or subjects, not the empty city level;
    a district with a duty of its own is left to that duty's leader."""
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, None)
    with app.app_context():
        scene = Scene()  # its subject is a gas user in 兴庆区 (640104)
        city = scene.leader("leader_city", ("640100", "gas"), name="王局长")
        make_subject(district_code="640106")
        make_subject(district_code="640105", domain="self_built_house")  # another field: not the city's gas
        scene.hazard(created="2026-11-24T10:00", deadline=date(2026, 12, 9))
        scene.hazard(created="2026-11-24T10:00", deadline=date(2026, 11, 20), district="640106")
        scene.hazard(created="2026-11-01T10:00", deadline=date(2026, 11, 16), district="640121", status="closed",
                     closed="2026-11-24T09:00")
        result = jobs.daily_digest(now=at("2026-11-25T07:30"))
        db.session.commit()
        numbers = result["leaders"][city.id]
        assert {k: numbers[k] for k in ("new", "closed", "open", "overdue", "total")} == {
            "new": 2, "closed": 1, "open": 2, "overdue": 1, "total": 3}
        assert [(d["rank"], d["district_code"], d["open"]) for d in numbers["districts"]] == [
            (1, "640121", 0), (2, "640104", 1), (2, "640106", 1)]
        body = _outbox("daily:")[0].body
        assert "1. 永宁县" in body and "银川市：" not in body

        county = scene.leader("leader_xq", ("640104", "gas"))
        result = jobs.daily_digest(now=at("2026-11-26T07:30"))
        assert [d["district_code"] for d in result["leaders"][city.id]["districts"]] == ["640121", "640106"]
        assert [d["district_code"] for d in result["leaders"][county.id]["districts"]] == ["640104"]


def test_a_leader_whose_districts_hold_nothing_still_gets_its_duties_with_zeros(app, monkeypatch):
    """Nothing registered and no hazard in the leader's districts: the digest names its duties, with zeros."""
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, None)
    with app.app_context():
        quiet = Scene().leader("leader_quiet", ("640181", "construction_site"))
        result = jobs.daily_digest(now=at("2026-11-25T07:30"))
        numbers = result["leaders"][quiet.id]
        assert numbers["total"] == 0 and [d["district_code"] for d in numbers["districts"]] == ["640181"]


def test_daily_digest_is_enqueued_once_per_leader_and_day(app, monkeypatch):
    """Running the digest of the same day again adds no message."""
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, None)
    with app.app_context():
        _digest_scene()
        jobs.daily_digest(now=at("2026-11-25T07:30"))
        again = jobs.daily_digest(now=at("2026-11-25T10:00"))
        db.session.commit()
        assert again["enqueued"] == 0 and len(_outbox("daily:")) == 2


def test_weekly_dispatch_counts_the_previous_iso_week(app, monkeypatch):
    """Monday 30 Nov: the week is Mon 23 – Sun 29 Nov local, keyed 2026-W48."""
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, None)
    with app.app_context():
        scene = Scene()
        a = scene.leader("leader_a", ("640104", "gas"))
        h = scene.hazard
        h(created="2026-11-22T23:30", deadline=date(2026, 12, 30))                    # the week before
        h(created="2026-11-23T00:30", deadline=date(2026, 12, 30))                    # first minutes of the week
        h(created="2026-11-29T23:30", deadline=date(2026, 11, 29))                    # last minutes; overdue now
        h(created="2026-11-30T00:30", deadline=date(2026, 12, 30))                    # this week
        h(created="2026-11-02T09:00", deadline=date(2026, 11, 17), status="closed",
          closed="2026-11-27T16:00")                                                  # closed in the week
        h(created="2026-11-02T09:00", deadline=date(2026, 11, 17), status="closed",
          closed="2026-11-30T07:59")                                                  # closed after it
        result = jobs.weekly_dispatch(now=at("2026-11-30T08:00"))
        db.session.commit()
        assert result["period"] == ["2026-11-23", "2026-11-29"]
        numbers = result["leaders"][a.id]
        assert {k: numbers[k] for k in ("new", "closed", "open", "overdue", "total")} == {
            "new": 2, "closed": 1, "open": 4, "overdue": 1, "total": 6}
        (message,) = _outbox("weekly:")
        assert message.dedupe_key == f"weekly:{a.id}:2026-W48" and message.kind == "weekly_dispatch"
        assert "一周一调度" in message.subject and "第48周" in message.subject
        assert "本周新增隐患 2 处，销号 1 处" in message.body


def test_digest_reports_coverage_of_running_campaigns(app, monkeypatch):
    """The coverage module is asked per running campaign of the leader's fields, with the leader's districts."""
    calls = []
    fake = types.ModuleType(jobs.COVERAGE_MODULE)
    fake.__spec__ = importlib.machinery.ModuleSpec(jobs.COVERAGE_MODULE, None)

    def coverage(*, campaign_id, districts):
        calls.append((campaign_id, frozenset(districts)))
        return {"campaign": {"id": campaign_id}, "rows": [],
                "total": {"district": None, "domain": None, "registered": 300, "inspected": 120,
                          "never_inspected": 170, "no_access": 10, "coverage": 0.4}}

    fake.coverage = coverage
    monkeypatch.setitem(sys.modules, jobs.COVERAGE_MODULE, fake)
    with app.app_context():
        _, a, b = _digest_scene()
        gas = Campaign(name="燃气安全专项整治", domains=["gas"], districts=["640104", "640106"],
                       starts_on=date(2026, 11, 1), ends_on=date(2026, 12, 31))
        ended = Campaign(name="已结束的行动", domains=["gas"], districts=[], starts_on=date(2026, 10, 1),
                         ends_on=date(2026, 10, 31))
        db.session.add_all([gas, ended])
        db.session.commit()
        result = jobs.daily_digest(now=at("2026-11-25T07:30"))
        db.session.commit()
        assert calls == [(gas.id, frozenset({"640104", "640106"}))]
        assert result["leaders"][a.id]["coverage"] == [
            {"campaign_id": gas.id, "campaign": "燃气安全专项整治",
             "coverage": {"registered": 300, "inspected": 120, "never_inspected": 170, "no_access": 10,
                          "coverage": 0.4}}]
        assert result["leaders"][b.id]["coverage"] == [] and result["leaders"][b.id]["coverage_note"]
        body = next(r.body for r in _outbox("daily:") if r.recipient_id == a.id)
        assert "燃气安全专项整治：底数 300 个，已检查 120 个，未检查 170 个，无法入户 10 个，覆盖率 40.0%" in body


def test_digest_coverage_with_the_real_coverage_module(app):
    """With server.inspections.coverage present, the digest holds the campaign's register figures."""
    pytest.importorskip(jobs.COVERAGE_MODULE)
    with app.app_context():
        scene = Scene()
        a = scene.leader("leader_a", ("640104", "gas"))
        campaign = Campaign(name="燃气安全专项整治", domains=["gas"], districts=["640104"],
                            starts_on=date(2026, 11, 1), ends_on=date(2026, 12, 31))
        db.session.add(campaign)
        db.session.commit()
        visited = make_subject()
        db.session.add(Inspection(id=uuid.uuid4(), subject_id=visited.id, inspector_id=scene.inspector.id,
                                  district_code="640104", domain="gas", checklist_code="gas-user",
                                  checklist_version=1, campaign_id=campaign.id, started_at=at("2026-11-24T10:00"),
                                  payload_hash="y"))
        db.session.commit()
        result = jobs.daily_digest(now=at("2026-11-25T07:30"))
        (entry,) = result["leaders"][a.id]["coverage"]
        figures = entry["coverage"]
        assert (figures["registered"], figures["inspected"], figures["never_inspected"]) == (2, 1, 1)
        assert figures["coverage"] == 0.5


# --- slots and claims -------------------------------------------------------------------------

def test_slots_are_the_local_quarter_hour_the_reported_day_and_week(app):
    """Slots are computed in Asia/Shanghai: 01:17Z is 09:15 local; the daily slot is yesterday; weekly the last week."""
    with app.app_context():
        now = datetime(2026, 11, 25, 1, 17, 42, tzinfo=timezone.utc)
        assert jobs.slot("overdue_sweep", now) == "2026-11-25T09:15"
        assert jobs.slot("daily_digest", now) == "2026-11-24"
        assert jobs.slot("weekly_dispatch", now) == "2026-W47"
        assert jobs.slot("weekly_dispatch", at("2026-11-30T08:00")) == "2026-W48"
        with pytest.raises(ValueError):
            jobs.slot("make_coffee", now)


def test_second_claim_of_a_slot_returns_false_and_does_nothing(app):
    """run_job runs a slot once: the second call neither sweeps nor records; another slot runs again."""
    with app.app_context():
        scene = Scene()
        scene.hazard(deadline=date(2026, 11, 20))
        now = at("2026-11-25T09:00")
        assert jobs.run_job("overdue_sweep", now=now, slot="2026-11-25T09:00") is True
        late = scene.hazard(deadline=date(2026, 11, 21))
        assert jobs.run_job("overdue_sweep", now=now, slot="2026-11-25T09:00") is False
        assert len(_escalations()) == 1
        (run,) = db.session.scalars(select(JobRun))
        assert run.finished_at is not None and json.loads(run.result)["escalated"] == 1
        assert jobs.run_job("overdue_sweep", now=now, slot="2026-11-25T09:15") is True
        assert [e.hazard_id for e in _escalations()][-1] == late.id


def test_a_failing_job_leaves_no_claim(app, monkeypatch):
    """When the job raises, its claim is rolled back with it, so the slot can be run again."""
    with app.app_context():
        def broken(*, now):
            raise RuntimeError("boom")

        monkeypatch.setitem(jobs.JOBS, "overdue_sweep", broken)
        with pytest.raises(RuntimeError):
            jobs.run_job("overdue_sweep", now=at("2026-11-25T09:00"), slot="s")
        assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
        monkeypatch.undo()
        assert jobs.run_job("overdue_sweep", now=at("2026-11-25T09:00"), slot="s") is True


# --- runner and CLI ---------------------------------------------------------------------------

def test_runner_schedules_the_jobs_in_local_time(app):
    """The sweep every quarter hour, the daily sweeps at 06:00, the quarterly check at 06:30, the digest at 07:30,
    the dispatch on Monday 08:00, delivery every minute, the console dashboard's figures every 5 minutes."""
    scheduler = runner.build(app, blocking=False, now=at("2026-11-25T07:00"))
    found = {job.id: job for job in scheduler.get_jobs()}
    assert set(found) == {"overdue_sweep", "daily_digest", "weekly_dispatch", "deliver_pending", "credit_sweep",
                          "case_deadlines", "quarterly_report", "dashboard_snapshot"}
    assert str(found["dashboard_snapshot"].trigger) == "cron[minute='*/5']"
    assert str(found["quarterly_report"].trigger) == "cron[hour='6', minute='30']"
    assert str(found["credit_sweep"].trigger) == str(found["case_deadlines"].trigger) == "cron[hour='6', minute='0']"
    assert str(found["overdue_sweep"].trigger) == "cron[minute='*/15']"
    assert str(found["daily_digest"].trigger) == "cron[hour='7', minute='30']"
    assert str(found["weekly_dispatch"].trigger) == "cron[day_of_week='0', hour='8', minute='0']"
    assert str(found["deliver_pending"].trigger) == "interval[0:01:00]"
    assert str(scheduler.timezone) == "Asia/Shanghai"


def test_a_late_start_catches_up_only_what_is_due():
    """The digest is due after 07:30; the dispatch is due except on Monday before 08:00."""
    local = lambda text: datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)  # noqa: E731
    assert not runner._due_today(local("2026-11-25T07:00"), time(7, 30))
    assert runner._due_today(local("2026-11-25T07:30"), time(7, 30))
    assert not runner._due_today(local("2026-11-30T07:59"), time(8, 0), 0)
    assert runner._due_today(local("2026-11-30T08:00"), time(8, 0), 0)
    assert runner._due_today(local("2026-11-25T03:00"), time(8, 0), 0)


def test_embedded_scheduler_starts_only_in_the_serving_process(app, monkeypatch):
    """Not in the reloader's watcher (debug without WERKZEUG_RUN_MAIN); yes in its child and without reloader."""
    monkeypatch.setattr(sys, "argv", ["flask", "run"])
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    app.debug = True
    assert not runner.should_start_embedded(app)
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    assert runner.should_start_embedded(app)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN")
    monkeypatch.setattr(sys, "argv", ["flask", "run", "--no-reload"])
    assert runner.should_start_embedded(app)
    app.debug = False
    monkeypatch.setattr(sys, "argv", ["flask", "run"])
    assert runner.should_start_embedded(app)
    monkeypatch.setattr(sys, "argv", ["flask", "run", "--reload"])
    assert not runner.should_start_embedded(app)


def test_scheduled_wrapper_runs_in_an_app_context_through_the_claim(app):
    """A firing computes its slot from the clock it is given and claims it; a second firing in the quarter skips."""
    with app.app_context():
        Scene().hazard(deadline=date(2026, 11, 20))
    clock = lambda: at("2026-11-25T09:16")  # noqa: E731
    assert runner.run_claimed(app, "overdue_sweep", clock=clock) is True
    assert runner.run_claimed(app, "overdue_sweep", clock=clock) is False
    with app.app_context():
        assert [r.slot for r in db.session.scalars(select(JobRun))] == ["2026-11-25T09:15"]
    assert runner.deliver(app) == 1


def test_cli_once_and_deliver(app):
    """`scheduler once` runs a job at --now (local when no offset) once; `notifications deliver` sends."""
    with app.app_context():
        Scene().hazard(deadline=date(2026, 11, 20))
    cli = app.test_cli_runner()
    first = cli.invoke(args=["scheduler", "once", "overdue_sweep", "--now", "2026-11-25T09:05"])
    assert first.exit_code == 0, first.output
    assert "overdue_sweep 2026-11-25T09:00: done" in first.output and '"escalated": 1' in first.output
    again = cli.invoke(args=["scheduler", "once", "overdue_sweep", "--now", "2026-11-25T01:05+00:00"])
    assert "already claimed" in again.output
    bad = cli.invoke(args=["scheduler", "once", "overdue_sweep", "--now", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
    sent = cli.invoke(args=["notifications", "deliver"])
    assert sent.exit_code == 0 and "sent 1 notification" in sent.output
