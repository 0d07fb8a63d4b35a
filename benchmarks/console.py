#!/usr/bin/env python3
"""Server time of every console page on the city-scale data set of ``benchmarks/zero.py``.

The data set is zero.py's (``--scale 1``: 200,000 subjects, 300,000
inspections, 1,000,000 hazards with their events), built by its own builder
into a fresh SQLite database, or an existing one given with ``--db`` (e.g.
one kept by ``zero.py --build-only``; it must be migrated to the head
revision). Before measuring, the database gets what zero.py leaves out and a
real city has: the supervision listings of its major hazards (listed when
reported, lifted when closed, as ``hazards.service`` does) and a leader of
银川市 (640100, seven districts); and the scheduler's ``dashboard_snapshot``
job runs once, timed (the pages read its snapshot, as in production).

Each page is requested through the Flask test client (in-process: the time
is the server's, no network), signed in as the city-wide administrator, an
inspector of one district (兴庆区) and the 银川 leader; one warm-up, then the
median of ``--repeat`` requests. Target: every page under 300 ms. The load
average and the share of the cores busy are recorded (the machine is shared).

    .venv/bin/python benchmarks/console.py --scale 0.05          # quick, about a minute
    .venv/bin/python benchmarks/console.py                       # full scale (builds for a few minutes)
    .venv/bin/python benchmarks/zero.py --build-only && .venv/bin/python benchmarks/console.py --db /tmp/qingling-zero-XXXX/zero.db

A summary is written to ``benchmarks/results/console-<date>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

TARGET_MS = 300.0
USERS = ("bench-admin", "insp-640104-0", "bench-leader-640100")
# A word every description holds, a subject's name (few subjects: 对象12345 and 对象123450-123459), nothing.
SEARCHES = {name: quote(text) for name, text in (("common", "隐患"), ("subject", "对象12345"), ("none", "燃气泄漏"))}


def _zero_module():
    spec = importlib.util.spec_from_file_location("bench_zero", HERE / "zero.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(app) -> dict:
    """Add the supervision listings and the 银川 leader when missing; return what was done."""
    from sqlalchemy import func, insert, select, text

    from server.accounts.models import User, UserDistrict, UserRole
    from server.extensions import db
    from server.hazards.models import Hazard, Supervision

    done = {}
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(Supervision)):
            # As hazards.service.report and transition do: a major hazard is listed when reported, lifted when closed.
            db.session.execute(insert(Supervision).from_select(
                ["hazard_id", "supervising_unit", "listed_at", "lifted_at"],
                select(Hazard.id, text("'银川市住房和城乡建设局'"), Hazard.created_at, Hazard.closed_at)
                .where(Hazard.severity == "major")))
            done["supervision_rows_added"] = db.session.scalar(select(func.count()).select_from(Supervision))
        if db.session.scalar(select(User.id).where(User.username == USERS[2])) is None:
            user = User(username=USERS[2], name="银川市领导", password_hash="!", active=True)
            db.session.add(user)
            db.session.flush()
            db.session.add_all([UserRole(user_id=user.id, role="leader"),
                                UserDistrict(user_id=user.id, district_code="640100")])
            done["leader_added"] = USERS[2]
        db.session.commit()
        if done and db.engine.dialect.name == "sqlite":
            db.session.execute(text("ANALYZE supervision"))
            db.session.commit()
    return done


def snapshot_job(app) -> dict:
    """Run the scheduler's dashboard_snapshot job as the runner does (figures read beside the writers, then
    stored under the slot claim); return its time."""
    from sqlalchemy import delete

    from server.console.models import DashboardSnapshot
    from server.extensions import db
    from server.scheduler import runner

    with app.app_context():
        db.session.execute(delete(DashboardSnapshot))
        db.session.commit()
    started = time.perf_counter()
    claimed = runner.refresh_dashboard(app)
    elapsed = (time.perf_counter() - started) * 1000
    with app.app_context():
        snapshot = db.session.query(DashboardSnapshot).one()
        return {"claimed": claimed, "job_ms": round(elapsed, 1), "computed_ms": snapshot.computed_ms,
                "figures_bytes": len(json.dumps(snapshot.figures))}


def pages(app) -> list[tuple[str, str]]:
    """Return (name, path) of the pages to time, with ids picked from the data set."""
    from sqlalchemy import select

    from server.extensions import db
    from server.hazards.models import Hazard
    from server.inspections.models import Inspection
    from server.registry.models import Subject

    with app.app_context():
        hazard = db.session.scalar(select(Hazard.id).where(Hazard.district_code == "640104", Hazard.status != "closed")
                                   .order_by(Hazard.created_at.desc()).limit(1))
        inspection = db.session.scalar(select(Inspection.id).where(Inspection.district_code == "640104")
                                       .order_by(Inspection.started_at.desc()).limit(1))
        subject = db.session.scalar(select(Subject.id).where(Subject.district_code == "640104").limit(1))
    return [
        ("dashboard", "/console/dashboard"),
        ("dashboard_district", "/console/dashboard?district=640104"),
        ("dashboard_field", "/console/dashboard?domain=gas"),
        ("hazards", "/console/hazards"),
        ("hazards_open_overdue", "/console/hazards?state=open&overdue=1"),
        ("hazards_major_open", "/console/hazards?state=open&severity=major"),
        ("hazards_search", f"/console/hazards?q={SEARCHES['common']}&district=640104"),
        ("hazards_search_subject", f"/console/hazards?q={SEARCHES['subject']}"),
        ("hazards_search_none", f"/console/hazards?q={SEARCHES['none']}"),
        ("hazards_search_id", f"/console/hazards?q={hazard}"),
        ("hazards_of_subject", f"/console/hazards?subject={subject}"),
        ("supervision", "/console/supervision"),
        ("hazard_detail", f"/console/hazards/{hazard}"),
        ("inspections", "/console/inspections"),
        ("inspections_search", f"/console/inspections?q={SEARCHES['subject']}"),
        ("inspections_search_none", f"/console/inspections?q={SEARCHES['none']}"),
        ("inspection_detail", f"/console/inspections/{inspection}"),
        ("subjects", "/console/subjects"),
        ("subjects_open", "/console/subjects?open=1"),
        ("subjects_search_none", f"/console/subjects?q={SEARCHES['none']}"),
        ("subject_detail", f"/console/subjects/{subject}"),
        ("enterprises", "/console/enterprises"),
        ("map", "/console/map"),
        ("map_points", "/console/map/points.json"),
        ("map_outlines", "/console/map/districts.geojson"),
        ("credit", "/console/credit"),
        ("cases", "/console/cases"),
        ("assignments", "/console/assignments"),
        ("admin_users", "/console/admin/users"),
        ("admin_rules", "/console/admin/rules"),
    ]


def signed_in(app, username: str):
    """Return a test client with a console session for ``username`` (the data set's users have no password)."""
    from sqlalchemy import select

    from server.accounts.models import User
    from server.console import auth
    from server.extensions import db

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        stamp = auth._stamp(user)
        user_id = user.id
    client = app.test_client()
    with client.session_transaction() as session:
        session["uid"], session["stamp"] = user_id, stamp
    return client


def measure(app, repeat: int) -> dict:
    """Time each page for each user; return {user: {page: {median_ms, ...}}}."""
    results = {}
    for username in USERS:
        client = signed_in(app, username)
        results[username] = {}
        for name, path in pages(app):
            first_started = time.perf_counter()
            response = client.get(path)
            response.get_data()
            first = (time.perf_counter() - first_started) * 1000
            status = response.status_code
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(path)
                response.get_data()
                runs.append((time.perf_counter() - started) * 1000)
            results[username][name] = {"path": path, "status": status, "median_ms": round(statistics.median(runs), 1),
                                       "max_ms": round(max(runs), 1), "first_ms": round(first, 1),
                                       "bytes": len(response.get_data())}
            mark = "" if status in (200, 403) and statistics.median(runs) < TARGET_MS else "  <-- over target" \
                if status in (200, 403) else f"  <-- status {status}"
            print(f"  {username:<20} {name:<24} {results[username][name]['median_ms']:>8.1f} ms  "
                  f"(first {first:.0f} ms, max {max(runs):.0f} ms, status {status}){mark}", flush=True)
    return results


def cold_dashboard(app) -> dict:
    """Time the dashboard when no snapshot exists (a new install before the scheduler's first run): the page
    computes the city's figures and keeps them."""
    from sqlalchemy import delete

    from server.console.models import DashboardSnapshot
    from server.extensions import db

    with app.app_context():
        db.session.execute(delete(DashboardSnapshot))
        db.session.commit()
    client = signed_in(app, USERS[0])
    started = time.perf_counter()
    status = client.get("/console/dashboard").status_code
    cold = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    client.get("/console/dashboard")
    after = (time.perf_counter() - started) * 1000
    return {"status": status, "without_snapshot_ms": round(cold, 1), "next_page_ms": round(after, 1)}


def load() -> dict:
    zero = _zero_module()
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "cores_busy": round(zero.cpu_busy(1.0), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of zero.py's full data set (default 1.0)")
    parser.add_argument("--db", help="an SQLite database zero.py built, migrated to head (skips the build)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with the database")
    parser.add_argument("--label", help="written to results/console-<date>-<label>.json (default: console-<date>.json)")
    args = parser.parse_args()

    zero = _zero_module()
    workdir = Path(tempfile.mkdtemp(prefix="qingling-console-"))
    summary = {"date": date.today().isoformat(), "scale": None if args.db else args.scale,
               "machine": zero.machine(), "source": zero.source(), "target_ms": TARGET_MS}
    try:
        if args.db:
            url = f"sqlite:///{Path(args.db).resolve()}"
        else:
            url = f"sqlite:///{workdir / 'zero.db'}"
            city = zero.City(args.scale, datetime.now(timezone.utc).replace(microsecond=0))
            print(f"build: scale {args.scale}: {city.counts}", flush=True)
            summary["build"] = zero.build(url, city, workdir, "sqlite")
            summary["counts"] = city.counts
        from server import create_app

        # The production setting: pages read the newest snapshot up to 30 minutes old.
        app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(workdir / "photos"), REQUEST_LOG=False,
                         CONSOLE_DASHBOARD_MAX_AGE_MINUTES=30)
        with app.app_context():
            from alembic.migration import MigrationContext

            from server.extensions import db

            with db.engine.connect() as connection:
                revision = MigrationContext.configure(connection).get_current_revision()
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(REPO / "migrations")).get_current_head()
        if revision != head:
            print(f"the database is at revision {revision}, not {head}: run `flask db upgrade` on it "
                  "(QINGLING_DATABASE_URL=sqlite:///PATH), then ANALYZE", file=sys.stderr)
            return 2
        summary["prepared"] = prepare(app)
        summary["load_before"] = load()
        summary["dashboard_snapshot_job"] = snapshot_job(app)
        print(f"dashboard_snapshot job: {summary['dashboard_snapshot_job']}", flush=True)
        summary["results"] = measure(app, args.repeat)
        summary["dashboard_without_snapshot"] = cold_dashboard(app)
        print(f"dashboard without a snapshot: {summary['dashboard_without_snapshot']}", flush=True)
        summary["load_after"] = load()
        over = [f"{user} {name}: {r['median_ms']} ms" for user, by_page in summary["results"].items()
                for name, r in by_page.items() if r["median_ms"] >= TARGET_MS]
        summary["over_target"] = over
        out = HERE / "results" / f"console-{date.today().isoformat()}{'-' + args.label if args.label else ''}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        print(f"load before {summary['load_before']}, after {summary['load_after']}")
        print(f"written {out.relative_to(REPO)}; over {TARGET_MS:.0f} ms: {len(over)}")
        for line in over:
            print("  OVER:", line)
        return 0
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
