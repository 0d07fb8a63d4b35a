"""Console tests: the Flask test client for every page (fast), a real Chromium for the journeys (browser/)."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from helpers import hazard_item, inspection_payload, login, make_enterprise, make_subject, make_user, submit



@pytest.fixture(autouse=True)
def fast_password_hash(monkeypatch):
    """Hash test passwords cheaply (scrypt costs ~90 ms a user); signing in still checks the stored hash."""
    from werkzeug.security import generate_password_hash

    from server.accounts import service as account_service

    monkeypatch.setattr(account_service, "generate_password_hash",
                        partial(lambda generate, password, method=None, salt_length=16:
                                generate(password, method="pbkdf2:sha256:1000", salt_length=salt_length),
                                generate_password_hash))


@pytest.fixture
def city(app, client):
    """Two districts: an inspector and a gas user in 兴庆区 (640104) and in 金凤区 (640106), a city leader,
    an officer, a committee member and an admin; each inspector has reported one hazard through the API."""
    from types import SimpleNamespace

    with app.app_context():
        users = SimpleNamespace(
            insp_a=make_user("insp_a", roles=["inspector"], districts=["640104"], name="兴庆检查员"),
            insp_b=make_user("insp_b", roles=["inspector"], districts=["640106"], name="金凤检查员"),
            leader=make_user("leader", roles=["leader"], districts=["640100"], name="张领导"),
            officer=make_user("officer", roles=["enforcement"], districts=["640100"], name="刘执法"),
            officer2=make_user("officer2", roles=["enforcement"], districts=["640100"], name="王执法"),
            committee=make_user("committee", roles=["committee"], districts=[], name="安委会"),
            admin=make_user("admin", roles=["admin"], districts=[], name="管理员"),
        )
        enterprise_a = make_enterprise(name="兴庆燃气有限公司")
        enterprise_b = make_enterprise(name="金凤燃气有限公司")
        subject_a = make_subject(enterprises=[enterprise_a], name="兴庆用户甲", district_code="640104")
        subject_b = make_subject(enterprises=[enterprise_b], name="金凤用户乙", district_code="640106",
                                 address="金凤区北京中路1号")
    hazard_a = hazard_item(description="兴庆未安装自闭阀")
    hazard_b = hazard_item(description="金凤软管老化", item="G03A")
    inspection_a = submit(client, login(client, "insp_a"), inspection_payload(subject_a, hazards=[hazard_a]))
    inspection_b = submit(client, login(client, "insp_b"), inspection_payload(subject_b, hazards=[hazard_b]))
    return SimpleNamespace(users=users, subject_a=subject_a, subject_b=subject_b, enterprise_a=enterprise_a,
                           enterprise_b=enterprise_b, hazard_a=hazard_a["id"], hazard_b=hazard_b["id"],
                           inspection_a=inspection_a["id"], inspection_b=inspection_b["id"])


@pytest.fixture
def live_server(app):
    """Serve ``app`` from a real threaded HTTP server on a free loopback port; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def make_app_console(city, database_url, tmp_path):
    """Build another app on the same database with some settings changed: make_app_console(TILE_URL=...)."""
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
