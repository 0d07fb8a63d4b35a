"""The quarterly analysis in the console: a committee member makes last quarter's analysis in a real browser,
sees its figures and charts, downloads the DOCX and XLSX, and the files read back hold the right figures;
who may open the page (test client)."""

from __future__ import annotations

import io
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpers import PASSWORD, hazard_item, inspection_payload, login, make_subject, make_user
from server.database import set_now
from console.web import console_login, post_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAS_BROWSER = Path(CHROMIUM).exists() and Path(DRIVER).exists()


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def local(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()


@pytest.fixture
def quarter(app, client):
    """The third quarter of 2026 in 兴庆区 sent through the phone API (three hazards, one closed), then 8 October.

    Users: a committee member, a leader of 银川市, a leader of 金凤区, an inspector.
    """
    set_now(at("2026-07-01T08:00"))
    with app.app_context():
        make_user("anwei", roles=["committee"], districts=[], name="安委会委员")
        make_user("city_boss", roles=["leader"], districts=["640100"], name="市领导")
        make_user("county_boss", roles=["leader"], districts=["640106"], name="区领导")
        make_user("insp", roles=["inspector"], districts=["640104"], name="检查员")
        subject = make_subject()
    set_now(at("2026-07-15T10:00"))
    insp = login(client, "insp")
    first, second = hazard_item("G02"), hazard_item("G07", description="钢瓶超期未检")
    payload = inspection_payload(subject, hazards=[first, second], started_at=local("2026-07-15T09:30"),
                                 finished_at=local("2026-07-15T09:50"))
    assert client.post("/api/v1/inspections", json=payload, headers=insp).status_code == 201
    set_now(at("2026-08-01T10:00"))
    boss = login(client, "city_boss")
    for headers, action, body in ((insp, "rectifications", {"note": "已安装自闭阀"}),
                                  (boss, "reviews", {"decision": "accept", "note": "现场核查已整改"})):
        response = client.post(f"/api/v1/hazards/{first['id']}/{action}", json={"id": str(uuid.uuid4()), **body},
                               headers=headers)
        assert response.status_code == 201, response.get_json()
    set_now(at("2026-08-20T10:00"))
    insp = login(client, "insp")
    later = hazard_item("G02", description="自闭阀损坏")
    payload = inspection_payload(subject, hazards=[later], started_at=local("2026-08-20T09:30"),
                                 finished_at=local("2026-08-20T09:50"))
    assert client.post("/api/v1/inspections", json=payload, headers=insp).status_code == 201
    set_now(at("2026-10-08T09:00"))
    yield
    set_now(None)


# --- the test client: who sees what ------------------------------------------------------------------------

def test_the_page_is_for_the_committee_and_city_leaders(client, quarter):
    """The committee and a city leader open it and make a version; a county leader gets 403; an inspector
    has no such entry in the navigation; English is offered too."""
    console_login(client, "anwei")
    page = client.get("/console/reports/quarterly")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "季度安全生产形势分析" in html and 'value="2026Q3" selected' in html and "尚未生成季度分析" in html
    made = post_form(client, "/console/reports/quarterly", {"quarter": "2026Q3"}, page="/console/reports/quarterly")
    assert made.status_code == 302 and made.headers["Location"].endswith("/console/reports/quarterly/2026Q3?version=1")
    detail = client.get("/console/reports/quarterly/2026Q3?version=1").get_data(as_text=True)
    assert 'id="kf-found">3<' in detail and 'id="kf-closed">1<' in detail and 'id="kf-closure-rate">33.3%<' in detail
    chart = client.get("/console/reports/quarterly/2026Q3/v1/chart-1.png")
    assert chart.status_code == 200 and chart.data.startswith(b"\x89PNG")
    assert client.get("/console/reports/quarterly/2026Q3/v1/chart-99.png").status_code == 404
    post_form(client, "/console/language/en", {"next": "/console/reports/quarterly"})
    english = client.get("/console/reports/quarterly").get_data(as_text=True)
    assert "Quarterly safety analysis" in english and "Make the analysis" in english

    other = client.application.test_client()
    console_login(other, "city_boss")
    assert other.get("/console/reports/quarterly/2026Q3").status_code == 200
    assert post_form(other, "/console/reports/quarterly", {"quarter": "2026Q3"},
                     page="/console/reports/quarterly").status_code == 302
    county = client.application.test_client()
    console_login(county, "county_boss")
    refused = county.get("/console/reports/quarterly")
    assert refused.status_code == 403 and "仅限安委会" in refused.get_data(as_text=True)
    assert county.get("/console/reports/quarterly/2026Q3/download/docx").status_code == 403
    inspector = client.application.test_client()
    console_login(inspector, "insp")
    assert "季度分析" not in inspector.get("/console/dashboard").get_data(as_text=True)
    assert inspector.get("/console/reports/quarterly").status_code == 403


def test_a_quarter_not_begun_is_refused_on_the_form(client, quarter):
    """Making a quarter that has not begun sends the person back with the reason; nothing is made."""
    console_login(client, "anwei")
    answer = post_form(client, "/console/reports/quarterly", {"quarter": "2027Q1"}, page="/console/reports/quarterly")
    assert answer.status_code in (302, 422)
    assert "尚未生成季度分析" in client.get("/console/reports/quarterly").get_data(as_text=True)


# --- a real browser ----------------------------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    """A headless Chromium (Debian's) with downloads going to tmp_path/downloads."""
    if not HAS_BROWSER:
        pytest.skip("Debian's chromium and chromium-driver are not installed (make system-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--lang=zh-CN"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _downloaded(folder: Path, suffix: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == suffix]
        if done and not any(p.suffix == ".crdownload" for p in folder.iterdir()):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} file was downloaded into {folder}: {list(folder.iterdir())}")


def test_the_committee_makes_and_downloads_the_quarterly_report(quarter, live_server, browser):
    """A committee member signs in, opens 季度分析 from the navigation, makes 2026Q3, sees its figures and
    charts, and downloads the report: the DOCX read back with python-docx and the XLSX hold the right figures."""
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server}/console/login")
    browser.find_element(By.ID, "username").send_keys("anwei")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "current-user"))
    browser.find_element(By.LINK_TEXT, "季度分析").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "make-form"))
    assert browser.find_element(By.ID, "make-quarter").get_attribute("value") == "2026Q3"
    browser.find_element(By.ID, "make-submit").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "snapshot-meta"))

    assert "已生成2026年第三季度分析（第1版）" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert browser.find_element(By.ID, "kf-found").text == "3"
    assert browser.find_element(By.ID, "kf-closed").text == "1"
    assert browser.find_element(By.ID, "kf-open").text == "2"
    assert browser.find_element(By.ID, "snapshot-as-of").text == "2026-09-30 23:59:59"
    sha256 = browser.find_element(By.ID, "snapshot-sha256").text
    assert len(sha256) == 64
    found = browser.find_element(By.ID, "kpi-hazards_found").find_elements(By.TAG_NAME, "td")
    assert [cell.text for cell in found[:3]] == ["排查发现隐患", "3", "0"]
    images = browser.find_elements(By.CSS_SELECTOR, "#charts img")
    assert len(images) >= 4
    _wait(browser, lambda d: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
                                 for img in images))

    browser.find_element(By.ID, "download-docx").click()
    report = _downloaded(browser.downloads, ".docx")
    assert report.name == "2026年第三季度安全生产形势分析（第1版）.docx"
    from docx import Document

    document = Document(str(report))
    text = "\n".join(p.text for p in document.paragraphs)
    assert text.startswith("银川市住房和城乡建设局\n")
    assert "关于2026年第三季度全市住房城乡建设领域安全生产形势的分析报告" in text and "市安委会：" in text
    assert "共开展安全检查2次" in text and "排查发现隐患3处，其中重大隐患0处" in text
    assert "整改销号隐患1处" in text and "当季整改率33.3%" in text
    assert "季末未销号隐患2处（季初0处）" in text and sha256 in text
    totals = [cell.text for cell in document.tables[0].rows[-1].cells]
    assert totals[:4] == ["合计", "", "3", "1"]
    assert len(document.inline_shapes) >= 4

    browser.find_element(By.ID, "download-xlsx").click()
    workbook = _downloaded(browser.downloads, ".xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook.read_bytes()))["隐患（领域×等级）"]
    assert list(sheet.iter_rows(values_only=True))[-1][:6] == ("合计", None, 3, 1, 1, pytest.approx(1 / 3, abs=1e-4))
