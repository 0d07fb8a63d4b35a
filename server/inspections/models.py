"""Tables of inspections and their checklist results."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.database import UTCDateTime, utcnow
from server.extensions import db


class Inspection(db.Model):
    """One visit of an inspector to a subject, identified by the phone's UUID."""

    __tablename__ = "inspection"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subject.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    domain: Mapped[str] = mapped_column(String(32))
    checklist_code: Mapped[str] = mapped_column(String(64))
    checklist_version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    source_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    source_lat: Mapped[float | None] = mapped_column(Float)
    source_lon: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    score: Mapped[dict | None] = mapped_column(JSON)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    payload_hash: Mapped[str] = mapped_column(String(64))
    results: Mapped[list[InspectionResult]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InspectionResult.position")

    __table_args__ = (Index("ix_inspection_district_started", "district_code", "started_at"),)


class InspectionResult(db.Model):
    """The outcome of one checklist item in an inspection."""

    __tablename__ = "inspection_result"
    inspection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inspection.id", ondelete="CASCADE"), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(8))
    deduction: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
