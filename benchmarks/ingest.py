#!/usr/bin/env python3
"""Ingest benchmark: simulated phones submitting inspections to gunicorn on SQLite.

One run measures, on the same machine and within minutes of each other:

1. ``pipeline``: the raw photo pipeline of ``server.photos.pipeline`` in this
   process, single thread: ``inspect`` + ``render(1600)`` + ``render(320)`` of a
   12-megapixel 3-5 MB JPEG, timed in CPU seconds of the thread. Two workers
   can at best process ``2 / seconds_per_photo`` photos per second on two cores.
2. ``bare``: a bare Flask endpoint (``benchmarks/bare_app.py``) under
   ``gunicorn -w 2`` that parses the same JSON and answers 201.
3. ``json``: the real ``POST /api/v1/inspections`` under ``gunicorn -w 2
   'server:create_app()'`` on a fresh, migrated SQLite database.
4. ``photos``: the same with one declared photo per inspection, followed by
   ``PUT /api/v1/photos/{id}`` of its bytes; latency is that of the pair.
5. ``memory``: several ~25 MB photo uploads at once to a freshly started app
   server, while the resident memory of each gunicorn worker is polled from
   ``/proc/<pid>/status`` (``VmRSS``; ``VmHWM`` is the kernel's own peak).

Targets: json >= 50% of bare; photos >= 70% of ``2 / seconds_per_photo``;
every worker under 200 MB (10^6 bytes) while the 25 MB files upload.

Everything lives in a temporary directory (database, photo store, logs) that
is removed at the end; the servers listen on free ports of 127.0.0.1 only.
A summary is written to ``benchmarks/results/ingest-<date>.json``.

    .venv/bin/python benchmarks/ingest.py              # full run, a few minutes
    .venv/bin/python benchmarks/ingest.py --quick      # 5 s per scenario smoke run
    .venv/bin/python benchmarks/ingest.py --profile    # then profile the app in-process
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import math
import os
import platform
import pstats
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import requests
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WORKERS = 2
CORES = len(os.sched_getaffinity(0))
MB = 1_000_000
TARGETS = {"json_ratio": 0.50, "photo_ratio": 0.70, "worker_peak_mb": 200.0}

# The phones inspect gas users of 兴庆区 (640104) around 解放东街, WGS-84.
DISTRICT = "640104"
CENTRE = (38.4680, 106.2850)
CHINA = timezone(timedelta(hours=8))
PASSWORD = "bench-password-1"
CHECKLIST = {"code": "gas-user", "version": 1}
# Ten items of the gas-user checklist a household visit records.
ITEMS = ["G02", "G03A", "G04A", "G04B", "G05", "G06A", "G07", "G08", "G09", "G13"]
HAZARD_TEXT = {
    "G02": "未安装自闭阀", "G03A": "使用橡胶软管连接灶具", "G04A": "灶具无熄火保护装置",
    "G04B": "燃气热水器安装在浴室内", "G05": "软管穿墙敷设", "G06A": "燃气表周边堆放杂物",
    "G07": "钢瓶超期未检", "G08": "厨房无自然通风", "G09": "私拉乱接燃气管道", "G13": "接口处检漏有气泡",
}


# ---------------------------------------------------------------------------
# The machine


def source() -> dict:
    """Which code was measured: the commit and whether the tree had changes (read-only git)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "modified_files": len(changed.splitlines())}


def machine() -> dict:
    """Describe where the figures come from."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": CORES, "cpu_model": model, "memory_gb": round(mem_kb * 1024 / 1e9, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "pillow": Image.__version__}


# ---------------------------------------------------------------------------
# Photos


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return float(degrees), float(minutes), seconds


def _exif(taken: datetime, lat: float, lon: float) -> Image.Exif:
    """EXIF as a phone writes it: make, model, shooting time with offset, GPS."""
    exif = Image.Exif()
    exif[0x010F] = "BenchPhone"
    exif[0x0110] = "BP-12MP"
    exif[0x0112] = 1
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9011] = taken.strftime("%z")[:3] + ":" + taken.strftime("%z")[3:]
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", _dms(lat), "E", _dms(lon)
    return exif


def _pixels(width: int, height: int, sigma: float, variant: int, noise_share: float) -> Image.Image:
    """Random-ish content: Gaussian noise blended with gradients, so JPEG cannot squeeze it much."""
    noise = Image.merge("RGB", [Image.effect_noise((width, height), sigma) for _ in range(3)])
    if noise_share >= 1.0:
        return noise
    linear = Image.linear_gradient("L").rotate(90 * (variant % 4)).resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    base = Image.merge("RGB", (linear, radial, linear.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return Image.blend(base, noise, noise_share)


def _encode(image: Image.Image, exif: Image.Exif, quality: int, subsampling: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, subsampling=subsampling, exif=exif)
    return out.getvalue()


def make_phone_photo(variant: int, *, low: int = 3 * MB, high: int = 5 * MB) -> bytes:
    """A 4000x3000 JPEG of 3-5 MB with a phone's EXIF; the quality is tuned to land near 4 MB."""
    image = _pixels(4000, 3000, sigma=30, variant=variant, noise_share=0.5)
    lat, lon = CENTRE[0] + 0.0001 * variant, CENTRE[1] + 0.0001 * variant
    exif = _exif(datetime.now(CHINA).replace(microsecond=0), lat, lon)
    best = None
    for quality in (85, 80, 88, 75, 90, 70, 92, 60):
        data = _encode(image, exif, quality, 2)
        if best is None or abs(len(data) - 4 * MB) < abs(len(best) - 4 * MB):
            best = data
        if low <= len(data) <= high:
            return data
    return best


def make_big_photo(cap: int) -> bytes:
    """A valid 12 MP JPEG just under the upload cap (noise at high quality, 4:4:4)."""
    image = _pixels(4000, 3000, sigma=80, variant=0, noise_share=1.0)
    exif = _exif(datetime.now(CHINA).replace(microsecond=0), *CENTRE)
    limit = cap - 64 * 1024  # room for the unique comment segment
    lo, hi, best = 50, 100, None
    while lo <= hi:  # the highest quality that still fits
        quality = (lo + hi) // 2
        data = _encode(image, exif, quality, 0)
        if len(data) <= limit:
            best, lo = data, quality + 1
        else:
            hi = quality - 1
    if best is None:
        raise RuntimeError("could not make a photo under the upload cap")
    return best


def with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a COM segment after its APPn segments: other bytes, other SHA-256, same pixels."""
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(jpeg[pos + 2:pos + 4], "big")
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return jpeg[:pos] + segment + jpeg[pos:]


def measure_pipeline(paths: list[Path], *, rounds: int, max_pixels: int, display_px: int, thumb_px: int) -> dict:
    """Time inspect + render(display) + render(thumbnail) per photo, in this process, one thread."""
    from server.photos import pipeline

    # CPU time of this thread, not wall time: the pipeline is CPU-bound, and CPU time does not
    # grow when other programs share the cores (on an idle machine the two agree within a few %).
    clock = time.thread_time

    def once(path: Path) -> tuple[float, float, float, float]:
        t0 = clock()
        pipeline.inspect(path, max_pixels=max_pixels)
        t1 = clock()
        display = pipeline.render(path, max_side=display_px)
        t2 = clock()
        pipeline.render(path, max_side=thumb_px)
        t3 = clock()
        # What server.photos.service does today: the thumbnail from the display rendition.
        display_path = path.with_name(path.name + ".display.jpg")
        display_path.write_bytes(display)
        t4 = clock()
        pipeline.render(display_path, max_side=thumb_px)
        t5 = clock()
        display_path.unlink()
        return t1 - t0, t2 - t1, t3 - t2, t5 - t4

    once(paths[0])  # warm-up: imports, page cache
    wall0, own0, busy0 = time.perf_counter(), time.process_time(), machine_busy_seconds()
    parts = [once(path) for _ in range(rounds) for path in paths]
    wall, own, busy = time.perf_counter() - wall0, time.process_time() - own0, machine_busy_seconds() - busy0
    totals = [p[0] + p[1] + p[2] for p in parts]
    mean = statistics.fmean(totals)
    as_served = statistics.fmean(p[0] + p[1] + p[3] for p in parts)
    return {"photos": len(totals), "seconds_per_photo": mean, "median_s": statistics.median(totals),
            "inspect_s": statistics.fmean(p[0] for p in parts), "render_display_s": statistics.fmean(p[1] for p in parts),
            "render_thumbnail_s": statistics.fmean(p[2] for p in parts),
            "render_thumbnail_from_display_s": statistics.fmean(p[3] for p in parts),
            "photos_per_s_on_2_cores": WORKERS / mean,
            "seconds_per_photo_as_served": as_served, "photos_per_s_on_2_cores_as_served": WORKERS / as_served,
            "wall_seconds_per_photo": wall / len(parts), "other_cpu_share": max(0.0, busy - own) / wall / CORES}


# ---------------------------------------------------------------------------
# The database


def database_env(tmp: Path) -> dict:
    """Settings of the app under test, as QINGLING_ environment variables."""
    return {"QINGLING_ENV": "production", "QINGLING_SECRET_KEY": secrets.token_hex(16),
            "QINGLING_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "QINGLING_PHOTO_ROOT": str(tmp / "photos")}


def migrate(env: dict, log: Path) -> None:
    with open(log, "ab") as out:
        subprocess.run([sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"], cwd=REPO,
                       env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, check=True)


def make_app(env: dict):
    from server import create_app

    return create_app("production", DATABASE_URL=env["QINGLING_DATABASE_URL"],
                      PHOTO_ROOT=env["QINGLING_PHOTO_ROOT"], SECRET_KEY=env["QINGLING_SECRET_KEY"])


def seed(app, *, phones: int, subjects: int) -> tuple[list[str], list[dict]]:
    """Create one inspector per phone, an enterprise and gas users in their district."""
    from server.accounts import service as account_service
    from server.extensions import db
    from server.registry import credit_code
    from server.registry.models import Enterprise, Subject, SubjectEnterprise

    with app.app_context():
        usernames = []
        for index in range(phones):
            username = f"bench-phone-{index + 1:02d}"
            account_service.create_user(username=username, password=PASSWORD, roles=["inspector"],
                                        districts=[DISTRICT], name=f"巡查员{index + 1}")
            usernames.append(username)
        first17 = "91640104MA0000001"
        enterprise = Enterprise(credit_code=first17 + credit_code.check_char(first17), name="银川压测燃气有限公司",
                                kind="gas_operator")
        db.session.add(enterprise)
        db.session.flush()
        rng = random.Random(7)
        rows = []
        for n in range(subjects):
            lat, lon = CENTRE[0] + rng.uniform(-0.01, 0.01), CENTRE[1] + rng.uniform(-0.01, 0.01)
            subject = Subject(domain="gas", name=f"用户{n + 1}", address=f"兴庆区解放东街{n + 1}号",
                              district_code=DISTRICT, lat=lat, lon=lon, external_ref=f"BENCH-{n + 1:05d}",
                              attributes={})
            subject.enterprise_links = [SubjectEnterprise(enterprise_id=enterprise.id)]
            db.session.add(subject)
            rows.append(subject)
        db.session.commit()
        subject_list = [{"id": str(s.id), "lat": s.lat, "lon": s.lon} for s in rows]
        db.session.remove()
        db.engine.dispose()
    return usernames, subject_list


# ---------------------------------------------------------------------------
# Submissions


def inspection(rng: random.Random, subject: dict, photo: tuple[str, str] | None = None) -> dict:
    """A realistic submission: ten results, one or two of them failed and reported as hazards."""
    started = datetime.now(CHINA).replace(microsecond=0) - timedelta(minutes=rng.randint(15, 40))
    failed = rng.sample(ITEMS, rng.choice((1, 2)))
    results = [{"item": item, "outcome": "fail" if item in failed else rng.choice(("pass", "pass", "pass", "na")),
                "note": "现场检查发现问题" if item in failed else ""} for item in ITEMS]
    hazards = [{"id": str(uuid.uuid4()), "item": item, "description": HAZARD_TEXT[item], "severity": "general",
                "fixed_on_spot": False, "deadline": (started.date() + timedelta(days=15)).isoformat()}
               for item in failed]
    photos = []
    if photo is not None:
        photos.append({"id": photo[0], "sha256": photo[1], "role": "evidence", "hazard_id": hazards[0]["id"]})
    return {
        "id": str(uuid.uuid4()),
        "subject_id": subject["id"],
        "checklist": CHECKLIST,
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=12)).isoformat(),
        "location": {"lat": subject["lat"] + rng.uniform(-1e-4, 1e-4), "lon": subject["lon"] + rng.uniform(-1e-4, 1e-4),
                     "accuracy_m": round(rng.uniform(4, 15), 1), "crs": "wgs84"},
        "results": results,
        "hazards": hazards,
        "photos": photos,
        "note": "入户安全检查，已告知用户整改要求",
    }


@dataclass
class Outcome:
    ok: bool
    status: str
    detail: str = ""
    parts: tuple[float, ...] = ()


def post_json(session: requests.Session, base: str, payload: dict) -> Outcome:
    response = session.post(f"{base}/inspections", json=payload)
    if response.status_code != 201:
        return Outcome(False, str(response.status_code), response.text[:300])
    return Outcome(True, "201")


def post_with_photo(session: requests.Session, base: str, payload: dict, photo: bytes, sha: str) -> Outcome:
    t0 = time.perf_counter()
    response = session.post(f"{base}/inspections", json=payload)
    t1 = time.perf_counter()
    if response.status_code != 201:
        return Outcome(False, f"POST {response.status_code}", response.text[:300])
    photo_id = payload["photos"][0]["id"]
    response = session.put(f"{base}/photos/{photo_id}", data=photo,
                           headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha})
    t2 = time.perf_counter()
    if response.status_code != 201:
        return Outcome(False, f"PUT {response.status_code}", response.text[:300])
    return Outcome(True, "201", parts=(t1 - t0, t2 - t1))


# ---------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the gunicorn workers of a master)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return sorted(int(p) for p in text.split())
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return sorted(found)


def machine_busy_seconds() -> float:
    """CPU time all processors spent busy so far (from /proc/stat), in seconds."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def wait_idle(max_wait: float, *, threshold: float = 0.10, sample: float = 2.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine's cores are less than ``threshold`` busy over
    ``sample`` seconds, so that other programs do not share the cores being measured. Returns the last
    busy share seen; the caller records it."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0 = machine_busy_seconds()
        time.sleep(sample)
        share = (machine_busy_seconds() - busy0) / sample / CORES
        if share < threshold or time.monotonic() >= deadline:
            if share >= threshold:
                print(f"  warning: the machine is {share:.0%} busy with other work; measuring anyway")
            return share
        print(f"  the machine is {share:.0%} busy with other work; waiting")
        time.sleep(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict:
    """VmRSS and VmHWM of a process, in kB."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, number = line.split()[:2]
                values[key[:-1]] = int(number)
    except OSError:
        pass
    return values


class Gunicorn:
    """A ``gunicorn -w 2`` on a free loopback port, started and stopped by the benchmark."""

    def __init__(self, name: str, app_spec: str, *, env: dict, log: Path, pythonpath: Path | None = None,
                 ready_path: str):
        self.name, self.app_spec, self.env, self.log = name, app_spec, env, log
        self.pythonpath, self.ready_path = pythonpath, ready_path
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.workers: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        for _attempt in range(3):  # another program may take the free port first
            self.port = free_port()
            command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}"]
            if self.pythonpath is not None:
                command += ["--pythonpath", str(self.pythonpath)]
            command.append(self.app_spec)
            with open(self.log, "ab") as out:
                self.process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **self.env}, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_ready(timeout):
                return
            self.stop()
        raise RuntimeError(f"{self.name}: gunicorn did not start; see {self.log}:\n{tail(self.log)}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                requests.get(self.url + self.ready_path, timeout=2)  # any HTTP answer means listening
            except requests.RequestException:
                time.sleep(0.1)
                continue
            self.workers = children(self.process.pid)
            if len(self.workers) == WORKERS:
                # Let the second worker finish importing the app before load starts.
                for _ in range(2 * WORKERS):
                    requests.get(self.url + self.ready_path, timeout=10)
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class MemoryPoller:
    """Poll VmRSS of some processes in the background and keep each one's peak."""

    def __init__(self, pids: list[int], interval: float = 0.02):
        self.pids, self.interval = pids, interval
        self.peak_kb = {pid: 0 for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                rss = memory_kb(pid).get("VmRSS", 0)
                if rss > self.peak_kb[pid]:
                    self.peak_kb[pid] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemoryPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------
# Load


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Window:
    start: float = 0.0
    stop: float = 0.0


@dataclass
class PhoneLog:
    records: list[tuple[float, float, Outcome]] = field(default_factory=list)
    login_error: str | None = None


def run_load(*, name: str, server: Gunicorn, base: str, phones: int, duration: float, warmup: float,
             usernames: list[str] | None, step: Callable[[requests.Session, random.Random], Outcome]) -> dict:
    """Let ``phones`` threads repeat ``step`` until the window closes; measure what completes in it.

    Each phone logs in once (when ``usernames`` is given), then all start
    together. Requests that complete during the first ``warmup`` seconds are
    not counted; throughput is the number of successful steps completed in
    the next ``duration`` seconds divided by ``duration``.
    """
    window = Window()
    logs = [PhoneLog() for _ in range(phones)]

    def open_window():
        now = time.perf_counter()
        window.start, window.stop = now + warmup, now + warmup + duration

    barrier = threading.Barrier(phones + 1, action=open_window)

    def phone(index: int) -> None:
        session = requests.Session()
        session.headers["User-Agent"] = f"qingling-bench-phone/{index}"
        if usernames is not None:
            try:
                response = session.post(f"{base}/auth/token", json={
                    "username": usernames[index], "password": PASSWORD, "device_id": f"bench-{index}"})
                response.raise_for_status()
                session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            except Exception as exc:  # reported below; the phone still joins the barrier
                logs[index].login_error = repr(exc)
        else:
            session.headers["Authorization"] = "Bearer bare-endpoint-needs-no-token"
        rng = random.Random(f"{name}-{index}")
        barrier.wait()
        if logs[index].login_error:
            return
        while time.perf_counter() < window.stop:
            t0 = time.perf_counter()
            try:
                outcome = step(session, rng)
            except requests.RequestException as exc:
                outcome = Outcome(False, type(exc).__name__, str(exc)[:300])
            logs[index].records.append((t0, time.perf_counter(), outcome))

    threads = [threading.Thread(target=phone, args=(i,), name=f"phone-{i}") for i in range(phones)]
    for thread in threads:
        thread.start()
    poller = MemoryPoller(server.workers, interval=0.05)
    with poller:
        barrier.wait()
        time.sleep(max(0.0, window.start - time.perf_counter()))
        cpu0, client0, busy0 = server.cpu(), time.process_time(), machine_busy_seconds()
        time.sleep(max(0.0, window.stop - time.perf_counter()))
        cpu1, client1, busy1 = server.cpu(), time.process_time(), machine_busy_seconds()
        for thread in threads:
            thread.join()

    login_errors = [log.login_error for log in logs if log.login_error]
    if login_errors:
        raise RuntimeError(f"{name}: login failed: {login_errors[0]}")
    done = [(t0, t1, o) for log in logs for (t0, t1, o) in log.records if window.start <= t1 <= window.stop]
    good = sorted(t1 - t0 for (t0, t1, o) in done if o.ok)
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    for (_t0, _t1, outcome) in done:
        if not outcome.ok:
            errors[outcome.status] = errors.get(outcome.status, 0) + 1
            samples.setdefault(outcome.status, outcome.detail)
    result = {
        "phones": phones, "duration_s": duration, "completed": len(good), "rps": len(good) / duration,
        "latency_ms": {"p50": percentile(good, 50) * 1000, "p90": percentile(good, 90) * 1000,
                       "p99": percentile(good, 99) * 1000, "max": (good[-1] * 1000) if good else float("nan"),
                       "mean": statistics.fmean(good) * 1000 if good else float("nan")},
        "errors": errors,
        "worker_cpu_ms_per_request": (cpu1 - cpu0) * 1000 / len(good) if good else None,
        # Shares of all the machine's cores: the workers, this load generator, everything else.
        "worker_cpu_share": (cpu1 - cpu0) / duration / CORES,
        "client_cpu_share": (client1 - client0) / duration / CORES,
        # Everything else that ran meanwhile (other programs, the kernel): should be near 0.
        "other_cpu_share": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - (client1 - client0)) / duration / CORES,
        "worker_peak_rss_mb": round(max(poller.peak_kb.values(), default=0) * 1024 / MB, 1),
    }
    parts = [o.parts for (_t0, _t1, o) in done if o.ok and o.parts]
    if parts:
        posts, puts = sorted(p[0] for p in parts), sorted(p[1] for p in parts)
        result["post_ms"] = {"p50": percentile(posts, 50) * 1000, "p99": percentile(posts, 99) * 1000}
        result["put_ms"] = {"p50": percentile(puts, 50) * 1000, "p99": percentile(puts, 99) * 1000}
    if samples:
        result["error_samples"] = samples
    return result


def preflight(base: str, username: str, subject: dict) -> None:
    """One login and one submission must work before any load is sent."""
    session = requests.Session()
    response = session.post(f"{base}/auth/token", json={"username": username, "password": PASSWORD})
    if response.status_code != 201:
        raise RuntimeError(f"preflight: login answered {response.status_code}: {response.text[:500]}")
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    outcome = post_json(session, base, inspection(random.Random("preflight"), subject))
    if not outcome.ok:
        raise RuntimeError(f"preflight: a valid submission answered {outcome.status}: {outcome.detail}")


def run_memory(*, server: Gunicorn, base: str, username: str, subjects: list[dict], big: bytes, uploads: int) -> dict:
    """Send ``uploads`` photos of ~25 MB at once and record each worker's resident memory."""
    session = requests.Session()
    response = session.post(f"{base}/auth/token", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    token = response.json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    rng = random.Random("memory")
    jobs = []
    for n in range(uploads):
        data = with_comment(big, f"qingling-bench big {n} {uuid.uuid4()}".encode())
        sha = hashlib.sha256(data).hexdigest()
        payload = inspection(rng, subjects[n % len(subjects)], photo=(str(uuid.uuid4()), sha))
        answer = session.post(f"{base}/inspections", json=payload)
        if answer.status_code != 201:
            raise RuntimeError(f"memory: submission refused: {answer.status_code} {answer.text[:300]}")
        jobs.append((payload["photos"][0]["id"], data, sha))
    before = {pid: memory_kb(pid) for pid in server.workers}
    statuses: list[str] = []
    seconds: list[float] = []
    lock = threading.Lock()

    def upload(photo_id: str, data: bytes, sha: str) -> None:
        t0 = time.perf_counter()
        try:
            r = requests.put(f"{base}/photos/{photo_id}", data=data, timeout=300, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg", "X-Content-SHA256": sha})
            status = str(r.status_code) if r.status_code == 201 else f"{r.status_code} {r.text[:200]}"
        except requests.RequestException as exc:
            status = type(exc).__name__
        with lock:
            statuses.append(status)
            seconds.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=upload, args=job) for job in jobs]
    with MemoryPoller(server.workers, interval=0.01) as poller:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    after = {pid: memory_kb(pid) for pid in server.workers}
    workers = []
    for pid in server.workers:
        workers.append({"pid": pid, "rss_before_mb": round(before[pid].get("VmRSS", 0) * 1024 / MB, 1),
                        "rss_peak_polled_mb": round(poller.peak_kb[pid] * 1024 / MB, 1),
                        "vmhwm_mb": round(after[pid].get("VmHWM", 0) * 1024 / MB, 1)})
    return {"uploads": uploads, "photo_bytes": len(big), "statuses": sorted(statuses),
            "upload_s_max": max(seconds), "workers": workers,
            "peak_mb": max(max(w["rss_peak_polled_mb"], w["vmhwm_mb"]) for w in workers)}


# ---------------------------------------------------------------------------
# Profile (in-process, through the test client)

AREAS = [  # (area, substrings of "filename:function" of a pstats entry); the first match wins
    ("SQLite (C: execute, commit)", ("sqlite3.",)),
    ("fsync", ("posix.fsync",)),
    ("Pillow C: JPEG decode", ("ImagingDecoder",)),
    ("Pillow C: resize", ("'resize' of 'ImagingCore'",)),
    ("Pillow C: JPEG encode", ("ImagingEncoder",)),
    ("Pillow C: other", ("ImagingCore", "PIL._imaging")),
    ("SHA-256", ("_hashlib",)),
    ("file I/O", ("_io.", "posix.", "builtins.open", "io.open")),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("marshmallow, flask-smorest", ("/marshmallow/", "/flask_smorest/", "/apispec/", "/webargs/")),
    ("Flask, Werkzeug", ("/flask/", "/werkzeug/", "/flask_sqlalchemy/")),
    ("Pillow (Python)", ("/PIL/", "/pillow_heif/")),
    ("application code", ("/server/", "/field_app_api/", "/config/")),
    ("json", ("/json/", "_json")),
]
STDLIB = "Python stdlib (uuid, datetime, enum...)"


def _area(key: tuple) -> str | None:
    text = f"{key[0]}:{key[2]}"
    return next((area for area, needles in AREAS if any(n in text for n in needles)), None)


def areas(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) of every function summed by area; generic built-ins (isinstance, dict.get...)
    count for the area of their caller."""
    totals: dict[str, float] = {}
    for key, (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        area = _area(key)
        if area is None and key[0] == "~" and callers:
            shares = {}
            for caller, info in callers.items():
                caller_area = _area(caller) or STDLIB
                shares[caller_area] = shares.get(caller_area, 0.0) + info[2]
            whole = sum(shares.values())
            for caller_area, share in shares.items():
                totals[caller_area] = totals.get(caller_area, 0.0) + (tottime * share / whole if whole else 0.0)
            if not whole:
                totals[STDLIB] = totals.get(STDLIB, 0.0) + tottime
            continue
        area = area or STDLIB
        totals[area] = totals.get(area, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def profile(app, usernames: list[str], subjects: list[dict], photos: list[bytes], *, json_count: int,
            photo_count: int) -> dict:
    """cProfile of submissions through app.test_client (no HTTP server): where one worker's time goes.

    Also counts the SQL statements each submission sends. cProfile slows
    Python code down more than C code, so shares of Python libraries are
    overstated; the wall time per submission without the profiler is printed
    beside.
    """
    from sqlalchemy import event

    from server.extensions import db

    client = app.test_client()
    answer = client.post("/api/v1/auth/token", json={"username": usernames[0], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    rng = random.Random("profile")
    report = {}
    statements: dict[str, int] = {}

    def count(_conn, _cursor, statement, *_args):
        words = statement.split()
        verb = words[0].upper()
        if verb == "BEGIN" and len(words) > 1 and words[1].upper() == "IMMEDIATE":
            held["since"] = time.perf_counter()  # the write lock is taken here, until COMMIT or ROLLBACK
            verb = "BEGIN IMMEDIATE"
        table = ""
        for marker in ("FROM", "INTO", "UPDATE"):
            if marker in (w.upper() for w in words):
                index = [w.upper() for w in words].index(marker)
                table = words[index + 1] if marker != "UPDATE" else words[1]
                break
        name = f"{verb} {table}".strip()
        statements[name] = statements.get(name, 0) + 1

    def submit_all(work) -> None:
        for payload, data, sha in work:
            r = client.post("/api/v1/inspections", json=payload, headers=headers)
            assert r.status_code == 201, r.get_json()
            if data is not None:
                r = client.put(f"/api/v1/photos/{payload['photos'][0]['id']}", data=data,
                               headers={**headers, "Content-Type": "image/jpeg", "X-Content-SHA256": sha})
                assert r.status_code == 201, r.get_json()

    def make_work(kind: str, count_: int):
        work = []
        for n in range(count_):
            subject = subjects[rng.randrange(len(subjects))]
            if kind == "json":
                work.append((inspection(rng, subject), None, None))
            else:
                data = with_comment(photos[n % len(photos)], f"qingling-bench profile {uuid.uuid4()}".encode())
                sha = hashlib.sha256(data).hexdigest()
                work.append((inspection(rng, subject, photo=(str(uuid.uuid4()), sha)), data, sha))
        return work

    held = {"since": None, "seconds": 0.0}

    def end(_conn):
        if held["since"] is not None:
            held["seconds"] += time.perf_counter() - held["since"]
            held["since"] = None

    with app.app_context():
        engine = db.engine
    for kind, count_ in (("json", json_count), ("photos", photo_count)):
        if count_ == 0:
            continue
        plain = make_work(kind, count_)
        t0 = time.perf_counter()
        submit_all(plain)  # without the profiler: the honest time per submission
        plain_ms = (time.perf_counter() - t0) / count_ * 1000
        # SQL statements, and how long the database's one write lock is held: from BEGIN IMMEDIATE
        # (server/database.py begins a writing request's transactions so, except the plain reads
        # inside database.reading()) to COMMIT or ROLLBACK.
        sample = min(count_, 20)
        statements.clear()
        held["seconds"] = 0.0
        listeners = [("before_cursor_execute", count), ("commit", end), ("rollback", end)]
        for name, fn in listeners:
            event.listen(engine, name, fn)
        t0 = time.perf_counter()
        submit_all(make_work(kind, sample))
        sample_wall = time.perf_counter() - t0
        for name, fn in listeners:
            event.remove(engine, name, fn)
        lock_ms = held["seconds"] / sample * 1000
        work = make_work(kind, count_)
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        submit_all(work)
        profiler.disable()
        wall = time.perf_counter() - t0
        stats = pstats.Stats(profiler)
        total = sum(v[2] for v in stats.stats.values())
        by_area = areas(stats)
        print(f"\n=== profile: {count_} {kind} submissions in-process (test client, no HTTP server) ===")
        print(f"  {plain_ms:.1f} ms each without the profiler, {wall / count_ * 1000:.1f} ms with it")
        for area, seconds in by_area:
            print(f"  {area:<42} {seconds / total:6.1%}")
        per = {k: v / sample for k, v in sorted(statements.items(), key=lambda kv: -kv[1])}
        print(f"  SQL statements per submission: {sum(per.values()):.1f} = "
              + ", ".join(f"{v:g} {k}" for k, v in per.items()))
        print(f"  SQLite write lock held (BEGIN IMMEDIATE to COMMIT) {lock_ms:.1f} ms per submission, "
              f"{lock_ms / (sample_wall / sample * 1000):.0%} of its time")
        by_step = steps(stats, total)
        print("  steps (cumulative, share of the profiled time): "
              + ", ".join(f"{name} {share:.0%}" for name, share in by_step.items()))
        print("  top functions by own time:")
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(12)
        lines = stream.getvalue().splitlines()
        header = next((n for n, line in enumerate(lines) if "ncalls" in line), None)
        for line in lines[header:] if header is not None else []:
            if line.strip():
                print("    " + line.replace(str(REPO) + "/", "").replace(sys.prefix + "/", ""))
        report[kind] = {"ms_per_submission": round(plain_ms, 2), "write_lock_ms_per_submission": round(lock_ms, 2),
                        "share_by_area": {a: round(sec / total, 3) for a, sec in by_area},
                        "sql_statements_per_submission": {k: round(v, 2) for k, v in per.items()},
                        "share_by_step": {k: round(v, 3) for k, v in by_step.items()}}
    return report


STEPS = [  # (step, end of the file name, function): cumulative time, so a step includes what it calls
    ("authentication", "server/accounts/service.py", "authenticate"),
    ("request body (webargs, marshmallow)", "webargs/core.py", "parse"),
    ("checks and lookups (prepare)", "server/inspections/service.py", "prepare"),
    ("writes (store)", "server/inspections/service.py", "store"),
    ("of which credit proposals", "server/credit/service.py", "insert_proposals"),
    ("photo bytes (receive)", "server/photos/service.py", "receive"),
    ("commits", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
]


def steps(stats: pstats.Stats, total: float) -> dict[str, float]:
    """Share of the profiled time spent in each step of STEPS (steps that did not run are left out)."""
    found = {}
    for name, file_end, function in STEPS:
        seconds = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(file_end) and k[2] == function)
        if seconds:
            found[name] = seconds / total
    return found


# ---------------------------------------------------------------------------
# Report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(results: dict) -> None:
    rows = [("scenario", "sub/s", "p50 ms", "p99 ms", "errors", "worker CPU ms/req",
             f"CPU of {CORES} cores: workers/client/other")]
    for key, label in (("bare", "bare Flask endpoint (JSON)"), ("json", "app, JSON only"),
                       ("photos", "app, JSON + 1 photo (pair)")):
        s = results["scenarios"].get(key)
        if not s:
            continue
        cpu = s["worker_cpu_ms_per_request"]
        rows.append((label, f"{s['rps']:.1f}", f"{s['latency_ms']['p50']:.1f}", f"{s['latency_ms']['p99']:.1f}",
                     str(sum(s["errors"].values())), f"{cpu:.1f}" if cpu is not None else "-",
                     f"{s['worker_cpu_share']:.0%} / {s['client_cpu_share']:.0%} / {s['other_cpu_share']:.0%}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for key, s in results["scenarios"].items():
        for status, detail in s.get("error_samples", {}).items():
            print(f"  {key}: {s['errors'][status]} x {status}: {detail[:200]}")
    p = results.get("pipeline")
    if p:
        print(f"\nphoto pipeline, in-process, 1 thread: {p['seconds_per_photo'] * 1000:.0f} ms CPU/photo "
              f"({p['wall_seconds_per_photo'] * 1000:.0f} ms wall, other programs {p['other_cpu_share']:.0%} busy): "
              f"inspect {p['inspect_s'] * 1000:.0f}, display {p['render_display_s'] * 1000:.0f}, "
              f"thumbnail {p['render_thumbnail_s'] * 1000:.0f} -> {p['photos_per_s_on_2_cores']:.2f} photos/s on 2 cores")
        print(f"  as the service does it (thumbnail from the display rendition, "
              f"{p['render_thumbnail_from_display_s'] * 1000:.0f} ms): {p['seconds_per_photo_as_served'] * 1000:.0f} ms/photo "
              f"-> {p['photos_per_s_on_2_cores_as_served']:.2f} photos/s on 2 cores")
    if "photos" in results["scenarios"]:
        s = results["scenarios"]["photos"]
        print(f"photo pair split: POST p50 {s['post_ms']['p50']:.0f} ms, PUT p50 {s['put_ms']['p50']:.0f} ms "
              f"(p99 {s['post_ms']['p99']:.0f} / {s['put_ms']['p99']:.0f})")
    m = results.get("memory")
    if m:
        print(f"\n{m['uploads']} concurrent uploads of {m['photo_bytes'] / MB:.1f} MB ({m['statuses'].count('201')} stored):")
        for w in m["workers"]:
            print(f"  worker {w['pid']}: RSS before {w['rss_before_mb']} MB, peak polled {w['rss_peak_polled_mb']} MB, "
                  f"VmHWM {w['vmhwm_mb']} MB")
    print("\ntargets:")
    for name, line in results["verdicts"].items():
        print(f"  {verdict(line['pass'])}  {name}: {line['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per scenario (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)")
    parser.add_argument("--phones", type=int, default=8, help="concurrent simulated phones (default 8)")
    parser.add_argument("--skip-photos", action="store_true", help="JSON scenarios only (no photos, no memory test)")
    parser.add_argument("--quick", action="store_true", help="5 s smoke run per scenario")
    parser.add_argument("--big-uploads", type=int, default=6, help="concurrent ~25 MB uploads (default 6)")
    parser.add_argument("--profile", action="store_true", help="afterwards, cProfile submissions in-process")
    parser.add_argument("--wait-idle", type=float, default=120.0, metavar="SECONDS",
                        help="before each measurement wait up to this long for other programs to leave "
                             "the CPUs idle (default 120; 0: do not wait)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument("--out", type=Path, help="result file (default benchmarks/results/ingest-<date>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.big_uploads = 5.0, 1.0, min(args.big_uploads, 4)
        args.wait_idle = min(args.wait_idle, 10.0)
    if args.phones < 1 or args.duration <= 0:
        parser.error("--phones and --duration must be positive")

    tmp = Path(tempfile.mkdtemp(prefix="qingling-bench-"))
    logs = tmp / "logs"
    logs.mkdir()
    env = database_env(tmp)
    servers: list[Gunicorn] = []
    results: dict = {"date": date.today().isoformat(), "source": source(), "machine": machine(),
                     "settings": {"workers": WORKERS, "phones": args.phones, "duration_s": args.duration,
                                  "warmup_s": args.warmup, "database": "sqlite (WAL, synchronous=FULL)",
                                  "quick": args.quick},
                     "targets": TARGETS, "scenarios": {}, "background_cpu_before": {}}
    print(f"machine: {results['machine']['nproc']} CPUs ({results['machine']['cpu_model']}), "
          f"{results['machine']['memory_gb']} GB; work dir {tmp}")
    try:
        print("setup: migrating a fresh SQLite database and seeding users and subjects")
        migrate(env, logs / "migrate.log")
        app = make_app(env)
        usernames, subjects = seed(app, phones=max(args.phones, 1), subjects=200)

        photos: list[bytes] = []
        if not args.skip_photos:
            print("setup: generating 12 MP test photos")
            photos = [make_phone_photo(n) for n in range(4)]
            sizes = [len(p) / MB for p in photos]
            results["photo_mb"] = [round(s, 2) for s in sizes]
            print(f"  {len(photos)} photos 4000x3000, {min(sizes):.2f}-{max(sizes):.2f} MB")
            folder = tmp / "pipeline"
            folder.mkdir()
            paths = []
            for n, data in enumerate(photos):
                paths.append(folder / f"photo{n}.jpg")
                paths[-1].write_bytes(data)
            results["background_cpu_before"]["pipeline"] = round(wait_idle(args.wait_idle), 3)
            print("measure: raw photo pipeline (in-process, one thread)")
            results["pipeline"] = measure_pipeline(
                paths, rounds=1 if args.quick else 3, max_pixels=int(app.config["PHOTO_MAX_PIXELS"]),
                display_px=int(app.config["PHOTO_DISPLAY_PX"]), thumb_px=int(app.config["PHOTO_THUMBNAIL_PX"]))
            print(f"  {results['pipeline']['seconds_per_photo'] * 1000:.0f} ms per photo")

        bare = Gunicorn("bare", "bare_app:create_app()", env={}, log=logs / "bare.log", pythonpath=HERE,
                        ready_path="/ready")
        servers.append(bare)
        bare.start()

        def json_step(base: str):
            def step(session, rng):
                return post_json(session, base, inspection(rng, subjects[rng.randrange(len(subjects))]))
            return step

        results["background_cpu_before"]["bare"] = round(wait_idle(args.wait_idle), 3)
        print(f"load: bare endpoint, {args.phones} phones, {args.duration:g} s")
        results["scenarios"]["bare"] = run_load(name="bare", server=bare, base=bare.url + "/api/v1",
                                                phones=args.phones, duration=args.duration, warmup=args.warmup,
                                                usernames=None, step=json_step(bare.url + "/api/v1"))
        bare.stop()

        server = Gunicorn("app", "server:create_app()", env=env, log=logs / "app.log", ready_path="/api/v1/me")
        servers.append(server)
        server.start()
        base = server.url + "/api/v1"
        preflight(base, usernames[0], subjects[0])
        results["background_cpu_before"]["json"] = round(wait_idle(args.wait_idle), 3)
        print(f"load: app, JSON only, {args.phones} phones, {args.duration:g} s")
        results["scenarios"]["json"] = run_load(name="json", server=server, base=base, phones=args.phones,
                                                duration=args.duration, warmup=args.warmup, usernames=usernames,
                                                step=json_step(base))

        if photos:
            def photo_step(session, rng):
                # Every upload gets its own bytes (and SHA-256), as real photos do; made before the clock starts.
                data = with_comment(photos[rng.randrange(len(photos))], f"qingling-bench {uuid.uuid4()}".encode())
                sha = hashlib.sha256(data).hexdigest()
                payload = inspection(rng, subjects[rng.randrange(len(subjects))], photo=(str(uuid.uuid4()), sha))
                return post_with_photo(session, base, payload, data, sha)

            results["background_cpu_before"]["photos"] = round(wait_idle(args.wait_idle), 3)
            print(f"load: app, JSON + one 12 MP photo, {args.phones} phones, {args.duration:g} s")
            results["scenarios"]["photos"] = run_load(name="photos", server=server, base=base, phones=args.phones,
                                                      duration=args.duration, warmup=args.warmup,
                                                      usernames=usernames, step=photo_step)
        server.stop()

        if photos:
            cap = int(app.config["PHOTO_MAX_BYTES"])
            print(f"setup: generating a ~25 MB photo (cap {cap} bytes)")
            big = make_big_photo(cap)
            fresh = Gunicorn("app-memory", "server:create_app()", env=env, log=logs / "app-memory.log",
                             ready_path="/api/v1/me")
            servers.append(fresh)
            fresh.start()
            results["background_cpu_before"]["memory"] = round(wait_idle(args.wait_idle), 3)
            print(f"load: {args.big_uploads} concurrent uploads of {len(big) / MB:.1f} MB to a fresh app server")
            results["memory"] = run_memory(server=fresh, base=fresh.url + "/api/v1", username=usernames[0],
                                           subjects=subjects, big=big, uploads=args.big_uploads)
            fresh.stop()

        # Ratios within this run, against the targets.
        verdicts = {}
        sc = results["scenarios"]
        json_ratio = sc["json"]["rps"] / sc["bare"]["rps"] if sc["bare"]["rps"] else 0.0
        verdicts["json"] = {"ratio": json_ratio, "pass": json_ratio >= TARGETS["json_ratio"],
                            "text": f"app {sc['json']['rps']:.1f}/s vs bare {sc['bare']['rps']:.1f}/s = "
                                    f"{json_ratio:.0%} (target >= {TARGETS['json_ratio']:.0%})"}
        if "photos" in sc:
            ceiling = results["pipeline"]["photos_per_s_on_2_cores"]
            photo_ratio = sc["photos"]["rps"] / ceiling
            served = sc["photos"]["rps"] / results["pipeline"]["photos_per_s_on_2_cores_as_served"]
            verdicts["photos"] = {"ratio": photo_ratio, "ratio_as_served": served,
                                  "pass": photo_ratio >= TARGETS["photo_ratio"],
                                  "text": f"app {sc['photos']['rps']:.2f}/s vs pipeline ceiling {ceiling:.2f}/s = "
                                          f"{photo_ratio:.0%} (target >= {TARGETS['photo_ratio']:.0%}; "
                                          f"{served:.0%} of the ceiling with the service's thumbnail recipe)"}
        if "memory" in results:
            m = results["memory"]
            stored = m["statuses"].count("201")
            ok = m["peak_mb"] < TARGETS["worker_peak_mb"] and stored == m["uploads"]
            verdicts["memory"] = {"pass": ok, "text": f"peak worker memory {m['peak_mb']:.1f} MB during "
                                  f"{m['uploads']} concurrent {m['photo_bytes'] / MB:.1f} MB uploads, {stored} stored "
                                  f"(target < {TARGETS['worker_peak_mb']:.0f} MB)"}
        errors = sum(sum(s["errors"].values()) for s in sc.values())
        verdicts["errors"] = {"pass": errors == 0, "text": f"{errors} failed requests in the measured windows"}
        results["verdicts"] = verdicts
        results["json_ratio"] = round(json_ratio, 3)
        if "photos" in verdicts:
            results["photo_ratio"] = round(verdicts["photos"]["ratio"], 3)

        if args.profile:
            results["background_cpu_before"]["profile"] = round(wait_idle(args.wait_idle), 3)
            results["profile"] = profile(app, usernames, subjects, photos, json_count=50 if args.quick else 300,
                                         photo_count=0 if not photos else (3 if args.quick else 12))
        print_table(results)
        out = args.out or HERE / "results" / f"ingest-{results['date']}{'-quick' if args.quick else ''}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_rounded(results), indent=1, ensure_ascii=False) + "\n")
        print(f"\nwritten: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
        return 0 if all(v["pass"] for v in verdicts.values()) else 1
    except BaseException:
        for server in servers:
            if server.log.exists():
                print(f"--- last lines of {server.log.name} ---\n{tail(server.log)}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _rounded(value):
    """Round floats for a small, readable result file."""
    if isinstance(value, float):
        return round(value, 4) if abs(value) < 10 else round(value, 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
