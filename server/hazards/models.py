"""Tables of hazards and their events."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.database import UTCDateTime, utcnow
from server.extensions import db


class Hazard(db.Model):
    """A hazard found in an inspection, driven to closure; identified by the phone's UUID."""

    __tablename__ = "hazard"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subject.id"), index=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    domain: Mapped[str] = mapped_column(String(32))
    checklist_code: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[date] = mapped_column(Date)
    fixed_on_spot: Mapped[bool] = mapped_column(Boolean, default=False)
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    # 五落实 of a major hazard: responsible, measures, funds_yuan, deadline, contingency_plan.
    plan: Mapped[dict | None] = mapped_column(JSON)
    reported_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events: Mapped[list[HazardEvent]] = relationship(
        lazy="selectin", order_by="HazardEvent.id", back_populates="hazard")

    __table_args__ = (
        Index("ix_hazard_district_status", "district_code", "status"),
        Index("ix_hazard_created", "created_at", "id"),
        # Zero-out figures (server/reports/zero.py): every column they read, so that the candidates of
        # a district (or of the city) are found without reading the table; see docs/benchmarks.md.
        Index("ix_hazard_figures", "district_code", "status", "closed_at", "created_at", "domain", "severity",
              "campaign_id", "id"),
        # The console's lists and map of a district, newest first (server/console/lists.py).
        Index("ix_hazard_district_created", "district_code", "created_at", "id"),
    )


class HazardEvent(db.Model):
    """One transition of a hazard: who, when, what, from which state to which."""

    __tablename__ = "hazard_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hazard.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # The phone's id for a rectification or review, so that a retry is recognised.
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    # Closing-evidence checks seen by a reviewer, and whether the reviewer accepted despite a failure.
    checks: Mapped[list | None] = mapped_column(JSON)
    hazard: Mapped[Hazard] = relationship(back_populates="events")

    __table_args__ = (
        Index("ix_hazard_event_at", "at"),
        # The ledger of the zero-out figures: only the events that open or close a hazard, with what the
        # sum reads. The condition is written exactly as server/reports/zero.py's _COUNTS so that the
        # planners can prove the query implies it.
        Index("ix_hazard_event_ledger", "hazard_id", "at", "from_status", "to_status",
              sqlite_where=text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"),
              postgresql_where=text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'")),
    )


class Supervision(db.Model):
    """A major hazard listed for supervision (挂牌督办) by a supervising unit, lifted on closure."""

    __tablename__ = "supervision"
    hazard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hazard.id"), primary_key=True)
    supervising_unit: Mapped[str] = mapped_column(String(200))
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
