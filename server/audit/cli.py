"""``flask --app server audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from server.audit.service import verify

audit_cli = AppGroup("audit", help="The append-only audit log.")


@audit_cli.command("verify")
def verify_command():
    """Recompute every hash of the chain; exit 1 at the first broken row."""
    result = verify()
    if not result.ok:
        raise click.ClickException(f"audit log broken at row {result.broken_at} ({result.reason}); "
                                   f"{result.checked} rows before it are intact")
    click.echo(f"audit log intact: {result.checked} rows")


commands = [audit_cli]
