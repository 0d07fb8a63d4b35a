"""Tables of inspections and their checklist results."""

from __future__ import annotations

import uuid
from datetime import datetime

from datetime import date

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text, Uuid
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
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    # "inspected", or "no_access" when nobody was there to let the inspector in.
    outcome: Mapped[str] = mapped_column(String(16), default="inspected", server_default="inspected")
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

    __table_args__ = (
        Index("ix_inspection_district_started", "district_code", "started_at"),
        # A campaign's coverage (server/inspections/coverage.py): its visits in subject order, folded per subject
        # without a sort, a district's picked out of the index alone.
        Index("ix_inspection_campaign_coverage", "campaign_id", "subject_id", "outcome", "district_code"),
        # The console's list of the city's visits, newest first (server/console/lists.py).
        Index("ix_inspection_started", "started_at", "id"),
    )


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


class Campaign(db.Model):
    """A special campaign (专项行动): fields, period, phases and target population."""

    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    doc_no: Mapped[str | None] = mapped_column(String(100))
    domains: Mapped[list] = mapped_column(JSON)
    districts: Mapped[list] = mapped_column(JSON)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # [{"name", "starts_on", "ends_on", "kind": "inspect"|"reinspect", "sample_share"?}]
    phases: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Assignment(db.Model):
    """A subject (or a hazard to verify) given to an inspector, as the phone syncs it."""

    __tablename__ = "assignment"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subject.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    hazard_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hazard.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    due: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sequence number of the last change, for the phone's cursor.
    change_seq: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_assignment_user_seq", "user_id", "change_seq"),)


class AssignmentChange(db.Model):
    """One change of an assignment; its id orders the changes a phone has not seen yet."""

    __tablename__ = "assignment_change"
    seq: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assignment.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeaderDuty(db.Model):
    """Leader responsibility (包抓): who answers for a district in a field."""

    __tablename__ = "leader_duty"
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
