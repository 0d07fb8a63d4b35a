"""The audit log: a chain of hashes that any edit, removal or reordering breaks."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from helpers import make_user
from server.audit import service as audit
from server.audit.models import AuditEvent
from server.extensions import db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


def _three_events(actor_id):
    for number in range(3):
        audit.record(action="credit.confirm", entity="deduction", entity_id=number, actor_id=actor_id,
                     data={"points": -number, "note": "确认扣分"})
    db.session.commit()


def test_an_untouched_log_verifies(app):
    with app.app_context():
        _three_events(make_user("leader-a", roles=["leader"]).id)
        result = audit.verify()
        assert result.ok and result.checked == 3


def test_editing_a_row_is_detected_at_that_row(app):
    with app.app_context():
        _three_events(make_user("leader-b", roles=["leader"]).id)
        second = db.session.execute(text("SELECT id FROM audit_event ORDER BY id LIMIT 1 OFFSET 1")).scalar()
        db.session.execute(text("UPDATE audit_event SET action = 'credit.revoke' WHERE id = :id"), {"id": second})
        db.session.commit()
        result = audit.verify()
        assert not result.ok and result.broken_at == second and result.checked == 1


def test_removing_a_row_is_detected_at_the_next(app):
    with app.app_context():
        _three_events(None)
        first, second, third = db.session.execute(text("SELECT id FROM audit_event ORDER BY id")).scalars()
        db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": second})
        db.session.commit()
        result = audit.verify()
        assert result.broken_at == third and "prev_hash" in result.reason


def test_the_cli_exits_non_zero_on_a_broken_chain(app):
    with app.app_context():
        _three_events(None)
        runner = app.test_cli_runner()
        assert "intact: 3 rows" in runner.invoke(args=["audit", "verify"]).output
        db.session.execute(text("UPDATE audit_event SET data = '{}'"))
        db.session.commit()
        outcome = runner.invoke(args=["audit", "verify"])
        assert outcome.exit_code == 1 and "broken at row" in outcome.output


def test_a_change_made_by_a_request_carries_its_request_id(app):
    """The audit row names the X-Request-ID, so an operator finds the request's log line from it."""
    with app.test_request_context("/api/v1/assignments", method="POST", headers={"X-Request-ID": "req-42"}):
        app.preprocess_request()
        audit.record(action="assignment.assign", entity="user", entity_id=7)
        db.session.commit()
        stored = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (stored.action, stored.request_id) == ("assignment.assign", "req-42")
    with app.app_context():
        assert audit.verify().ok
