"""Senders: how an outbox row leaves the building (a log line, an e-mail, a webhook call).

A sender is anything with ``send(message, recipient)`` that raises when the
message did not go out; the outbox then counts the attempt and tries again.
``NOTIFY_SENDERS`` names the senders in use: ``"log"``, ``"smtp"``,
``"webhook"``, a ``"package.module:Name"`` import path, or a sender object.
"""

from __future__ import annotations

import importlib
import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol, runtime_checkable

from server.accounts.models import User
from server.notifications.models import Outbox

logger = logging.getLogger("qingling.notifications")


@runtime_checkable
class Sender(Protocol):
    """Sends one message to one recipient (None: no particular person); raises when it failed."""

    def send(self, message: Outbox, recipient: User | None) -> None:
        """Send ``message``; raise when it did not go out."""


class LogSender:
    """Write each message to the log: the default, and enough for development."""

    def __init__(self, log: logging.Logger | None = None):
        self.log = log or logger

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LogSender:
        """Return a log sender (it has no settings)."""
        return cls()

    def send(self, message: Outbox, recipient: User | None) -> None:
        """Log the message with its recipient."""
        self.log.info("notification %s [%s] to %s: %s\n%s", message.dedupe_key, message.kind,
                      recipient.username if recipient else "-", message.subject, message.body)


class SmtpSender:
    """Send an e-mail over SMTP; addresses come from ``NOTIFY_EMAILS`` (username → address)."""

    def __init__(self, *, host: str, port: int = 25, user: str | None = None, password: str | None = None,
                 from_addr: str, emails: Mapping[str, Any] | None = None, security: str = "none",
                 timeout: float = 10.0):
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"NOTIFY_SMTP_SECURITY must be none, starttls or ssl, not {security!r}")
        self.host, self.port, self.user, self.password = host, int(port), user, password
        self.from_addr, self.emails, self.security, self.timeout = from_addr, dict(emails or {}), security, timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSender:
        """Return a sender for the NOTIFY_SMTP_* settings; refuse when no host is set."""
        host = config.get("NOTIFY_SMTP_HOST")
        if not host:
            raise RuntimeError("NOTIFY_SENDERS names smtp but NOTIFY_SMTP_HOST is not set")
        return cls(host=host, port=config.get("NOTIFY_SMTP_PORT", 25), user=config.get("NOTIFY_SMTP_USER"),
                   password=config.get("NOTIFY_SMTP_PASSWORD"),
                   from_addr=config.get("NOTIFY_SMTP_FROM") or "qingling@localhost",
                   emails=config.get("NOTIFY_EMAILS") or {}, security=config.get("NOTIFY_SMTP_SECURITY", "none"),
                   timeout=float(config.get("NOTIFY_TIMEOUT", 10)))

    def addresses(self, recipient: User | None) -> list[str]:
        """Return the addresses of a recipient: one string, a list, or a comma-separated string in the mapping."""
        if recipient is None:
            return []
        value = self.emails.get(recipient.username)
        if not value:
            return []
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        return [item.strip() for item in items if item and item.strip()]

    def send(self, message: Outbox, recipient: User | None) -> None:
        """Send the message as a plain-text UTF-8 e-mail; skip (with a warning) a recipient without an address."""
        to = self.addresses(recipient)
        if not to:
            # Not an error that retrying could cure: say so and let the other senders carry the message.
            logger.warning("no e-mail address for %s (NOTIFY_EMAILS): %s not e-mailed",
                           recipient.username if recipient else "a message without recipient", message.dedupe_key)
            return
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.from_addr
        mail["To"] = ", ".join(to)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}")
        mail.set_content(message.body)
        factory = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        with factory(self.host, self.port, timeout=self.timeout) as smtp:
            if self.security == "starttls":
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(mail, from_addr=self.from_addr, to_addrs=to)


class WebhookSender:
    """POST each message as JSON to ``NOTIFY_WEBHOOK_URL``; any answer but 2xx is a failure."""

    def __init__(self, *, url: str, timeout: float = 10.0):
        self.url, self.timeout = url, timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WebhookSender:
        """Return a sender for NOTIFY_WEBHOOK_URL; refuse when it is not set."""
        url = config.get("NOTIFY_WEBHOOK_URL")
        if not url:
            raise RuntimeError("NOTIFY_SENDERS names webhook but NOTIFY_WEBHOOK_URL is not set")
        return cls(url=url, timeout=float(config.get("NOTIFY_TIMEOUT", 10)))

    @staticmethod
    def payload(message: Outbox, recipient: User | None) -> dict:
        """Return the JSON document sent for a message."""
        return {
            "id": message.id,
            "dedupe_key": message.dedupe_key,
            "kind": message.kind,
            "subject": message.subject,
            "body": message.body,
            "created_at": message.created_at.isoformat() if message.created_at else None,
            "recipient": None if recipient is None else {
                "id": recipient.id, "username": recipient.username, "name": recipient.name},
        }

    def send(self, message: Outbox, recipient: User | None) -> None:
        """POST the message; raise on a network error, a timeout or a non-2xx answer."""
        data = json.dumps(self.payload(message, recipient), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "qingling-notifications",
            "Idempotency-Key": message.dedupe_key})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (URL from settings)
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")
            response.read()


BUILTIN: dict[str, type] = {"log": LogSender, "smtp": SmtpSender, "webhook": WebhookSender}


def _load(entry: Any, config: Mapping[str, Any]) -> Sender:
    """Turn one NOTIFY_SENDERS entry into a sender."""
    if isinstance(entry, str):
        if entry in BUILTIN:
            target = BUILTIN[entry]
        elif ":" in entry:
            module, _, name = entry.partition(":")
            target = getattr(importlib.import_module(module), name)
        else:
            raise RuntimeError(f"unknown sender {entry!r} in NOTIFY_SENDERS: use {', '.join(BUILTIN)} "
                               "or a 'module:Name' path")
        entry = target
    if isinstance(entry, type):
        entry = entry.from_config(config) if hasattr(entry, "from_config") else entry()
    if not isinstance(entry, Sender):
        raise RuntimeError(f"{entry!r} in NOTIFY_SENDERS has no send(message, recipient) method")
    return entry


def configured(config: Mapping[str, Any]) -> list[Sender]:
    """Return the senders NOTIFY_SENDERS names (``["log"]`` when unset)."""
    entries = config.get("NOTIFY_SENDERS") or ["log"]
    if isinstance(entries, str):
        entries = [part.strip() for part in entries.split(",") if part.strip()]
    return [_load(entry, config) for entry in entries]
