"""Column types and engine settings shared by every domain."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from flask import has_request_context, request
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and always returned timezone-aware in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


_frozen_now: datetime | None = None


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC (or the time a simulation set)."""
    return _frozen_now if _frozen_now is not None else datetime.now(timezone.utc)


def set_now(value: datetime | None) -> None:
    """Freeze the clock at ``value`` (None: the real clock again); for simulations and tests."""
    global _frozen_now
    if value is not None and value.tzinfo is None:
        raise ValueError("set_now needs an aware datetime")
    _frozen_now = value


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, _record):
    """WAL, durable commits, foreign keys, and transactions begun by us (see _sqlite_begin)."""
    if not _is_sqlite(dbapi_connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


# Set inside ``reading()``: transactions begun there are plain reads even in a writing request.
_reading: ContextVar[bool] = ContextVar("qingling_sqlite_reading", default=False)


@contextmanager
def reading() -> Iterator[None]:
    """Run the reads a writing request makes before it writes without taking SQLite's write lock.

    Transactions begun inside the block begin deferred (a read snapshot), so
    authentication, lookups and validation run beside other writers instead of
    queueing behind them. The block must write nothing, and its transaction
    must be ended with ``end_reading()`` before the request writes: the next
    transaction then begins IMMEDIATE as usual. (A deferred transaction that
    reads and then writes would fail at once with "database is locked" when
    another writer committed in between, instead of waiting its turn.)
    Whatever was read may change before the write: the write must still be
    guarded by constraints or re-read under the lock where that matters.
    """
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def end_reading() -> None:
    """End the session's read transaction (see ``reading``); refuse if it holds a change of ORM objects.

    Statements executed directly (Core INSERTs, as the submission's writes
    and the audit trail use) are not seen here: they belong after it.
    """
    from server.extensions import db

    session = db.session
    if session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty):
        raise RuntimeError("a read transaction holds changes; they would be written without the write lock")
    session.commit()


def _writing() -> bool:
    if _reading.get():
        return False
    if has_request_context():
        return request.method not in ("GET", "HEAD", "OPTIONS")
    return True


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Begin writing transactions IMMEDIATE so concurrent writers queue instead of failing.

    A deferred SQLite transaction that reads and then writes cannot wait for a
    lock held by another writer (it would deadlock), so it fails at once with
    "database is locked". Taking the write lock at BEGIN makes writers wait
    their turn under busy_timeout; reads stay deferred and never block.
    """
    if conn.dialect.name != "sqlite":
        return
    if _writing():
        _begin_immediate(conn)
    else:
        conn.exec_driver_sql("BEGIN")


# A writer that finds the write lock taken asks again after 0.1 ms, then 0.2, 0.4 and every 0.5 ms,
# for at most BUSY_TIMEOUT_S like PRAGMA busy_timeout (which still covers everything else).
BUSY_TIMEOUT_S = 30.0
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.0001, 0.0005


def _begin_immediate(conn) -> None:
    """BEGIN IMMEDIATE, waiting in short steps while another writer holds the lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between
    its attempts, so a writer that arrives while another holds the lock for a
    few milliseconds wakes on average a millisecond or two after it was
    released, and the lock stays idle meanwhile. Asking more often hands it
    over at once; the wait stays bounded as before.
    """
    raw = conn.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = _FIRST_PAUSE_S
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                code = getattr(error.orig, "sqlite_errorcode", None)
                if code is None or code & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
