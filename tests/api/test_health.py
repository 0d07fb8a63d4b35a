"""Probes a load balancer uses, and the request log an operator reads."""

from __future__ import annotations

import json
import logging

from helpers import login, make_user
from server import create_app


def test_liveness_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_a_migrated_app_with_its_photo_store_is_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "photo_store": "ok"}}


def test_an_unmigrated_database_is_not_ready(tmp_path):
    """A new release started before `db upgrade` must not receive traffic: 503, naming the schema gap."""
    app = create_app("testing", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}", PHOTO_ROOT=str(tmp_path / "p"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready" and body["checks"]["photo_store"] == "ok"
    assert body["checks"]["database"].startswith("schema at nothing, code expects ")


def test_an_unreachable_database_is_not_ready(tmp_path):
    app = create_app("testing", DATABASE_URL="postgresql://nobody:x@127.0.0.1:1/none", PHOTO_ROOT=str(tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and "OperationalError" in response.get_json()["checks"]["database"]


def test_each_request_logs_one_json_line_with_its_request_id(app, client, caplog):
    """The id a client or the load balancer sent comes back in the header and in the log line, with the user."""
    with app.app_context():
        user_id = make_user("zhao").id
    headers = login(client, "zhao")
    with caplog.at_level(logging.INFO, logger="qingling.request"):
        response = client.get("/api/v1/subjects", headers={**headers, "X-Request-ID": "lb-7f3a"})
    assert response.headers["X-Request-ID"] == "lb-7f3a"
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "qingling.request"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "lb-7f3a" and lines[0]["path"] == "/api/v1/subjects"
    assert lines[0]["status"] == 200 and lines[0]["user_id"] == user_id and lines[0]["ms"] >= 0


def test_a_request_without_an_id_gets_a_fresh_one(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["X-Request-ID"]) == 32 and first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
