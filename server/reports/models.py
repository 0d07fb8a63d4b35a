"""Tables of the reports: the quarterly analysis snapshots (每季度安全生产形势分析)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column

from server.database import UTCDateTime, utcnow
from server.extensions import db
from server.hazards.models import HazardEvent


class QuarterlyReport(db.Model):
    """An immutable snapshot of a quarter's figures: one row per version, never updated or deleted.

    ``figures`` is the whole analysis as JSON (server/reports/quarterly.py
    says what it holds); ``sha256`` is the digest of its canonical JSON
    (``server.canonical.digest``), so a reader can check that what it shows is
    what was made. Making the quarter again adds a version; ``made_by`` None is
    the scheduler. The database refuses UPDATE and DELETE on the table (triggers
    made by the migration), and the ORM refuses a change before it is sent.
    """

    __tablename__ = "quarterly_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    made_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The time the figures are true at: the quarter's last instant, or the making time for a running quarter.
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    complete: Mapped[bool] = mapped_column(Boolean)
    figures: Mapped[dict] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("quarter", "version"),
        # The scheduler makes one snapshot per quarter, whatever the number of scheduler processes.
        Index("uq_quarterly_report_scheduled", "quarter", unique=True,
              sqlite_where=text("made_by IS NULL"), postgresql_where=text("made_by IS NULL")),
    )


class ImmutableSnapshot(RuntimeError):
    """A quarterly snapshot was changed or deleted: a new version is a new row."""


@event.listens_for(QuarterlyReport, "before_update")
def _refuse_update(mapper, connection, target):
    raise ImmutableSnapshot(f"quarterly report {target.quarter} v{target.version} is immutable; make a new version")


@event.listens_for(QuarterlyReport, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise ImmutableSnapshot(f"quarterly report {target.quarter} v{target.version} is immutable")


# The events that open or close a hazard (the condition of ix_hazard_event_ledger, which zero.py reads per
# hazard), in time order and covering: a quarter's closings and recurrences are a range of it, without
# reading the event table (measured at city scale, 1,000,000 hazards: 5.6 s -> 0.2 s for a quarter's
# closings). Declared here, beside what reads it; it belongs to hazard_event.
Index("ix_hazard_event_ledger_at", HazardEvent.at, HazardEvent.to_status, HazardEvent.from_status,
      HazardEvent.hazard_id,
      sqlite_where=text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"),
      postgresql_where=text("from_status IS NULL OR from_status = 'closed' OR to_status = 'closed'"))
