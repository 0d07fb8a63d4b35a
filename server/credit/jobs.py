"""The daily credit sweep (placeholder until the ledger lands: it does nothing yet)."""

from __future__ import annotations

from datetime import datetime


def credit_sweep(*, now: datetime) -> dict:
    return {}
