#!/usr/bin/env python3
"""Server time of every console page on the city-scale data set of ``benchmarks/zero.py``.

The data set is zero.py's (``--scale 1``: 200,000 subjects, 300,000
inspections, 1,000,000 hazards with their events), built by its own builder
into a fresh SQLite database, or an existing one given with ``--db`` (e.g.
one kept by ``zero.py --build-only``). Each page is requested through the
Flask test client (in-process: the time is the server's, no network), signed
in as the city-wide administrator and as an inspector of one district
(兴庆区); one warm-up, then the median of ``--repeat`` requests. Target: every
page under 300 ms. The dashboard's figures are cached for 60 s per scope (the
production default), so its median is a warm page and ``first_ms`` the cold one.

    .venv/bin/python benchmarks/console.py --scale 0.05          # quick, about a minute
    .venv/bin/python benchmarks/console.py                       # full scale (builds for a few minutes)
    .venv/bin/python benchmarks/zero.py --build-only && .venv/bin/python benchmarks/console.py --db /tmp/qingling-zero-XXXX/zero.db

A summary is written to ``benchmarks/results/console-<date>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

TARGET_MS = 300.0


def _zero_module():
    spec = importlib.util.spec_from_file_location("bench_zero", HERE / "zero.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        ("hazards", "/console/hazards"),
        ("hazards_open_overdue", "/console/hazards?state=open&overdue=1"),
        ("hazards_search", "/console/hazards?q=%E9%9A%90%E6%82%A3&district=640104"),
        ("supervision", "/console/supervision"),
        ("hazard_detail", f"/console/hazards/{hazard}"),
        ("inspections", "/console/inspections"),
        ("inspection_detail", f"/console/inspections/{inspection}"),
        ("subjects", "/console/subjects"),
        ("subjects_open", "/console/subjects?open=1"),
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
    for username in ("bench-admin", "insp-640104-0"):
        client = signed_in(app, username)
        results[username] = {}
        for name, path in pages(app):
            first_started = time.perf_counter()
            response = client.get(path)
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
            print(f"  {username:<14} {name:<22} {results[username][name]['median_ms']:>8.1f} ms  "
                  f"(first {first:.0f} ms, status {status}){mark}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of zero.py's full data set (default 1.0)")
    parser.add_argument("--db", help="an SQLite database zero.py built (skips the build)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with the database")
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

        # The production default: a dashboard's figures are reused for 60 s (first_ms is the cold computation).
        app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(workdir / "photos"), REQUEST_LOG=False,
                         CONSOLE_DASHBOARD_CACHE_SECONDS=60)
        summary["results"] = measure(app, args.repeat)
        over = [f"{user} {name}: {r['median_ms']} ms" for user, by_page in summary["results"].items()
                for name, r in by_page.items() if r["median_ms"] >= TARGET_MS]
        summary["over_target"] = over
        out = HERE / "results" / f"console-{date.today().isoformat()}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
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
