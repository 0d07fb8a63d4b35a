#!/usr/bin/env python3
"""Zero-out figures at city scale: build a Ningxia-sized data set, then time the figures and a campaign's coverage.

The data set (``--scale 1``): 200,000 subjects in the 22 county districts of
Ningxia (银川's six weighted as the bulk), 300,000 inspections, 1,000,000
hazards reported over the last two years with their events (reported; most
notified, rectified, reviewed and closed, some rejected once, some fixed on
the spot, some stalled, a few reopened by a re-inspection and closed again),
four campaigns, and the users who did it. Rows go in with bulk Core inserts
into a fresh database made by the migrations: SQLite in a temporary folder,
and with ``--postgres`` also a throwaway PostgreSQL (``tests/pg_harness``).

Then, on each backend, it times (one warm-up, then the median of ``--repeat``):

- ``city``: ``open_figures`` for the whole city by domain, district, severity, age (target < 2 s SQLite, < 1 s PostgreSQL)
- ``city_past``: the same as of a year ago
- ``district``: one district (兴庆区, the biggest) by domain, severity, age (target < 200 ms)
- ``campaign``: the current campaign by district and domain
- ``coverage``: ``server.inspections.coverage.coverage`` of the current campaign (city targets), and
  ``coverage_district`` for 兴庆区 alone (district target)

and checks the totals against the figures the generator knows (open now and a year ago).
The indexes measured are the migrations' own (``b3c1d2e00004_indexes_for_figures``);
``--explain`` records the query plans next to the timings.

    .venv/bin/python benchmarks/zero.py --scale 0.05              # quick run, about a minute
    .venv/bin/python benchmarks/zero.py --postgres --explain      # full scale, SQLite and PostgreSQL

A summary is written to ``benchmarks/results/zero-<date>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SEED = 20260
BATCH = 20_000
FULL = {"subjects": 200_000, "inspections": 300_000, "hazards": 1_000_000}
TARGETS_S = {("sqlite", "city"): 2.0, ("postgres", "city"): 1.0,
             ("sqlite", "district"): 0.2, ("postgres", "district"): 0.2,
             ("sqlite", "coverage"): 2.0, ("postgres", "coverage"): 1.0,
             ("sqlite", "coverage_district"): 0.2, ("postgres", "coverage_district"): 0.2}
BIG_DISTRICT = "640104"

# code -> (name, weight of the register); 银川's six counties hold about half of it.
DISTRICTS = {
    "640104": ("兴庆区", 16), "640106": ("金凤区", 14), "640105": ("西夏区", 10), "640121": ("永宁县", 4),
    "640122": ("贺兰县", 4), "640181": ("灵武市", 4),
    "640202": ("大武口区", 4), "640205": ("惠农区", 2.5), "640221": ("平罗县", 3),
    "640302": ("利通区", 4), "640303": ("红寺堡区", 1.5), "640323": ("盐池县", 1.5), "640324": ("同心县", 2),
    "640381": ("青铜峡市", 2.5),
    "640402": ("原州区", 4), "640422": ("西吉县", 2), "640423": ("隆德县", 1), "640424": ("泾源县", 1),
    "640425": ("彭阳县", 1.5),
    "640502": ("沙坡头区", 3.5), "640521": ("中宁县", 2.5), "640522": ("海原县", 2),
}
CENTRES = {"6401": (38.47, 106.27), "6402": (39.02, 106.38), "6403": (37.99, 106.20), "6404": (36.01, 106.24),
           "6405": (37.50, 105.19)}
DOMAINS = (("gas", 75), ("self_built_house", 18), ("construction_site", 7))
CHECKLISTS = {"gas": ("gas-user", ["G01A", "G02", "G03A", "G04A", "G04B", "G05", "G06A", "G07", "G08", "G12"]),
              "self_built_house": ("self-built-house", ["H01", "H02", "H03", "H04", "H05", "H06", "H07", "H08"]),
              "construction_site": ("construction-site", ["SM", "CC", "SF", "SD", "SB", "SP", "SS", "HW", "EL"])}

# ---------------------------------------------------------------------------
# The machine and the code measured


def machine() -> dict:
    """Describe where the figures come from."""
    model, mem_kb = "unknown", 0
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    import sqlite3
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model, "memory_gb": round(mem_kb * 1024 / 1e9, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "kernel": platform.release()}


def source() -> dict:
    """The commit measured and how many tracked files differ from it (read-only git)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "modified_files": len(git("status", "--porcelain", "--untracked-files=no").splitlines())}


def cpu_busy(sample: float = 1.0) -> float:
    """Return the share of all cores busy over ``sample`` seconds, from /proc/stat."""
    def read():
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle
    try:
        total0, idle0 = read()
        time.sleep(sample)
        total1, idle1 = read()
    except OSError:
        return 0.0
    return 0.0 if total1 == total0 else 1.0 - (idle1 - idle0) / (total1 - total0)


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait up to ``max_wait`` s for other programs to leave the cores mostly idle; return the last busy share."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(2.0)
    return busy


# ---------------------------------------------------------------------------
# The data set


class City:
    """A reproducible city: every row comes from one seeded generator, so two backends get the same data."""

    def __init__(self, scale: float, now: datetime):
        self.scale = scale
        self.now = now
        self.start = now - timedelta(days=730)
        self.past = now - timedelta(days=365)
        self.counts = {name: max(1, int(round(n * scale))) for name, n in FULL.items()}
        self.truth = {"open_now": 0, "open_past": 0, "events": 0}

    # -- helpers --
    @staticmethod
    def _uuid(rng: random.Random) -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def campaigns(self) -> list[dict]:
        """Four campaigns over the two years; the last one is running now."""
        d = lambda t: t.date()  # noqa: E731
        every = sorted(DISTRICTS)
        rows = [
            ("城镇燃气安全专项整治行动", ["gas"], self.start + timedelta(days=30), self.start + timedelta(days=300)),
            ("建筑施工安全生产治理行动", ["construction_site"], self.start + timedelta(days=100),
             self.start + timedelta(days=450)),
            ("自建房安全专项整治", ["self_built_house"], self.start + timedelta(days=200),
             self.start + timedelta(days=560)),
            ("燃气安全隐患“回头看”", ["gas", "self_built_house"], self.now - timedelta(days=150),
             self.now + timedelta(days=30)),
        ]
        return [{"id": n, "name": name, "doc_no": f"宁建〔{d(begin).year}〕{10 + n}号", "domains": domains,
                 "districts": every, "starts_on": d(begin), "ends_on": d(end), "phases": [],
                 "created_at": begin - timedelta(days=7)}
                for n, (name, domains, begin, end) in enumerate(rows, start=1)]

    def users(self) -> tuple[list[dict], list[dict], list[dict], dict[str, list[int]]]:
        """An administrator and two inspectors per district; returns rows and inspectors per district."""
        users, roles, links, inspectors = [], [], [], {}
        created = self.start - timedelta(days=30)
        users.append({"id": 1, "username": "bench-admin", "name": "管理员", "password_hash": "!", "active": True,
                      "created_at": created})
        roles.append({"user_id": 1, "role": "admin"})
        next_id = 2
        for code in DISTRICTS:
            for k in range(2):
                users.append({"id": next_id, "username": f"insp-{code}-{k}", "name": f"检查员{code}-{k}",
                              "password_hash": "!", "active": True, "created_at": created})
                roles.append({"user_id": next_id, "role": "inspector"})
                links.append({"user_id": next_id, "district_code": code})
                inspectors.setdefault(code, []).append(next_id)
                next_id += 1
        return users, roles, links, inspectors

    def subjects(self, rng: random.Random):
        """Yield batches of subjects; remember (id, district, domain) of each for the inspections."""
        codes, weights = list(DISTRICTS), [w for _, w in DISTRICTS.values()]
        domains, dweights = [d for d, _ in DOMAINS], [w for _, w in DOMAINS]
        self.subject_keys = []
        batch = []
        for n in range(self.counts["subjects"]):
            code = rng.choices(codes, weights)[0]
            domain = rng.choices(domains, dweights)[0]
            lat0, lon0 = CENTRES[code[:4]]
            sid = self._uuid(rng)
            created = self.start - timedelta(days=rng.uniform(0, 365))
            batch.append({"id": sid, "domain": domain, "name": f"对象{n}", "address": f"{DISTRICTS[code][0]}某街{n}号",
                          "district_code": code, "lat": lat0 + rng.uniform(-0.05, 0.05),
                          "lon": lon0 + rng.uniform(-0.05, 0.05), "source_crs": "wgs84",
                          "external_ref": f"B-{n:07d}", "attributes": {}, "created_at": created,
                          "updated_at": created})
            self.subject_keys.append((sid, code, domain))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def inspections(self, rng: random.Random, inspectors: dict[str, list[int]], campaigns: list[dict]):
        """Yield batches of inspections spread over the two years; remember what hazards need of each."""
        span = (self.now - self.start).total_seconds()
        self.inspection_keys = []
        batch = []
        for _ in range(self.counts["inspections"]):
            sid, code, domain = rng.choice(self.subject_keys)
            started = self.start + timedelta(seconds=rng.uniform(0, span - 3600))
            campaign = None
            for c in campaigns:
                if domain in c["domains"] and c["starts_on"] <= started.date() <= c["ends_on"] and rng.random() < 0.85:
                    campaign = c["id"]
                    break
            iid, inspector = self._uuid(rng), rng.choice(inspectors[code])
            outcome = "no_access" if rng.random() < 0.04 else "inspected"
            batch.append({"id": iid, "subject_id": sid, "inspector_id": inspector, "district_code": code,
                          "domain": domain, "checklist_code": CHECKLISTS[domain][0], "checklist_version": 1,
                          "campaign_id": campaign, "outcome": outcome, "started_at": started,
                          "finished_at": started + timedelta(minutes=20), "received_at": started + timedelta(minutes=21),
                          "source_crs": "wgs84", "flags": [], "payload_hash": "0" * 64})
            if outcome == "inspected":
                self.inspection_keys.append((iid, sid, code, domain, inspector, campaign, started))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _life(self, rng: random.Random, created: datetime, severity: str) -> list[tuple[str, str | None, str, datetime]]:
        """The events of one hazard: (type, from, to, at), cut at now."""
        day = timedelta(days=1)
        events = [("reported", None, "reported", created)]
        t = created
        if rng.random() < 0.18:
            events.append(("fixed_on_spot", "reported", "closed", t + timedelta(minutes=rng.uniform(5, 40))))
        else:
            t += rng.uniform(0.02, 3) * day
            events.append(("notified", "reported", "rectifying", t))
            if rng.random() < 0.06:  # stalled: never rectified
                return [e for e in events if e[3] <= self.now]
            slow = 3.0 if severity == "major" else 1.0
            t += rng.lognormvariate(2.2, 0.7) * slow * day
            events.append(("rectification", "rectifying", "pending_review", t))
            t += rng.uniform(0.3, 5) * day
            if rng.random() < 0.15:
                events.append(("review_rejected", "pending_review", "rectifying", t))
                t += rng.uniform(2, 15) * day
                events.append(("rectification", "rectifying", "pending_review", t))
                t += rng.uniform(0.3, 5) * day
            events.append(("review_accepted", "pending_review", "closed", t))
        if rng.random() < 0.03:  # a re-inspection (回头看) finds it again
            t = events[-1][3] + rng.uniform(30, 200) * day
            events.append(("reopened", "closed", "rectifying", t))
            if rng.random() < 0.7:
                t += rng.uniform(3, 30) * day
                events.append(("rectification", "rectifying", "pending_review", t))
                t += rng.uniform(0.3, 5) * day
                events.append(("review_accepted", "pending_review", "closed", t))
        return [e for e in events if e[3] <= self.now]

    def hazards(self, rng: random.Random):
        """Yield (hazards, events) batches; count the truth: open now and open a year ago."""
        for offset in range(0, self.counts["hazards"], BATCH):
            hazards, events = [], []
            for _ in range(min(BATCH, self.counts["hazards"] - offset)):
                iid, sid, code, domain, inspector, campaign, started = rng.choice(self.inspection_keys)
                created = started + timedelta(minutes=rng.uniform(1, 19))
                severity = "major" if rng.random() < 0.04 else "general"
                life = self._life(rng, created, severity)
                last = life[-1]
                hid = self._uuid(rng)
                checklist, items = CHECKLISTS[domain]
                hazards.append({
                    "id": hid, "inspection_id": iid, "subject_id": sid, "district_code": code, "domain": domain,
                    "checklist_code": checklist, "item_code": rng.choice(items), "category": None,
                    "description": "检查发现隐患", "severity": severity, "status": last[2],
                    "deadline": (created + timedelta(days=60 if severity == "major" else 15)).date(),
                    "fixed_on_spot": life[1][0] == "fixed_on_spot" if len(life) > 1 else False,
                    "enterprise_id": None, "campaign_id": campaign, "plan": None, "reported_by": inspector,
                    "created_at": created, "closed_at": last[3] if last[2] == "closed" else None})
                for kind, before, after, at in life:
                    events.append({"hazard_id": hid, "type": kind, "at": at, "actor_id": inspector, "note": None,
                                   "from_status": before, "to_status": after, "client_id": None,
                                   "payload_hash": None, "checks": None})
                self.truth["open_now"] += last[2] != "closed"
                then = [e for e in life if e[3] <= self.past]
                self.truth["open_past"] += bool(then) and then[-1][2] != "closed"
                self.truth["events"] += len(life)
            yield hazards, events


def build(url: str, city: City, workdir: Path, label: str) -> dict:
    """Migrate a fresh database at ``url`` and fill it with the city; return the build's timings."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from server import create_app
    from server.accounts.models import User, UserDistrict, UserRole
    from server.extensions import db
    from server.hazards.models import Hazard, HazardEvent
    from server.inspections.models import Campaign, Inspection
    from server.registry.models import Subject

    app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(workdir / "photos"))
    timings = {}
    with app.app_context():
        began = time.perf_counter()
        upgrade()
        timings["migrate_s"] = time.perf_counter() - began
        rng = random.Random(SEED)
        counts = {}
        began = time.perf_counter()
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-512000")  # 500 MB for the load only

            def put(table, rows):
                if rows:
                    conn.execute(insert(table), rows)
                    counts[table.name] = counts.get(table.name, 0) + len(rows)

            users, roles, links, inspectors = city.users()
            campaigns = city.campaigns()
            put(User.__table__, users)
            put(UserRole.__table__, roles)
            put(UserDistrict.__table__, links)
            put(Campaign.__table__, campaigns)
            if conn.dialect.name == "postgresql":  # explicit ids were given: move the sequences past them
                conn.execute(text("SELECT setval('user_account_id_seq', (SELECT max(id) FROM user_account))"))
                conn.execute(text("SELECT setval('campaign_id_seq', (SELECT max(id) FROM campaign))"))
            conn.commit()
            for batch in city.subjects(rng):
                put(Subject.__table__, batch)
            conn.commit()
            print(f"  [{label}] {counts['subject']:,} subjects ({time.perf_counter() - began:.0f} s)", flush=True)
            for batch in city.inspections(rng, inspectors, campaigns):
                put(Inspection.__table__, batch)
            conn.commit()
            print(f"  [{label}] {counts['inspection']:,} inspections ({time.perf_counter() - began:.0f} s)", flush=True)
            for n, (hazards, events) in enumerate(city.hazards(rng), start=1):
                put(Hazard.__table__, hazards)
                put(HazardEvent.__table__, events)
                if n % 10 == 0:
                    conn.commit()
                    print(f"  [{label}] {counts['hazard']:,} hazards, {counts['hazard_event']:,} events "
                          f"({time.perf_counter() - began:.0f} s)", flush=True)
            conn.commit()
        timings["load_s"] = time.perf_counter() - began
        began = time.perf_counter()
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        timings["analyze_s"] = time.perf_counter() - began
        db.session.remove()
        db.engine.dispose()
    return {"rows": counts, **{k: round(v, 1) for k, v in timings.items()}}


# ---------------------------------------------------------------------------
# The measurements


def time_it(fn, repeat: int) -> dict:
    """Run ``fn`` once to warm up, then ``repeat`` times; return seconds and the last answer."""
    from server.extensions import db

    began = time.perf_counter()
    answer = fn()
    db.session.rollback()
    first = time.perf_counter() - began
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        answer = fn()
        db.session.rollback()  # end the transaction as a request does
        runs.append(time.perf_counter() - began)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs), "first_s": first,
            "answer": answer}


def scenarios(city: City) -> dict:
    """The calls measured: name -> (description, function)."""
    from server.reports import zero

    city_groups = ("domain", "district", "severity", "age")
    current = 4  # the campaign running now
    calls = {
        "city": ("whole city by domain, district, severity, age",
                 lambda: zero.open_figures(group_by=city_groups)),
        "city_past": ("whole city as of a year ago, same groups",
                      lambda: zero.open_figures(as_of=city.past, group_by=city_groups)),
        "district": (f"one district ({BIG_DISTRICT} {DISTRICTS[BIG_DISTRICT][0]}, the biggest) by domain, severity, age",
                     lambda: zero.open_figures(districts=frozenset({BIG_DISTRICT}),
                                               group_by=("domain", "severity", "age"))),
        "district_past": ("the same district as of a year ago",
                          lambda: zero.open_figures(as_of=city.past, districts=frozenset({BIG_DISTRICT}),
                                                    group_by=("domain", "severity", "age"))),
        "campaign": ("the current campaign by district and domain",
                     lambda: zero.open_figures(campaign_id=current, group_by=("district", "domain"))),
    }
    if importlib.util.find_spec("server.inspections.coverage") is not None:
        from server.inspections import coverage

        calls["coverage"] = ("coverage of the current campaign, whole city",
                             lambda: coverage.coverage(campaign_id=current, districts=None))
        calls["coverage_district"] = (f"coverage of the current campaign, {BIG_DISTRICT}",
                                      lambda: coverage.coverage(campaign_id=current,
                                                                districts=frozenset({BIG_DISTRICT})))
    return calls


def explain(label: str, city: City) -> dict:
    """Return the query plans of the figures and of coverage (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE)."""
    from sqlalchemy import event

    from server.extensions import db

    prefix = "EXPLAIN QUERY PLAN " if label == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY" in statement or "sum(" in statement:
            seen.append((statement, parameters))

    plans = {}
    calls = scenarios(city)
    for name in ("city", "city_past", "district", "campaign", "coverage", "coverage_district"):
        if name not in calls:
            continue
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            calls[name][1]()
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        plans[name] = []
        for statement, parameters in list(seen):
            rows = db.session.connection().exec_driver_sql(prefix + statement, parameters).fetchall()
            plans[name].append([" | ".join(str(v) for v in row) for row in rows])
        db.session.rollback()
    return plans


def measure(url: str, city: City, workdir: Path, label: str, repeat: int, quiet_wait: float,
            with_explain: bool) -> dict:
    """Time every scenario on the database at ``url``."""
    from server import create_app
    from server.extensions import db

    app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(workdir / "photos"))
    out = {}
    with app.app_context():
        for name, (what, fn) in scenarios(city).items():
            busy = wait_quiet(quiet_wait)
            result = time_it(fn, repeat)
            answer = result.pop("answer")
            result.update({"what": what, "background_busy": round(busy, 2)})
            if isinstance(answer, dict) and "total" in answer:
                result["total"] = answer["total"]
                result["rows"] = len(answer["rows"])
            elif isinstance(answer, dict) and "rows" in answer:
                result["rows"] = len(answer["rows"])
            out[name] = result
            print(f"  [{label}] {name:<18} median {result['median_s'] * 1000:8.1f} ms  "
                  f"(min {result['min_s'] * 1000:.1f}, first {result['first_s'] * 1000:.1f})", flush=True)
        if with_explain:
            out["_plans"] = explain(label, city)
        db.session.remove()
        db.engine.dispose()
    return out


def check(results: dict, city: City) -> list[str]:
    """Compare the figures' totals with what the generator knows."""
    problems = []
    for backend, runs in results.items():
        for variant, scenario in runs.items():
            if not isinstance(scenario, dict):
                continue
            for name, expected in (("city", city.truth["open_now"]), ("city_past", city.truth["open_past"])):
                got = scenario.get(name, {}).get("total")
                if got is not None and got != expected:
                    problems.append(f"{backend}/{variant}/{name}: total {got} but the generator made {expected}")
    return problems


def print_table(summary: dict) -> None:
    """Print the timings against the targets."""
    print()
    print(f"{'backend':<10}{'indexes':<11}{'scenario':<19}{'median ms':>10}{'min ms':>9}{'target':>9}  result")
    for backend, variants in summary["results"].items():
        for variant, runs in variants.items():
            for name, r in runs.items():
                if name.startswith("_"):
                    continue
                target = TARGETS_S.get((backend, name.replace("_past", "")))
                verdict = "" if target is None else ("ok" if r["median_s"] < target else "MISSED")
                print(f"{backend:<10}{variant:<11}{name:<19}{r['median_s'] * 1000:>10.1f}{r['min_s'] * 1000:>9.1f}"
                      f"{'' if target is None else f'{target * 1000:.0f}':>9}  {verdict}")
    truth = summary["truth"]
    print(f"\nopen now {truth['open_now']:,}, a year ago {truth['open_past']:,}; events {truth['events']:,}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full data set (default 1.0)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per scenario (median; default 5)")
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite (with --postgres)")
    parser.add_argument("--explain", action="store_true", help="record the query plans (EXPLAIN) of the figures")
    parser.add_argument("--wait-quiet", type=float, default=60.0, metavar="SECONDS",
                        help="before each scenario wait up to this long for the cores to be idle (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases) and print it")
    parser.add_argument("--build-only", action="store_true",
                        help="build the SQLite database, keep it and stop (to explore query plans by hand)")
    args = parser.parse_args()
    if not 0 < args.scale <= 1.0 or args.repeat < 1:
        parser.error("--scale must be in (0, 1] and --repeat at least 1")
    if args.no_sqlite and not args.postgres:
        parser.error("--no-sqlite needs --postgres")
    if args.build_only and (args.postgres or args.no_sqlite):
        parser.error("--build-only builds SQLite only")

    now = datetime.now(timezone.utc).replace(microsecond=0)
    workdir = Path(tempfile.mkdtemp(prefix="qingling-zero-"))
    summary = {"date": date.today().isoformat(), "scale": args.scale, "machine": machine(), "source": source(),
               "targets_s": {f"{b}/{s}": t for (b, s), t in TARGETS_S.items()}, "builds": {}, "results": {}}
    pg = None
    try:
        backends = []
        if not args.no_sqlite:
            backends.append(("sqlite", f"sqlite:///{workdir / 'zero.db'}"))
        if args.postgres:
            from pg_harness import PostgresServer
            from sqlalchemy import create_engine, text

            pg = PostgresServer()
            admin = pg.start()
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE DATABASE qingling_zero"))
                summary["machine"]["postgres"] = conn.execute(text("SHOW server_version")).scalar()
                summary["machine"]["postgres_settings"] = {
                    name: conn.execute(text(f"SHOW {name}")).scalar()
                    for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit")}
            engine.dispose()
            backends.append(("postgres", pg.url("qingling_zero")))
        city = None
        for label, url in backends:
            city = City(args.scale, now)
            print(f"build [{label}]: scale {args.scale}: {city.counts}", flush=True)
            summary["builds"][label] = build(url, city, workdir, label)
            print(f"  [{label}] built: {summary['builds'][label]}", flush=True)
            if args.build_only:
                args.keep = True
                continue
            summary["results"][label] = {"migrated": measure(url, city, workdir, label, args.repeat,
                                                             args.wait_quiet, args.explain)}
            if label == "sqlite":
                summary["builds"][label]["file_mb"] = round((workdir / "zero.db").stat().st_size / 1e6)
        summary["truth"] = city.truth
        if args.build_only:
            print(f"open now {city.truth['open_now']:,}, a year ago {city.truth['open_past']:,} "
                  f"(as of {city.past.isoformat()})")
            return 0
        summary["counts"] = city.counts
        summary["problems"] = check(summary["results"], city)
        print_table(summary)
        for problem in summary["problems"]:
            print("WRONG:", problem)
        out = HERE / "results" / f"zero-{date.today().isoformat()}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        print(f"written {out.relative_to(REPO)}")
        return 1 if summary["problems"] else 0
    finally:
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
