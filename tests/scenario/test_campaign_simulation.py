"""Hazards to zero (issue 3): a whole campaign played over simulated weeks, the clock held by the test.

The bureau runs a gas campaign (燃气安全专项整治) in 兴庆区 and 金凤区 from 1 June to
5 July 2026: three weeks of inspection (集中排查), then two of re-inspection
(回头看). Ten gas users are on the register; 李 inspects 兴庆区, 赵 金凤区, and
王, the city's gas leader (包抓 on 银川市), answers for both districts.

Everything happens as people would do it: the office runs the command line
(campaign, duty, sampling), the phones use the API through the test client
(sign in, sync assignments by cursor, submit visits with hazards and photos,
rectify, review), and the scheduler's jobs run at the times they fire
(``run_job`` with the job's slot), the clock moved by ``set_now``.

The test keeps its own ledger of what it did (which hazards it reported, when
it closed them, their deadlines, who was let in) and checks every morning's
sweep, daily digest and Monday dispatch against it; at the key steps it also
states the figures in so many words. At the end nothing is open, coverage is
100%, and the as-of figures of every morning are still what was open then.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpers import login, make_enterprise, make_jpeg, make_subject, make_user, offset_m, sha256
from server.database import set_now
from server.extensions import db
from server.hazards.models import HazardEvent, Supervision
from server.inspections import coverage as coverage_service
from server.inspections import reinspection
from server.notifications import service as notification_service
from server.notifications.models import Outbox
from server.reports import zero
from server.scheduler import jobs
from server.scheduler.models import JobRun

SHANGHAI = ZoneInfo("Asia/Shanghai")
XINGQING, JINFENG, CITY = "640104", "640106", "640100"
DISTRICT_NAMES = {XINGQING: "兴庆区", JINFENG: "金凤区"}
# Where the two districts' gas users live (WGS-84).
PLACES = {XINGQING: (38.4680, 106.2850), JINFENG: (38.4872, 106.2260)}
NAMESPACE = uuid.UUID("6f1c2a52-3b1e-4c55-9a52-0c1d3e5f7a01")
FIGURES = ("new", "closed", "open", "overdue", "overdue_major", "total", "closed_total", "closure_rate")


def uid(name: str) -> str:
    """A fixed UUID per name, so that a run is the same every time (the re-inspection draw depends on ids)."""
    return str(uuid.uuid5(NAMESPACE, name))


def local(text: str) -> datetime:
    """Return the aware instant of a local (Asia/Shanghai) time such as '2026-06-01 09:30'."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# --- the test's own ledger ----------------------------------------------------------------------

@dataclass
class Tracked:
    """What the test knows of one hazard it reported."""

    name: str
    district: str
    severity: str
    deadline: date
    created: date
    closed: date | None = None
    escalated: bool = False


class Ledger:
    """The expected state, written down as the story goes: hazards, and who was let in."""

    def __init__(self, register: dict[str, str]):
        self.register = register  # subject name -> district
        self.hazards: dict[str, Tracked] = {}
        self.inspected: set[str] = set()
        self.visited: set[str] = set()

    def report(self, name: str, *, district: str, severity: str, deadline: date, day: date, closed: bool = False):
        self.hazards[name] = Tracked(name, district, severity, deadline, day, day if closed else None)

    def close(self, name: str, day: date):
        self.hazards[name].closed = day

    def reopen(self, name: str):
        self.hazards[name].closed = None

    def visit(self, subject: str, *, let_in: bool):
        self.visited.add(subject)
        if let_in:
            self.inspected.add(subject)

    def open_count(self) -> int:
        return sum(h.closed is None for h in self.hazards.values())

    def newly_overdue(self, today: date) -> list[Tracked]:
        """Open hazards past their deadline that were never escalated (a hazard is escalated once in its life)."""
        return sorted((h for h in self.hazards.values()
                       if h.closed is None and h.deadline < today and not h.escalated), key=lambda h: h.name)

    def figures(self, *, first: date, last: date, today: date, district: str | None = None) -> dict:
        """The digest's numbers as the docs define them, counted from what the test did."""
        rows = [h for h in self.hazards.values() if district in (None, h.district)]
        open_ = [h for h in rows if h.closed is None]
        late = [h for h in open_ if h.deadline < today]
        total, closed_total = len(rows), len(rows) - len(open_)
        return {"new": sum(first <= h.created <= last for h in rows),
                "closed": sum(h.closed is not None and first <= h.closed <= last for h in rows),
                "open": len(open_), "overdue": len(late),
                "overdue_major": sum(h.severity == "major" for h in late),
                "total": total, "closed_total": closed_total,
                "closure_rate": round(closed_total / total, 4) if total else None}

    def coverage(self) -> dict:
        registered = len(self.register)
        inspected = len(self.inspected)
        no_access = len(self.visited - self.inspected)
        return {"registered": registered, "inspected": inspected, "no_access": no_access,
                "never_inspected": registered - inspected - no_access,
                "coverage": round(inspected / registered, 4)}


def expected_ranks(rows: dict[str, dict]) -> dict[str, int]:
    """Rank as the docs say: fewer open first, then the higher closure rate; equal keys share a rank."""
    def ahead(a: dict, b: dict) -> bool:
        if a["open"] != b["open"]:
            return a["open"] < b["open"]
        rate = lambda r: -1.0 if r["closure_rate"] is None else r["closure_rate"]  # noqa: E731
        return rate(a) > rate(b)

    return {code: 1 + sum(ahead(other, row) for other in rows.values()) for code, row in rows.items()}


# --- the simulation: clock, office, scheduler ---------------------------------------------------

class Simulation:
    def __init__(self, app, client):
        self.app, self.client = app, client
        self.now: datetime | None = None
        self.snapshots: list[tuple[datetime, int]] = []
        self.mornings: list[date] = []

    # the clock
    def at(self, text: str) -> datetime:
        """Move the clock forward to a local time; every service reads it through utcnow()."""
        when = local(text)
        assert self.now is None or when >= self.now, f"the clock only moves forward ({text})"
        self.now = when
        set_now(when.astimezone(timezone.utc))
        return when

    @property
    def today(self) -> date:
        return self.now.date()

    # the office
    def cli(self, *args: str) -> str:
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def query(self, fn):
        """Run ``fn()`` in an application context of its own (never shared with a request)."""
        with self.app.app_context():
            return fn()

    # the scheduler
    def fire(self, name: str, when: str) -> dict:
        """Run a job as the scheduler would at ``when`` (local): claim its slot, run, record; return its numbers."""
        instant = self.at(when).astimezone(timezone.utc)
        with self.app.app_context():
            slot = jobs.slot(name, instant)
            assert jobs.run_job(name, now=instant, slot=slot) is True, f"{name} {slot} already claimed"
            # A second scheduler process firing the same slot does nothing.
            assert jobs.run_job(name, now=instant, slot=slot) is False
            raw = db.session.scalar(select(JobRun.result).where(JobRun.job == name, JobRun.slot == slot))
        return json.loads(raw)

    def morning(self, day: str) -> SimpleNamespace:
        """The scheduler's morning: the midnight sweeps, the 07:30 digest and, on Mondays, the 08:00 dispatch.

        Each is checked against the ledger; the numbers are returned for the story's own assertions.
        """
        today = date.fromisoformat(day)
        assert not self.mornings or today == self.mornings[-1] + timedelta(days=1), "no morning skipped"
        self.mornings.append(today)

        # 00:00 — the first sweep of the day escalates what became overdue at midnight, once.
        due = self.ledger.newly_overdue(today)
        sweep = self.fire("overdue_sweep", f"{day} 00:00")
        assert (sweep["found"], sweep["escalated"], sweep["notified_leader"], sweep["without_leader"]) == (
            len(due), len(due), len(due), 0), (day, sweep, [h.name for h in due])
        assert sweep["supervised"] == 0  # the only major hazard is listed already, from its report
        for hazard in due:
            hazard.escalated = True
        self.check_escalations()
        # 00:15 — the next sweep finds nothing new: nobody is escalated twice.
        again = self.fire("overdue_sweep", f"{day} 00:15")
        assert (again["found"], again["escalated"]) == (0, 0), (day, again)

        # 07:30 — 一日一汇报 of yesterday.
        yesterday = today - timedelta(days=1)
        daily = self.fire("daily_digest", f"{day} 07:30")
        assert daily["period"] == [yesterday.isoformat()] * 2
        numbers = self.check_digest(daily, first=yesterday, last=yesterday, today=today,
                                    key=f"daily:{self.leader.id}:{yesterday.isoformat()}", word="当日")
        weekly = None
        if today.weekday() == 0:
            # Monday 08:00 — 一周一调度 of last week, Monday to Sunday.
            monday = today - timedelta(days=7)
            result = self.fire("weekly_dispatch", f"{day} 08:00")
            assert result["period"] == [monday.isoformat(), yesterday.isoformat()]
            year, week, _ = monday.isocalendar()
            weekly = self.check_digest(result, first=monday, last=yesterday, today=today,
                                       key=f"weekly:{self.leader.id}:{year}-W{week:02d}", word="本周")
        self.snapshots.append((self.now, self.ledger.open_count()))
        return SimpleNamespace(daily=numbers, weekly=weekly)

    def check_digest(self, result: dict, *, first: date, last: date, today: date, key: str, word: str) -> dict:
        """The leader's digest holds the ledger's numbers, per district ranked, with the campaign's coverage."""
        assert set(result["leaders"]) == {str(self.leader.id)}, "one digest, for the one leader on duty"
        numbers = result["leaders"][str(self.leader.id)]
        expected = self.ledger.figures(first=first, last=last, today=today)
        assert {k: numbers[k] for k in FIGURES} == expected, (key, numbers)

        by_district = {row["district_code"]: row for row in numbers["districts"]}
        assert set(by_district) == {XINGQING, JINFENG}, "王 answers for both districts through 银川市 (包抓)"
        wanted = {code: self.ledger.figures(first=first, last=last, today=today, district=code)
                  for code in by_district}
        for code, row in by_district.items():
            assert {k: row[k] for k in FIGURES} == wanted[code], (key, code, row)
        ranks = expected_ranks(wanted)
        assert [(row["district_code"], row["rank"]) for row in numbers["districts"]] == sorted(
            ranks.items(), key=lambda item: (item[1], item[0])), (key, numbers["districts"])

        running = self.campaign_start <= last and first <= self.campaign_end
        if running:
            (entry,) = numbers["coverage"]
            assert entry["campaign_id"] == self.campaign_id
            assert entry["coverage"] == self.ledger.coverage(), (key, entry)
        else:
            assert numbers["coverage"] == [] and numbers["coverage_note"]

        message = self.query(lambda: db.session.scalar(select(Outbox).where(Outbox.dedupe_key == key)))
        assert message is not None and message.recipient_id == self.leader.id, key
        assert f"{word}新增隐患 {expected['new']} 处，销号 {expected['closed']} 处" in message.body
        assert f"未销号 {expected['open']} 处，其中逾期 {expected['overdue']} 处" in message.body
        if running:
            cov = self.ledger.coverage()
            assert (f"底数 {cov['registered']} 个，已检查 {cov['inspected']} 个，未检查 {cov['never_inspected']} 个，"
                    f"无法入户 {cov['no_access']} 个") in message.body
        return numbers

    def check_escalations(self):
        """Exactly the hazards the ledger escalated have one escalation event and one notice to 王."""
        escalated = {uuid.UUID(self.hazard_ids[h.name]) for h in self.ledger.hazards.values() if h.escalated}

        def read():
            events = db.session.execute(select(HazardEvent.hazard_id, func.count())
                                        .where(HazardEvent.type == "overdue_escalated")
                                        .group_by(HazardEvent.hazard_id)).all()
            notices = db.session.scalars(select(Outbox).where(Outbox.kind == "overdue")).all()
            # The key is overdue:<hazard>:<deadline escalated>; each of these hazards missed one deadline.
            return dict(events), {n.dedupe_key.rsplit(":", 1)[0]: n.recipient_id for n in notices}

        events, notices = self.query(read)
        assert events == {hazard_id: 1 for hazard_id in escalated}
        assert notices == {f"overdue:{hazard_id}": self.leader.id for hazard_id in escalated}


# --- the phone ----------------------------------------------------------------------------------

class Phone:
    """One user's phone: signs in, keeps its assignments in sync by cursor, and talks to the API."""

    def __init__(self, sim: Simulation, user):
        self.sim, self.user = sim, user
        self.headers: dict = {}
        self.cursor: str | None = None
        self.assignments: dict[str, dict] = {}
        self.sign_in()

    def sign_in(self):
        self.headers = login(self.sim.client, self.user.username)

    def call(self, method: str, path: str, status: int, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.sim.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.get_json())
        return response.get_json()

    def sync(self) -> dict:
        """Fetch what changed since the last cursor and apply it, as the app does."""
        answer = self.call("GET", "/assignments", 200, query_string={"since": self.cursor} if self.cursor else {})
        for item in answer["items"]:
            self.assignments[item["id"]] = item
        for removed in answer["removed"]:
            self.assignments.pop(removed, None)
        self.cursor = answer["cursor"]
        return answer

    def todo(self) -> set[tuple[str, str, str | None]]:
        """What the phone shows: (kind, subject name, hazard id)."""
        return {(a["kind"], a["subject"]["name"], a["hazard_id"]) for a in self.assignments.values()}

    def visit(self, subject, name: str, *, hazards=(), results=(), photos=(), outcome: str | None = None) -> dict:
        """Submit a visit that began 25 minutes ago and ended just now."""
        now = self.sim.now
        payload = {"id": uid(f"inspection:{name}"), "subject_id": subject.id,
                   "checklist": {"code": "gas-user", "version": 1},
                   "started_at": (now - timedelta(minutes=25)).isoformat(),
                   "finished_at": (now - timedelta(minutes=2)).isoformat(),
                   "location": {"lat": subject.lat, "lon": subject.lon, "accuracy_m": 6.0, "crs": "wgs84"},
                   "results": list(results), "hazards": list(hazards), "photos": list(photos), "note": name}
        if outcome is not None:
            payload["outcome"] = outcome
        return self.call("POST", "/inspections", 201, json=payload)

    def upload(self, photo: dict, data: bytes) -> dict:
        return self.call("PUT", f"/photos/{photo['id']}", 201, data=data,
                         headers={"Content-Type": "image/jpeg", "X-Content-SHA256": photo["sha256"]})

    def act(self, hazard_id: str, action: str, name: str, status: int = 201, **body) -> dict:
        return self.call("POST", f"/hazards/{hazard_id}/{action}", status, json={"id": uid(name), **body})

    def hazard(self, hazard_id: str) -> dict:
        return self.call("GET", f"/hazards/{hazard_id}", 200)


def sync(*phones: Phone):
    for phone in phones:
        phone.sync()


def after_photo(name: str, subject, taken: datetime, *, gps: bool = True, hazard_id: str | None = None):
    """An 'after' photo taken at ``taken`` (local), 15 m from the subject unless it has no GPS."""
    data = make_jpeg(gps=offset_m((subject.lat, subject.lon), 12.0, 9.0) if gps else None,
                     taken_at=taken.replace(tzinfo=None), color=(40, 120 + len(name) % 100, 60))
    decl = {"id": uid(f"photo:{name}"), "sha256": sha256(data), "role": "after"}
    if hazard_id is not None:
        decl["hazard_id"] = hazard_id
    return decl, data


def hazard_in(name: str, item: str, description: str, **extra) -> dict:
    return {"id": uid(f"hazard:{name}"), "item": item, "description": description, **extra}


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def sim(app, client):
    """The simulation; the clock is given back to real time whatever happens."""
    simulation = Simulation(app, client)
    try:
        yield simulation
    finally:
        set_now(None)


def setup_city(sim: Simulation):
    """The office's Sunday: accounts, the register of ten gas users, 王's duty and the campaign."""
    sim.at("2026-05-31 16:00")

    def build():
        users = SimpleNamespace(
            wang=make_user("wang", roles=["leader"], districts=[CITY], name="王建国"),
            li=make_user("li", roles=["inspector"], districts=[XINGQING], name="李明"),
            zhao=make_user("zhao", roles=["inspector"], districts=[JINFENG], name="赵华"))
        users = SimpleNamespace(**{k: SimpleNamespace(id=u.id, username=u.username) for k, u in vars(users).items()})
        operator = make_enterprise(name="银川市燃气有限公司")
        subjects = {}
        for index in range(1, 11):
            district = XINGQING if index <= 6 else JINFENG
            lat, lon = offset_m(PLACES[district], north_m=80.0 * index)
            row = make_subject(enterprises=[operator], name=f"S{index}", district_code=district, lat=lat, lon=lon,
                               address=f"{DISTRICT_NAMES[district]}某小区{index}号楼", external_ref=f"GAS-{index:04d}")
            subjects[f"S{index}"] = SimpleNamespace(id=str(row.id), name=row.name, lat=row.lat, lon=row.lon,
                                                    district=row.district_code)
        return users, subjects

    users, subjects = sim.query(build)
    sim.users, sim.subjects, sim.leader = users, subjects, users.wang
    sim.ledger = Ledger({name: s.district for name, s in subjects.items()})
    sim.hazard_ids = {}

    # 包抓: 王 answers for gas in the whole city, so for 兴庆区 and 金凤区 (neither has a duty of its own).
    assert "wang answers for 640100/gas" in sim.cli("campaigns", "duty", CITY, "gas", "wang")
    output = sim.cli("campaigns", "create", "2026年燃气安全专项整治", "--doc-no", "银建发〔2026〕18号",
                     "--domain", "gas", "--district", XINGQING, "--district", JINFENG,
                     "--starts-on", "2026-06-01", "--ends-on", "2026-07-05",
                     "--phase", "集中排查,inspect,2026-06-01,2026-06-21",
                     "--phase", "回头看,reinspect,2026-06-22,2026-07-05,0.5")
    sim.campaign_id = int(re.search(r"created campaign (\d+):", output).group(1))
    sim.campaign_start, sim.campaign_end = date(2026, 6, 1), date(2026, 7, 5)


def report(sim: Simulation, answer: dict, name: str, *, district: str, severity: str, deadline: date,
           closed: bool = False):
    """Note a hazard the server just accepted in the ledger; its answer must agree."""
    hazard_id = uid(f"hazard:{name}")
    (brief,) = [h for h in answer["hazards"] if h["id"] == hazard_id]
    assert brief["deadline"] == deadline.isoformat()
    assert brief["status"] == ("closed" if closed else "reported")
    sim.hazard_ids[name] = hazard_id
    sim.ledger.report(name, district=district, severity=severity, deadline=deadline, day=sim.today, closed=closed)


def rectify_and_accept(sim: Simulation, phone: Phone, reviewer: Phone, name: str, subject, step: str):
    """A rectification with a good after photo (near the subject, taken after the report), accepted."""
    hazard_id = sim.hazard_ids[name]
    photo, data = after_photo(f"{step}:after", subject, sim.now - timedelta(minutes=10))
    answer = phone.act(hazard_id, "rectifications", f"{step}:rectify", note="已整改到位", photos=[photo])
    assert answer["status"] == "pending_review" and answer["photos_missing"] == [photo["id"]]
    phone.upload(photo, data)
    detail = reviewer.hazard(hazard_id)
    assert detail["evidence_checks"] and all(c["passed"] for c in detail["evidence_checks"]), detail["evidence_checks"]
    answer = reviewer.act(hazard_id, "reviews", f"{step}:accept", decision="accept")
    assert answer["status"] == "closed" and answer["hazard"]["closed_at"] is not None
    sim.ledger.close(name, sim.today)


# --- the story ---------------------------------------------------------------------------------

def test_a_gas_campaign_from_first_visit_to_zero_open_hazards(sim):
    setup_city(sim)
    s, ledger, users = sim.subjects, sim.ledger, sim.users
    hz = sim.hazard_ids

    # === Week 1 (ISO week 23): inspection ===============================================================

    # --- Mon 1 June. The scheduler's morning: last week had nothing (no campaign ran yet). ---
    first = sim.morning("2026-06-01")
    assert first.daily["total"] == 0 and first.weekly["total"] == 0 and first.daily["coverage"] == []

    # 08:30 王 gives each inspector the subjects of his district for the campaign, due the phase's end.
    sim.at("2026-06-01 08:30")
    wang = Phone(sim, users.wang)
    for user, district, count in ((users.li, XINGQING, 6), (users.zhao, JINFENG, 4)):
        given = wang.call("POST", "/assignments", 201, json={
            "user_id": user.id, "district": district, "domain": "gas", "campaign_id": sim.campaign_id,
            "due": "2026-06-21"})
        assert len(given["items"]) == count

    # 08:40 the inspectors sign in and their phones fetch the assignments.
    sim.at("2026-06-01 08:40")
    li, zhao = Phone(sim, users.li), Phone(sim, users.zhao)
    sync(li, zhao)
    assert li.todo() == {("inspect", f"S{i}", None) for i in range(1, 7)}
    assert zhao.todo() == {("inspect", f"S{i}", None) for i in range(7, 11)}
    assert all(a["campaign"]["id"] == sim.campaign_id and a["due"] == "2026-06-21" for a in li.assignments.values())

    # 09:30 李 at S1: no self-closing valve (自闭阀), to be fixed by Friday 5 June.
    sim.at("2026-06-01 09:30")
    answer = li.visit(s["S1"], "S1-first", hazards=[hazard_in("H1", "G02", "未安装自闭阀", deadline="2026-06-05")],
                      results=[{"item": "G02", "outcome": "fail"}, {"item": "G13", "outcome": "pass"}])
    report(sim, answer, "H1", district=XINGQING, severity="general", deadline=date(2026, 6, 5))
    ledger.visit("S1", let_in=True)

    # 10:30 李 at S2: an expired cylinder, swapped on the spot, with the after photo to prove it.
    sim.at("2026-06-01 10:30")
    photo, data = after_photo("H2:on-spot", s["S2"], local("2026-06-01 10:20"), hazard_id=uid("hazard:H2"))
    answer = li.visit(s["S2"], "S2-first", photos=[photo],
                      hazards=[hazard_in("H2", "G07", "液化气钢瓶超期未检", fixed_on_spot=True)])
    report(sim, answer, "H2", district=XINGQING, severity="general", deadline=date(2026, 6, 16), closed=True)
    assert answer["status"] == "awaiting_photos" and answer["photos_missing"] == [photo["id"]]
    stored = li.upload(photo, data)
    # Taken at the subject during the visit: no flag, though the visit reached the server ten minutes later
    # (the hazard counts as found when the visit started, not when the server received it).
    assert stored["flags"] == []
    assert [e["type"] for e in li.hazard(hz["H2"])["events"]] == ["reported", "fixed_on_spot"]
    ledger.visit("S2", let_in=True)

    # 11:30 李 at S3: nobody home (入户无人), first time.
    sim.at("2026-06-01 11:30")
    li.visit(s["S3"], "S3-no-access-1", outcome="no_access")
    ledger.visit("S3", let_in=False)

    # 11:45 赵 in 金凤区: LPG used in a basement at S7 — a major hazard (重大隐患), listed for supervision
    # (挂牌督办) the moment it is reported; 12:20 S8 passes.
    sim.at("2026-06-01 11:45")
    answer = zhao.visit(s["S7"], "S7-first", hazards=[hazard_in("H3", "GM01", "地下室使用瓶装液化气",
                                                                 deadline="2026-06-30")])
    report(sim, answer, "H3", district=JINFENG, severity="major", deadline=date(2026, 6, 30))
    ledger.visit("S7", let_in=True)
    h3 = zhao.hazard(hz["H3"])
    assert h3["severity"] == "major" and h3["supervision"]["supervising_unit"] == "银川市住房和城乡建设局"
    assert h3["supervision"]["lifted_at"] is None
    sim.at("2026-06-01 12:20")
    zhao.visit(s["S8"], "S8-first", results=[{"item": "G02", "outcome": "pass"}, {"item": "G13", "outcome": "pass"}])
    ledger.visit("S8", let_in=True)

    # 17:00 the phones sync: the visits with access fulfilled their assignments; S3 stays (nobody was home).
    sim.at("2026-06-01 17:00")
    sync(li, zhao)
    assert li.todo() == {("inspect", n, None) for n in ("S3", "S4", "S5", "S6")}
    assert zhao.todo() == {("inspect", n, None) for n in ("S9", "S10")}

    # --- Tue 2 June. Yesterday: 3 new hazards, 1 closed (on the spot), 2 open; 4 of 10 inspected, 1 not let in.
    day = sim.morning("2026-06-02")
    assert {k: day.daily[k] for k in ("new", "closed", "open", "overdue")} == {
        "new": 3, "closed": 1, "open": 2, "overdue": 0}
    assert day.daily["coverage"][0]["coverage"] == {"registered": 10, "inspected": 4, "no_access": 1,
                                                    "never_inspected": 5, "coverage": 0.4}

    sim.at("2026-06-02 09:30")
    li.visit(s["S3"], "S3-no-access-2", outcome="no_access")
    assert sim.query(lambda: db.session.scalar(select(func.count()).select_from(Outbox).where(
        Outbox.kind == "no_access_escalation"))) == 0, "two visits without access are not yet a case for the leader"
    sim.at("2026-06-02 10:30")
    answer = li.visit(s["S4"], "S4-first", hazards=[hazard_in("H4", "G03A", "使用橡胶软管连接燃具")])
    report(sim, answer, "H4", district=XINGQING, severity="general", deadline=date(2026, 6, 17))  # 15 days
    ledger.visit("S4", let_in=True)

    # The major hazard needs its five implementations (五落实) before anyone may rectify it.
    sim.at("2026-06-02 11:00")
    refused = zhao.act(hz["H3"], "rectifications", "H3:too-early-1", status=409, note="已搬出")
    assert refused["code"] == "invalid_transition"
    assert refused["missing_plan"] == ["responsible", "measures", "funds_yuan", "deadline", "contingency_plan"]
    sim.at("2026-06-02 14:00")
    wang.act(hz["H3"], "plan", "H3:plan-1", responsible="银川市燃气有限公司 张经理", measures="拆除地下室气瓶，改用管道燃气")
    refused = zhao.act(hz["H3"], "rectifications", "H3:too-early-2", status=409, note="已搬出")
    assert refused["missing_plan"] == ["funds_yuan", "deadline", "contingency_plan"]
    sim.at("2026-06-02 14:30")
    wang.act(hz["H3"], "plan", "H3:plan-2", funds_yuan=8000, deadline="2026-06-20",
             contingency_plan="整改期间停用气瓶，配备灭火器")
    notice = wang.act(hz["H3"], "notices", "H3:notice", note="限期整改通知书")
    assert notice["status"] == "rectifying"

    # --- Wed 3 June. Yesterday: 1 new, nothing closed, 3 open.
    day = sim.morning("2026-06-03")
    assert {k: day.daily[k] for k in ("new", "closed", "open")} == {"new": 1, "closed": 0, "open": 3}

    # 09:30 third visit to S3 without access: the leader on duty is told, once.
    sim.at("2026-06-03 09:30")
    li.visit(s["S3"], "S3-no-access-3", outcome="no_access")

    def no_access_notices():
        return [(n.kind, n.recipient_id, n.body) for n in db.session.scalars(
            select(Outbox).where(Outbox.kind == "no_access_escalation"))]

    (escalation,) = sim.query(no_access_notices)
    assert escalation[1] == users.wang.id and "连续3次" in escalation[2] and "S3" in escalation[2]

    sim.at("2026-06-03 10:30")
    li.visit(s["S5"], "S5-first", results=[{"item": "G02", "outcome": "pass"}])
    ledger.visit("S5", let_in=True)

    # 11:00 李 reports H1 rectified, but the after photo has no position: the reviewer sees the failed check,
    # cannot accept it without a note, and rejects it.
    sim.at("2026-06-03 11:00")
    photo, data = after_photo("H1:after-1", s["S1"], local("2026-06-03 10:50"), gps=False)
    li.act(hz["H1"], "rectifications", "H1:rectify-1", note="已安装自闭阀", photos=[photo])
    li.upload(photo, data)
    checks = {c["code"]: c["passed"] for c in li.hazard(hz["H1"])["evidence_checks"]}
    assert checks == {"after_photo_taken_after_report": True, "after_photo_near_subject": False}
    refused = li.act(hz["H1"], "reviews", "H1:accept-without-note", status=422, decision="accept")
    assert "note" in refused["errors"]
    rejected = li.act(hz["H1"], "reviews", "H1:reject", decision="reject", note="照片无定位，自闭阀型号不符，重新整改")
    assert rejected["status"] == "rectifying"

    # --- Thu 4 June. A fourth visit without access is the same streak: no second notice.
    day = sim.morning("2026-06-04")
    assert {k: day.daily[k] for k in ("new", "closed", "open", "overdue")} == {
        "new": 0, "closed": 0, "open": 3, "overdue": 0}
    sim.at("2026-06-04 09:30")
    li.visit(s["S3"], "S3-no-access-4", outcome="no_access")
    assert len(sim.query(no_access_notices)) == 1

    # --- Fri 5 June: H1's deadline day — not overdue yet (the midnight sweep found nothing).
    day = sim.morning("2026-06-05")
    assert day.daily["overdue"] == 0 and not ledger.hazards["H1"].escalated

    # --- Sat 6 June: H1 became overdue at midnight; the sweep escalated it to 王 once, the next sweep did not.
    day = sim.morning("2026-06-06")
    assert ledger.hazards["H1"].escalated and day.daily["overdue"] == 1 and day.daily["open"] == 3
    assert li.hazard(hz["H1"])["overdue"] is True
    overdue_list = wang.call("GET", "/hazards", 200, query_string={"overdue": "true"})["items"]
    assert [h["id"] for h in overdue_list] == [hz["H1"]]

    def overdue_notice():
        row = db.session.scalar(select(Outbox).where(Outbox.dedupe_key.startswith(f"overdue:{hz['H1']}:")))
        return row.recipient_id, row.subject, row.body

    recipient, subject_line, body = sim.query(overdue_notice)
    assert recipient == users.wang.id and "隐患逾期提醒" in subject_line and "已逾期 1 天" in body
    # The outbox is delivered (log sender): every notice so far goes out once.
    sent = sim.query(lambda: notification_service.deliver_pending(limit=100))
    assert sent == sim.query(lambda: db.session.scalar(select(func.count()).select_from(Outbox)))
    assert sim.query(lambda: notification_service.deliver_pending(limit=100)) == 0

    # As of now, the campaign's open figure (rebuilt from events) is what the ledger says.
    assert sim.query(lambda: zero.open_count(campaign_id=sim.campaign_id)) == ledger.open_count() == 3

    # 10:00 the owner was away: 李 records why H1 is late (挂账); 10:30 rectified again, this time accepted.
    sim.at("2026-06-06 10:00")
    li.act(hz["H1"], "explanations", "H1:explain", note="业主外出，6月6日返回后整改")
    assert li.hazard(hz["H1"])["carried"] is True
    sim.at("2026-06-06 10:30")
    rectify_and_accept(sim, li, li, "H1", s["S1"], "H1-2")
    events = [e["type"] for e in li.hazard(hz["H1"])["events"]]
    assert events == ["reported", "rectification", "review_rejected", "overdue_escalated", "overdue_explained",
                      "rectification", "review_accepted"]

    # --- Sun 7 June. Yesterday H1 closed: 2 open, none overdue.
    day = sim.morning("2026-06-07")
    assert {k: day.daily[k] for k in ("closed", "open", "overdue")} == {"closed": 1, "open": 2, "overdue": 0}

    # 10:00 赵 reports H3 rectified; an inspector may not close a major hazard, 王 does, and the listing is lifted.
    sim.at("2026-06-07 10:00")
    photo, data = after_photo("H3:after-1", s["S7"], local("2026-06-07 09:50"))
    zhao.act(hz["H3"], "rectifications", "H3:rectify-1", note="气瓶已搬离地下室", photos=[photo])
    zhao.upload(photo, data)
    refused = zhao.act(hz["H3"], "reviews", "H3:accept-by-inspector", status=403, decision="accept")
    assert refused["code"] == "forbidden"
    sim.at("2026-06-07 11:00")
    wang.act(hz["H3"], "reviews", "H3:accept-1", decision="accept", note="现场复核合格")
    ledger.close("H3", sim.today)
    h3 = wang.hazard(hz["H3"])
    assert h3["status"] == "closed" and h3["supervision"]["lifted_at"] is not None

    sim.at("2026-06-07 11:30")
    answer = zhao.visit(s["S9"], "S9-first", hazards=[hazard_in("H5", "G05", "管道燃气与瓶装液化气混用")])
    report(sim, answer, "H5", district=JINFENG, severity="general", deadline=date(2026, 6, 22))
    ledger.visit("S9", let_in=True)
    sim.at("2026-06-07 12:00")
    zhao.visit(s["S10"], "S10-first", results=[{"item": "G05", "outcome": "pass"}])
    ledger.visit("S10", let_in=True)

    # === Week 2 (ISO week 24) ===========================================================================

    # --- Mon 8 June. The weekly dispatch of week 23: 5 new, 3 closed, 2 open; 兴庆区 ranks first
    # (1 open, 2 of 3 closed) ahead of 金凤区 (1 open, 1 of 2 closed).
    day = sim.morning("2026-06-08")
    week = day.weekly
    assert {k: week[k] for k in FIGURES} == {"new": 5, "closed": 3, "open": 2, "overdue": 0, "overdue_major": 0,
                                             "total": 5, "closed_total": 3, "closure_rate": 0.6}
    assert [(d["rank"], d["district_code"], d["open"], d["closure_rate"]) for d in week["districts"]] == [
        (1, XINGQING, 1, 0.6667), (2, JINFENG, 1, 0.5)]
    dispatch = sim.query(lambda: db.session.scalar(select(Outbox.body).where(
        Outbox.dedupe_key == f"weekly:{users.wang.id}:2026-W23")))
    assert "1. 兴庆区" in dispatch and "2. 金凤区" in dispatch

    # A new week: the phones sign in again.
    sim.at("2026-06-08 08:40")
    for phone in (wang, li, zhao):
        phone.sign_in()
    sim.at("2026-06-08 09:30")
    answer = li.visit(s["S6"], "S6-first", hazards=[hazard_in("H6", "G09", "钢瓶卧放使用", deadline="2026-06-10")])
    report(sim, answer, "H6", district=XINGQING, severity="general", deadline=date(2026, 6, 10))
    ledger.visit("S6", let_in=True)
    sim.at("2026-06-08 15:00")
    rectify_and_accept(sim, li, li, "H4", s["S4"], "H4")

    for when in ("2026-06-09", "2026-06-10"):
        sim.morning(when)

    # Wed 10 June 09:30: at last somebody opens the door at S3.
    sim.at("2026-06-10 09:30")
    li.visit(s["S3"], "S3-let-in", results=[{"item": "G02", "outcome": "pass"}])
    ledger.visit("S3", let_in=True)
    sim.at("2026-06-10 18:00")
    sync(li, zhao)
    assert li.todo() == set() and zhao.todo() == set(), "every subject of the register was visited with access"

    # --- Thu 11 June: H6 (deadline 10 June) was escalated at midnight; 李 gets it closed in the morning.
    day = sim.morning("2026-06-11")
    assert ledger.hazards["H6"].escalated and day.daily["overdue"] == 1
    assert day.daily["coverage"][0]["coverage"]["coverage"] == 1.0
    sim.at("2026-06-11 10:00")
    rectify_and_accept(sim, li, li, "H6", s["S6"], "H6")

    # --- Fri 12 June 07:45, an early start: 赵 reviews H5 himself (a general hazard) and closes it. In UTC
    # that is still 11 June, but it belongs to the 12th's local day and so to the digest of the 13th.
    day = sim.morning("2026-06-12")
    assert (day.daily["closed"], day.daily["open"]) == (1, 1)
    sim.at("2026-06-12 07:45")
    rectify_and_accept(sim, zhao, zhao, "H5", s["S9"], "H5")
    assert ledger.open_count() == 0
    day = sim.morning("2026-06-13")
    assert (day.daily["closed"], day.daily["open"]) == (1, 0)
    sim.morning("2026-06-14")

    # === Week 3 (ISO week 25): the inspection phase ends with nothing open =============================
    day = sim.morning("2026-06-15")
    assert {k: day.weekly[k] for k in ("new", "closed", "open", "closure_rate")} == {
        "new": 1, "closed": 3, "open": 0, "closure_rate": 1.0}
    assert [(d["rank"], d["district_code"]) for d in day.weekly["districts"]] == [(1, XINGQING), (1, JINFENG)]
    for when in ("2026-06-16", "2026-06-17", "2026-06-18", "2026-06-19", "2026-06-20", "2026-06-21"):
        sim.morning(when)

    # === Week 4 (ISO week 26): re-inspection (回头看) ====================================================
    sim.morning("2026-06-22")
    sim.at("2026-06-22 08:40")
    for phone in (wang, li, zhao):
        phone.sign_in()

    # 09:00 the office draws the phase: every major hazard, and half (rounded up) of the general ones per
    # district — 兴庆区 2 of 4 (H1, H2, H4, H6), 金凤区 1 of 1 (H5) — plus the major H3.
    sim.at("2026-06-22 09:00")
    output = sim.cli("campaigns", "sample", str(sim.campaign_id), "回头看", "--seed", "20260622")
    assert "drew 4 hazards (seed 20260622), 4 assignments; 0 without anyone to assign" in output
    assert "回头看 [reinspect] 2026-06-22..2026-07-05  sampled 4 (seed 20260622)" in sim.cli("campaigns", "list")
    sim.at("2026-06-22 09:10")
    sync(li, zhao)
    by_id = {v: k for k, v in hz.items()}
    li_drawn = {by_id[h] for kind, _, h in li.todo() if kind == "reinspect"}
    zhao_drawn = {by_id[h] for kind, _, h in zhao.todo() if kind == "reinspect"}
    assert len(li_drawn) == 2 and li_drawn <= {"H1", "H2", "H4", "H6"}
    assert zhao_drawn == {"H3", "H5"}
    assert all(a["due"] == "2026-07-05" for a in [*li.assignments.values(), *zhao.assignments.values()])

    # 10:30 赵 finds the basement cylinders back at S7: the failed item reopens H3 — a recurrence — and it is
    # listed for supervision again. The phone does not report it anew.
    sim.at("2026-06-22 10:30")
    zhao.visit(s["S7"], "S7-reinspect", results=[{"item": "GM01", "outcome": "fail", "note": "地下室又放了气瓶"}])
    ledger.reopen("H3")
    h3 = zhao.hazard(hz["H3"])
    assert h3["status"] == "rectifying" and h3["recurrences"] == 1
    assert h3["events"][-1]["type"] == "reopened" and h3["events"][-1]["note"] == "回头看复查发现"
    assert h3["supervision"]["lifted_at"] is None
    # The other drawn hazards hold: their items pass and they stay closed.
    sim.at("2026-06-22 11:30")
    zhao.visit(s["S9"], "S9-reinspect", results=[{"item": "G05", "outcome": "pass"}])
    found_at = {"H1": ("S1", "G02"), "H2": ("S2", "G07"), "H4": ("S4", "G03A"), "H6": ("S6", "G09")}
    for index, name in enumerate(sorted(li_drawn)):
        sim.at(f"2026-06-22 {14 + index}:00")
        subject, item = found_at[name]
        li.visit(s[subject], f"{name}-reinspect", results=[{"item": item, "outcome": "pass"}])
        assert li.hazard(hz[name])["status"] == "closed"
    sim.at("2026-06-22 18:00")
    sync(li, zhao)
    assert li.todo() == set() and zhao.todo() == set(), "each re-inspection visit fulfilled its assignment"
    assert sim.query(lambda: reinspection.recurrences(campaign_id=sim.campaign_id)) == 1

    # --- Tue 23 June. Yesterday nothing new or closed, but one hazard is open again.
    day = sim.morning("2026-06-23")
    assert {k: day.daily[k] for k in ("new", "closed", "open", "overdue")} == {
        "new": 0, "closed": 0, "open": 1, "overdue": 0}
    # The plan is still on record: H3 may be rectified at once; 王 closes it again, the listing is lifted again.
    sim.at("2026-06-23 10:00")
    rectify_and_accept(sim, zhao, wang, "H3", s["S7"], "H3-2")
    assert wang.hazard(hz["H3"])["supervision"]["lifted_at"] is not None

    for when in ("2026-06-24", "2026-06-25", "2026-06-26", "2026-06-27", "2026-06-28"):
        sim.morning(when)

    # === Mon 29 June: the dispatch of week 26, and the end ==============================================
    day = sim.morning("2026-06-29")
    assert {k: day.weekly[k] for k in FIGURES} == {"new": 0, "closed": 1, "open": 0, "overdue": 0,
                                                   "overdue_major": 0, "total": 6, "closed_total": 6,
                                                   "closure_rate": 1.0}
    sim.at("2026-06-29 09:00")

    # Zero: nothing of the campaign is open, and every morning's as-of figure is what was open that morning.
    assert sim.query(lambda: zero.open_count(campaign_id=sim.campaign_id)) == 0
    as_of = sim.query(lambda: [(when, zero.open_count(campaign_id=sim.campaign_id, as_of=when.astimezone(timezone.utc)))
                               for when, _ in sim.snapshots])
    assert as_of == sim.snapshots
    assert dict((when.date().isoformat(), n) for when, n in sim.snapshots)["2026-06-23"] == 1  # the recurrence

    # Coverage: all ten subjects inspected, none never inspected, none left without access.
    total = sim.query(lambda: coverage_service.coverage(campaign_id=sim.campaign_id, districts=None))["total"]
    assert {k: total[k] for k in ("registered", "inspected", "never_inspected", "no_access", "coverage")} == {
        "registered": 10, "inspected": 10, "never_inspected": 0, "no_access": 0, "coverage": 1.0}
    shown = wang.call("GET", f"/campaigns/{sim.campaign_id}/coverage", 200, query_string={"by": "district"})
    assert {row["district"]: row["coverage"] for row in shown["rows"]} == {XINGQING: 1.0, JINFENG: 1.0}

    # The record: two escalations in all (H1, H6), one recurrence (H3), the major hazard's listing lifted,
    # one message per leader and period, and every notice delivered.
    assert sorted(h.name for h in ledger.hazards.values() if h.escalated) == ["H1", "H6"]
    listing = sim.query(lambda: db.session.get(Supervision, uuid.UUID(hz["H3"])))
    assert listing.lifted_at is not None

    def digests():
        return sorted(db.session.scalars(select(Outbox.dedupe_key).where(
            Outbox.kind.in_(["daily_digest", "weekly_dispatch"]))))

    mornings = [sim.mornings[0] + timedelta(days=n) for n in range(len(sim.mornings))]
    assert sim.mornings == mornings
    expected_keys = sorted([f"daily:{users.wang.id}:{(d - timedelta(days=1)).isoformat()}" for d in mornings]
                           + [f"weekly:{users.wang.id}:2026-W{w}" for w in (22, 23, 24, 25, 26)])
    assert sim.query(digests) == expected_keys
    sim.query(lambda: notification_service.deliver_pending(limit=500))
    assert sim.query(lambda: db.session.scalar(select(func.count()).select_from(Outbox)
                                               .where(Outbox.sent_at.is_(None)))) == 0
    assert len(sim.snapshots) == 29
