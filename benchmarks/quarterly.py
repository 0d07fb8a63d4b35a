#!/usr/bin/env python3
"""Quarterly analysis at city scale: time the snapshot of a quarter on the data set of benchmarks/zero.py.

The data set is the one ``benchmarks/zero.py`` builds (``--scale 1``: 200,000
subjects, 300,000 inspections, 1,000,000 hazards with their events over two
years, four campaigns), in a fresh SQLite database made by the migrations (and
with ``--postgres`` also a throwaway PostgreSQL). ``--db PATH`` reuses (a copy of) a
SQLite database kept by ``zero.py --build-only`` (or ``--keep``) instead of building one.

Then, for the last complete quarter (one warm-up, then the median of ``--repeat``):

- ``figures``: ``quarterly.compute`` — the quarter's own figures, no comparisons
- ``snapshot_cold``: ``quarterly.make`` + commit when neither the previous quarter nor the same quarter a year
  before has a snapshot, so both are computed too (the worst case: the first making after installing)
- ``snapshot``: the same once those two have snapshots (every quarter after the first the scheduler made)
- ``xlsx``, ``docx``: the files of the snapshot (the DOCX with its five charts)

Target: the snapshot under 10 s on SQLite (``snapshot_cold`` included).

    .venv/bin/python benchmarks/quarterly.py --scale 0.05          # quick run, about a minute
    .venv/bin/python benchmarks/quarterly.py                       # full scale (builds for several minutes)
    .venv/bin/python benchmarks/zero.py --build-only               # build once, keep it, then:
    .venv/bin/python benchmarks/quarterly.py --db /tmp/qingling-zero-XXXX/zero.db

A summary is written to ``benchmarks/results/quarterly-<date>.json``.
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

TARGET_S = 10.0


def _zero():
    """Load benchmarks/zero.py (its City, build, machine and quiet-waiting) as a module."""
    spec = importlib.util.spec_from_file_location("zero_benchmark", HERE / "zero.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_it(fn, repeat: int, wait_quiet, quiet: float) -> dict:
    """Run ``fn`` once to warm up, then ``repeat`` times after the cores are quiet; return the seconds."""
    from server.extensions import db

    began = time.perf_counter()
    fn()
    db.session.rollback()
    first = time.perf_counter() - began
    runs = []
    for _ in range(repeat):
        wait_quiet(quiet)
        began = time.perf_counter()
        fn()
        db.session.rollback()
        runs.append(time.perf_counter() - began)
    return {"median_s": round(statistics.median(runs), 3), "min_s": round(min(runs), 3),
            "max_s": round(max(runs), 3), "first_s": round(first, 3), "runs": len(runs)}


def measure(url: str, workdir: Path, label: str, repeat: int, quiet: float, wait_quiet) -> dict:
    """Time the scenarios on the database at ``url``; return the timings and the snapshot's key figures."""
    from sqlalchemy import text

    from server import create_app
    from server.database import utcnow
    from server.extensions import db
    from server.reports import quarterly

    app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(workdir / "photos"))
    results: dict = {}
    with app.app_context():
        now = utcnow()
        quarter = quarterly.last_complete(now)
        others = (quarterly.previous(quarter), quarterly.year_before(quarter))
        results["quarter"] = quarter
        results["hazards"] = db.session.scalar(text("SELECT count(*) FROM hazard"))
        results["hazard_events"] = db.session.scalar(text("SELECT count(*) FROM hazard_event"))
        print(f"  [{label}] quarter {quarter}, compared with {others[0]} and {others[1]}", flush=True)

        def figures():
            return quarterly.compute(quarter, now=now)

        def snapshot():
            report = quarterly.make(quarter, actor=_actor(), now=now)
            db.session.commit()
            return report

        results["figures"] = time_it(figures, repeat, wait_quiet, quiet)
        print(f"  [{label}] figures {results['figures']['median_s']:.2f} s", flush=True)
        results["snapshot_cold"] = time_it(snapshot, repeat, wait_quiet, quiet)
        print(f"  [{label}] snapshot, comparisons computed {results['snapshot_cold']['median_s']:.2f} s", flush=True)
        for other in others:
            quarterly.make(other, actor=_actor(), now=now)
            db.session.commit()
        results["snapshot"] = time_it(snapshot, repeat, wait_quiet, quiet)
        print(f"  [{label}] snapshot, comparisons from snapshots {results['snapshot']['median_s']:.2f} s", flush=True)
        report = quarterly.latest(quarter)
        assert report.figures["comparisons"]["previous"]["source"] == "snapshot"
        results["xlsx"] = time_it(lambda: quarterly.xlsx(report), repeat, wait_quiet, quiet)
        results["docx"] = time_it(lambda: quarterly.docx(report), repeat, wait_quiet, quiet)
        print(f"  [{label}] xlsx {results['xlsx']['median_s']:.2f} s, docx {results['docx']['median_s']:.2f} s",
              flush=True)
        results["key_figures"] = report.figures["key_figures"]
        results["versions_made"] = report.version
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return results


def _actor():
    """The benchmark's user (made once): snapshots made on demand carry who made them."""
    from sqlalchemy import select

    from server.accounts.models import User
    from server.extensions import db

    user = db.session.scalar(select(User).where(User.username == "bench-committee"))
    if user is None:
        user = User(username="bench-committee", name="安委会", password_hash="!", active=True)
        db.session.add(user)
        db.session.flush()
    return user


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full data set (default 1.0)")
    parser.add_argument("--db", default=None, metavar="PATH", help="a SQLite database kept by zero.py to reuse")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per scenario (median; default 3)")
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    parser.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS",
                        help="before each timed run wait up to this long for the cores to be idle (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases) and print it")
    args = parser.parse_args()
    if not 0 < args.scale <= 1.0 or args.repeat < 1:
        parser.error("--scale must be in (0, 1] and --repeat at least 1")
    if args.db and args.postgres:
        parser.error("--db reuses a SQLite database; --postgres builds its own")

    zero = _zero()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    workdir = Path(tempfile.mkdtemp(prefix="qingling-quarterly-"))
    summary = {"date": date.today().isoformat(), "scale": None if args.db else args.scale, "db": args.db,
               "machine": zero.machine(), "source": zero.source(), "target_s": TARGET_S, "builds": {},
               "results": {}}
    pg = None
    try:
        backends = []
        if args.db:  # a copy: the snapshots made here stay out of the kept database
            print(f"copying {args.db}", flush=True)
            shutil.copyfile(args.db, workdir / "zero.db")
            backends.append(("sqlite", f"sqlite:///{workdir / 'zero.db'}", False))
        else:
            backends.append(("sqlite", f"sqlite:///{workdir / 'zero.db'}", True))
        if args.postgres:
            from sqlalchemy import create_engine, text

            from pg_harness import PostgresServer

            pg = PostgresServer()
            engine = create_engine(pg.start(), isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE DATABASE qingling_quarterly"))
                summary["machine"]["postgres"] = conn.execute(text("SHOW server_version")).scalar()
            engine.dispose()
            backends.append(("postgres", pg.url("qingling_quarterly"), True))
        for label, url, fresh in backends:
            if fresh:
                city = zero.City(args.scale, now)
                print(f"build [{label}]: scale {args.scale}: {city.counts}", flush=True)
                summary["builds"][label] = zero.build(url, city, workdir, label)
                summary["counts"] = city.counts
            summary["results"][label] = measure(url, workdir, label, args.repeat, args.wait_quiet, zero.wait_quiet)
        problems = [f"{label}: snapshot {result[name]['median_s']:.2f} s > {TARGET_S:.0f} s"
                    for label, result in summary["results"].items() if label == "sqlite"
                    for name in ("snapshot_cold", "snapshot") if result[name]["median_s"] > TARGET_S]
        summary["problems"] = problems
        print()
        print(f"{'backend':<10}{'figures':>10}{'cold':>10}{'snapshot':>10}{'xlsx':>10}{'docx':>10}")
        for label, result in summary["results"].items():
            print(f"{label:<10}" + "".join(f"{result[name]['median_s']:>9.2f}s"
                                          for name in ("figures", "snapshot_cold", "snapshot", "xlsx", "docx")))
        for problem in problems:
            print("TOO SLOW:", problem)
        full = all(r["hazards"] >= 1_000_000 for r in summary["results"].values())
        out = HERE / "results" / f"quarterly-{date.today().isoformat()}{'' if full else '-small'}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        print(f"written {out.relative_to(REPO)}")
        return 1 if problems else 0
    finally:
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
