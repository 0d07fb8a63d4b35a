"""Journeys in a real browser: Debian's Chromium driven by Selenium against a live server.

Each test signs in through the form, clicks what a person clicks and asserts
what the page shows. The browser is never downloaded: the Makefile's
system-deps installs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
import requests

from helpers import PASSWORD, hazard_item, inspection_payload

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
                                reason="Debian's chromium and chromium-driver are not installed (make system-deps)")


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with downloads going to tmp_path/downloads."""
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


def _wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def sign_in(driver, base: str, username: str) -> None:
    """Sign in through the console's form."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "current-user"))


def api_headers(base: str, username: str) -> dict:
    response = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                             timeout=30)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_an_inspectors_submission_appears_on_the_dashboard(city, live_server, browser):
    """A leader watching the dashboard sees a new hazard counted after an inspector's phone submits it,
    finds it in the list, and sees its point on the map drawn without tiles over the district outlines."""
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, "leader")
    browser.get(f"{live_server}/console/dashboard")
    assert browser.find_element(By.ID, "zero-total").text == "2"
    assert "未销号隐患" in browser.find_element(By.ID, "card-open").text

    hazard = hazard_item("G07", description="液化气钢瓶超期未检")
    payload = inspection_payload(city.subject_a, hazards=[hazard])
    response = requests.post(f"{live_server}/api/v1/inspections", json=payload,
                             headers=api_headers(live_server, "insp_a"), timeout=30)
    assert response.status_code == 201, response.text

    browser.refresh()
    assert browser.find_element(By.ID, "zero-total").text == "3"
    browser.find_element(By.ID, "card-open").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "hazard-table"))
    assert "液化气钢瓶超期未检" in browser.find_element(By.ID, "hazard-table").text

    browser.get(f"{live_server}/console/map")
    map_node = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#map[data-hazard-points]"))
    assert map_node.get_attribute("data-hazard-points") == "3"
    assert map_node.get_attribute("data-tiles") == "off"
    assert int(map_node.get_attribute("data-outlines")) == 6  # schematic outlines of the leader's districts (银川: six)
    assert browser.find_elements(By.CSS_SELECTOR, "#map canvas")  # drawn, without a single tile
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_a_leader_closes_a_major_hazard(city, live_server, browser):
    """A leader opens a major hazard waiting for review, sees its evidence checks, accepts it with a note,
    and the page then shows it closed, its supervision lifted and the event on the timeline."""
    from selenium.webdriver.common.by import By

    headers = api_headers(live_server, "insp_a")
    hazard = hazard_item("GM01", description="地下室使用液化石油气", severity="major")
    assert requests.post(f"{live_server}/api/v1/inspections", headers=headers, timeout=30,
                         json=inspection_payload(city.subject_a, hazards=[hazard])).status_code == 201
    base = f"{live_server}/api/v1/hazards/{hazard['id']}"
    for path, body in (("plan", {"responsible": "产权人", "measures": "迁出地下室", "funds_yuan": 5000,
                                 "deadline": "2030-01-01", "contingency_plan": "专人值守"}),
                       ("notices", {"note": "限期整改"}), ("rectifications", {"note": "已迁出"})):
        response = requests.post(f"{base}/{path}", json={"id": str(uuid.uuid4()), **body}, headers=headers,
                                 timeout=30)
        assert response.status_code == 201, response.text

    sign_in(browser, live_server, "leader")
    browser.get(f"{live_server}/console/hazards?severity=major&status=pending_review")
    browser.find_element(By.LINK_TEXT, "地下室使用液化石油气").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "review-form"))
    assert browser.find_element(By.ID, "supervision-badge").is_displayed()
    assert "整改后照片缺失" in browser.find_element(By.ID, "evidence-checks").text
    browser.find_element(By.ID, "review-note").send_keys("现场复查，已迁出地下室，同意销号")
    browser.find_element(By.ID, "accept").click()
    _wait(browser, lambda d: "隐患已销号" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    assert "已销号" in browser.find_element(By.CSS_SELECTOR, ".badge.status-closed").text
    assert not browser.find_elements(By.ID, "supervision-badge")
    timeline = browser.find_element(By.ID, "timeline").text
    assert "复核通过，销号" in timeline and "现场复查，已迁出地下室" in timeline and "张领导" in timeline


def test_an_officer_builds_a_case_and_downloads_its_dossier(city, live_server, browser):
    """An officer ticks a hazard in the list, builds a case from it with a second officer, transfers it,
    and downloads the dossier the transfer sent."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, live_server, "officer")
    browser.get(f"{live_server}/console/hazards?district=640104")
    browser.find_element(By.CSS_SELECTOR, f"input[name='hazard'][value='{city.hazard_a}']").click()
    browser.find_element(By.ID, "build-case").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "case-form"))
    assert "兴庆未安装自闭阀" in browser.find_element(By.ID, "case-hazards").text
    assert browser.find_element(By.ID, "case-party").text == "兴庆燃气有限公司"
    browser.find_element(By.ID, "case-facts").send_keys("经检查，该户未安装燃气自闭阀，经责令整改逾期未改正。")
    browser.find_element(By.ID, "case-articles").send_keys("《城镇燃气管理条例》第四十九条")
    Select(browser.find_element(By.ID, "case-officers")).select_by_value(str(city.users.officer2.id))
    browser.find_element(By.ID, "case-submit").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "case-number"))
    number = browser.find_element(By.ID, "case-number").text
    assert number.startswith("银建罚移〔") and browser.find_element(By.ID, "case-status").text == "草稿"

    browser.find_element(By.ID, "transfer-submit").click()
    browser.switch_to.alert.accept()
    _wait(browser, lambda d: d.find_element(By.ID, "case-status").text == "已移送")
    browser.find_element(By.ID, "dossier-download").click()
    deadline = time.monotonic() + 30
    files = []
    while time.monotonic() < deadline:
        files = [p for p in browser.downloads.iterdir() if p.suffix == ".zip"]
        if files:
            break
        time.sleep(0.2)
    assert files, "the dossier was not downloaded"
    import zipfile

    with zipfile.ZipFile(files[0]) as archive:
        names = archive.namelist()
    assert "manifest.json" in names and any(name.endswith(".pdf") for name in names)


def test_an_admin_moves_an_inspector_to_another_district(city, live_server, browser):
    """An administrator opens an inspector from the users list, moves them from 兴庆区 to 金凤区 and saves:
    the page says so, the phone signed in before is signed out, and signed in again it lists 金凤区's hazards."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    phone = api_headers(live_server, "insp_a")
    sign_in(browser, live_server, "admin")
    browser.get(f"{live_server}/console/admin/users")
    browser.find_element(By.LINK_TEXT, "insp_a").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "user-edit-form"))
    assert browser.find_element(By.ID, "user-districts").text == "兴庆区"
    districts = Select(browser.find_element(By.ID, "user-districts-select"))
    districts.deselect_all()
    districts.select_by_value("640106")
    browser.find_element(By.ID, "user-save").click()
    _wait(browser, lambda d: "用户 insp_a 已更新。" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    assert browser.find_element(By.ID, "user-districts").text == "金凤区"
    assert browser.find_element(By.ID, "user-tokens").text == "0"
    assert requests.get(f"{live_server}/api/v1/hazards", headers=phone, timeout=30).status_code == 401
    items = requests.get(f"{live_server}/api/v1/hazards", headers=api_headers(live_server, "insp_a"),
                         timeout=30).json()["items"]
    assert [item["id"] for item in items] == [city.hazard_b]
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
