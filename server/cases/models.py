"""Tables of cases transferred to enforcement: the case, its number counter, officers, links, evidence, events."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (JSON, Date, Float, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint,
                        Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.database import UTCDateTime, utcnow
from server.extensions import db


class CaseCounter(db.Model):
    """The last case number given in a year; locked by the creating transaction so numbers have no gaps."""

    __tablename__ = "case_counter"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Case(db.Model):
    """A case of illegal conduct (违法案件) built from hazards and inspections, transferred to enforcement."""

    __tablename__ = "enforcement_case"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    case_no: Mapped[str] = mapped_column(String(64), unique=True)
    client_key: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(300))
    # The party (当事人): an enterprise of the register, or a person with a GB 11643 ID number.
    party_kind: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), index=True)
    party_name: Mapped[str] = mapped_column(String(200))
    party_id_number: Mapped[str | None] = mapped_column(String(18))
    party_representative: Mapped[str | None] = mapped_column(String(100))
    party_address: Mapped[str | None] = mapped_column(String(300))
    party_phone: Mapped[str | None] = mapped_column(String(32))
    # Where the conduct took place (违法行为发生地).
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    facts: Mapped[str | None] = mapped_column(Text)
    articles_violated: Mapped[list] = mapped_column(JSON, default=list)
    penalty_basis: Mapped[list] = mapped_column(JSON, default=list)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_on: Mapped[date] = mapped_column(Date)
    decision_due: Mapped[date] = mapped_column(Date)
    # Transfer (移送), acceptance (受理), decision (处罚决定), return (退回), closure (结案).
    receiving_agency: Mapped[str | None] = mapped_column(String(200))
    transferred_on: Mapped[date | None] = mapped_column(Date)
    dossier_sha256: Mapped[str | None] = mapped_column(String(64))
    accepted_on: Mapped[date | None] = mapped_column(Date)
    penalty_kinds: Mapped[list | None] = mapped_column(JSON)
    penalty_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    decision_no: Mapped[str | None] = mapped_column(String(100))
    decided_on: Mapped[date | None] = mapped_column(Date)
    returned_on: Mapped[date | None] = mapped_column(Date)
    return_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    officers: Mapped[list[CaseOfficer]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CaseOfficer.position")
    hazard_links: Mapped[list[CaseHazard]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    inspection_links: Mapped[list[CaseInspection]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    evidence: Mapped[list[CaseEvidence]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CaseEvidence.position")
    events: Mapped[list[CaseEvent]] = relationship(lazy="selectin", order_by="CaseEvent.id")

    __table_args__ = (
        UniqueConstraint("year", "number", name="uq_enforcement_case_year_number"),
        Index("ix_enforcement_case_district_status", "district_code", "status"),
    )

    @property
    def hazard_ids(self) -> list[uuid.UUID]:
        return [link.hazard_id for link in self.hazard_links]

    @property
    def inspection_ids(self) -> list[uuid.UUID]:
        return [link.inspection_id for link in self.inspection_links]


class CaseOfficer(db.Model):
    """An officer handling the case (承办人); the law asks for at least two."""

    __tablename__ = "case_officer"
    case_id: Mapped[int] = mapped_column(ForeignKey("enforcement_case.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    certificate_no: Mapped[str | None] = mapped_column(String(32))


class CaseHazard(db.Model):
    """A hazard the case was built from."""

    __tablename__ = "case_hazard"
    case_id: Mapped[int] = mapped_column(ForeignKey("enforcement_case.id", ondelete="CASCADE"), primary_key=True)
    hazard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hazard.id"), primary_key=True, index=True)


class CaseInspection(db.Model):
    """An inspection the case was built from."""

    __tablename__ = "case_inspection"
    case_id: Mapped[int] = mapped_column(ForeignKey("enforcement_case.id", ondelete="CASCADE"), primary_key=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection.id"), primary_key=True, index=True)


class CaseEvidence(db.Model):
    """One item of evidence of a statutory kind, with photos (by SHA-256) and records (by id) attached."""

    __tablename__ = "case_evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("enforcement_case.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    collected_on: Mapped[date | None] = mapped_column(Date)
    # [{"sha256", "photo_id", "content_type"}]
    photos: Mapped[list] = mapped_column(JSON, default=list)
    # [{"type": "hazard"|"inspection", "id"}]
    records: Mapped[list] = mapped_column(JSON, default=list)
    added_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseEvent(db.Model):
    """One change of a case: who, when, what, from which state to which, with its data."""

    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("enforcement_case.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    # The client's key of an idempotent action, so that a retry is recognised.
    client_key: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
