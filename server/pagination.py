"""Opaque keyset cursors for paged lists."""

from __future__ import annotations

import base64
import json

from server.errors import validation_error


def encode(values: list) -> str:
    """Return an opaque cursor for the last row's sort key."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, arity: int) -> list | None:
    """Return the sort key inside a cursor, or raise 422 for one we did not make."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
        raise validation_error("cursor", "not a cursor this server gave; start again without it")
    return values
