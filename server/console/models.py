"""The console's own table: snapshots of the dashboard's figures (server/console/figures.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from server.database import UTCDateTime
from server.extensions import db


class DashboardSnapshot(db.Model):
    """The city's dashboard figures at ``as_of``, per district and field, which each page narrows to its caller.

    Made by the scheduler's ``dashboard_snapshot`` job every few minutes (and by
    a page that finds none recent enough); the page shows the newest with its
    time. ``figures`` is the document ``figures.compute`` returns.
    """

    __tablename__ = "dashboard_snapshot"
    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_ms: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (Index("ix_dashboard_snapshot_as_of", "as_of"),)
