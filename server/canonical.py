"""Canonical digests of validated payloads, to tell a retry from a different submission."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime, timezone


def _default(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def digest(payload) -> str:
    """Return the SHA-256 of a payload's canonical JSON (sorted keys, UTC times, lower-case UUIDs)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    return hashlib.sha256(text.encode()).hexdigest()
