"""Two scheduler processes at once on PostgreSQL: one escalation per hazard, one row per key, each message sent once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers import make_subject, make_user
from server.extensions import db
from server.hazards.models import Hazard, HazardEvent, Supervision
from server.inspections.models import Inspection, LeaderDuty
from server.notifications.models import Outbox
from server.scheduler.models import JobRun

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)  # 09:00 in Asia/Shanghai

# One scheduler process: load the app, say "ready", then run each command line it is given ("JOB NOW SLOT" or
# "deliver") at once and answer with one JSON line. Two of them given the same line race each other.
WORKER = r"""
import json, sys
from datetime import datetime
from server import create_app
from server.extensions import db
from server.notifications import service
from server.scheduler import jobs

app = create_app("testing")
with app.app_context():
    db.session.execute(db.text("SELECT 1"))
    db.session.rollback()
    print("ready", flush=True)
    for line in sys.stdin:
        action, *rest = line.split()
        if action == "deliver":
            answer = {"sent": service.deliver_pending(limit=1000)}
        else:
            answer = {"ran": jobs.run_job(action, now=datetime.fromisoformat(rest[0]), slot=rest[1])}
        print(json.dumps(answer), flush=True)
"""


@pytest.fixture
def backend() -> str:
    """These tests run on the harness's PostgreSQL server."""
    return "postgres"


@pytest.fixture
def webhook():
    """A webhook on 127.0.0.1 counting the messages it receives by dedupe key."""
    counts: Counter = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                counts[document["dedupe_key"]] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "counts": counts}
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def environment(database_url, webhook, tmp_path) -> dict:
    """The environment of a scheduler process: this PostgreSQL database, the counting webhook as only sender."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QINGLING_")}
    env.update(QINGLING_DATABASE_URL=database_url, QINGLING_PHOTO_ROOT=str(tmp_path / "photos"),
               QINGLING_NOTIFY_SENDERS='["webhook"]', QINGLING_NOTIFY_WEBHOOK_URL=webhook["url"],
               PYTHONPATH=str(REPO))
    return env


class Workers:
    """Two scheduler processes on the same database, started once, given commands at the same moment."""

    def __init__(self, env: dict, count: int = 2):
        self.processes = [subprocess.Popen([sys.executable, "-c", WORKER], cwd=REPO, env=env, text=True,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                          for _ in range(count)]
        for process in self.processes:
            line = process.stdout.readline()
            assert line.strip() == "ready", (line, process.stderr.read())

    def together(self, *commands: str) -> list[dict]:
        """Hand each process its command (the same one for all when only one is given); return their answers."""
        commands = commands * len(self.processes) if len(commands) == 1 else commands
        for process, command in zip(self.processes, commands, strict=True):
            process.stdin.write(command + "\n")
            process.stdin.flush()
        answers = []
        for process in self.processes:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            answers.append(json.loads(line))
        return answers

    def close(self) -> None:
        for process in self.processes:
            process.stdin.close()
            process.wait(timeout=30)
            assert process.returncode == 0, process.stderr.read()


@pytest.fixture
def workers(environment):
    """Two scheduler processes, stopped after the test."""
    pair = Workers(environment)
    yield pair
    pair.close()


def _cli_together(env: dict, *commands: list[str]) -> list[str]:
    """Run `flask --app server ...` commands as concurrent processes; return their outputs."""
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", *command], cwd=REPO, env=env,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for command in commands]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


class City:
    """Leaders and hazards written straight to the database the worker processes share."""

    def __init__(self):
        inspector = make_user(roles=["inspector"], districts=["640104", "640106"])
        self.leader = make_user("leader_gas", roles=["leader"], districts=["640104", "640106"])
        for district in ("640104", "640106"):
            db.session.add(LeaderDuty(district_code=district, domain="gas", user_id=self.leader.id))
        subject = make_subject()
        inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=inspector.id,
                                district_code="640104", domain="gas", checklist_code="gas-user", checklist_version=1,
                                started_at=NOW, payload_hash="x")
        db.session.add(inspection)
        db.session.commit()
        self.inspector, self.subject, self.inspection = inspector, subject, inspection
        self.overdue: list[uuid.UUID] = []
        self.majors: list[uuid.UUID] = []

    def overdue_batch(self, count: int) -> None:
        """Add ``count`` hazards overdue at NOW (every fourth one major), and one that is not overdue."""
        for n in range(count + 1):
            late = n < count
            hazard = Hazard(id=uuid.uuid4(), inspection_id=self.inspection.id, subject_id=self.subject.id,
                            district_code="640104" if n % 2 else "640106", domain="gas", checklist_code="gas-user",
                            item_code="G02", description=f"隐患{n}", severity="major" if n % 4 == 0 else "general",
                            status="reported", deadline=date(2026, 11, 20) if late else date(2026, 12, 20),
                            reported_by=self.inspector.id, created_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
            db.session.add(hazard)
            if late:
                self.overdue.append(hazard.id)
                if hazard.severity == "major":
                    self.majors.append(hazard.id)
        db.session.commit()


def _state() -> dict:
    """Read what the processes left behind."""
    db.session.rollback()
    events = Counter(db.session.scalars(select(HazardEvent.hazard_id)
                                        .where(HazardEvent.type == "overdue_escalated")))
    rows = list(db.session.scalars(select(Outbox).execution_options(populate_existing=True)))
    return {"events": events, "rows": rows,
            "supervised": set(db.session.scalars(select(Supervision.hazard_id))),
            "runs": db.session.scalar(select(func.count()).select_from(JobRun))}


def test_two_schedulers_escalate_once_and_send_each_message_once(app, environment, workers, webhook):
    """Sweeps and digests raced in two processes, same slot and different slots, then two deliverers at once."""
    iso = NOW.isoformat()
    with app.app_context():
        city = City()

        # Same slot in both processes, several times: exactly one claims each slot and sweeps.
        for round_ in range(3):
            city.overdue_batch(10)
            answers = workers.together(f"overdue_sweep {iso} 2026-11-25T09:{15 * round_:02d}")
            assert sorted(a["ran"] for a in answers) == [False, True]

        # Different slots, so both really sweep the same fresh hazards at once.
        for round_ in range(3):
            city.overdue_batch(10)
            answers = workers.together(f"overdue_sweep {iso} race-{round_}-a", f"overdue_sweep {iso} race-{round_}-b")
            assert [a["ran"] for a in answers] == [True, True]

        # The operator's command, twice at once, on a fresh batch.
        city.overdue_batch(6)
        outputs = _cli_together(environment, ["scheduler", "once", "overdue_sweep", "--now", iso, "--slot", "cli-a"],
                                ["scheduler", "once", "overdue_sweep", "--now", iso, "--slot", "cli-b"])
        assert all(": done" in out for out in outputs), outputs

        # Digests raced on the same and on different slots: still one message per leader and day.
        assert sorted(a["ran"] for a in workers.together(f"daily_digest {iso} 2026-11-24")) == [False, True]
        assert [a["ran"] for a in workers.together(f"daily_digest {iso} d-a", f"daily_digest {iso} d-b")] == [True,
                                                                                                           True]

        state = _state()
        assert set(state["events"]) == set(city.overdue) and set(state["events"].values()) == {1}
        keys = Counter(row.dedupe_key for row in state["rows"])
        assert set(keys.values()) == {1}
        assert {k for k in keys if k.startswith("overdue:")} == {f"overdue:{h}:2026-11-20" for h in city.overdue}
        assert [k for k in keys if k.startswith("daily:")] == [f"daily:{city.leader.id}:2026-11-24"]
        assert state["supervised"] == set(city.majors)
        assert state["runs"] == 3 + 2 * 3 + 2 + 1 + 2

        # Two deliverers at once, twice: every row sent, each exactly once.
        answers = workers.together("deliver") + workers.together("deliver")
        total = len(state["rows"])
        assert sum(a["sent"] for a in answers) == total
        assert len(webhook["counts"]) == total and set(webhook["counts"].values()) == {1}
        state = _state()
        assert all(row.sent_at is not None and row.attempts == 1 for row in state["rows"])
