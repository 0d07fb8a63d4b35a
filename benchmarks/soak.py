#!/usr/bin/env python3
"""Soak: simulated phones at 80% of the measured peak for 5 minutes against gunicorn + PostgreSQL.

Self-contained: a throwaway PostgreSQL (tests/pg_harness.py, from the machine's
binaries, with fsync on as in production), migrated by ``flask db upgrade``,
seeded with inspectors and gas users, then gunicorn with the shipped settings
(``config/gunicorn.conf.py``) except that workers are never recycled, so that
a leak would show in their memory.

1. Scaling: for 1, 2, 3 and 4 workers, phones submit inspections (JSON, one or
   two hazards each) as fast as they can for ``--scale-duration`` seconds:
   submissions/s and p99 at each size.
2. Soak: with ``--workers`` (2), an open-loop load at ``--share`` (0.8) of that
   size's peak for ``--duration`` (300) seconds: requests are sent on a fixed
   schedule whatever the answers' latency, so a slowing server shows as
   latency, not as a lower offered load. Every worker's resident memory is
   sampled every 5 s.

Pass: no failed request, the achieved rate at least 95% of the offered one,
and flat memory (the last minute's median RSS of each worker within 10% and
20 MB of the second minute's; the first minute is warm-up).

    .venv/bin/python benchmarks/soak.py                       # the full run: about 7 minutes
    .venv/bin/python benchmarks/soak.py --duration 30 --scale-duration 5   # a smoke run

A summary goes to ``benchmarks/results/soak-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (REPO, REPO / "tests", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ingest import (PASSWORD, children, free_port, inspection, machine, memory_kb, percentile,  # noqa: E402
                    seed, source)
from pg_harness import PostgresServer  # noqa: E402

PHONES = 8


class Server:
    """gunicorn -c config/gunicorn.conf.py with N workers on a free loopback port."""

    def __init__(self, env: dict, workers: int, log: Path):
        self.env, self.workers, self.log = env, workers, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def __enter__(self) -> "Server":
        env = {**os.environ, **self.env, "QINGLING_BIND": f"127.0.0.1:{self.port}",
               "QINGLING_WEB_WORKERS": str(self.workers), "QINGLING_REQUEST_LOG": "false",
               # Workers are not recycled (production: every ~5,000 requests), so that a leak shows.
               "QINGLING_WEB_MAX_REQUESTS": "0"}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "server:create_app()"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=10).status_code == 200 and \
                        len(children(self.process.pid)) == self.workers:
                    for _ in range(4 * self.workers):  # every worker imports the app before the load
                        requests.get(f"{self.url}/readyz", timeout=30)
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start; see {self.log}")

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class Phones:
    """Signed-in sessions, one per inspector, each used by one thread at a time."""

    def __init__(self, url: str, usernames: list[str], subjects: list[dict]):
        self.url, self.subjects = url, subjects
        self.local = threading.local()
        self.usernames = usernames
        self.counter = 0
        self.lock = threading.Lock()

    def session(self) -> tuple[requests.Session, random.Random]:
        if not hasattr(self.local, "session"):
            with self.lock:
                username = self.usernames[self.counter % len(self.usernames)]
                self.counter += 1
            session = requests.Session()
            answer = session.post(f"{self.url}/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                                  timeout=30)
            answer.raise_for_status()
            session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            self.local.session, self.local.rng = session, random.Random(self.counter)
        return self.local.session, self.local.rng

    def submit(self) -> tuple[float, int | str]:
        """Send one inspection; return (latency in s, status code or the error's name)."""
        session, rng = self.session()
        payload = inspection(rng, rng.choice(self.subjects))
        started = time.perf_counter()
        try:
            status = session.post(f"{self.url}/api/v1/inspections", json=payload, timeout=60).status_code
        except requests.RequestException as error:
            status = type(error).__name__
        return time.perf_counter() - started, status


def _summary(latencies: list[float], statuses: list, seconds: float) -> dict:
    ordered = sorted(latencies)
    errors: dict[str, int] = {}
    for status in statuses:
        if status != 201:
            errors[str(status)] = errors.get(str(status), 0) + 1
    return {"completed": len(statuses), "per_s": round(len(statuses) / seconds, 1),
            "p50_ms": round(percentile(ordered, 50) * 1000, 1), "p99_ms": round(percentile(ordered, 99) * 1000, 1),
            "errors": errors}


def peak(url: str, usernames: list[str], subjects: list[dict], seconds: float) -> dict:
    """Closed loop: PHONES threads submitting back to back for ``seconds`` (after 3 s of warm-up)."""
    phones = Phones(url, usernames, subjects)
    latencies, statuses = [], []
    warm_until = time.monotonic() + 3
    stop_at = warm_until + seconds
    lock = threading.Lock()

    def loop():
        while (now := time.monotonic()) < stop_at:
            latency, status = phones.submit()
            if now >= warm_until and time.monotonic() <= stop_at:
                with lock:
                    latencies.append(latency)
                    statuses.append(status)

    threads = [threading.Thread(target=loop) for _ in range(PHONES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _summary(latencies, statuses, seconds)


def soak(server: Server, usernames: list[str], subjects: list[dict], rate: float, seconds: float) -> dict:
    """Open loop at ``rate`` submissions/s for ``seconds``; RSS of each worker every 5 s."""
    phones = Phones(server.url, usernames, subjects)
    latencies, statuses, samples = [], [], []
    lock = threading.Lock()
    stop = threading.Event()

    def record(future):
        latency, status = future.result()
        with lock:
            latencies.append(latency)
            statuses.append(status)

    def sample_memory():
        started = time.monotonic()
        while not stop.wait(5):
            rss = {pid: memory_kb(pid).get("VmRSS", 0) / 1000 for pid in server.worker_pids()}
            samples.append({"t": round(time.monotonic() - started, 1), "rss_mb": rss})

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    interval = 1.0 / rate
    begin = time.monotonic()
    sent = 0
    with ThreadPoolExecutor(max_workers=4 * PHONES) as pool:
        while (elapsed := time.monotonic() - begin) < seconds:
            due = int(elapsed / interval) + 1
            while sent < due:
                pool.submit(phones.submit).add_done_callback(record)
                sent += 1
            time.sleep(max(0.0, (sent * interval) - (time.monotonic() - begin)))
    total = time.monotonic() - begin
    stop.set()
    result = _summary(latencies, statuses, total)
    result.update({"offered_per_s": round(rate, 1), "sent": sent, "seconds": round(total, 1),
                   "memory": _memory_verdict(samples), "samples": samples})
    return result


def _memory_verdict(samples: list[dict]) -> dict:
    """Compare each worker's median RSS of the second minute with that of the last minute."""
    def window(low: float, high: float) -> dict[int, float]:
        values: dict[int, list[float]] = {}
        for sample in samples:
            if low <= sample["t"] < high:
                for pid, mb in sample["rss_mb"].items():
                    values.setdefault(pid, []).append(mb)
        return {pid: statistics.median(v) for pid, v in values.items()}

    end = samples[-1]["t"] if samples else 0
    early, late = window(60, 120) or window(0, end / 2), window(end - 60, end + 1)
    workers = []
    for pid in sorted(set(early) & set(late)):
        growth = late[pid] - early[pid]
        workers.append({"pid": pid, "early_mb": round(early[pid], 1), "late_mb": round(late[pid], 1),
                        "growth_mb": round(growth, 1), "flat": growth <= max(20.0, 0.10 * early[pid])})
    return {"workers": workers, "flat": bool(workers) and all(w["flat"] for w in workers)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="soak seconds (300)")
    parser.add_argument("--share", type=float, default=0.8, help="share of the peak offered during the soak (0.8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers during the soak (2)")
    parser.add_argument("--scale-duration", type=float, default=20, help="seconds per worker count (20)")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="qingling-soak-"))
    postgres = PostgresServer(durable=True)
    admin = postgres.start()
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE soak"))
        engine.dispose()
        url = postgres.url("soak")
        env = {"QINGLING_ENV": "production", "QINGLING_SECRET_KEY": secrets.token_hex(16),
               "QINGLING_DATABASE_URL": url, "QINGLING_PHOTO_ROOT": str(tmp / "photos")}
        subprocess.run([sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"], cwd=REPO, check=True,
                       env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from server import create_app

        app = create_app("production", DATABASE_URL=url, PHOTO_ROOT=env["QINGLING_PHOTO_ROOT"],
                         SECRET_KEY=env["QINGLING_SECRET_KEY"], REQUEST_LOG=False)
        usernames, subjects = seed(app, phones=PHONES, subjects=500)

        scaling = {}
        for workers in range(1, args.max_workers + 1):
            with Server(env, workers, tmp / "gunicorn.log") as server:
                scaling[workers] = peak(server.url, usernames, subjects, args.scale_duration)
            print(f"  {workers} worker(s): {scaling[workers]['per_s']}/s, p99 {scaling[workers]['p99_ms']} ms, "
                  f"errors {scaling[workers]['errors'] or 'none'}")
        rate = args.share * scaling[args.workers]["per_s"]
        print(f"soak: {rate:.1f}/s ({args.share:.0%} of the {args.workers}-worker peak) for {args.duration:.0f} s")
        with Server(env, args.workers, tmp / "gunicorn.log") as server:
            result = soak(server, usernames, subjects, rate, args.duration)
    finally:
        postgres.stop()

    passed = {"no_errors": not result["errors"] and all(not s["errors"] for s in scaling.values()),
              "rate_held": result["per_s"] >= 0.95 * result["offered_per_s"],
              "memory_flat": result["memory"]["flat"]}
    print(f"soak: {result['per_s']}/s of {result['offered_per_s']}/s offered, p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, errors {result['errors'] or 'none'}")
    for worker in result["memory"]["workers"]:
        print(f"  worker {worker['pid']}: {worker['early_mb']} MB -> {worker['late_mb']} MB "
              f"({'flat' if worker['flat'] else 'GROWING'})")
    print("PASS" if all(passed.values()) else f"FAIL: {[k for k, v in passed.items() if not v]}")
    summary = {"date": date.today().isoformat(), "machine": machine(), "source": source(),
               "settings": {"phones": PHONES, "share": args.share, "workers": args.workers,
                            "duration_s": args.duration, "scale_duration_s": args.scale_duration,
                            "database": "postgresql, fsync on (production settings)",
                            "worker_recycling": "off"},
               "scaling": scaling, "soak": result, "passed": passed}
    out = args.out or HERE / "results" / f"soak-{date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    print(f"written {out}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
