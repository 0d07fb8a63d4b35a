"""The hazard transition table: what each state allows, and one event per change."""

import uuid
from datetime import date, timedelta

import pytest

from helpers import make_subject, make_user
from server.database import utcnow
from server.errors import ProblemError
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action, Status
from server.hazards.models import Hazard, HazardEvent
from server.inspections.models import Inspection


def test_allowed_actions_follow_the_table():
    """Each state names exactly the actions of the lifecycle diagram."""
    assert hazard_service.allowed_actions(Status.REPORTED) == ["fixed_on_spot", "notified", "rectification"]
    assert hazard_service.allowed_actions(Status.RECTIFYING) == ["rectification"]
    assert hazard_service.allowed_actions(Status.PENDING_REVIEW) == ["review_accepted", "review_rejected"]
    assert hazard_service.allowed_actions(Status.CLOSED) == ["reopened"]


def _hazard(app):
    user = make_user(roles=["inspector"])
    subject = make_subject()
    inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=user.id, district_code="640104",
                            domain="gas", checklist_code="gas-user", checklist_version=1, started_at=utcnow(),
                            payload_hash="x")
    db.session.add(inspection)
    db.session.flush()
    hazard = Hazard(id=uuid.uuid4(), inspection_id=inspection.id, subject_id=subject.id, district_code="640104",
                    domain="gas", checklist_code="gas-user", item_code="G02", description="d", severity="general",
                    deadline=date.today() + timedelta(days=3), reported_by=user.id, created_at=utcnow())
    hazard_service.report(hazard=hazard, actor=user, supervising_unit="银川市住房和城乡建设局")
    db.session.commit()
    return hazard, user


def test_illegal_transition_is_refused_without_an_event(app):
    """Accepting a hazard that was never rectified is a 409 naming the state and allowed actions."""
    with app.app_context():
        hazard, user = _hazard(app)
        with pytest.raises(ProblemError) as refused:
            hazard_service.transition(hazard=hazard, action=Action.ACCEPT, actor=user)
        assert refused.value.code == "invalid_transition"
        assert refused.value.extra == {"current_status": "reported",
                                       "allowed_actions": ["fixed_on_spot", "notified", "rectification"]}
        db.session.rollback()
        assert db.session.query(HazardEvent).count() == 1


def test_closing_sets_closed_at_and_reject_clears_nothing_else(app):
    """rectify → reject → rectify → accept leaves four events after the report and a closing time."""
    with app.app_context():
        hazard, user = _hazard(app)
        for action in (Action.RECTIFY, Action.REJECT, Action.RECTIFY, Action.ACCEPT):
            hazard_service.transition(hazard=hazard, action=action, actor=user)
        db.session.commit()
        assert hazard.status == Status.CLOSED and hazard.closed_at is not None
        assert [e.to_status for e in hazard.events] == ["reported", "pending_review", "rectifying",
                                                        "pending_review", "closed"]
        assert not hazard_service.is_overdue(hazard, today=date.today() + timedelta(days=30))


def test_overdue_is_derived_from_deadline_and_status(app):
    """An open hazard is overdue the day after its deadline, not on it."""
    with app.app_context():
        hazard, _ = _hazard(app)
        assert not hazard_service.is_overdue(hazard, today=hazard.deadline)
        assert hazard_service.is_overdue(hazard, today=hazard.deadline + timedelta(days=1))
