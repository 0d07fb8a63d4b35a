"""The quarterly analysis computed from a known history across quarters: every figure, the comparisons,
immutable versioned snapshots, and the scheduler's run once per quarter; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from helpers import make_enterprise, make_subject, make_user
from server.audit.models import AuditEvent
from server.cases.models import Case, CaseEvent
from server.credit import service as credit_service
from server.credit.enums import Action as CreditAction
from server.database import set_now, utcnow
from server.errors import ProblemError
from server.extensions import db
from server.hazards import service as hazard_service
from server.hazards.enums import Action
from server.hazards.models import Hazard
from server.inspections.models import Campaign, Inspection
from server.notifications.models import Outbox
from server.reports import quarterly, zero
from server.reports.models import ImmutableSnapshot, QuarterlyReport
from server.scheduler import jobs
from server.scheduler.models import JobRun

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNIT = "银川市住房和城乡建设局"
CHECKLISTS = {"gas": "gas-user", "self_built_house": "self-built-house", "construction_site": "construction-site"}
PLAN = {"responsible": "张三", "measures": "更换", "funds_yuan": 1000, "deadline": "2026-06-01",
        "contingency_plan": "停气"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """The ledger queries, the JSON column and the immutability triggers must agree on both databases."""
    return request.param


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    set_now(None)


def at(local: str) -> datetime:
    """Return the aware UTC instant of a local (Asia/Shanghai) time written in ISO 8601."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


class History:
    """An inspector-leader of 兴庆区 and 金凤区 who inspects, reports and moves hazards when the clock says."""

    def __init__(self):
        self.user = make_user("li", roles=["inspector", "leader"], districts=["640104", "640106"], name="李检查")
        self.committee = make_user("wang", roles=["committee"], districts=[], name="王委员")
        self.gas = [make_subject(district_code="640104", domain="gas") for _ in range(4)]
        self.house = make_subject(district_code="640106", domain="self_built_house")
        self.site = make_subject(district_code="640106", domain="construction_site")
        self.campaign = Campaign(name="城镇燃气安全专项整治", domains=["gas"], districts=["640100"],
                                 starts_on=date(2026, 4, 1), ends_on=date(2026, 6, 30), phases=[])
        db.session.add(self.campaign)
        db.session.commit()

    def inspect(self, when: str, subject, *, outcome: str = "inspected", campaign: bool = False) -> Inspection:
        set_now(at(when))
        inspection = Inspection(id=uuid.uuid4(), subject_id=subject.id, inspector_id=self.user.id,
                                district_code=subject.district_code, domain=subject.domain,
                                checklist_code=CHECKLISTS[subject.domain],
                                checklist_version=1, started_at=utcnow() - timedelta(minutes=20),
                                received_at=utcnow(), outcome=outcome, payload_hash="x",
                                campaign_id=self.campaign.id if campaign else None)
        db.session.add(inspection)
        db.session.commit()
        return inspection

    def report(self, when: str, subject=None, *, item="G02", severity="general", deadline: str,
               campaign: bool = False) -> Hazard:
        subject = subject or self.gas[0]
        inspection = self.inspect(when, subject, campaign=campaign)
        hazard = Hazard(id=uuid.uuid4(), inspection_id=inspection.id, subject_id=subject.id,
                        district_code=subject.district_code, domain=subject.domain,
                        checklist_code=inspection.checklist_code, item_code=item, description="检查发现隐患",
                        severity=severity, deadline=date.fromisoformat(deadline), reported_by=self.user.id,
                        created_at=utcnow(), plan=PLAN if severity == "major" else None)
        hazard_service.report(hazard=hazard, actor=self.user, supervising_unit=UNIT)
        db.session.commit()
        return hazard

    def move(self, when: str, hazard: Hazard, *actions: Action) -> None:
        set_now(at(when))
        for action in actions:
            hazard_service.transition(hazard=hazard, action=action, actor=self.user)
        db.session.commit()

    def close(self, when: str, hazard: Hazard) -> None:
        self.move(when, hazard, Action.RECTIFY, Action.ACCEPT)

    def case(self, number: int, events: list[tuple[str, str, dict]]) -> Case:
        """A case filed in 兴庆区 with its transfer / decide events (type, local time recorded, data)."""
        first = at(events[0][1]) - timedelta(days=5)
        case = Case(year=2026, number=number, case_no=f"银建罚移〔2026〕{number}号", client_key=uuid.uuid4(),
                    payload_hash="x", status="draft", source="inspection", cause="燃气用户未安装自闭阀拒不整改",
                    party_kind="enterprise", party_name=f"某燃气公司{number}", district_code="640104",
                    filed_at=first, filed_on=first.astimezone(SHANGHAI).date(),
                    decision_due=first.astimezone(SHANGHAI).date() + timedelta(days=90), created_by=self.user.id,
                    created_at=first, updated_at=first)
        db.session.add(case)
        db.session.flush()
        for kind, when, data in events:
            db.session.add(CaseEvent(case_id=case.id, type=kind, at=at(when), actor_id=self.user.id,
                                     from_status=None, to_status=kind, data=data))
        db.session.commit()
        return case


@pytest.fixture
def story(app):
    """A first quarter and a second one of 2026 (and a hazard of the third), with cases and credit.

    2026Q2 (April–June), the quarter under test:
      found: h4 (fixed on the spot), h5 (major, closed), h6 (site, overdue), h7 (last evening), h9 (overdue)
      closed: h2 (from Q1, 21 days), h4, h5 (40 days), h10 (reported 23:59 on 31 March, closed at midnight)
      open at the start: h1, h2, h10; at the end: h1, h3 (reopened), h6, h7, h9; overdue: h1, h6, h9
    """
    with app.app_context():
        city = History()
        gas, house, site = city.gas, city.house, city.site
        # --- 2026Q1
        h1 = city.report("2026-03-10T09:00", gas[0], deadline="2026-03-25")
        city.move("2026-03-11T09:00", h1, Action.NOTIFY)
        h2 = city.report("2026-03-20T09:00", gas[1], item="G07", deadline="2026-04-04")
        h3 = city.report("2026-02-01T09:00", house, item="H03", severity="major", deadline="2026-04-02")
        city.close("2026-02-20T09:00", h3)
        h10 = city.report("2026-03-31T23:59", gas[2], deadline="2026-04-15")
        # --- 2026Q2
        city.move("2026-04-01T00:00", h10, Action.FIX_ON_SPOT)  # the first instant of the quarter
        city.close("2026-04-10T09:00", h2)
        h4 = city.report("2026-04-02T10:00", gas[2], deadline="2026-04-17", campaign=True)
        city.move("2026-04-02T10:30", h4, Action.FIX_ON_SPOT)
        h5 = city.report("2026-05-01T09:00", gas[3], item="G07", severity="major", deadline="2026-06-30",
                         campaign=True)
        city.close("2026-06-10T09:00", h5)
        h3.deadline = date(2026, 7, 4)  # a reopened hazard gets a new period (reinspection.reopen_found)
        city.move("2026-05-05T10:00", h3, Action.REOPEN)
        h6 = city.report("2026-06-15T09:00", site, item="SM02", deadline="2026-06-25")
        h9 = city.report("2026-05-10T09:00", gas[1], deadline="2026-05-25", campaign=True)
        h7 = city.report("2026-06-30T23:30", gas[0], deadline="2026-07-15")
        city.inspect("2026-05-20T09:00", gas[3], outcome="no_access")
        # --- 2026Q3: after the quarter under test
        city.close("2026-07-02T09:00", h9)
        h8 = city.report("2026-07-01T00:00", gas[3], deadline="2026-07-16")
        # --- cases: one transferred and decided in Q2; one transferred in Q1 whose Q2 decision was recorded late
        city.case(1, [("transfer", "2026-05-20T10:00", {"transferred_on": "2026-05-20"}),
                      ("decide", "2026-06-21T10:00", {"penalty_kinds": ["fine", "warning"], "amount_yuan": "5000.00",
                                                      "decision_no": "银综执罚〔2026〕8号", "decided_on": "2026-06-20"})])
        city.case(2, [("transfer", "2026-03-15T10:00", {"transferred_on": "2026-03-15"}),
                      ("decide", "2026-07-02T10:00", {"penalty_kinds": ["fine"], "amount_yuan": "2000.00",
                                                      "decision_no": "银综执罚〔2026〕9号", "decided_on": "2026-06-30"})])
        # --- credit: a contractor loses 8 then 10 points in Q2 (A → B)
        contractor = make_enterprise(kind="contractor", name="宁夏某建设工程有限公司")
        for rule, occurred, confirmed in (("ZA-04", "2026-04-05T09:00", "2026-04-06T09:00"),
                                          ("ZA-03", "2026-05-10T09:00", "2026-05-11T09:00")):
            set_now(at(occurred))
            deduction, _ = credit_service.propose(enterprise=contractor, rule_code=rule, source_kind="manual",
                                                  source_id=rule, district_code="640104", occurred_at=at(occurred),
                                                  actor=city.user)
            db.session.commit()
            set_now(at(confirmed))
            credit_service.transition(deduction=deduction, action=CreditAction.CONFIRM, actor=city.user)
            db.session.commit()
        set_now(at("2026-07-03T10:00"))
        yield SimpleNamespace(city=city, ids={name: h.id for name, h in locals().items()
                                              if isinstance(h, Hazard)})


def _row(rows, **keys) -> dict:
    return next(r for r in rows if all(r[k] == v for k, v in keys.items()))


def test_quarter_bounds_are_local_and_stored_as_utc(app):
    """2026Q3 runs from 1 July 00:00 to 30 September 24:00 in Asia/Shanghai; a quarter not begun is 422."""
    with app.app_context():
        set_now(at("2026-11-25T10:00"))
        p = quarterly.period("2026q3")
        assert (p.quarter, p.first, p.last, p.complete) == ("2026Q3", date(2026, 7, 1), date(2026, 9, 30), True)
        assert p.start == datetime(2026, 6, 30, 16, tzinfo=timezone.utc)
        assert p.as_of == datetime(2026, 9, 30, 16, tzinfo=timezone.utc) - timedelta(microseconds=1)
        running = quarterly.period("2026Q4")
        assert running.complete is False and running.as_of == utcnow()
        for bad in ("2027Q1", "2026Q5", "26Q1", ""):
            with pytest.raises(ProblemError) as refused:
                quarterly.period(bad)
            assert refused.value.code == "validation_error" and "quarter" in refused.value.errors
        assert (quarterly.previous("2026Q1"), quarterly.year_before("2026Q3")) == ("2025Q4", "2025Q3")
        assert quarterly.last_complete(at("2026-10-01T00:00")) == "2026Q3"
        assert quarterly.last_complete(at("2026-09-30T23:59")) == "2026Q2"
        assert quarterly.label("2026Q3") == "2026年第三季度"


def test_the_figures_of_a_quarter_are_those_of_its_end(story):
    """Found, closed, open at the start and end, overdue, rates, median days: each from the events to 30 June 24:00."""
    figures = quarterly.compute("2026Q2")
    assert figures["as_of"] == (at("2026-07-01T00:00") - timedelta(microseconds=1)).isoformat()
    assert figures["complete"] is True
    total = figures["hazards"]["total"]
    assert (total["found"], total["closed"], total["found_closed"]) == (5, 4, 2)
    assert (total["open_at_start"], total["open_at_end"], total["overdue_at_end"]) == (3, 5, 3)
    assert total["closure_rate"] == 0.4
    # closing times: 1 minute (h10), 30 minutes (h4), 21 days (h2), 40 days (h5): median (0.0208 + 21) / 2
    assert total["median_days_to_close"] == 10.5
    assert total["reported_to_date"] == 9 and total["closure_rate_to_date"] == round(4 / 9, 4)

    # the open hazards are the zero-out figures' own, at the quarter's first and last instants
    end, start = at("2026-07-01T00:00") - timedelta(microseconds=1), at("2026-04-01T00:00") - timedelta(microseconds=1)
    assert (total["open_at_end"], total["open_at_start"]) == (zero.open_count(as_of=end), zero.open_count(as_of=start))
    for group in zero.open_figures(as_of=end, group_by=("domain", "severity"))["rows"]:
        assert _row(figures["hazards"]["rows"], domain=group["domain"], severity=group["severity"])["open_at_end"] \
            == group["open"]
    rows = figures["hazards"]["rows"]
    assert len(rows) == 6  # every field × severity, zeros included
    gas = _row(rows, domain="gas", severity="general")
    assert (gas["found"], gas["closed"], gas["found_closed"], gas["open_at_end"], gas["overdue_at_end"]) == (3, 3, 1, 3, 2)
    assert gas["open_at_start"] == 3 and gas["median_days_to_close"] == 0.0
    gas_major = _row(rows, domain="gas", severity="major")
    assert (gas_major["found"], gas_major["closed"], gas_major["median_days_to_close"]) == (1, 1, 40.0)
    assert _row(rows, domain="construction_site", severity="general")["overdue_at_end"] == 1
    assert _row(rows, domain="self_built_house", severity="major")["open_at_end"] == 1
    assert _row(figures["hazards"]["by_domain"], domain="gas")["closure_rate"] == 0.5
    districts = {r["district"]: r for r in figures["hazards"]["by_district"]}
    assert districts["640104"]["name"] == "兴庆区" and districts["640104"]["found"] == 4
    assert (districts["640106"]["found"], districts["640106"]["open_at_end"]) == (1, 2)

    assert figures["inspections"] | {"by_domain": None} == {"total": 6, "inspected": 5, "no_access": 1,
                                                           "subjects": 5, "by_domain": None}
    majors = figures["majors"]
    assert (majors["found"], majors["closed"], majors["open_at_end"], majors["overdue_at_end"]) == (1, 1, 1, 0)
    assert [m["id"] for m in majors["open_list"]] == [str(story.ids["h3"])]
    assert majors["open_list"][0]["district_name"] == "金凤区" and majors["open_list"][0]["reported_on"] == "2026-02-01"
    assert figures["recurrences"]["total"] == 1 and figures["recurrences"]["to_date"] == 1
    assert _row(figures["recurrences"]["by_domain"], domain="self_built_house")["recurrences"] == 1

    [campaign] = figures["coverage"]["campaigns"]
    assert campaign["name"] == "城镇燃气安全专项整治"
    assert (campaign["registered"], campaign["inspected"], campaign["coverage"]) == (4, 3, 0.75)

    cases = figures["cases"]
    assert (cases["transferred"], cases["decided"], cases["fines"], cases["fine_total_yuan"]) == (1, 1, 1, "5000.00")
    assert {p["kind"]: p["cases"] for p in cases["by_penalty"]} == {"fine": 1, "warning": 1}
    assert cases["decided_list"][0]["case_no"] == "银建罚移〔2026〕1号"

    credit = figures["credit"]
    assert credit["deductions"]["confirmed"] == 2 and credit["deductions"]["points_confirmed"] == 18
    assert credit["downgraded_total"] == 1 and credit["downgraded"][0]["grade"] == "B"

    top = figures["top_items"]
    assert (top[0]["item"], top[0]["found"]) == ("G02", 3)
    assert top[0]["text"].startswith("居民用户安装自闭阀")
    assert {t["item"] for t in top} == {"G02", "G07", "SM02"}


def test_a_later_making_gives_the_same_figures(story):
    """What happened after the quarter (h9 closed, h8 reported, a decision recorded late, a campaign visit
    received late) changes nothing in it."""
    first = quarterly.compute("2026Q2")
    set_now(at("2026-12-01T10:00"))
    story_city = story.city
    hazard = db.session.get(Hazard, story.ids["h6"])
    story_city.close("2026-12-01T10:00", hazard)
    story_city.inspect("2026-12-01T11:00", story_city.gas[0], campaign=True)  # the campaign's last subject
    again = quarterly.compute("2026Q2")
    assert again["coverage"]["campaigns"][0]["inspected"] == 3
    for figures in (first, again):
        figures["coverage"]["measured_at"] = None
    assert again == first


def test_comparisons_use_snapshots_when_they_exist_else_compute(story):
    """The previous quarter is computed when nobody made it, and read from its latest complete snapshot once made."""
    figures = quarterly.build("2026Q2")
    comparison = figures["comparisons"]
    assert comparison["previous"]["quarter"] == "2026Q1" and comparison["previous"]["source"] == "computed"
    assert comparison["year_ago"]["quarter"] == "2025Q2" and comparison["year_ago"]["source"] == "computed"
    found = _row(comparison["rows"], key="hazards_found")
    # 2026Q1 found h1, h2, h3, h10; 2025Q2 nothing
    assert (found["value"], found["previous"], found["year_ago"]) == (5, 4, 0)
    assert found["vs_previous"] == {"difference": 1, "percent": 0.25}
    assert found["vs_year_ago"] == {"difference": 5, "percent": None}
    open_end = _row(comparison["rows"], key="open_at_end")
    assert (open_end["value"], open_end["previous"]) == (5, 3)
    rate = _row(comparison["rows"], key="closure_rate")
    # 2026Q1: of h1, h2, h3, h10 only h3 was closed at its end
    assert (rate["value"], rate["previous"], rate["vs_previous"]["difference"]) == (0.4, 0.25, 0.15)
    fines = _row(comparison["rows"], key="fine_total_yuan")
    assert (fines["value"], fines["previous"], fines["vs_previous"]["difference"]) == ("5000.00", "0.00", "5000.00")

    earlier = quarterly.make("2026Q1", actor=story.city.committee)
    db.session.commit()
    again = quarterly.build("2026Q2")["comparisons"]
    assert again["previous"] | {"figures": None} == {"quarter": "2026Q1", "label": "2026年第一季度",
                                                     "source": "snapshot", "version": 1, "sha256": earlier.sha256,
                                                     "figures": None}
    assert again["rows"] == comparison["rows"]


def test_snapshots_are_versions_never_changed(story):
    """Making a quarter again adds a version; the row refuses changes in the ORM and in the database itself."""
    first = quarterly.make("2026Q2", actor=story.city.committee)
    db.session.commit()
    second = quarterly.make("2026Q2", actor=story.city.user)
    db.session.commit()
    assert (first.version, second.version) == (1, 2)
    assert quarterly.latest("2026Q2").id == second.id and quarterly.latest("2026Q2", version=1).id == first.id
    assert quarterly.verify(first) and quarterly.verify(second)
    assert first.sha256 == quarterly.digest(first.figures) and len(first.sha256) == 64
    assert first.figures["key_figures"] == second.figures["key_figures"]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "report.quarterly_made")) == 2

    first.figures = {**first.figures, "hazards": None}
    with pytest.raises(ImmutableSnapshot):
        db.session.commit()
    db.session.rollback()
    for statement in ("UPDATE quarterly_report SET sha256 = 'forged'", "DELETE FROM quarterly_report"):
        with pytest.raises(Exception, match="immutable"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(QuarterlyReport)) == 2
    assert all(quarterly.verify(r) for r in quarterly.listing())
    with pytest.raises(ProblemError) as missing:
        quarterly.latest("2025Q4")
    assert missing.value.code == "not_found"


def test_the_scheduler_makes_last_quarter_once_and_tells_the_committee(story):
    """Every daily firing claims the quarter's slot; only the first after the quarter makes it and notifies."""
    morning = at("2026-07-03T06:30")
    assert jobs.slot("quarterly_report", morning) == "2026Q2"
    assert jobs.run_job("quarterly_report", now=morning, slot=jobs.slot("quarterly_report", morning)) is True
    next_day = at("2026-07-04T06:30")
    assert jobs.run_job("quarterly_report", now=next_day, slot=jobs.slot("quarterly_report", next_day)) is False
    # a rerun of the slot by hand finds the scheduler's snapshot and makes nothing
    assert jobs.run_job("quarterly_report", now=next_day, slot="2026Q2-rerun") is True
    reports = quarterly.listing(quarter="2026Q2")
    assert [(r.version, r.made_by) for r in reports] == [(1, None)]
    assert reports[0].figures["hazards"]["total"]["found"] == 5
    results = [r for r in db.session.scalars(select(JobRun.result).where(JobRun.job == "quarterly_report")
                                                   .order_by(JobRun.id))]
    assert '"made": true' in results[0] and '"made": false' in results[1]
    messages = db.session.scalars(select(Outbox).where(Outbox.kind == "quarterly_report")).all()
    assert [(m.recipient_id, m.dedupe_key) for m in messages] == [
        (story.city.committee.id, f"quarterly:{story.city.committee.id}:2026Q2")]
    assert "2026年第二季度" in messages[0].subject and "排查发现隐患5处" in messages[0].body
    # a person may still make new versions; the scheduler's stays the one it made
    quarterly.make("2026Q2", actor=story.city.committee)
    db.session.commit()
    assert quarterly.scheduled("2026Q2").version == 1 and quarterly.latest("2026Q2").version == 2


def test_who_may_read_the_city_wide_analysis(app):
    """The committee, admins and leaders of a city (or the region) may; county leaders and inspectors may not."""
    with app.app_context():
        assert quarterly.may_read(make_user(roles=["committee"], districts=[]))
        assert quarterly.may_read(make_user(roles=["admin"], districts=[]))
        assert quarterly.may_read(make_user(roles=["leader"], districts=["640100"]))
        assert not quarterly.may_read(make_user(roles=["leader"], districts=["640104"]))
        assert not quarterly.may_read(make_user(roles=["inspector"], districts=["640100"]))
        assert not quarterly.may_read(make_user(roles=["enforcement"], districts=["640100"]))


# --- the files ------------------------------------------------------------------------------------------

@pytest.fixture
def made(story):
    """The committee's snapshot of 2026Q2."""
    report = quarterly.make("2026Q2", actor=story.city.committee)
    db.session.commit()
    return report


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_workbook_holds_the_tables_with_chinese_headers_and_formats(made):
    """Each table is a sheet whose header row is Chinese; numbers are numbers, rates and money formatted."""
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(quarterly.xlsx(made)))
    assert {"说明", "主要指标", "隐患（领域×等级）", "隐患（区县）", "未销号重大隐患", "底数覆盖", "信用等级",
            "案件移交和处罚", "处罚决定", "高频隐患"} <= set(book.sheetnames)
    about = {row[0]: row[1] for row in book["说明"].iter_rows(min_row=2, values_only=True)}
    assert about["季度"] == "2026Q2" and about["SHA-256"] == made.sha256 and about["快照版本"] == "第1版"
    assert about["数据截至（北京时间）"] == "2026-06-30 23:59:59"
    sheet = book["隐患（领域×等级）"]
    header = [cell.value for cell in sheet[1]]
    assert header[:6] == ["领域", "等级", "排查发现", "整改销号", "当季发现已整改", "当季整改率"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rows[0][:4] == ("燃气", "一般隐患", 3, 3)
    assert rows[-1] == ("合计", None, 5, 4, 2, 0.4, 10.5, 3, 5, 3)
    assert sheet.cell(row=len(rows) + 1, column=6).number_format == "0.0%"
    kpis = {row[0]: row for row in book["主要指标"].iter_rows(min_row=2, values_only=True)}
    assert kpis["排查发现隐患"][:5] == ("排查发现隐患", 5, 4, 1, 0.25)
    assert kpis["罚款金额（元）"][1] == 5000.0
    assert [c.value for c in book["主要指标"][1]][1:3] == ["2026年第二季度", "2026年第一季度"]
    cases = {row[0]: row[1] for row in book["案件移交和处罚"].iter_rows(min_row=2, values_only=True)}
    assert cases["罚款金额（元）"] == 5000.0 and cases["处罚种类：警告"] == 1
    assert book["案件移交和处罚"]["B7"].number_format == "#,##0.00"
    decided = list(book["处罚决定"].iter_rows(min_row=2, values_only=True))
    assert decided == [("银建罚移〔2026〕1号", "某燃气公司1", "燃气用户未安装自闭阀拒不整改", "2026-06-20",
                        "银综执罚〔2026〕8号", "罚款、警告", 5000.0)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_report_is_a_government_document_with_the_figures_and_charts(made):
    """Red mark, title, addressee, numbered sections in 仿宋/黑体, the figures in text and tables, the charts."""
    import io

    from docx import Document
    from docx.oxml.ns import qn

    document = Document(io.BytesIO(quarterly.docx(made)))
    paragraphs = [p for p in document.paragraphs if p.text]
    texts = [p.text for p in paragraphs]
    assert texts[:3] == ["银川市住房和城乡建设局", "关于2026年第二季度全市住房城乡建设领域安全生产形势的分析报告", "市安委会："]
    assert str(paragraphs[0].runs[0].font.color.rgb) == "FF0000"
    headings = [t for t in texts if len(t) < 20 and t[1:2] == "、"]
    assert headings == ["一、总体情况", "二、隐患排查整治情况", "三、重大隐患和逾期隐患", "四、“回头看”和底数覆盖情况",
                        "五、企业信用评价情况", "六、违法案件移交和行政处罚情况", "七、突出问题", "八、同比、环比分析",
                        "九、下一步工作建议"]
    body = "\n".join(texts)
    assert "共开展安全检查6次" in body and "排查发现隐患5处，其中重大隐患1处" in body
    assert "整改销号隐患4处" in body and "当季整改率40.0%" in body and "中位数为10.5天" in body
    assert "季末未销号隐患5处（季初3处），其中逾期未整改3处" in body
    assert "与2026年第一季度相比（环比），排查发现隐患增加1处（增长25.0%）" in body
    assert "复发）1处" in body and "作出行政处罚决定1件，其中罚款1件、罚款金额5,000.00元" in body
    assert "数据截至2026年6月30日24时" in body and made.sha256 in body
    overall = paragraphs[texts.index("一、总体情况") + 1]
    assert overall.runs[0].element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    assert paragraphs[texts.index("一、总体情况")].runs[0].element.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    first = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert first[0][:4] == ["领域", "等级", "排查发现", "整改销号"]
    assert first[-1] == ["合计", "", "5", "4", "40.0%", "10.5", "5", "3"]
    assert "表1　各领域隐患排查整治情况" in texts and "图1　各领域隐患排查整治情况" in texts
    captions = [t for t in texts if t.startswith("图")]
    assert len(document.inline_shapes) == len(captions) >= 4
    assert document.core_properties.keywords == f"sha256:{made.sha256}"
    assert document.sections[0].page_width == 7560310  # A4: 210 mm in EMU


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_missing_font_says_what_to_install(made, app, tmp_path):
    """Charts need a CJK font: without one the error names the package and the setting."""
    from server.fonts import FontMissing

    app.config["CASE_PDF_FONT"] = str(tmp_path / "none.ttf")
    with pytest.raises(FontMissing, match="fonts-wqy-zenhei"):
        quarterly.docx(made)
