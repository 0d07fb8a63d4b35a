"""Job runs: a job claims its time slot once, whatever the number of scheduler processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.database import UTCDateTime, utcnow
from server.extensions import db


class JobRun(db.Model):
    """One run of a job for one slot (e.g. daily-digest 2026-11-25); the unique key is the claim."""

    __tablename__ = "job_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("job", "slot"),)
