"""Assignments: giving and taking back, the since-cursor protocol, and fulfilment by a visit."""

import random
from datetime import date, datetime, timedelta, timezone
from functools import partial

import pytest

from field_app_api.schemas import InspectionInSchema
from helpers import inspection_payload, make_subject, make_user
from server.accounts import service as account_service
from server.errors import ProblemError
from server.extensions import db
from server.inspections import assignments as assignment_service
from server.inspections import campaigns as campaign_service
from server.inspections import service as inspection_service

CST = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def cheap_password_hash(monkeypatch):
    """Hash test passwords cheaply (scrypt costs ~90 ms per user); signing in is not tested here."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(account_service, "generate_password_hash",
                        partial(lambda generate, password, method=None: generate(password, method="pbkdf2:sha256:1000"),
                                generate_password_hash))


def state(answer) -> dict:
    """Return what the server's full answer says the phone should hold: id -> (kind, subject, due)."""
    return {row.id: (row.kind, row.subject_id, row.due) for row in answer["items"]}


def apply(phone: dict, answer) -> None:
    """Apply one answer to a phone's list, as the contract tells the phone to."""
    for row in answer["items"]:
        phone[row.id] = (row.kind, row.subject_id, row.due)
    for removed in answer["removed"]:
        phone.pop(removed, None)


def refused(call, field: str):
    with pytest.raises(ProblemError) as error:
        call()
    db.session.rollback()
    assert error.value.code == "validation_error", error.value.detail
    assert field in (error.value.errors or {}), error.value.errors


def test_phone_following_the_cursor_always_holds_the_server_list(app):
    """Random assigns, due changes, removals and visits: a phone applying each since-answer equals the full list."""
    with app.app_context():
        leader = make_user(roles=["leader"], districts=["640100"])
        inspectors = [make_user(districts=["640104"]), make_user(districts=["640100"])]
        subjects = [make_subject() for _ in range(6)]
        rng = random.Random(20260504)
        phones = {u.id: ({}, None) for u in inspectors}
        seen = {"items": 0, "removed": 0}
        for step in range(120):
            user = rng.choice(inspectors)
            action = rng.random()
            if action < 0.45:
                picked = rng.sample(subjects, rng.randint(1, 3))
                due = rng.choice([None, date(2026, 6, 1), date(2026, 6, 15)])
                assignment_service.assign(user_id=user.id, subject_ids=[s.id for s in picked], due=due, actor=leader)
            elif action < 0.75:
                held = assignment_service.current(user_id=user.id)
                if held:
                    assignment_service.remove(assignment_id=rng.choice(held).id, actor=leader)
            elif action < 0.85:
                subject = rng.choice(subjects)
                data = InspectionInSchema().load(inspection_payload(subject))
                inspection_service.submit(data=data, actor=user, districts=account_service.visible_districts(user))
            db.session.commit()
            # Every few steps some phone syncs; the others fall behind and catch up later.
            for phone_user in inspectors:
                if rng.random() < 0.5:
                    phone, cursor = phones[phone_user.id]
                    answer = assignment_service.changes_since(user_id=phone_user.id, cursor=cursor)
                    apply(phone, answer)
                    seen["items"] += len(answer["items"]) if cursor else 0
                    seen["removed"] += len(answer["removed"])
                    phones[phone_user.id] = (phone, answer["cursor"])
                    full = assignment_service.changes_since(user_id=phone_user.id, cursor=None)
                    assert phone == state(full), f"step {step}"
        for phone_user in inspectors:
            phone, cursor = phones[phone_user.id]
            apply(phone, assignment_service.changes_since(user_id=phone_user.id, cursor=cursor))
            assert phone == state(assignment_service.changes_since(user_id=phone_user.id, cursor=None))
        assert seen["items"] > 20 and seen["removed"] > 10, seen


def test_garbage_and_future_cursors_are_refused(app):
    """A cursor the server did not give (garbage, or beyond the last change) is a 422 on since."""
    with app.app_context():
        leader, user = make_user(roles=["leader"]), make_user()
        assignment_service.assign(user_id=user.id, subject_ids=[make_subject().id], actor=leader)
        db.session.commit()
        good = assignment_service.changes_since(user_id=user.id, cursor=None)["cursor"]
        assert assignment_service.changes_since(user_id=user.id, cursor=good) == {
            "items": [], "removed": [], "cursor": good}
        future = assignment_service._encode(10_000)
        for cursor in ("garbage", "eyJhIjoxfQ", future, assignment_service.pagination.encode(["assignments", "-1"]),
                       assignment_service.pagination.encode(["other", "1"])):
            refused(lambda: assignment_service.changes_since(user_id=user.id, cursor=cursor), "since")


def test_other_inspectors_assignments_are_invisible(app):
    """A user's answer holds only its own assignments, with or without a cursor."""
    with app.app_context():
        leader = make_user(roles=["leader"])
        mine, theirs = make_user(), make_user()
        start = assignment_service.changes_since(user_id=mine.id, cursor=None)["cursor"]
        assignment_service.assign(user_id=theirs.id, subject_ids=[make_subject().id], actor=leader)
        [own] = assignment_service.assign(user_id=mine.id, subject_ids=[make_subject().id], actor=leader)
        db.session.commit()
        assert [r.id for r in assignment_service.changes_since(user_id=mine.id, cursor=None)["items"]] == [own.id]
        assert [r.id for r in assignment_service.changes_since(user_id=mine.id, cursor=start)["items"]] == [own.id]


def test_assigning_again_keeps_one_assignment_and_reports_a_new_due_date(app):
    """The same subject given twice is one assignment; a changed due date reaches the phone as a change."""
    with app.app_context():
        leader, user, subject = make_user(roles=["leader"]), make_user(), make_subject()
        june = date(2026, 6, 1)
        [first] = assignment_service.assign(user_id=user.id, subject_ids=[subject.id], due=june, actor=leader)
        db.session.commit()
        cursor = assignment_service.changes_since(user_id=user.id, cursor=None)["cursor"]
        [same] = assignment_service.assign(user_id=user.id, subject_ids=[subject.id], due=june, actor=leader)
        db.session.commit()
        assert same.id == first.id
        assert assignment_service.changes_since(user_id=user.id, cursor=cursor)["items"] == []
        assignment_service.assign(user_id=user.id, subject_ids=[subject.id], due=date(2026, 7, 1), actor=leader)
        db.session.commit()
        [changed] = assignment_service.changes_since(user_id=user.id, cursor=cursor)["items"]
        assert changed.id == first.id and changed.due == date(2026, 7, 1)


def test_a_district_is_given_subject_by_subject(app):
    """Assigning a district gives each of its subjects (of the field asked for), descendants included."""
    with app.app_context():
        leader, user = make_user(roles=["leader"], districts=["640100"]), make_user(districts=["640100"])
        gas = [make_subject(), make_subject(district_code="640106")]
        make_subject(domain="self_built_house")
        make_subject(district_code="640202")
        rows = assignment_service.assign(user_id=user.id, district="640100", domain="gas", actor=leader)
        assert {r.subject_id for r in rows} == {s.id for s in gas}
        refused(lambda: assignment_service.assign(user_id=user.id, district="640200", actor=leader), "district")
        refused(lambda: assignment_service.assign(user_id=user.id, district="999999", actor=leader), "district")


def test_assign_checks_its_inputs(app):
    """Unknown or out-of-district subjects, an assignee who cannot see them, a wrong kind or campaign are 422."""
    with app.app_context():
        leader = make_user(roles=["leader"], districts=["640104"])
        user, elsewhere = make_user(districts=["640104"]), make_user(districts=["640106"])
        subject, far = make_subject(), make_subject(district_code="640106")
        campaign = campaign_service.create(name="金凤区燃气", doc_no=None, domains=["gas"], districts=["640106"],
                                           starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), phases=[])
        db.session.commit()
        refused(lambda: assignment_service.assign(user_id=user.id, subject_ids=[far.id], actor=leader), "subject_ids.0")
        refused(lambda: assignment_service.assign(user_id=elsewhere.id, subject_ids=[subject.id], actor=leader),
                "user_id")
        refused(lambda: assignment_service.assign(user_id=leader.id + 100, subject_ids=[subject.id], actor=leader),
                "user_id")
        refused(lambda: assignment_service.assign(user_id=user.id, subject_ids=[subject.id], kind="visit",
                                                  actor=leader), "kind")
        refused(lambda: assignment_service.assign(user_id=user.id, subject_ids=[subject.id], kind="reinspect",
                                                  actor=leader), "hazard_id")
        refused(lambda: assignment_service.assign(user_id=user.id, actor=leader), "subject_ids")
        refused(lambda: assignment_service.assign(user_id=user.id, subject_ids=[subject.id], campaign_id=campaign.id,
                                                  actor=None), "subject_ids")


def test_a_visit_fulfils_the_inspectors_assignment(app):
    """The assignee's inspection of the subject removes its assignment; a no_access visit or another user's does not."""
    with app.app_context():
        leader, user, other, subject = make_user(roles=["leader"]), make_user(), make_user(), make_subject()
        [row] = assignment_service.assign(user_id=user.id, subject_ids=[subject.id], actor=leader)
        db.session.commit()
        cursor = assignment_service.changes_since(user_id=user.id, cursor=None)["cursor"]

        def visit(actor, **extra):
            data = InspectionInSchema().load(inspection_payload(subject))
            data.update(extra)
            inspection_service.submit(data=data, actor=actor, districts=account_service.visible_districts(actor))
            db.session.commit()

        visit(other)
        visit(user, outcome="no_access")
        assert [r.id for r in assignment_service.current(user_id=user.id)] == [row.id]
        visit(user)
        assert assignment_service.current(user_id=user.id) == []
        assert assignment_service.changes_since(user_id=user.id, cursor=cursor)["removed"] == [row.id]


def test_a_campaign_assignment_waits_for_a_visit_of_that_campaign(app):
    """An assignment of a campaign is fulfilled by a visit belonging to that campaign, not by one outside it."""
    with app.app_context():
        leader, user, subject = make_user(roles=["leader"]), make_user(), make_subject()
        campaign = campaign_service.create(name="燃气专项", doc_no=None, domains=["gas"], districts=["640104"],
                                           starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), phases=[])
        db.session.commit()
        assignment_service.assign(user_id=user.id, subject_ids=[subject.id], campaign_id=campaign.id, actor=leader)
        db.session.commit()

        def visit(day):
            started = datetime.combine(day, datetime.min.time(), CST) + timedelta(hours=10)
            data = InspectionInSchema().load(inspection_payload(subject, started_at=started.isoformat(),
                                                                finished_at=None))
            inspection_service.submit(data=data, actor=user, districts=account_service.visible_districts(user))
            db.session.commit()

        visit(date(2025, 12, 20))
        assert len(assignment_service.current(user_id=user.id)) == 1
        visit(date(2026, 3, 1))
        assert assignment_service.current(user_id=user.id) == []


def test_remove_is_scoped_and_idempotent(app):
    """Removing twice changes nothing the second time; a leader of another district gets 404."""
    with app.app_context():
        leader, stranger = make_user(roles=["leader"]), make_user(roles=["leader"], districts=["640106"])
        user = make_user()
        [row] = assignment_service.assign(user_id=user.id, subject_ids=[make_subject().id], actor=leader)
        db.session.commit()
        with pytest.raises(ProblemError) as error:
            assignment_service.remove(assignment_id=row.id, actor=stranger)
        assert error.value.code == "not_found"
        db.session.rollback()
        assignment_service.remove(assignment_id=row.id, actor=leader)
        db.session.commit()
        seq = row.change_seq
        assignment_service.remove(assignment_id=row.id, actor=leader)
        db.session.commit()
        assert row.change_seq == seq
