"""The outbox: enqueuing once per key, delivering through log, webhook and SMTP senders, retrying failures."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from helpers import make_user
from server.extensions import db
from server.notifications import senders
from server.notifications import service as notification_service
from server.notifications.models import Outbox


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Every test here runs on SQLite and on PostgreSQL: ON CONFLICT, RETURNING and locking differ."""
    return request.param


def _enqueue(key: str = "test:1", recipient_id: int | None = None, **overrides) -> bool:
    values = dict(kind="test", recipient_id=recipient_id, subject="隐患逾期提醒", body="兴庆区燃气隐患已逾期 3 天。",
                  dedupe_key=key)
    values.update(overrides)
    return notification_service.enqueue(**values)


def _rows() -> list[Outbox]:
    return list(db.session.scalars(select(Outbox).order_by(Outbox.id)
                                   .execution_options(populate_existing=True)))


class FlakySender:
    """A sender that fails its first ``failures`` calls, then records what it sends."""

    def __init__(self, failures: int):
        self.failures, self.sent = failures, []

    def send(self, message, recipient):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("gateway unreachable")
        self.sent.append((message.dedupe_key, recipient.username if recipient else None))


# --- servers the senders talk to -------------------------------------------------------------

@pytest.fixture
def webhook():
    """A real HTTP server on 127.0.0.1 that records the JSON posted to it (answer status settable)."""
    received, state = [], {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "json": json.loads(body.decode("utf-8"))})
            self.send_response(state["status"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "received": received, "state": state}
    server.shutdown()
    server.server_close()
    thread.join()


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: greeting, HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self):
        self.reply("220 127.0.0.1 test SMTP ready")
        envelope = {"from": None, "to": []}
        while line := self.rfile.readline():
            verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-127.0.0.1\r\n250 8BITMIME\r\n")
            elif verb in ("HELO", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "MAIL":
                envelope = {"from": line.decode().split(":", 1)[1].strip(), "to": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(line.decode().split(":", 1)[1].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append({**envelope, "data": b"".join(data)})
                self.reply("250 OK: queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


@pytest.fixture
def smtp_server():
    """A minimal SMTP server on 127.0.0.1 (socketserver) that keeps every message it receives."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


# --- enqueue ----------------------------------------------------------------------------------

def test_enqueue_adds_a_key_once(app):
    """The same dedupe key enqueued twice makes one row; the second call answers False."""
    with app.app_context():
        assert _enqueue("overdue:abc") is True
        assert _enqueue("overdue:abc", subject="另一条") is False
        db.session.commit()
        rows = _rows()
        assert [(r.dedupe_key, r.subject, r.attempts, r.sent_at) for r in rows] == [
            ("overdue:abc", "隐患逾期提醒", 0, None)]


def test_enqueue_does_not_commit(app):
    """A rolled-back transaction takes its enqueued row with it."""
    with app.app_context():
        assert _enqueue("rolled:back")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Outbox)) == 0


# --- deliver ----------------------------------------------------------------------------------

def test_log_sender_delivers_and_marks_rows_sent(app, caplog):
    """With the default log sender every row is logged once and marked sent; a second run sends nothing."""
    with app.app_context():
        leader = make_user("leader1", roles=["leader"])
        _enqueue("k:1", recipient_id=leader.id)
        _enqueue("k:2")
        db.session.commit()
        with caplog.at_level(logging.INFO, logger="qingling.notifications"):
            assert notification_service.deliver_pending() == 2
            assert notification_service.deliver_pending() == 0
        rows = _rows()
        assert all(r.sent_at is not None and r.attempts == 1 and r.last_error is None for r in rows)
        logged = [r.getMessage() for r in caplog.records if r.name == "qingling.notifications"]
        assert len(logged) == 2 and "k:1" in logged[0] and "leader1" in logged[0] and "隐患逾期提醒" in logged[0]


def test_failing_sender_records_the_attempt_and_retries_later(app):
    """A sender that raises leaves the row unsent with attempts and last_error; the next run sends it."""
    with app.app_context():
        flaky = FlakySender(failures=1)
        app.config["NOTIFY_SENDERS"] = [flaky]
        _enqueue("retry:1")
        db.session.commit()
        assert notification_service.deliver_pending() == 0
        (row,) = _rows()
        assert row.sent_at is None and row.attempts == 1
        assert row.last_error == "ConnectionError: gateway unreachable"
        assert notification_service.deliver_pending() == 1
        (row,) = _rows()
        assert row.sent_at is not None and row.attempts == 2 and row.last_error is None
        assert flaky.sent == [("retry:1", None)]


def test_a_failing_row_does_not_block_the_others_and_gives_up_at_the_limit(app):
    """One failure per run is tried once per run, the rows after it still go, and NOTIFY_MAX_ATTEMPTS stops it."""
    class FailsOnOne:
        def __init__(self):
            self.sent = []

        def send(self, message, recipient):
            if message.dedupe_key == "bad":
                raise RuntimeError("refused")
            self.sent.append(message.dedupe_key)

    with app.app_context():
        sender = FailsOnOne()
        app.config.update(NOTIFY_SENDERS=[sender], NOTIFY_MAX_ATTEMPTS=2)
        for key in ("a", "bad", "c"):
            _enqueue(key)
        db.session.commit()
        assert notification_service.deliver_pending() == 2
        assert notification_service.deliver_pending() == 0
        assert notification_service.deliver_pending() == 0
        assert sender.sent == ["a", "c"]
        bad = next(r for r in _rows() if r.dedupe_key == "bad")
        assert bad.attempts == 2 and bad.sent_at is None and "refused" in bad.last_error


def test_limit_bounds_one_run(app):
    """deliver_pending(limit=n) sends at most n rows."""
    with app.app_context():
        for n in range(5):
            _enqueue(f"n:{n}")
        db.session.commit()
        assert notification_service.deliver_pending(limit=3) == 3
        assert notification_service.deliver_pending(limit=3) == 2


def test_webhook_sender_posts_the_message_as_json(app, webhook):
    """The webhook receives one JSON document with the key, the Chinese text and the recipient."""
    with app.app_context():
        leader = make_user("leader1", roles=["leader"], name="张三")
        app.config.update(NOTIFY_SENDERS=["webhook"], NOTIFY_WEBHOOK_URL=webhook["url"])
        _enqueue("overdue:h1", recipient_id=leader.id)
        db.session.commit()
        assert notification_service.deliver_pending() == 1
        (call,) = webhook["received"]
        assert call["headers"]["Content-Type"].startswith("application/json")
        assert call["headers"]["Idempotency-Key"] == "overdue:h1"
        document = call["json"]
        assert document["dedupe_key"] == "overdue:h1" and document["kind"] == "test"
        assert document["subject"] == "隐患逾期提醒" and "逾期 3 天" in document["body"]
        assert document["recipient"] == {"id": leader.id, "username": "leader1", "name": "张三"}


def test_webhook_error_answer_is_a_failure(app, webhook):
    """A 500 from the webhook keeps the row unsent with the status in last_error."""
    with app.app_context():
        webhook["state"]["status"] = 500
        app.config.update(NOTIFY_SENDERS=["webhook"], NOTIFY_WEBHOOK_URL=webhook["url"])
        _enqueue("w:1")
        db.session.commit()
        assert notification_service.deliver_pending() == 0
        (row,) = _rows()
        assert row.sent_at is None and row.attempts == 1 and "500" in row.last_error


def test_smtp_sender_delivers_an_email(app, smtp_server):
    """The SMTP sender hands a UTF-8 e-mail to the address NOTIFY_EMAILS gives the recipient."""
    with app.app_context():
        leader = make_user("leader1", roles=["leader"])
        app.config.update(NOTIFY_SENDERS=["smtp"], NOTIFY_SMTP_HOST="127.0.0.1",
                          NOTIFY_SMTP_PORT=smtp_server.server_address[1], NOTIFY_SMTP_FROM="qingling@zjj.example.cn",
                          NOTIFY_EMAILS={"leader1": "leader1@zjj.example.cn"})
        _enqueue("mail:1", recipient_id=leader.id)
        db.session.commit()
        assert notification_service.deliver_pending() == 1
        (message,) = smtp_server.messages
        assert message["from"] == "<qingling@zjj.example.cn>" and message["to"] == ["<leader1@zjj.example.cn>"]
        mail = email.message_from_bytes(message["data"], policy=email.policy.default)
        assert mail["Subject"] == "隐患逾期提醒" and mail["To"] == "leader1@zjj.example.cn"
        assert mail.get_content().strip() == "兴庆区燃气隐患已逾期 3 天。"


def test_smtp_sender_skips_a_recipient_without_address(app, smtp_server):
    """No NOTIFY_EMAILS entry: nothing is e-mailed and the row is not retried forever."""
    with app.app_context():
        leader = make_user("leader2", roles=["leader"])
        app.config.update(NOTIFY_SENDERS=["smtp"], NOTIFY_SMTP_HOST="127.0.0.1",
                          NOTIFY_SMTP_PORT=smtp_server.server_address[1], NOTIFY_EMAILS={})
        _enqueue("mail:2", recipient_id=leader.id)
        db.session.commit()
        assert notification_service.deliver_pending() == 1
        assert smtp_server.messages == []


def test_senders_are_chosen_by_name_path_or_object(app):
    """NOTIFY_SENDERS takes built-in names, 'module:Name' paths and sender objects; an unknown name is refused."""
    flaky = FlakySender(0)
    built = senders.configured({"NOTIFY_SENDERS": ["log", "server.notifications.senders:LogSender", flaky]})
    assert [type(s) for s in built] == [senders.LogSender, senders.LogSender, FlakySender]
    assert [type(s) for s in senders.configured({})] == [senders.LogSender]
    with pytest.raises(RuntimeError, match="unknown sender"):
        senders.configured({"NOTIFY_SENDERS": ["pigeon"]})
    with pytest.raises(RuntimeError, match="NOTIFY_WEBHOOK_URL"):
        senders.configured({"NOTIFY_SENDERS": ["webhook"]})
