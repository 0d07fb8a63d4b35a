"""Zero-out figures rebuilt from hazard events: open hazards as of any time, by group, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from helpers import make_subject, make_user
from server.database import set_now, utcnow
from server.errors import ProblemError
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action, Status
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Campaign, Inspection
from server.reports import zero

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNIT = "银川市住房和城乡建设局"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """The ledger query, its candidates and its partial index must agree on both databases."""
    return request.param


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    set_now(None)


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


class City:
    """An inspector of 兴庆区 and 金凤区 who reports and moves hazards at whatever time the clock says."""

    def __init__(self):
        self.user = make_user(roles=["inspector", "leader"], districts=["640104", "640106"])
        self.inspections = {}
        self.campaign = Campaign(name="燃气安全专项整治", domains=["gas", "self_built_house"],
                                 districts=["640100"], starts_on=date(2026, 3, 1), ends_on=date(2026, 6, 30),
                                 phases=[])
        db.session.add(self.campaign)
        db.session.commit()

    def _inspection(self, district: str, domain: str) -> Inspection:
        key = (district, domain)
        if key not in self.inspections:
            subject = make_subject(district_code=district, domain=domain)
            inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=self.user.id,
                                    district_code=district, domain=domain, checklist_code="gas-user",
                                    checklist_version=1, started_at=utcnow(), payload_hash="x")
            db.session.add(inspection)
            db.session.flush()
            self.inspections[key] = inspection
        return self.inspections[key]

    def report(self, when: str, *, district="640104", domain="gas", severity="general", campaign=False) -> Hazard:
        set_now(at(when))
        inspection = self._inspection(district, domain)
        hazard = Hazard(id=uuid.uuid4(), inspection_id=inspection.id, subject_id=inspection.subject_id,
                        district_code=district, domain=domain, checklist_code="gas-user", item_code="G02",
                        description="未安装燃气泄漏报警器", severity=severity, deadline=date(2026, 12, 31),
                        reported_by=self.user.id, created_at=utcnow(),
                        campaign_id=self.campaign.id if campaign else None)
        hazard_service.report(hazard=hazard, actor=self.user, supervising_unit=UNIT)
        db.session.commit()
        return hazard

    def move(self, when: str, hazard: Hazard, *actions: Action) -> None:
        set_now(at(when))
        for action in actions:
            hazard_service.transition(hazard=hazard, action=action, actor=self.user)
        db.session.commit()

    def close(self, when: str, hazard: Hazard) -> None:
        self.move(when, hazard, Action.RECTIFY, Action.ACCEPT)


def total(when: str | None = None, **filters) -> int:
    return zero.open_figures(as_of=None if when is None else at(when), **filters)["total"]


@pytest.fixture
def story(app):
    """Three hazards in March 2026; one closed, reopened by a re-inspection and closed again; one fixed on the spot."""
    with app.app_context():
        city = City()
        first = city.report("2026-03-01T09:00")
        major = city.report("2026-03-01T10:00", severity="major")
        house = city.report("2026-03-01T11:00", district="640106", domain="self_built_house", campaign=True)
        city.move("2026-03-03T10:00", first, Action.NOTIFY)
        city.close("2026-03-05T16:00", first)
        spot = city.report("2026-03-10T09:00", campaign=True)
        city.move("2026-03-10T09:20", spot, Action.FIX_ON_SPOT)
        city.move("2026-03-20T10:00", first, Action.REOPEN)
        city.close("2026-03-25T15:00", first)
        late = city.report("2026-04-05T08:00", district="640106")
        set_now(at("2026-04-09T12:00"))
        yield city, {"first": first.id, "major": major.id, "house": house.id, "spot": spot.id, "late": late.id}


def test_a_past_time_gives_the_figure_true_then(story):
    """Reported, closed, fixed on the spot, reopened and closed again: each day's figure is the one of that day."""
    assert total("2026-03-01T08:59") == 0
    assert total("2026-03-01T09:00") == 1  # an event at the very time counts
    assert total("2026-03-01T23:59") == 3
    assert total("2026-03-05T15:59") == 3
    assert total("2026-03-05T16:00") == 2  # first closed
    assert total("2026-03-10T09:10") == 3  # spot reported...
    assert total("2026-03-10T09:30") == 2  # ...and fixed on the spot
    assert total("2026-03-20T12:00") == 3  # first reopened, though it is closed now
    assert total("2026-03-25T15:00") == 2
    assert total("2026-04-05T08:00") == 3
    assert total() == 3  # now (2026-04-09): major, house, late


def test_later_events_do_not_change_a_past_figure(story):
    """Closing everything today leaves yesterday's figures as they were."""
    city, ids = story
    before = zero.open_figures(as_of=at("2026-03-20T12:00"), group_by=("district", "domain"))
    for key in ("house", "late"):
        city.close("2026-04-09T12:00", db.session.get(Hazard, ids[key]))
    assert total() == 1
    assert zero.open_figures(as_of=at("2026-03-20T12:00"), group_by=("district", "domain")) == before


def test_a_time_after_now_is_now(story):
    """Nothing has happened after now: a later time answers as of now."""
    result = zero.open_figures(as_of=at("2030-01-01T00:00"))
    assert result["total"] == 3 and result["as_of"] == at("2026-04-09T12:00")


def test_groupings(story):
    """By district, domain, severity and campaign; several groupings at once; groups at zero are left out."""
    when = at("2026-03-20T12:00")  # open: first, major (640104 gas), house (640106 campaign)
    by = lambda *names: zero.open_figures(as_of=when, group_by=names)["rows"]  # noqa: E731
    assert by("district") == [{"district": "640104", "open": 2}, {"district": "640106", "open": 1}]
    assert by("domain") == [{"domain": "gas", "open": 2}, {"domain": "self_built_house", "open": 1}]
    assert by("severity") == [{"severity": "general", "open": 2}, {"severity": "major", "open": 1}]
    campaign = story[0].campaign.id
    assert by("campaign") == [{"campaign": campaign, "open": 1}, {"campaign": None, "open": 2}]
    assert by("district", "severity") == [{"district": "640104", "severity": "general", "open": 1},
                                          {"district": "640104", "severity": "major", "open": 1},
                                          {"district": "640106", "severity": "general", "open": 1}]
    now = zero.open_figures(group_by=("district", "domain"))
    assert now["group_by"] == ["district", "domain"] and now["total"] == 3
    assert now["rows"] == [{"district": "640104", "domain": "gas", "open": 1},
                           {"district": "640106", "domain": "gas", "open": 1},
                           {"district": "640106", "domain": "self_built_house", "open": 1}]


def test_filters(story):
    """Districts, a field and a campaign narrow the figures, at any time."""
    city, _ = story
    assert total(districts=frozenset({"640104"})) == 1
    assert total("2026-03-20T12:00", districts=frozenset({"640104"})) == 2
    assert total("2026-03-20T12:00", districts=frozenset({"640205"})) == 0
    assert total(domain="self_built_house") == 1
    assert total("2026-03-10T09:10", campaign_id=city.campaign.id) == 2  # house and spot
    assert total(campaign_id=city.campaign.id) == 1
    assert total(districts=frozenset({"640106"}), domain="gas") == 1


def test_age_buckets_count_whole_days_since_reported(story):
    """At 2026-04-09 12:00 major and house are 39 days old (31-90), late 4 (0-7); on 03-09 10:00 major is 8, house 7."""
    rows = zero.open_figures(group_by=("age",))["rows"]
    assert rows == [{"age": "0-7", "open": 1}, {"age": "31-90", "open": 2}]
    rows = zero.open_figures(as_of=at("2026-03-09T10:00"), group_by=("age", "district"))["rows"]
    assert rows == [{"age": "0-7", "district": "640106", "open": 1}, {"age": "8-30", "district": "640104", "open": 1}]


def test_age_bucket_boundaries(app):
    """Exactly 8 days old is 8-30, a second less 0-7; 180 days is 91-180, 181 >180; every age has a bucket."""
    assert [zero.age_bucket(d) for d in (0, 7, 8, 30, 31, 90, 91, 180, 181, 4000)] == [
        "0-7", "0-7", "8-30", "8-30", "31-90", "31-90", "91-180", "91-180", ">180", ">180"]
    with app.app_context():
        city = City()
        city.report("2026-05-01T10:00:00")
        set_now(at("2026-12-01T00:00"))
        ages = lambda when: zero.open_figures(as_of=at(when), group_by=("age",))["rows"]  # noqa: E731
        assert ages("2026-05-09T09:59:59") == [{"age": "0-7", "open": 1}]
        assert ages("2026-05-09T10:00:00") == [{"age": "8-30", "open": 1}]
        assert ages("2026-10-28T10:00:00") == [{"age": "91-180", "open": 1}]  # 180 days
        assert ages("2026-10-29T10:00:00") == [{"age": ">180", "open": 1}]


def test_figures_equal_a_replay_of_the_events(app):
    """Forty hazards with random lives over two months: every day's figures equal a replay of their events."""
    rng = random.Random(7)
    with app.app_context():
        city = City()
        start = datetime(2026, 1, 1, 8, 0)
        plans = []  # (time, kind, index)
        for n in range(40):
            t = start + timedelta(days=rng.uniform(0, 50))
            plans.append((t, "report", n))
            for _ in range(rng.randint(0, 3)):
                t += timedelta(days=rng.uniform(0.1, 6))
                plans.append((t, "step", n))
        hazards = {}
        for when, kind, n in sorted(plans):
            local = when.isoformat(timespec="seconds")
            if kind == "report":
                hazards[n] = city.report(local, district=rng.choice(["640104", "640106"]),
                                         domain=rng.choice(["gas", "self_built_house"]), campaign=rng.random() < 0.5)
                continue
            hazard = hazards[n]
            step = {Status.REPORTED: [Action.NOTIFY, Action.FIX_ON_SPOT], Status.RECTIFYING: [Action.RECTIFY],
                    Status.PENDING_REVIEW: [Action.ACCEPT, Action.REJECT], Status.CLOSED: [Action.REOPEN]}
            city.move(local, hazard, rng.choice(step[Status(hazard.status)]))
        set_now(at("2026-03-15T00:00"))
        events = db.session.execute(select(HazardEvent.hazard_id, HazardEvent.at, HazardEvent.to_status,
                                           Hazard.district_code)
                                    .join(Hazard, Hazard.id == HazardEvent.hazard_id)).all()
        checked = set()
        for day in range(75):
            when = at((start + timedelta(days=day, hours=rng.uniform(0, 24))).isoformat(timespec="seconds"))
            state = {}
            for hazard_id, moment, status, district in sorted(events, key=lambda e: (e.at, str(e.hazard_id))):
                if moment <= when:
                    state[hazard_id] = (status, district)
            expected = {}
            for status, district in state.values():
                if status != Status.CLOSED:
                    expected[district] = expected.get(district, 0) + 1
            result = zero.open_figures(as_of=when, group_by=("district",))
            assert {row["district"]: row["open"] for row in result["rows"]} == expected, when
            assert result["total"] == sum(expected.values())
            checked.add(result["total"])
        assert len(checked) > 5  # the figures did move over the period


def test_plain_dates_mean_the_end_of_that_day_in_shanghai(app):
    """2026-03-01 means 2026-03-01 23:59:59.999999 +08:00; bad texts are 422 on as_of."""
    with app.app_context():
        assert zero.parse_as_of("2026-03-01") == at("2026-03-02T00:00") - timedelta(microseconds=1)
        assert zero.parse_as_of("2026-03-01T10:00:00+08:00") == at("2026-03-01T10:00")
        assert zero.parse_as_of("2026-03-01T02:00:00Z") == at("2026-03-01T10:00")
        assert zero.parse_as_of("9999-12-31") > utcnow()
        for bad in ("2026-03-01T10:00:00", "2026-02-30", "yesterday", "", "2026-13-01T00:00:00+08:00"):
            with pytest.raises(ProblemError) as refused:
                zero.parse_as_of(bad)
            assert refused.value.code == "validation_error" and "as_of" in refused.value.errors, bad


def test_bad_groupings_and_times_are_refused(app):
    """An unknown grouping, a naive time or one before UTC can say are 422, not 500."""
    with app.app_context():
        for call in (lambda: zero.open_figures(group_by=("district", "status")),
                     lambda: zero.open_figures(as_of=datetime(2026, 3, 1, 10, 0)),
                     lambda: zero.open_figures(as_of=datetime(1, 1, 1, tzinfo=SHANGHAI))):
            with pytest.raises(ProblemError) as refused:
                call()
            assert refused.value.code == "validation_error"


def test_for_caller_scopes_districts_and_campaigns(story):
    """A caller's districts bound the figures; another district is 403, an unknown one or campaign 422."""
    city, _ = story
    assert zero.for_caller(visible=frozenset({"640106"}))["total"] == 2
    assert zero.for_caller(visible=None, district="640100")["total"] == 3  # 银川市 and its counties
    result = zero.for_caller(visible=frozenset({"640100", "640104", "640106"}), district="640106")
    assert result["total"] == 2 and result["district"] == "640106"
    with pytest.raises(ProblemError) as refused:
        zero.for_caller(visible=frozenset({"640106"}), district="640104")
    assert refused.value.code == "forbidden"
    for kwargs in ({"district": "999999"}, {"campaign_id": 999}, {"domain": "water"}):
        with pytest.raises(ProblemError) as refused:
            zero.for_caller(visible=None, **kwargs)
        assert refused.value.code == "validation_error" and list(refused.value.errors) == [next(iter(kwargs))]
    with pytest.raises(ProblemError) as refused:  # the campaign covers 银川市 only
        zero.for_caller(visible=frozenset({"640205"}), campaign_id=city.campaign.id)
    assert refused.value.code == "validation_error"


def test_the_ledger_reads_its_partial_index(story):
    """The query's condition implies the partial index's own, so both planners can read the index alone."""
    from sqlalchemy import event

    seen = []
    listener = lambda conn, cursor, statement, parameters, context, many: seen.append((statement, parameters))  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        zero.open_figures(districts=frozenset({"640104"}), group_by=("severity",))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    statement, parameters = seen[-1]
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        plan = " ".join(row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        assert "COVERING INDEX ix_hazard_event_ledger" in plan, plan
        assert "COVERING INDEX ix_hazard_figures" in plan, plan
    else:
        # A handful of rows give the planner no reason to prefer anything: within this transaction (rolled
        # back), leave the events no other index and make scans unattractive. A condition that did not imply
        # the partial index's would leave a scan of the table or of its primary key.
        others = connection.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'hazard_event' "
                                         "AND indexname LIKE 'ix\\_%' AND indexname <> 'ix_hazard_event_ledger'"))
        for name in others.scalars().all():
            connection.execute(text(f'DROP INDEX "{name}"'))
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
        assert "Index Only Scan using ix_hazard_event_ledger on hazard_event" in plan, plan
    db.session.rollback()


def test_the_ledger_condition_is_the_index_condition_without_parameters(app):
    """A prepared statement's generic plan knows no parameter values: the condition must be the index's, literally."""
    index = next(i for i in HazardEvent.__table__.indexes if i.name == "ix_hazard_event_ledger")
    with app.app_context():
        compiled = zero._COUNTS.compile(dialect=db.engine.dialect)
        assert compiled.params == {}
        predicate = str(index.dialect_options[db.engine.dialect.name]["where"])
        assert str(compiled).replace("hazard_event.", "") == predicate
