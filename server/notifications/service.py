"""The outbox: enqueue a notification once per key, deliver each row once, whatever the number of processes."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from server.accounts.models import User
from server.database import utcnow
from server.extensions import db
from server.notifications import senders as senders_module
from server.notifications.models import Outbox

logger = logging.getLogger("qingling.notifications")

SUBJECT_MAX = 300
ERROR_MAX = 2000


def dialect_insert(model):
    """Return an INSERT for ``model`` that knows ON CONFLICT DO NOTHING on this database (SQLite or PostgreSQL)."""
    name = db.engine.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the project runs on these two
        raise RuntimeError(f"no ON CONFLICT support written for {name}")
    return insert(model)


def insert_if_absent(model, *, keys: list[str], **values) -> bool:
    """INSERT a row unless one with the same ``keys`` exists (ON CONFLICT DO NOTHING); return True when inserted.

    RETURNING tells the two cases apart: the rowcount of this statement is
    not reliable through the ORM on PostgreSQL (it answers -1).
    """
    key = next(iter(model.__table__.primary_key.columns))
    statement = dialect_insert(model).values(**values).on_conflict_do_nothing(index_elements=keys).returning(key)
    return db.session.execute(statement).first() is not None


def enqueue(*, kind: str, recipient_id: int | None, subject: str, body: str, dedupe_key: str) -> bool:
    """Add a row to the outbox unless one with this dedupe_key exists; return True when added. Never commits.

    The unique key makes this a claim: of two concurrent transactions enqueuing
    one key, one inserts and the other (after the first commits) inserts nothing.
    """
    return insert_if_absent(Outbox, keys=["dedupe_key"], dedupe_key=dedupe_key, kind=kind, recipient_id=recipient_id,
                            subject=subject[:SUBJECT_MAX], body=body, created_at=utcnow(), attempts=0)


def _next_unsent(after_id: int, max_attempts: int) -> Outbox | None:
    """Claim the next unsent row after ``after_id``: locked for us on PostgreSQL, skipped if another process has it.

    On SQLite every writing transaction begins IMMEDIATE (server/database.py),
    so a second process waits for our commit and then sees the row as sent.
    """
    query = (select(Outbox)
             .where(Outbox.sent_at.is_(None), Outbox.attempts < max_attempts, Outbox.id > after_id)
             .order_by(Outbox.id).limit(1)
             .execution_options(populate_existing=True))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.scalar(query)


def deliver_pending(*, limit: int = 100) -> int:
    """Send up to ``limit`` unsent rows through the configured senders; commit per row; return how many went out.

    A failure counts an attempt and keeps the error; the row is tried again by a
    later call until ``NOTIFY_MAX_ATTEMPTS``. With several senders a failure of
    one sends the message again through all of them on the retry (at least once
    per sender; exactly once when all succeed at the first try).
    """
    config = current_app.config
    senders = senders_module.configured(config)
    max_attempts = int(config.get("NOTIFY_MAX_ATTEMPTS", 10))
    sent, last_id = 0, 0
    for _ in range(limit):
        row = _next_unsent(last_id, max_attempts)
        if row is None:
            break
        last_id = row.id
        recipient = db.session.get(User, row.recipient_id) if row.recipient_id is not None else None
        row.attempts = (row.attempts or 0) + 1
        try:
            for sender in senders:
                sender.send(row, recipient)
        except Exception as error:  # noqa: BLE001 - any failure of a sender is recorded and retried
            row.last_error = f"{type(error).__name__}: {error}"[:ERROR_MAX]
            logger.warning("notification %s not sent (attempt %d of %d): %s", row.dedupe_key, row.attempts,
                           max_attempts, row.last_error)
        else:
            row.sent_at, row.last_error = utcnow(), None
            sent += 1
        db.session.commit()
    db.session.commit()  # end the transaction the last (empty) claim began
    return sent
