"""Cases: ID numbers, numbering without gaps, the 90-day warnings, the dossier and its verification, the CLI."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpers import make_enterprise, make_jpeg, make_subject, make_user, sha256
from server.cases import dossier, idcard, letter
from server.cases import service as case_service
from server.cases.jobs import threshold
from server.cases.models import Case, CaseCounter
from server.database import set_now, utcnow
from server.extensions import db
from server.inspections.models import Inspection
from server.notifications.models import Outbox
from server.photos import service as photo_service
from server.photos.models import Photo
from server.scheduler import jobs

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Numbering and the outbox claims run on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture(autouse=True)
def dossier_root(request, tmp_path):
    """Keep each test's dossiers in its own folder (the default is the repository's instance/)."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["CASE_DOSSIER_ROOT"] = str(tmp_path / "dossiers")


@pytest.fixture
def clock():
    """Set the clock for a test and put it back afterwards."""
    yield set_now
    set_now(None)


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


class Scene:
    """Two officers of 兴庆区, an enterprise's subject with one inspection and one received photo."""

    def __init__(self):
        self.one = make_user("zf1", roles=["enforcement"], districts=["640104"], name="执法员甲")
        self.two = make_user("zf2", roles=["enforcement"], districts=["640104"], name="执法员乙")
        inspector = make_user("insp", roles=["inspector"], districts=["640104"])
        self.enterprise = make_enterprise(name="宁夏某建筑公司")
        self.subject = make_subject(enterprises=[self.enterprise], domain="construction_site", name="某小区3#楼")
        self.inspection = Inspection(id=uuid.uuid4(), subject_id=self.subject.id, inspector_id=inspector.id,
                                     district_code="640104", domain="construction_site",
                                     checklist_code="construction-site", checklist_version=1,
                                     started_at=utcnow() - timedelta(hours=2), payload_hash="x")
        db.session.add(self.inspection)
        self.photo_bytes = make_jpeg((200, 150))
        photo_service.storage().put_bytes(sha256(self.photo_bytes), self.photo_bytes)
        db.session.add(Photo(id=uuid.uuid4(), sha256=sha256(self.photo_bytes), role="evidence", district_code="640104",
                             subject_id=self.subject.id, inspection_id=self.inspection.id, declared_by=inspector.id,
                             received_at=utcnow(), content_type="image/jpeg", size=len(self.photo_bytes)))
        db.session.commit()

    def body(self, **overrides) -> dict:
        body = {"client_key": uuid.uuid4(), "cause": "危大工程未编制专项施工方案", "facts": "现场检查发现深基坑无专项方案。",
                "articles_violated": ["《危险性较大的分部分项工程安全管理规定》第十条"],
                "officers": [{"user_id": self.one.id, "certificate_no": "A1"}, {"user_id": self.two.id}],
                "inspection_ids": [self.inspection.id],
                "evidence": [{"kind": "site_record", "description": "现场检查记录",
                              "photos": [sha256(self.photo_bytes)],
                              "records": [{"type": "inspection", "id": self.inspection.id}]}]}
        body.update(overrides)
        return body

    def create(self, **overrides) -> Case:
        case, created = case_service.create(data=self.body(**overrides), actor=self.one,
                                            districts=frozenset({"640104"}))
        assert created
        db.session.commit()
        return case


# --- identity card numbers ----------------------------------------------------------------------

def test_identity_card_numbers_are_checked_by_gb_11643():
    """The standard's example passes; a changed digit, an impossible birth date and a short number are refused."""
    assert idcard.validate("11010519491231002X") is None
    assert idcard.check_char("11010519491231002") == "X"
    assert "check character" in idcard.validate("110105194912310021")
    assert "birth date" in idcard.validate("110105194902300021")
    assert "18 characters" in idcard.validate("11010519491231002")
    assert idcard.normalize(" １１０１０５１９４９１２３１００２x ") == "11010519491231002X"
    assert idcard.mask("11010519491231002X") == "110105********002X"


def test_letters_break_lines_by_the_chinese_rules():
    """No line of the PDF letter starts with a closing mark or ends with an opening one."""
    measure = len  # one unit per character
    lines = letter.wrap("甲乙丙丁，戊己庚《辛壬》癸。", 4, measure)
    assert all(line[0] not in letter.NOT_AT_START for line in lines[1:])
    assert all(line[-1] not in letter.NOT_AT_END for line in lines)
    assert "".join(lines) == "甲乙丙丁，戊己庚《辛壬》癸。"


# --- numbering ----------------------------------------------------------------------------------

def test_numbers_follow_the_prefix_and_year_and_a_rolled_back_creation_gives_its_number_back(app, clock):
    """PREFIX〔YYYY〕N号 counted per local year; a rollback after numbering leaves no gap; a new year starts at 1."""
    with app.app_context():
        scene = Scene()
        clock(at("2026-12-31T23:30"))
        first = scene.create()
        assert first.case_no == "银建罚移〔2026〕1号"
        case_service.create(data=scene.body(), actor=scene.one, districts=None)
        db.session.flush()
        db.session.rollback()  # the request failed after the number was taken
        assert scene.create().case_no == "银建罚移〔2026〕2号"
        clock(at("2027-01-01T00:10"))  # 2026-12-31 16:10 UTC, already 2027 in 银川
        assert scene.create().case_no == "银建罚移〔2027〕1号"
        app.config["CASE_NUMBER_PREFIX"] = "银建移"
        assert scene.create().case_no == "银建移〔2027〕2号"
        assert [(c.year, c.last_number) for c in db.session.scalars(select(CaseCounter).order_by(CaseCounter.year))] \
            == [(2026, 2), (2027, 2)]


# --- the 90-day limit ----------------------------------------------------------------------------

def test_officers_are_warned_at_30_15_7_and_0_days_once_each(app, clock):
    """The daily job warns both officers at each threshold once; a missed day still warns; decided cases are quiet."""
    with app.app_context():
        scene = Scene()
        clock(at("2026-03-01T09:00"))
        case = scene.create()
        quiet = scene.create()
        assert case.decision_due == date(2026, 5, 30)
        # decide the second case: no warnings for it
        for action, data in (("transfer", {"client_key": uuid.uuid4()}), ("accept", {}),
                             ("decide", {"penalty_kinds": ["warning"], "decision_no": "银综执罚〔2026〕1号"})):
            from server.cases import flows
            from server.cases.enums import Action
            flows.act(case_id=quiet.id, action=Action(action), data=data, actor=scene.one, districts=None)
        db.session.commit()

        def run(local: str) -> list[str]:
            now = at(local)
            before = db.session.scalar(select(Outbox.id).order_by(Outbox.id.desc()).limit(1)) or 0
            assert jobs.run_job("case_deadlines", now=now, slot=jobs.slot("case_deadlines", now))
            return [o.dedupe_key for o in db.session.scalars(select(Outbox).where(Outbox.id > before)
                                                              .order_by(Outbox.id))]

        assert run("2026-04-29T07:00") == []  # 31 days left
        assert run("2026-04-30T07:00") == [f"case_deadline:{case.id}:30:{scene.one.id}",
                                           f"case_deadline:{case.id}:30:{scene.two.id}"]
        assert run("2026-05-01T07:00") == []
        assert run("2026-05-16T07:00") == [f"case_deadline:{case.id}:15:{u}" for u in (scene.one.id, scene.two.id)]
        # the scheduler was down from 5-20 to 5-25: the 7-day warning comes late, once
        assert run("2026-05-25T07:00") == [f"case_deadline:{case.id}:7:{u}" for u in (scene.one.id, scene.two.id)]
        assert run("2026-05-30T07:00") == [f"case_deadline:{case.id}:0:{u}" for u in (scene.one.id, scene.two.id)]
        assert run("2026-06-02T07:00") == []
        key = f"case_deadline:{case.id}:0:{scene.one.id}"
        message = db.session.scalar(select(Outbox).where(Outbox.dedupe_key == key))
        assert case.case_no in message.subject and "第六十条" in message.body
        assert not jobs.run_job("case_deadlines", now=at("2026-06-02T08:00"),
                                slot=jobs.slot("case_deadlines", at("2026-06-02T08:00")))
        assert threshold(40, [30, 15, 7, 0]) is None and threshold(-3, [30, 15, 7, 0]) == 0


# --- the dossier ---------------------------------------------------------------------------------

def _rewrite(source, target, change: dict[str, bytes | None]) -> None:
    """Copy a ZIP, replacing (bytes) or dropping (None) members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    new.writestr(info.filename, change[info.filename])
                continue
            new.writestr(info, old.read(info.filename))


def test_cli_files_transfers_and_verifies_a_dossier_and_names_every_tampered_file(app, tmp_path):
    """cases create/transfer/dossier/verify; an altered photo, a dropped letter and an added file all exit 1."""
    with app.app_context():
        scene = Scene()
        spec = scene.body(client_key=str(uuid.uuid4()), inspection_ids=[str(scene.inspection.id)],
                          evidence=[{"kind": "audiovisual", "description": "基坑照片",
                                     "photos": [sha256(scene.photo_bytes)]}])
        spec.pop("client_key")
    path = tmp_path / "case.json"
    path.write_text(json.dumps(spec, ensure_ascii=False, default=str), encoding="utf-8")
    runner = app.test_cli_runner()
    created = runner.invoke(args=["cases", "create", str(path), "--actor", "zf1"])
    assert created.exit_code == 0, created.output
    year = datetime.now(SHANGHAI).year
    case_no = f"银建罚移〔{year}〕1号"
    assert case_no in created.output
    sent = runner.invoke(args=["cases", "transfer", case_no, "--actor", "zf1", "--agency", "银川市综合行政执法局"])
    assert sent.exit_code == 0 and "dossier SHA-256" in sent.output, sent.output
    out = tmp_path / "dossier.zip"
    written = runner.invoke(args=["cases", "dossier", case_no, "-o", str(out)])
    assert written.exit_code == 0, written.output
    good = runner.invoke(args=["cases", "verify", str(out)])
    assert good.exit_code == 0 and "intact" in good.output, good.output
    with app.app_context():
        assert sha256(out.read_bytes()) == db.session.scalar(select(Case.dossier_sha256))

    photo = f"photos/{sha256(scene.photo_bytes)}.jpg"
    bad = tmp_path / "bad.zip"
    _rewrite(out, bad, {photo: scene.photo_bytes + b"\0", "transfer-letter.pdf": None})
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("extra.txt", "后加的文件")
    outcome = runner.invoke(args=["cases", "verify", str(bad)])
    assert outcome.exit_code == 1
    assert f"altered: {photo}" in outcome.output
    assert "missing: transfer-letter.pdf" in outcome.output
    assert "unlisted: extra.txt" in outcome.output
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    assert runner.invoke(args=["cases", "verify", str(garbage)]).exit_code == 1
    refused = runner.invoke(args=["cases", "accept", case_no, "--actor", "insp"])
    assert refused.exit_code != 0 and "enforcement" in refused.output


def test_the_dossier_holds_the_letter_summary_originals_records_and_a_manifest(app, tmp_path):
    """Every file is listed with its SHA-256; the photo is the original; the PDF embeds a CJK font; the DOCX reads."""
    from docx import Document

    with app.app_context():
        scene = Scene()
        case = scene.create(party={"kind": "person", "name": "李四", "id_number": "11010519491231002X"},
                            place={"district": "640104", "address": "兴庆区某小区3#楼"})
        built = dossier.write(case, tmp_path / "d.zip", generated_at=utcnow())
    with zipfile.ZipFile(built.path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
        assert set(listed) == set(archive.namelist()) - {"manifest.json"}
        assert all(sha256(archive.read(name)) == digest for name, digest in listed.items())
        assert archive.read(f"photos/{sha256(scene.photo_bytes)}.jpg") == scene.photo_bytes
        record = json.loads(archive.read(f"records/inspection-{scene.inspection.id}.json"))
        assert record["id"] == str(scene.inspection.id) and record["photos"][0]["sha256"] == sha256(scene.photo_bytes)
        pdf = archive.read("transfer-letter.pdf")
        assert pdf.startswith(b"%PDF") and b"FontFile2" in pdf
        document = Document(archive.open("transfer-letter.docx"))
        summary = archive.read("case-summary.txt").decode()
    text = "\n".join(p.text for p in document.paragraphs)
    assert text.startswith("行政违法案件移送函\n银建罚移〔")
    assert "银川市综合行政执法局：" in text and "李四（公民身份号码：11010519491231002X）" in text
    assert "附件：1. 案件摘要" in text and "银川市住房和城乡建设局" in text
    assert "【勘验笔录、现场笔录】现场检查记录" in summary and "危大工程未编制专项施工方案" in summary
    assert built.manifest_sha256 == sha256(json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n")


def test_a_missing_font_is_a_clear_error(app, tmp_path):
    """A PDF cannot be drawn without a CJK font: the error says what to install or set, and no ZIP is left."""
    with app.app_context():
        scene = Scene()
        case = scene.create()
        app.config["CASE_PDF_FONT"] = str(tmp_path / "nope.ttf")
        with pytest.raises(letter.FontMissing, match="fonts-wqy-zenhei"):
            dossier.write(case, tmp_path / "out" / "d.zip", generated_at=utcnow())
    assert list((tmp_path / "out").iterdir()) == []
