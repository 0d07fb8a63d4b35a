"""The daily case-limit sweep (placeholder until cases land: it does nothing yet)."""

from __future__ import annotations

from datetime import datetime


def case_deadlines(*, now: datetime) -> dict:
    return {}
