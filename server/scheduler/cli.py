"""Commands: ``flask scheduler run|once`` and ``flask notifications deliver``."""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from server import clock
from server.scheduler import jobs

scheduler_cli = AppGroup("scheduler", help="Periodic jobs: overdue escalation, daily digest, weekly dispatch.")
notifications_cli = AppGroup("notifications", help="The notification outbox.")


def _parse_now(value: str | None) -> datetime:
    """Return an aware UTC datetime from ISO 8601; a time without offset is the bureau's local time."""
    from server.database import utcnow

    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--now") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.zone())
    return moment.astimezone(timezone.utc)


@scheduler_cli.command("run")
def run():
    """Run the scheduler in this process until stopped (Ctrl-C or SIGTERM)."""
    from server.scheduler import runner

    scheduler = runner.build(current_app._get_current_object(), blocking=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo("scheduler running: " + ", ".join(f"{job.id} ({job.trigger})" for job in scheduler.get_jobs()))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
    click.echo("scheduler stopped")


@scheduler_cli.command("once")
@click.argument("job", type=click.Choice(sorted(jobs.JOBS)))
@click.option("--now", "now_text", default=None, metavar="ISO",
              help="The time the job believes it is (default: now); without offset it is local time.")
@click.option("--slot", default=None, help="Claim this slot instead of the one of --now (to run a slot again).")
def once(job, now_text, slot):
    """Run one job now through its slot claim; print its result, or that another run had the slot."""
    now = _parse_now(now_text)
    slot = slot or jobs.slot(job, now)
    if not jobs.run_job(job, now=now, slot=slot):
        click.echo(f"{job} {slot}: already claimed, nothing done")
        return
    from server.extensions import db
    from server.scheduler.models import JobRun

    result = db.session.scalar(db.select(JobRun.result).where(JobRun.job == job, JobRun.slot == slot))
    click.echo(f"{job} {slot}: done")
    click.echo(json.dumps(json.loads(result or "null"), ensure_ascii=False, indent=2))


@notifications_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, help="At most this many messages.")
def deliver(limit):
    """Send unsent notifications through the configured senders."""
    from server.notifications import service as notification_service

    sent = notification_service.deliver_pending(limit=limit)
    click.echo(f"sent {sent} notification(s)")


commands = [scheduler_cli, notifications_cli]
