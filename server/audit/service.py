"""Append to the audit log and verify its chain."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context
from sqlalchemy import select, text

from server.audit.models import AuditEvent
from server.canonical import digest
from server.database import utcnow
from server.extensions import db

GENESIS = "0" * 64


def _content(event: AuditEvent) -> dict:
    return {"at": event.at, "actor_id": event.actor_id, "action": event.action, "entity": event.entity,
            "entity_id": event.entity_id, "data": event.data, "request_id": event.request_id}


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return digest({"prev": prev_hash, "row": _content(event)})


def record(*, action: str, entity: str, entity_id, actor_id: int | None = None, data: dict | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (committed, or rolled back, with the change it records).

    Appends are serialised so that the chain never forks: SQLite writers
    already hold the database's write lock; on PostgreSQL a transaction-level
    advisory lock is taken until commit.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(4711001)"))
    last = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(at=utcnow(), actor_id=actor_id, action=action, entity=entity, entity_id=str(entity_id),
                       data=data or {}, request_id=_request_id())
    event.prev_hash = last or GENESIS
    event.hash = _chain_hash(event.prev_hash, event)
    db.session.add(event)
    db.session.flush()
    return event


@dataclass
class Verification:
    checked: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(*, batch: int = 5000) -> Verification:
    """Walk the chain from the first row; report the first row whose links or hash do not hold."""
    prev, checked, after = GENESIS, 0, 0
    while True:
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
                                  .limit(batch)).all()
        if not rows:
            return Verification(checked)
        for event in rows:
            if event.prev_hash != prev:
                return Verification(checked, event.id, "prev_hash does not match the row before")
            if event.hash != _chain_hash(prev, event):
                return Verification(checked, event.id, "content does not match its hash")
            prev, checked, after = event.hash, checked + 1, event.id
