"""Health and readiness probes for a load balancer, and one structured log line per request."""

from __future__ import annotations

import json
import logging
import time
import uuid

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g, jsonify, request
from sqlalchemy import text

from server.extensions import db, migrate

request_logger = logging.getLogger("qingling.request")


def _schema_problem() -> str | None:
    """None when the database answers and its schema is at the migrations' head, else what is wrong."""
    script = ScriptDirectory.from_config(migrate.get_config())
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(script.get_heads())
    if current != heads:
        return f"schema at {', '.join(sorted(current)) or 'nothing'}, code expects {', '.join(sorted(heads))}"
    return None


def _storage_problem() -> str | None:
    from server.photos.service import storage

    storage().check()
    return None


def readiness() -> dict[str, str]:
    """Check each dependency; return {name: "ok" or the reason it is not ready}."""
    checks = {}
    for name, probe in (("database", _schema_problem), ("photo_store", _storage_problem)):
        try:
            checks[name] = probe() or "ok"
        except Exception as error:  # noqa: BLE001 - a probe reports, never raises
            checks[name] = f"{type(error).__name__}: {error}"
    return checks


def init_app(app: Flask) -> None:
    """Register ``/healthz`` (the process answers), ``/readyz`` (it can serve) and the request log."""

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        checks = readiness()
        ready = all(value == "ok" for value in checks.values())
        return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503

    @app.before_request
    def _start():
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if current_app.config.get("REQUEST_LOG", True) and request.path not in ("/healthz", "/readyz"):
            started = g.get("request_started")
            user = g.get("user")
            request_logger.info(json.dumps({
                "request_id": g.get("request_id"), "method": request.method, "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "user_id": getattr(user, "id", None), "remote": request.remote_addr,
                "bytes_in": request.content_length,
            }, ensure_ascii=False))
        return response
