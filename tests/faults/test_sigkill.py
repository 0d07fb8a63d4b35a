"""The server killed with SIGKILL again and again while phones submit and upload, then restarted.

Simulated phones (threads) submit inspections with a hazard and a declared
photo, then upload the photo, each request retried after a lost connection
or a 5xx, as the phone app does. Meanwhile the whole gunicorn process group
is killed with SIGKILL at random moments (seeded) and started again. At the
end every submission and photo acknowledged with a 2xx is present, every
stored photo's bytes hash to its SHA-256, no submission is duplicated, and no
orphan row or file is left: the store holds exactly the originals and
renditions of the received photos and the upload folder is empty.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select

from helpers import PASSWORD, hazard_item, inspection_payload, make_enterprise, make_subject, make_user, sha256
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections.models import Inspection
from server.photos.models import Photo
from server.photos.service import rendition_key, storage

REPO = Path(__file__).resolve().parents[2]
PHONES = 4
JOBS_PER_PHONE = 5
KILLS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with the shipped settings, in its own process group so that SIGKILL takes master and workers."""

    def __init__(self, database_url: str, photo_root: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "QINGLING_ENV": "testing", "QINGLING_DATABASE_URL": database_url,
                    "QINGLING_PHOTO_ROOT": str(photo_root), "QINGLING_BIND": f"127.0.0.1:{self.port}",
                    "QINGLING_WEB_WORKERS": "2", "QINGLING_REQUEST_LOG": "false"}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen([str(gunicorn), "-c", "config/gunicorn.conf.py", "server:create_app()"],
                                        cwd=REPO, env=self.env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert self.process.poll() is None, "gunicorn exited"
            time.sleep(0.05)
        raise AssertionError("gunicorn did not become ready")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def _photo(seed: int) -> bytes:
    """A 1200x900 noisy JPEG (~0.5 MB): uploading and rendering it takes long enough to be interrupted."""
    noise = random.Random(seed).randbytes(1200 * 900 * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (1200, 900), noise).save(out, "JPEG", quality=90)
    return out.getvalue()


class Phone(threading.Thread):
    """Submits its jobs one by one; a request is retried until the server answers it (not a 5xx)."""

    def __init__(self, server: Server, subject_ids: list[str], number: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.server, self.subject_ids, self.number, self.stop = server, subject_ids, number, stop
        self.acknowledged: dict[str, dict] = {}  # inspection id -> {"hazard": id, "photo": id, "sha256": hex}
        self.photos_acknowledged: dict[str, str] = {}
        self.unexpected: list[str] = []
        self.session = requests.Session()
        self.token = None

    def _call(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        while not self.stop.is_set():
            try:
                if self.token is None:
                    answer = self.session.post(f"{self.server.url}/api/v1/auth/token", timeout=30,
                                               json={"username": "phone", "password": PASSWORD})
                    if answer.status_code != 201:
                        time.sleep(0.05)
                        continue
                    self.token = answer.json()["access_token"]
                response = self.session.request(method, f"{self.server.url}{path}", timeout=30,
                                                headers={**(headers or {}), "Authorization": f"Bearer {self.token}"},
                                                **kwargs)
                if response.status_code < 500:
                    return response
            except requests.RequestException:
                self.session = requests.Session()
            time.sleep(0.05)
        raise RuntimeError("stopped")

    def run(self) -> None:
        try:
            for job in range(JOBS_PER_PHONE):
                blob = _photo(self.number * 100 + job)
                hazard = hazard_item("G02")
                photo = {"id": str(uuid.uuid4()), "sha256": sha256(blob), "role": "evidence",
                         "hazard_id": hazard["id"]}
                payload = inspection_payload(_Subject(self.subject_ids[job % len(self.subject_ids)]),
                                             hazards=[hazard], photos=[photo])
                answer = self._call("POST", "/api/v1/inspections", json=payload)
                if answer.status_code not in (200, 201):
                    self.unexpected.append(f"submit {answer.status_code} {answer.text[:200]}")
                    continue
                self.acknowledged[payload["id"]] = {"hazard": hazard["id"], "photo": photo["id"],
                                                    "sha256": photo["sha256"]}
                answer = self._call("PUT", f"/api/v1/photos/{photo['id']}", data=blob,
                                    headers={"Content-Type": "image/jpeg", "X-Content-SHA256": photo["sha256"]})
                if answer.status_code not in (200, 201):
                    self.unexpected.append(f"upload {answer.status_code} {answer.text[:200]}")
                    continue
                self.photos_acknowledged[photo["id"]] = photo["sha256"]
        except RuntimeError:
            pass


class _Subject:
    def __init__(self, subject_id: str):
        self.id = subject_id
        self.lat, self.lon = 38.4680, 106.2850


@pytest.mark.timeout(300)
def test_acknowledged_work_survives_sigkill_and_nothing_is_left_half_done(app, database_url, tmp_path):
    with app.app_context():
        make_user("phone", roles=["inspector"], districts=["640104"])
        subject_ids = [str(make_subject(enterprises=[make_enterprise()], lat=38.4680, lon=106.2850).id)
                       for _ in range(3)]
    photo_root = Path(app.config["PHOTO_ROOT"])
    server = Server(database_url, photo_root)
    server.start()
    stop = threading.Event()
    phones = [Phone(server, subject_ids, n, stop) for n in range(PHONES)]
    chance = random.Random(20261125)
    try:
        for phone in phones:
            phone.start()
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.2, 1.2))
            server.kill()
            server.start()
        for phone in phones:
            phone.join(timeout=300)
        assert not any(phone.is_alive() for phone in phones), "a phone never finished its work"
    finally:
        stop.set()
        server.stop()

    assert [u for phone in phones for u in phone.unexpected] == []
    acknowledged = {k: v for phone in phones for k, v in phone.acknowledged.items()}
    photos = {k: v for phone in phones for k, v in phone.photos_acknowledged.items()}
    assert len(acknowledged) == len(photos) == PHONES * JOBS_PER_PHONE

    # A fresh app on the same database and photo folder: what a restarted server would find.
    from server import create_app

    after = create_app("testing", DATABASE_URL=database_url, PHOTO_ROOT=str(photo_root))
    with after.app_context():
        assert db.session.scalar(select(func.count()).select_from(Inspection)) == len(acknowledged)
        assert db.session.scalar(select(func.count()).select_from(Hazard)) == len(acknowledged)
        rows = db.session.scalars(select(Photo)).all()
        assert {str(p.id): p.sha256 for p in rows} == photos
        assert all(p.received_at is not None for p in rows)
        store = storage()
        expected = set()
        for digest in photos.values():
            with store.open(digest) as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == digest
            expected |= {digest, rendition_key(digest, "display"), rendition_key(digest, "thumbnail")}
        stored = {path.name for path in store.root.rglob("*") if path.is_file()}
        assert stored == expected, "orphan or temporary files in the store"
        assert [p.name for p in (photo_root / "tmp").rglob("*") if p.is_file()] == []
        db.engine.dispose()
