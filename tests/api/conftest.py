"""The API suite runs twice: on SQLite and on a PostgreSQL server started by the harness."""

import threading
from functools import partial
from types import SimpleNamespace

import pytest

from helpers import login, make_enterprise, make_subject, make_user


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def fast_password_hash(monkeypatch):
    """Hash test passwords with a cheap method: scrypt costs ~90 ms per user and per sign-in.

    Only the cost changes: werkzeug's check_password_hash reads the method from
    the stored hash, so signing in works exactly as in production.
    """
    from werkzeug.security import generate_password_hash

    from server.accounts import service as account_service

    monkeypatch.setattr(account_service, "generate_password_hash",
                        partial(_cheap_hash, generate_password_hash))


def _cheap_hash(generate, password, method=None, salt_length=16):
    return generate(password, method="pbkdf2:sha256:1000", salt_length=salt_length)


_CHECKLISTS: dict = {}


@pytest.fixture(autouse=True)
def checklists_parsed_once(monkeypatch):
    """Parse the checklist YAML once per session instead of once per app (~0.1 s each): it is read-only rule data."""
    from server.inspections import checklists as checklist_rules

    load_dir = checklist_rules.load_dir

    def cached(directory):
        key = str(directory)
        if key not in _CHECKLISTS:
            _CHECKLISTS[key] = load_dir(directory)
        return _CHECKLISTS[key]

    monkeypatch.setattr(checklist_rules, "load_dir", cached)


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build apps on the test's database and photo folder with overridden settings: make_app(PHOTO_MAX_BYTES=1000)."""
    from server import create_app
    from server.extensions import db

    built = []

    def build(**overrides):
        app = create_app("testing", **{"DATABASE_URL": database_url, "PHOTO_ROOT": str(tmp_path / "photos"),
                                       **overrides})
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(app):
    """Serve ``app`` from a real threaded HTTP server on a free loopback port; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval makes shutdown() return at once instead of after up to 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def field(app, client):
    """An inspector of 兴庆区 (640104), signed in, with a gas subject there and the subject's enterprise."""
    with app.app_context():
        user = make_user("inspector", roles=["inspector"], districts=["640104"], name="检查员")
        enterprise = make_enterprise()
        subject = make_subject(enterprises=[enterprise])
    return SimpleNamespace(headers=login(client, "inspector"), subject=subject, enterprise=enterprise, user=user)
