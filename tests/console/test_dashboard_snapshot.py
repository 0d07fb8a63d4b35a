"""The dashboard reads a snapshot of the city's figures: narrowed to a caller it gives the caller's own figures
(computed the slow way, from the tables), and the page shows it with its time until the next one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from console.town import NOW, backend, snapshot_app, town  # noqa: F401 - fixtures
from console.web import console_login
from server.console import figures
from server.console.models import DashboardSnapshot
from server.database import set_now
from server.extensions import db
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections import campaigns as campaign_service
from server.inspections import coverage as coverage_service
from server.reports import zero
from server.scheduler import jobs, runner


def _direct(*, user_id, visible, district, domain, weeks=12) -> dict:
    """The figures of one caller computed straight from the tables (the slow way)."""
    from server import clock

    scope = figures.scope_for(visible=visible, district=district)
    grouped = zero.open_figures(as_of=NOW, districts=scope, domain=domain, group_by=("district", "domain", "age"))
    where = [Hazard.status.in_(figures.OPEN)]
    if scope is not None:
        where.append(Hazard.district_code.in_(sorted(scope)))
    if domain is not None:
        where.append(Hazard.domain == domain)
    overdue = db.session.scalar(select(func.count()).select_from(Hazard).where(
        *where, Hazard.deadline < clock.local(NOW).date()))
    supervised = db.session.scalar(select(func.count()).select_from(Supervision).join(
        Hazard, Hazard.id == Supervision.hazard_id).where(Supervision.lifted_at.is_(None), *where[1:]))
    pending = db.session.scalar(select(func.count()).select_from(Hazard).where(
        Hazard.status == "pending_review", *where[1:]))
    coverage = coverage_service.for_user(campaign_id=campaign_service.list_campaigns(districts=None)[0].id,
                                         user_id=user_id, districts=visible)
    coverage = coverage_service.rollup(coverage_service.restrict(  # a district filter narrows; duties stay otherwise
        coverage, lambda d, f: (district is None or d in scope) and (domain is None or f == domain)), ("district",))
    starts = figures.week_starts(weeks, NOW)
    ends = [start - timedelta(microseconds=1) for start in starts[1:]] + [NOW]
    open_at_week_end = [zero.open_count(as_of=end, districts=scope, domain=domain) for end in ends]
    return {"total": grouped["total"], "rows": sorted((r["district"], r["domain"], r["age"], r["open"])
                                                      for r in grouped["rows"]),
            "overdue": overdue, "supervised": supervised, "pending": pending, "coverage": coverage["total"],
            "coverage_rows": coverage["rows"], "open_at_week_end": open_at_week_end}


def _shown(data: figures.Dashboard) -> dict:
    return {"total": data.total_open, "overdue": data.overdue, "supervised": data.supervised,
            "pending": data.pending_review, "coverage": data.coverage["total"] if data.coverage else None,
            "coverage_rows": data.coverage["rows"] if data.coverage else None,
            "open_at_week_end": [row["open"] for row in data.trend]}


@pytest.mark.parametrize("who, district, domain", [
    ("admin", None, None), ("admin", "640106", None), ("admin", None, "gas"), ("leader", None, None),
    ("leader", "640104", "self_built_house"), ("insp", None, None), ("duty", None, None), ("duty", None, "gas")])
def test_the_snapshot_narrowed_to_a_caller_gives_the_callers_own_figures(app, town, who, district, domain):
    """Open by district, field and age, overdue, supervision, review, coverage (包抓 duties widening it) and the
    open figure at each week's end: the city's snapshot narrowed to a caller equals the caller's own computation."""
    with app.app_context():
        visible = {"admin": None, "leader": campaign_service.covered(["640100"]),
                   "insp": frozenset({"640104"}), "duty": frozenset({"640104"})}[who]
        user_id = {"admin": town.insp, "leader": town.leader, "insp": town.insp, "duty": town.duty}[who]
        snapshot = figures.compute(now=NOW)
        data = figures.present(snapshot, user_id=user_id, visible=visible, district=district, domain=domain)
        expected = _direct(user_id=user_id, visible=visible, district=district, domain=domain)
        shown = _shown(data)
        assert data.total_open == expected["total"]
        assert sum(data.by_domain.values()) == sum(e["total"] for e in data.by_district) == data.total_open
        assert sum(row["open"] for row in data.by_age) == data.total_open
        by_age = {row["age"]: row["open"] for row in data.by_age}
        for label in by_age:
            assert by_age[label] == sum(n for _, _, age, n in expected["rows"] if age == label)
        for key in ("overdue", "supervised", "pending", "coverage", "coverage_rows", "open_at_week_end"):
            assert shown[key] == expected[key], key
        if who == "duty" and district is None:  # the gas duty in 金凤区 shows beside the leader's own district
            assert {row["district"] for row in data.coverage["rows"]} == {"640104", "640106"}
        reported = sum(row["reported"] for row in data.trend)
        assert reported == db.session.scalar(select(func.count()).select_from(Hazard).where(
            Hazard.created_at >= figures.week_starts(12, NOW)[0],
            *([Hazard.district_code.in_(sorted(figures.scope_for(visible=visible, district=district)))]
              if figures.scope_for(visible=visible, district=district) is not None else []),
            *([Hazard.domain == domain] if domain else [])))


def test_the_page_shows_the_snapshot_with_its_time_until_the_next(snapshot_app, town):
    """With snapshots on, the page shows the newest snapshot and its time, not what changed since; the next
    snapshot (the scheduler's job) brings the change; a page finding none younger than the limit makes one."""
    app = snapshot_app
    client = app.test_client()
    console_login(client, "t_leader")
    with app.app_context():
        assert jobs.run_job("dashboard_snapshot", now=NOW, slot=jobs.slot("dashboard_snapshot", NOW)) is True
        assert jobs.slot("dashboard_snapshot", NOW + timedelta(minutes=7)) == "2026-11-25T12:05"
        expected = zero.open_count(as_of=NOW, districts=campaign_service.covered(["640100"]))
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert re.search(rf'id="zero-total">{expected}<', page)
    assert "12:00" in page.split('id="as-of"')[1].split("</span>")[0]
    assert "每 5 分钟更新" in page
    with app.app_context():  # a hazard closes: the snapshot still says what it said at 12:00
        hazard = db.session.scalars(select(Hazard).where(Hazard.status != "closed",
                                                         Hazard.district_code == "640104")).first()
        hazard.status, hazard.closed_at = "closed", NOW + timedelta(minutes=1)
        db.session.add(HazardEvent(hazard_id=hazard.id, type="review_accepted", at=NOW + timedelta(minutes=1),
                                   actor_id=town.insp, from_status="pending_review", to_status="closed"))
        db.session.commit()
    set_now(NOW + timedelta(minutes=5))
    assert re.search(rf'id="zero-total">{expected}<', client.get("/console/dashboard").get_data(as_text=True))
    with app.app_context():
        later = NOW + timedelta(minutes=5)
        assert runner.refresh_dashboard(app, clock=lambda: later) is True
        assert runner.refresh_dashboard(app, clock=lambda: later) is False  # the slot is taken: nothing computed
        assert db.session.scalar(select(func.count()).select_from(DashboardSnapshot)) == 2
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert re.search(rf'id="zero-total">{expected - 1}<', page)
    assert "12:05" in page.split('id="as-of"')[1].split("</span>")[0]
    set_now(NOW + timedelta(minutes=40))  # the scheduler stopped: the page computes and keeps the figures
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert "12:40" in page.split('id="as-of"')[1].split("</span>")[0]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DashboardSnapshot)) == 3
        # Snapshots older than an hour are deleted by the next one.
        figures.refresh(now=NOW + timedelta(minutes=70))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(DashboardSnapshot)) == 2
