"""A small town for the console's figure and list tests: five districts, two fields, a running campaign,
60 hazards over 100 days with their ledger events; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from helpers import make_subject, make_user
from server.database import set_now
from server.extensions import db
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections.models import Campaign, Inspection, LeaderDuty

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc)  # Wednesday 12:00 in 银川
DISTRICTS = ("640104", "640105", "640106", "640121", "640402")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def town(app):
    """Subjects in five districts and two fields, visited in a running campaign; 60 hazards over 100 days
    with their ledger events: open, closed, reopened, overdue, under supervision (majors), awaiting review."""
    from types import SimpleNamespace

    set_now(NOW)
    with app.app_context():
        insp = make_user("t_insp", roles=["inspector"], districts=["640104"])
        leader = make_user("t_leader", roles=["leader"], districts=["640100"])
        duty = make_user("t_duty", roles=["leader"], districts=["640104"])
        db.session.add(LeaderDuty(district_code="640106", domain="gas", user_id=duty.id))
        campaign = Campaign(name="燃气安全专项整治", domains=["gas", "self_built_house"], districts=["640100", "640400"],
                            starts_on=date(2026, 11, 1), ends_on=date(2026, 12, 31), phases=[])
        db.session.add(campaign)
        db.session.commit()
        subjects = []
        for n, code in enumerate(DISTRICTS * 3):
            domain = "gas" if n % 2 == 0 else "self_built_house"
            subjects.append(make_subject(district_code=code, domain=domain, name=f"测试对象{n:02d}",
                                         address=f"某区某路{n}号"))
        inspections = {}
        for n, subject in enumerate(subjects):
            inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=insp.id,
                                    district_code=subject.district_code, domain=subject.domain,
                                    checklist_code="gas-user", checklist_version=1, campaign_id=campaign.id,
                                    outcome="inspected" if n % 3 else "no_access",
                                    started_at=NOW - timedelta(days=n), payload_hash="x")
            db.session.add(inspection)
            inspections[subject.id] = inspection
        db.session.flush()
        hazards = []
        for n in range(60):
            subject = subjects[n % len(subjects)]
            created = NOW - timedelta(days=100 - n * 1.6, hours=n % 7)
            closed = created + timedelta(days=3) if n % 3 == 0 else None
            status = "closed" if closed else ("pending_review" if n % 5 == 1 else "rectifying")
            severity = "major" if n % 7 == 0 else "general"
            hazard = Hazard(id=uuid.uuid4(), inspection_id=inspections[subject.id].id, subject_id=subject.id,
                            district_code=subject.district_code, domain=subject.domain, checklist_code="gas-user",
                            item_code="G02" if n % 2 else "G05", description=f"隐患描述{n:02d}" + ("软管老化" if n % 4 == 0 else ""),
                            severity=severity, status=status, deadline=(created + timedelta(days=20)).date(),
                            reported_by=insp.id, created_at=created, closed_at=closed)
            db.session.add(hazard)
            db.session.flush()
            db.session.add(HazardEvent(hazard_id=hazard.id, type="reported", at=created, actor_id=insp.id,
                                       from_status=None, to_status="reported"))
            if status != "reported":
                db.session.add(HazardEvent(hazard_id=hazard.id, type="notified", at=created + timedelta(hours=1),
                                           actor_id=insp.id, from_status="reported", to_status="rectifying"))
            if closed:
                db.session.add(HazardEvent(hazard_id=hazard.id, type="review_accepted", at=closed, actor_id=insp.id,
                                           from_status="pending_review", to_status="closed"))
            if n % 9 == 4:  # closed once, then reopened: open again now
                db.session.add(HazardEvent(hazard_id=hazard.id, type="review_accepted",
                                           at=created + timedelta(days=2), actor_id=insp.id,
                                           from_status="pending_review", to_status="closed"))
                db.session.add(HazardEvent(hazard_id=hazard.id, type="reopen", at=created + timedelta(days=4),
                                           actor_id=insp.id, from_status="closed", to_status="rectifying"))
            if severity == "major":
                db.session.add(Supervision(hazard_id=hazard.id, supervising_unit="市住建局", listed_at=created,
                                           lifted_at=closed))
            hazards.append(hazard)
        db.session.commit()
        town = SimpleNamespace(insp=insp.id, leader=leader.id, duty=duty.id, campaign=campaign.id,
                               subjects=[s.id for s in subjects], hazards=[h.id for h in hazards])
    yield town
    set_now(None)


@pytest.fixture
def snapshot_app(app, database_url, tmp_path):
    """Another app on the same database with the production setting: pages read snapshots up to 30 minutes old."""
    from server import create_app

    other = create_app("testing", DATABASE_URL=database_url, PHOTO_ROOT=str(tmp_path / "photos"),
                       CONSOLE_DASHBOARD_MAX_AGE_MINUTES=30, CONSOLE_SEARCH_SCAN_ROWS=10)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
