"""Local time of the bureau: times are stored in UTC and shown in its zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from server.database import utcnow


def zone() -> ZoneInfo:
    """Return the bureau's time zone (Asia/Shanghai by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local(value: datetime) -> datetime:
    """Return an aware datetime in the bureau's zone."""
    return value.astimezone(zone())


def today() -> date:
    """Return today's date in the bureau's zone."""
    return utcnow().astimezone(zone()).date()
