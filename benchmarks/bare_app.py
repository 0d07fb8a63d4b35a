"""The baseline of the ingest benchmark: a bare Flask endpoint at the same path.

It parses the same JSON body an inspection submission carries and answers
201 with a small JSON document of the same shape as the real answer, and
does nothing else: no authentication, no validation, no database. Whatever
the real endpoint costs beyond this is the application's own work.

Run by ``benchmarks/ingest.py`` as
``gunicorn -w 2 --pythonpath benchmarks 'bare_app:create_app()'``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, abort, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/inspections")
    def submit():
        body = request.get_json()
        if not isinstance(body, dict) or "id" not in body:
            abort(422)
        return {
            "id": body["id"],
            "received_at": datetime.now(timezone.utc).isoformat(),
            "status": "awaiting_photos" if body.get("photos") else "complete",
            "photos_missing": [photo["id"] for photo in body.get("photos", [])],
            "flags": [],
            "hazards": [{"id": hazard["id"], "status": "reported", "deadline": hazard.get("deadline")}
                        for hazard in body.get("hazards", [])],
            "score": None,
        }, 201

    @app.get("/ready")
    def ready():
        return {"ready": True}

    return app
