"""Starting the jobs with APScheduler: in its own process (``flask scheduler run``) or inside the dev server.

Every firing goes through ``jobs.run_job`` with the slot of its time, so any
number of scheduler processes may run side by side: each slot runs once.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, time
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from server.database import utcnow
from server.scheduler import jobs

logger = logging.getLogger("qingling.scheduler")

# Local times (the bureau's zone) of the two reports.
DAILY_AT = time(7, 30)
SWEEPS_AT = time(6, 0)  # the daily sweeps run before the digest reads their results
WEEKLY_AT = (0, time(8, 0))  # Monday
QUARTERLY_AT = time(6, 30)  # checked daily; makes the last quarter's analysis on the first day after it

_embedded: BaseScheduler | None = None
_embedded_lock = threading.Lock()


def run_claimed(app: Flask, name: str, clock: Callable[[], datetime] = utcnow) -> bool | None:
    """Run job ``name`` for the slot of the current time in an app context; None when it failed (logged)."""
    with app.app_context():
        now = clock()
        try:
            return jobs.run_job(name, now=now, slot=jobs.slot(name, now))
        except Exception:  # noqa: BLE001 - run_job logged it; the scheduler keeps going
            return None


def refresh_dashboard(app: Flask, clock: Callable[[], datetime] = utcnow) -> bool | None:
    """Make the console dashboard's snapshot: figures read beside the writers, then stored under the slot claim.

    The city's sums take seconds; computed inside ``run_job``'s transaction
    they would hold SQLite's write lock that long. A slot already claimed
    (another scheduler) is skipped before computing.
    """
    from sqlalchemy import select

    from server.console import figures
    from server.database import end_reading, reading
    from server.extensions import db
    from server.scheduler.models import JobRun

    name = "dashboard_snapshot"
    with app.app_context():
        now = clock()
        slot = jobs.slot(name, now)
        try:
            with reading():
                claimed = db.session.scalar(select(JobRun.id).where(JobRun.job == name, JobRun.slot == slot))
                computed = None if claimed is not None else figures.timed_compute(now=now, weeks=figures.trend_weeks())
                end_reading()
            if claimed is not None:
                return False
            return jobs.run_job(name, now=now, slot=slot, computed=computed)
        except Exception:  # noqa: BLE001 - logged; the scheduler keeps going
            logger.exception("job %s slot %s failed", name, slot)
            db.session.rollback()
            return None


def deliver(app: Flask) -> int | None:
    """Send what waits in the outbox, in an app context; None when it failed (logged)."""
    from server.notifications import service as notification_service

    with app.app_context():
        try:
            return notification_service.deliver_pending(limit=int(app.config.get("NOTIFY_BATCH", 100)))
        except Exception:  # noqa: BLE001
            logger.exception("delivering notifications failed")
            return None


def _due_today(local_now: datetime, at: time, weekday: int | None = None) -> bool:
    """Return whether this period's firing time has passed, so that a late start catches up at once."""
    if weekday is not None and local_now.weekday() == weekday:
        return local_now.time() >= at
    if weekday is not None:
        return True
    return local_now.time() >= at


def build(app: Flask, *, blocking: bool, now: datetime | None = None) -> BaseScheduler:
    """Return a scheduler (blocking for its own process, background for the dev server) holding the jobs.

    The sweep and the reports also run once at start when their time has
    passed: a scheduler that was down at 07:30 sends the digest when it comes
    back (the slot claim stops a second one).
    """
    zone = ZoneInfo(app.config["TIMEZONE"])
    local_now = (now or utcnow()).astimezone(zone)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        timezone=zone, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15 * 60})

    def catch_up(due: bool) -> dict:
        return {"next_run_time": local_now} if due else {}

    scheduler.add_job(run_claimed, CronTrigger(minute="*/15", timezone=zone), args=[app, "overdue_sweep"],
                      id="overdue_sweep", name="overdue sweep (every 15 minutes)", **catch_up(True))
    scheduler.add_job(run_claimed, CronTrigger(hour=DAILY_AT.hour, minute=DAILY_AT.minute, timezone=zone),
                      args=[app, "daily_digest"], id="daily_digest", name="daily digest (一日一汇报)",
                      **catch_up(_due_today(local_now, DAILY_AT)))
    weekday, at = WEEKLY_AT
    scheduler.add_job(run_claimed, CronTrigger(day_of_week=weekday, hour=at.hour, minute=at.minute, timezone=zone),
                      args=[app, "weekly_dispatch"], id="weekly_dispatch", name="weekly dispatch (一周一调度)",
                      **catch_up(_due_today(local_now, at, weekday)))
    for name in jobs.DAILY_SWEEPS:
        scheduler.add_job(run_claimed, CronTrigger(hour=SWEEPS_AT.hour, minute=SWEEPS_AT.minute, timezone=zone),
                          args=[app, name], id=name, name=f"{name.replace('_', ' ')} (daily)",
                          **catch_up(_due_today(local_now, SWEEPS_AT)))
    scheduler.add_job(run_claimed, CronTrigger(hour=QUARTERLY_AT.hour, minute=QUARTERLY_AT.minute, timezone=zone),
                      args=[app, "quarterly_report"], id="quarterly_report", name="quarterly analysis (每季度)",
                      **catch_up(_due_today(local_now, QUARTERLY_AT)))
    from server.console.figures import REFRESH_MINUTES

    scheduler.add_job(refresh_dashboard, CronTrigger(minute=f"*/{REFRESH_MINUTES}", timezone=zone), args=[app],
                      id="dashboard_snapshot", name=f"console dashboard figures (every {REFRESH_MINUTES} minutes)",
                      **catch_up(True))
    scheduler.add_job(deliver, IntervalTrigger(minutes=1, timezone=zone), args=[app], id="deliver_pending",
                      name="deliver notifications (every minute)")
    return scheduler


def _reloader_on(app: Flask) -> bool:
    """Guess whether ``flask run`` uses Werkzeug's reloader: its flags, else debug mode (Flask's own default)."""
    if "--no-reload" in sys.argv:
        return False
    if "--reload" in sys.argv:
        return True
    return bool(app.debug)


def should_start_embedded(app: Flask) -> bool:
    """Return whether this process is the one that serves: the reloader's child, or a server without reloader.

    With the reloader on, the parent only watches files and restarts the
    child; a scheduler there would be a second one that never reloads.
    """
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        return True
    return not _reloader_on(app)


def start_embedded(app: Flask) -> BaseScheduler | None:
    """Start a background scheduler once in this process (the serving one); return it, or None when not started."""
    global _embedded
    if not should_start_embedded(app):
        logger.info("embedded scheduler not started in the reloader's watcher process")
        return None
    with _embedded_lock:
        if _embedded is None:
            _embedded = build(app, blocking=False)
            _embedded.start()
            atexit.register(_stop_embedded)
            logger.info("embedded scheduler started: %s", ", ".join(job.id for job in _embedded.get_jobs()))
    return _embedded


def _stop_embedded() -> None:
    global _embedded
    with _embedded_lock:
        if _embedded is not None and _embedded.running:
            _embedded.shutdown(wait=False)
        _embedded = None
