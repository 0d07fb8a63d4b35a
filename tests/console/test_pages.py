"""Every console page through the Flask test client: scoping to districts, actions, exports, roles."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from console.web import console_login, post_form
from helpers import hazard_item, inspection_payload, login, submit


def test_dashboard_counts_what_the_user_may_see(city, client):
    """The dashboard of a 兴庆区 inspector counts its one open hazard; the city leader's counts both."""
    console_login(client, "insp_a")
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r'id="zero-total">1<', page)
    assert "金凤区" not in page.split('id="zero-table"')[1].split("</table>")[0]
    other = client.application.test_client()
    console_login(other, "leader")
    page = other.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r'id="zero-total">2<', page)
    assert "兴庆区" in page and "金凤区" in page


def test_an_inspector_never_sees_another_districts_data(city, client):
    """An inspector of 640104 sees no 640106 hazard, inspection or subject: not in lists, exports or the map,
    and its detail pages answer 404 as if it did not exist."""
    console_login(client, "insp_a")
    for path in ("/console/hazards", "/console/inspections", "/console/subjects", "/console/map/points.json",
                 "/console/hazards?format=csv", "/console/subjects?format=csv", "/console/enterprises"):
        body = client.get(path).get_data(as_text=True)
        assert "金凤" not in body, path
    assert "兴庆未安装自闭阀" in client.get("/console/hazards").get_data(as_text=True)
    assert client.get(f"/console/hazards/{city.hazard_b}").status_code == 404
    assert client.get(f"/console/inspections/{city.inspection_b}").status_code == 404
    assert client.get(f"/console/subjects/{city.subject_b.id}").status_code == 404
    assert client.get(f"/console/enterprises/{city.enterprise_b.id}").status_code == 404
    assert client.get("/console/hazards?district=640106").status_code == 422


def test_hazard_list_filters(city, client):
    """The list narrows by district, state and search text."""
    console_login(client, "leader")
    body = client.get("/console/hazards?district=640106").get_data(as_text=True)
    assert "金凤软管老化" in body and "兴庆未安装自闭阀" not in body
    assert "no-rows" in client.get("/console/hazards?state=closed").get_data(as_text=True)
    body = client.get("/console/hazards?q=软管").get_data(as_text=True)
    assert "金凤软管老化" in body and "兴庆未安装自闭阀" not in body


def test_a_tampered_list_cursor_is_refused_not_a_server_error(city, client):
    """A cursor edited in the address bar (no UTC offset, not a date, not an id) gets a 422 page."""
    from server import pagination

    console_login(client, "leader")
    for fields in (["2026-01-01T00:00:00", "0f7bd0f3-5a4c-4bb4-a6a6-3d3cbb9f0e21"], ["yesterday", "x"],
                   ["2026-01-01T00:00:00+00:00", "not-an-id"]):
        cursor = pagination.encode(fields)
        for path in ("/console/hazards", "/console/inspections", "/console/hazards?q=软管&"):
            separator = "" if path.endswith("&") else "?"
            assert client.get(f"{path}{separator}cursor={cursor}").status_code == 422, (path, fields)


def test_exports_open_in_excel(city, client):
    """CSV exports start with a UTF-8 byte order mark (Excel reads the Chinese right); XLSX opens with openpyxl."""
    console_login(client, "leader")
    response = client.get("/console/hazards?format=csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3 and {rows[1][7], rows[2][7]} == {"兴庆未安装自闭阀", "金凤软管老化"}
    response = client.get("/console/inspections?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.max_row == 3


def test_hazard_detail_shows_the_timeline_and_photos(city, client, app):
    """The detail page lists the events in order with their actors, and the before photos beside the after ones."""
    from helpers import make_jpeg, photo_decl, put_photo

    headers = login(client, "insp_a")
    hazard = hazard_item(description="灶具无熄火保护")
    image = make_jpeg()
    photo = photo_decl(image, role="before", hazard_id=hazard["id"])
    submit(client, headers, inspection_payload(city.subject_a, hazards=[hazard], photos=[photo]))
    assert put_photo(client, headers, photo["id"], image).status_code == 201
    console_login(client, "insp_a")
    page = client.get(f"/console/hazards/{hazard['id']}").get_data(as_text=True)
    assert 'data-event="reported"' in page and "兴庆检查员" in page
    before = page.split('id="photos-before"')[1].split('id="photos-after"')[0]
    assert photo["id"] in before
    thumbnail = client.get(f"/console/photos/{photo['id']}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    other = client.application.test_client()
    console_login(other, "insp_b")
    assert other.get(f"/console/photos/{photo['id']}/thumbnail").status_code == 404


def test_after_photo_of_a_fix_on_the_spot_is_judged_by_the_start_of_the_visit(city, client):
    """On the hazard page, the after photo of a fix on the spot shot during the visit carries no 'taken before the
    hazard was found' warning, though the server received the visit after it; one shot before the visit does."""
    from datetime import timedelta

    from helpers import local_now, make_jpeg, photo_decl, put_photo

    headers = login(client, "insp_a")
    started = local_now() - timedelta(minutes=40)
    pages = {}
    for name, taken_at in (("during", started + timedelta(minutes=25)), ("before", started - timedelta(hours=3))):
        hazard = hazard_item("G03C", description=f"软管老化（{name}）", fixed_on_spot=True)
        image = make_jpeg(gps=(city.subject_a.lat, city.subject_a.lon), taken_at=taken_at.replace(tzinfo=None))
        photo = photo_decl(image, role="after", hazard_id=hazard["id"])
        submit(client, headers, inspection_payload(city.subject_a, hazards=[hazard], photos=[photo],
                                                   started_at=started.isoformat(), finished_at=None))
        assert put_photo(client, headers, photo["id"], image).status_code == 201
        pages[name] = (hazard["id"], photo["id"])
    console_login(client, "insp_a")
    for name, (hazard_id, photo_id) in pages.items():
        page = client.get(f"/console/hazards/{hazard_id}").get_data(as_text=True)
        after = page.split('id="photos-after"')[1].split("</section>")[0]
        assert f'data-photo-id="{photo_id}"' in after and 'data-event="fixed_on_spot"' in page
        warned = "整改后照片拍摄于发现隐患之前" in after
        assert warned == (name == "before"), name


def _major_pending_review(client, city):
    """Report a major hazard in 640104, record its plan, notify and rectify it through the API."""
    headers = login(client, "insp_a")
    hazard = hazard_item("GM01", description="地下室使用液化气", severity="major")
    submit(client, headers, inspection_payload(city.subject_a, hazards=[hazard]))
    base = f"/api/v1/hazards/{hazard['id']}"
    import uuid

    plan = {"id": str(uuid.uuid4()), "responsible": "产权人", "measures": "迁出地下室", "funds_yuan": 3000,
            "deadline": "2030-01-01", "contingency_plan": "专人值守"}
    assert client.post(f"{base}/plan", json=plan, headers=headers).status_code == 201
    assert client.post(f"{base}/notices", json={"id": str(uuid.uuid4())}, headers=headers).status_code == 201
    assert client.post(f"{base}/rectifications", json={"id": str(uuid.uuid4()), "note": "已整改"},
                       headers=headers).status_code == 201
    return hazard["id"]


def test_only_a_leader_closes_a_major_hazard(city, client):
    """An inspector is not offered the review of a major hazard and is refused if it posts one; a leader
    closes it, and the supervision listing is lifted."""
    hazard_id = _major_pending_review(client, city)
    console_login(client, "insp_a")
    page = client.get(f"/console/hazards/{hazard_id}").get_data(as_text=True)
    assert 'id="review-form"' not in page
    match = re.search(r'name="client_id" value="([^"]+)"', page)
    refused = post_form(client, f"/console/hazards/{hazard_id}/review",
                        {"decision": "accept", "note": "ok", "client_id": match.group(1) if match else
                         "6f1d1c2e-2c43-4a57-9d39-6d3f1c7b2a11"})
    assert refused.status_code == 403
    leader = client.application.test_client()
    console_login(leader, "leader")
    page = leader.get(f"/console/hazards/{hazard_id}").get_data(as_text=True)
    assert 'id="review-form"' in page and 'id="supervision-badge"' in page
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    done = post_form(leader, f"/console/hazards/{hazard_id}/review",
                     {"decision": "accept", "note": "复查合格，同意销号", "client_id": client_id},
                     page=f"/console/hazards/{hazard_id}")
    assert done.status_code == 302
    page = leader.get(f"/console/hazards/{hazard_id}").get_data(as_text=True)
    assert "已销号" in page and 'data-event="review_accepted"' in page and 'id="supervision-badge"' not in page
    # The same form sent twice (a double click) closes once.
    again = post_form(leader, f"/console/hazards/{hazard_id}/review",
                      {"decision": "accept", "note": "复查合格，同意销号", "client_id": client_id})
    assert again.status_code == 302
    assert leader.get(f"/console/hazards/{hazard_id}").get_data(as_text=True).count('data-event="review_accepted"') == 1


def test_a_leader_lists_a_general_hazard_for_supervision(city, client):
    """A leader lists an open general hazard for supervision; it then appears in the supervision list."""
    console_login(client, "leader")
    response = post_form(client, f"/console/hazards/{city.hazard_a}/supervise", {"unit": "兴庆区住建局"})
    assert response.status_code == 302
    assert "兴庆未安装自闭阀" in client.get("/console/supervision").get_data(as_text=True)
    page = client.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r'id="card-supervised">\s*<div class="figure">1<', page)


def test_inspection_detail_shows_checklist_flags_and_score(city, client):
    """The inspection page shows each checklist item with its result and the flags raised."""
    headers = login(client, "insp_a")
    payload = inspection_payload(city.subject_a, location=None,
                                 results=[{"item": "G02", "outcome": "fail", "note": "无自闭阀"},
                                          {"item": "G04A", "outcome": "pass"}])
    inspection = submit(client, headers, payload)
    console_login(client, "insp_a")
    page = client.get(f"/console/inspections/{inspection['id']}").get_data(as_text=True)
    checklist = page.split('id="checklist"')[1]
    assert "G02" in checklist and "不合格" in checklist and "合格" in checklist
    assert "未上传定位" in page.split('id="flags"')[1].split("</ul>")[0]


def test_enterprise_credit_page(city, client, app):
    """A leader sees an enterprise's score, grade and ledger; an inspector sees the enterprise without credit."""
    console_login(client, "leader")
    page = client.get(f"/console/enterprises/{city.enterprise_a.id}").get_data(as_text=True)
    assert 'id="credit-score"' in page and 'id="ledger"' in page and "credit-data" in page
    other = client.application.test_client()
    console_login(other, "insp_a")
    page = other.get(f"/console/enterprises/{city.enterprise_a.id}").get_data(as_text=True)
    assert "兴庆燃气有限公司" in page and 'id="credit-score"' not in page


def test_a_leader_assigns_an_inspector(city, client):
    """A leader gives a subject to an inspector; the subject page then names the inspector."""
    console_login(client, "leader")
    response = post_form(client, "/console/assignments",
                         {"user_id": str(city.users.insp_a.id), "subject_id": str(city.subject_a.id)})
    assert response.status_code == 302
    page = client.get(f"/console/subjects/{city.subject_a.id}").get_data(as_text=True)
    assert "兴庆检查员" in page


def test_an_officer_files_a_case_from_a_hazard_and_downloads_the_draft_dossier(city, client):
    """An officer files a case from a hazard (two officers, the hazard as evidence) and downloads its dossier."""
    console_login(client, "officer")
    page = client.get(f"/console/cases/new?hazard={city.hazard_a}").get_data(as_text=True)
    key = re.search(r'name="client_key" value="([^"]+)"', page).group(1)
    response = post_form(client, "/console/cases", {
        "client_key": key, "hazard_ids": city.hazard_a, "cause": "未按要求整改燃气安全隐患",
        "facts": "经检查发现未安装自闭阀，逾期未整改。", "articles_violated": "《城镇燃气管理条例》第四十九条",
        "officers": [str(city.users.officer.id), str(city.users.officer2.id)], "evidence_kind": "site_record",
        "evidence_description": "现场检查记录"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    case_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "银建罚移" in case_page and "兴庆燃气有限公司" in case_page
    case_id = response.headers["Location"].rsplit("/", 1)[1]
    dossier = client.get(f"/console/cases/{case_id}/dossier")
    assert dossier.status_code == 200 and dossier.mimetype == "application/zip"
    assert dossier.get_data()[:2] == b"PK"


def test_admin_creates_and_deactivates_a_user(city, client):
    """An admin creates a user and deactivates it; an admin cannot deactivate themself."""
    console_login(client, "admin")
    response = post_form(client, "/console/admin/users", {"username": "newbie", "name": "新人", "password": "long enough 1",
                                                          "roles": "inspector", "districts": "640104"})
    assert response.status_code == 302
    page = client.get("/console/admin/users").get_data(as_text=True)
    assert 'data-user="newbie"' in page
    from server.accounts.models import User
    from server.extensions import db

    with client.application.app_context():
        newbie = db.session.scalar(db.select(User).where(User.username == "newbie"))
        me = db.session.scalar(db.select(User).where(User.username == "admin"))
    assert post_form(client, f"/console/admin/users/{newbie.id}/active", {"active": "0"}).status_code == 302
    refused = post_form(client, f"/console/admin/users/{me.id}/active", {"active": "0"},
                        page="/console/admin/users")
    assert refused.status_code in (302, 409)
    assert console_login(client.application.test_client(), "newbie", "long enough 1").status_code == 401


def test_registry_import_reports_bad_rows(city, client):
    """An admin imports a CSV: good rows are created, bad ones reported with a downloadable error report."""
    console_login(client, "admin")
    content = ("external_ref,domain,name,address,district_code,lat,lon,user_type,gas_source\n"
               "IMP-1,gas,导入用户,兴庆区解放东街9号,640104,38.47,106.28,居民管道,天然气\n"
               "IMP-2,gas,坏行,兴庆区解放东街10号,999999,38.47,106.28,居民管道,天然气\n").encode("utf-8")
    from console.web import csrf_token

    response = client.post("/console/admin/import", data={
        "csrf_token": csrf_token(client, "/console/admin/import"), "file": (io.BytesIO(content), "register.csv")},
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="import-created">1<', page) and re.search(r'id="import-errors">1<', page)
    link = re.search(r'href="(/console/admin/import/errors/[0-9a-f]+\.csv)"', page).group(1)
    report = client.get(link).get_data().decode("utf-8-sig")
    assert "3" in report.splitlines()[1]
