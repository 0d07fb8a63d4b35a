"""The shipped gunicorn settings start the real server: N workers, probes answering, the scheduler left out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_gunicorn_serves_with_the_configured_workers(database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "QINGLING_ENV": "testing", "QINGLING_DATABASE_URL": database_url,
           "QINGLING_PHOTO_ROOT": str(tmp_path / "photos"), "QINGLING_BIND": f"127.0.0.1:{port}",
           "QINGLING_WEB_WORKERS": "3"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen([str(gunicorn), "-c", "config/gunicorn.conf.py", "server:create_app()"], cwd=REPO,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready = None
        for _ in range(300):
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
                break
            except requests.RequestException:
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.1)
        assert ready is not None and ready.status_code == 200, ready and ready.text
        assert len(_children(process.pid)) == 3
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/subjects").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "embedded scheduler started" not in process.stderr.read().decode()
