"""Tables of the register (底数): enterprises and the subjects inspected."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.database import UTCDateTime, utcnow
from server.extensions import db


class Enterprise(db.Model):
    """A company answerable for subjects and hazards, identified by its unified social credit code."""

    __tablename__ = "enterprise"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubjectEnterprise(db.Model):
    """An enterprise responsible for a subject."""

    __tablename__ = "subject_enterprise"
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprise.id"), primary_key=True, index=True)


class Subject(db.Model):
    """One inspected thing: a gas user, a self-built house or a construction site."""

    __tablename__ = "subject"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    domain: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    district_code: Mapped[str] = mapped_column(ForeignKey("district.code"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    source_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    enterprise_links: Mapped[list[SubjectEnterprise]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (
        Index("ix_subject_district_domain", "district_code", "domain"),
        Index("ix_subject_lat_lon", "lat", "lon"),
        # The console's list of a district's subjects in id order (server/console/lists.py).
        Index("ix_subject_district_id", "district_code", "id"),
    )

    @property
    def enterprise_ids(self) -> list[uuid.UUID]:
        return [link.enterprise_id for link in self.enterprise_links]
