"""One row per audited change; each row carries the hash of the row before it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.database import UTCDateTime, utcnow
from server.extensions import db


class AuditEvent(db.Model):
    """A change: who (``actor_id``, None for the system), what (``action`` on ``entity``/``entity_id``), the data
    (before/after values where the change has them), and the request that made it.

    ``hash`` is the SHA-256 of ``prev_hash`` and the row's canonical content,
    so removing, reordering or editing a row breaks every hash after it.
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))  # the X-Request-ID of the change, to match the log
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_event_entity", "entity", "entity_id"),)
