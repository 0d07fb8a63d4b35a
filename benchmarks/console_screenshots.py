#!/usr/bin/env python3
"""Screenshots of the console's main pages for docs/screenshots/, on the demo city with its history.

A fresh SQLite database in a temporary folder gets the demo seed (eight weeks
of history), a local server serves it, and Debian's headless Chromium
(Selenium with the system's chromedriver) signs in and captures each page in
Chinese. Nothing leaves this machine.

    .venv/bin/python benchmarks/console_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHOTS = [  # (file, account, path or a function of the page ids)
    ("dashboard.png", "leader", "/console/dashboard"),
    ("map.png", "leader", "/console/map"),
    ("hazards.png", "leader", "/console/hazards?state=open"),
    ("hazard-detail.png", "leader", "hazard_with_photos"),
    ("supervision.png", "leader", "/console/supervision"),
    ("inspection-detail.png", "leader", "inspection_with_hazards"),
    ("enterprise-credit.png", "leader", "enterprise_with_deductions"),
    ("credit-queue.png", "leader", "/console/credit"),
    ("case-new.png", "enforcement", "case_from_hazard"),
    ("admin-rules.png", "admin", "/console/admin/rules"),
    ("login.png", None, "/console/login"),
]


def ids(app) -> dict[str, str]:
    """Pick pages worth showing from the seeded history."""
    from sqlalchemy import func, select

    from server.credit.models import CreditDeduction
    from server.extensions import db
    from server.hazards.models import Hazard
    from server.photos.models import Photo

    with app.app_context():
        with_after = db.session.scalar(select(Photo.hazard_id).where(Photo.role == "after", Photo.received_at.is_not(None),
                                                                     Photo.hazard_id.is_not(None)).limit(1))
        inspection = db.session.scalar(select(Hazard.inspection_id).group_by(Hazard.inspection_id)
                                       .order_by(func.count().desc()).limit(1))
        enterprise = db.session.scalar(select(CreditDeduction.enterprise_id).group_by(CreditDeduction.enterprise_id)
                                       .order_by(func.count().desc()).limit(1))
        open_hazard = db.session.scalar(select(Hazard.id).where(Hazard.status == "rectifying",
                                                                Hazard.enterprise_id.is_not(None)).limit(1))
    return {"hazard_with_photos": f"/console/hazards/{with_after}",
            "inspection_with_hazards": f"/console/inspections/{inspection}",
            "enterprise_with_deductions": f"/console/enterprises/{enterprise}",
            "case_from_hazard": f"/console/cases/new?hazard={open_hazard}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="qingling-shots-"))
    try:
        from flask_migrate import upgrade
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from werkzeug.serving import make_server

        from server import create_app, demo
        from server.extensions import db

        app = create_app("testing", DATABASE_URL=f"sqlite:///{workdir / 'demo.db'}", PHOTO_ROOT=str(workdir / "photos"),
                         REQUEST_LOG=False, CASE_DOSSIER_ROOT=str(workdir / "dossiers"))
        with app.app_context():
            upgrade()
            demo.seed(if_empty=True)
            db.session.remove()
        pages = ids(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
                         "--hide-scrollbars", "--lang=zh-CN"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                  options=options)
        try:
            signed_in_as = None
            for name, account, target in SHOTS:
                if account != signed_in_as:
                    driver.delete_all_cookies()
                    if account is not None:
                        driver.get(f"{base}/console/login")
                        driver.find_element(By.ID, "username").send_keys(account)
                        driver.find_element(By.ID, "password").send_keys(f"demo-{account}")
                        driver.find_element(By.ID, "login-submit").click()
                    signed_in_as = account
                path = pages.get(target, target)
                driver.get(base + path)
                time.sleep(1.5)  # charts and the map draw after load
                height = driver.execute_script("return Math.min(document.body.scrollHeight, 2400)")
                driver.set_window_size(1440, max(height, 900))
                driver.save_screenshot(str(out / name))
                driver.set_window_size(1440, 1000)
                print(f"{name}: {path}")
        finally:
            driver.quit()
            server.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
