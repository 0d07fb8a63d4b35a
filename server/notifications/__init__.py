"""Notifications: an outbox table and pluggable senders (log, e-mail, webhook)."""
