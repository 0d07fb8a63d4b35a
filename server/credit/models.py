"""Tables of the credit ledger: standard versions used, deductions, and the events that move them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.database import UTCDateTime, utcnow
from server.extensions import db


class CreditStandardVersion(db.Model):
    """A version of the credit standard as it was when the first deduction was made under it (frozen)."""

    __tablename__ = "credit_standard_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("code", "version"),)


class CreditDeduction(db.Model):
    """One deduction of an enterprise's credit: a ledger row never rewritten, moved only by its events.

    ``points``, ``veto`` and ``valid_until`` are copied from the rule of the
    standard version in force when the deduction was proposed. ``status``,
    ``effective_at`` and ``ended_at`` cache what the events say (each written
    once, by the event's transaction); the score as of a time reads them.
    The unique (enterprise, rule, source kind, source id) makes the same rule
    and source deduct once, whatever the retries.
    """

    __tablename__ = "credit_deduction"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprise.id"), index=True)
    standard_code: Mapped[str] = mapped_column(String(64))
    standard_version: Mapped[int] = mapped_column(Integer)
    rule_code: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    veto: Mapped[bool] = mapped_column(Boolean)
    # hazard | inspection | case | manual, and the id of that source (a manual one: its reference or client id).
    source_kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(64))
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    # A manual deduction: the client's id, so that a retry is recognised, and the digest of what it sent.
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    events: Mapped[list[CreditDeductionEvent]] = relationship(
        lazy="selectin", order_by="CreditDeductionEvent.id", back_populates="deduction")

    __table_args__ = (
        UniqueConstraint("enterprise_id", "rule_code", "source_kind", "source_id", name="uq_credit_deduction_source"),
        ForeignKeyConstraint(["standard_code", "standard_version"],
                             ["credit_standard_version.code", "credit_standard_version.version"],
                             name="fk_credit_deduction_standard"),
        Index("ix_credit_deduction_status", "status", "id"),
        Index("ix_credit_deduction_district_status", "district_code", "status"),
    )


class CreditDeductionEvent(db.Model):
    """One step of a deduction: proposed, confirmed, revoked, repaired or expired; who, when and why."""

    __tablename__ = "credit_deduction_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    deduction_id: Mapped[int] = mapped_column(ForeignKey("credit_deduction.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    deduction: Mapped[CreditDeduction] = relationship(back_populates="events")

    __table_args__ = (Index("ix_credit_deduction_event_at", "at"),)
