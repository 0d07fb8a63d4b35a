"""Append to the audit log and verify its chain."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context
from sqlalchemy import insert, select, text

from server.audit.models import AuditEvent
from server.canonical import digest
from server.database import utcnow
from server.extensions import db

GENESIS = "0" * 64


# What an event's hash covers, besides the previous hash.
_FIELDS = ("at", "actor_id", "action", "entity", "entity_id", "data", "request_id")


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _chain_hash(prev_hash: str, values: dict) -> str:
    return digest({"prev": prev_hash, "row": {name: values[name] for name in _FIELDS}})


def record(*, action: str, entity: str, entity_id, actor_id: int | None = None, data: dict | None = None) -> None:
    """Append one event in the caller's transaction (committed, or rolled back, with the change it records).

    Appends are serialised so that the chain never forks: SQLite writers
    already hold the database's write lock; on PostgreSQL a transaction-level
    advisory lock is taken until commit.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(4711001)"))
    last = db.session.scalar(_LAST_HASH)
    row = dict(at=utcnow(), actor_id=actor_id, action=action, entity=entity, entity_id=str(entity_id),
               data=data or {}, request_id=_request_id(), prev_hash=last or GENESIS)
    row["hash"] = _chain_hash(row["prev_hash"], row)
    db.session.connection().execute(_INSERT, row)


_LAST_HASH = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
_INSERT = insert(AuditEvent)


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
            if event.hash != _chain_hash(prev, {name: getattr(event, name) for name in _FIELDS}):
                return Verification(checked, event.id, "content does not match its hash")
            prev, checked, after = event.hash, checked + 1, event.id
