"""Doing a retried action once: the answer to a retry is the first attempt's record, never a second one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from server.errors import ProblemError

Record = TypeVar("Record")


def once(*, replayed: Callable[[], Record | None], perform: Callable[[], Record]) -> tuple[Record, bool]:
    """Return ``(record, True)`` from ``perform``, or ``(first record, False)`` when this is a retry.

    ``replayed`` finds the record an earlier attempt with the same client key
    made (raising 409 when the key was used for other content). When a
    concurrent attempt with the same key changed the state first, ``perform``
    is refused with ``invalid_transition``; the key then names that attempt's
    record, which is our answer too.
    """
    record = replayed()
    if record is not None:
        return record, False
    try:
        return perform(), True
    except ProblemError as refused:
        if refused.code != "invalid_transition":
            raise
        record = replayed()
        if record is None:
            raise
        return record, False
