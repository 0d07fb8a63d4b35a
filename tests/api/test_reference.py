"""Reference data for the phone: checklists and the subjects of the user's districts."""

import base64
import json

from helpers import YINCHUAN, assert_problem, make_subject, offset_m

SUBJECTS = "/api/v1/subjects"


def _walk(client, headers, query: str, limit: int) -> tuple[list[str], int]:
    """Follow next_cursor through every page; return the ids in order and the number of pages."""
    ids, cursor, pages = [], None, 0
    while True:
        url = f"{SUBJECTS}?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100


def test_checklists_have_the_contract_shape(field, client):
    """GET /checklists lists the three fields' checklists with coded items, severities and credit rules."""
    response = client.get("/api/v1/checklists", headers=field.headers)
    assert response.status_code == 200
    checklists = {c["code"]: c for c in response.get_json()["items"]}
    assert {c["domain"] for c in checklists.values()} == {"gas", "self_built_house", "construction_site"}
    for checklist in checklists.values():
        assert set(checklist) >= {"code", "domain", "version", "title", "items"}
        assert isinstance(checklist["version"], int) and checklist["title"]
        codes = [item["code"] for item in checklist["items"]]
        assert len(codes) == len(set(codes)) and codes
        for item in checklist["items"]:
            assert set(item) >= {"code", "text", "category", "severity"}
            assert item["severity"] in ("general", "major") and item["text"]
    gas = checklists["gas-user"]
    assert gas["domain"] == "gas" and gas["version"] == 1
    items = {item["code"]: item for item in gas["items"]}
    assert {"G01A", "G01B", "G02", "G07", "GM01", "GM02", "GM03", "GM04"} <= set(items)
    assert [items[f"GM0{n}"]["severity"] for n in range(1, 5)] == ["major"] * 4
    assert items["G02"]["severity"] == "general" and items["G02"]["credit_rule"] == "RQ-03"
    site = {item["code"]: item for item in checklists["construction-site"]["items"]}
    assert site["SM01"]["guarantee"] is True and site["SM01"]["points"] == 10 and site["SM01"]["table"] == "SM"
    assert site["SM07"]["guarantee"] is False


def test_subject_has_the_contract_shape(field, client):
    """A subject lists id, domain, name, address, district code, WGS-84 location, enterprise ids and external ref."""
    body = client.get(SUBJECTS, headers=field.headers).get_json()
    assert body["next_cursor"] is None
    [item] = body["items"]
    subject = field.subject
    assert item["id"] == str(subject.id)
    assert item["domain"] == "gas" and item["name"] == subject.name and item["address"] == subject.address
    assert item["district"] == "640104"
    assert item["location"] == {"lat": YINCHUAN[0], "lon": YINCHUAN[1]}
    assert item["enterprise_ids"] == [str(field.enterprise.id)]
    assert item["external_ref"] == subject.external_ref
    one = client.get(f"{SUBJECTS}/{subject.id}", headers=field.headers)
    assert one.status_code == 200 and one.get_json()["id"] == str(subject.id)


def test_paging_walks_every_subject_once(app, field, client):
    """Following next_cursor with a small limit returns every visible subject exactly once, then null."""
    with app.app_context():
        expected = {str(make_subject().id) for _ in range(22)} | {str(field.subject.id)}
        make_subject(district_code="640106")
    ids, pages = _walk(client, field.headers, "", 5)
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == expected
    assert pages == 5
    exact, pages = _walk(client, field.headers, "", 23)
    assert set(exact) == expected and pages == 1


def test_domain_and_q_filters(app, field, client):
    """domain= keeps one field's subjects; q= matches the name, the address or the external ref."""
    with app.app_context():
        site = make_subject(domain="construction_site", name="幸福里二期工地", address="金凤区宁安大街88号")
        house = make_subject(domain="self_built_house", name="张宅", address="兴庆区胜利街幸福巷3号",
                             external_ref="ZJF-0042")
    by_domain = client.get(f"{SUBJECTS}?domain=construction_site", headers=field.headers).get_json()
    assert [s["id"] for s in by_domain["items"]] == [str(site.id)]
    gas = client.get(f"{SUBJECTS}?domain=gas", headers=field.headers).get_json()
    assert [s["id"] for s in gas["items"]] == [str(field.subject.id)]
    found = client.get(f"{SUBJECTS}?q=幸福", headers=field.headers).get_json()
    assert {s["id"] for s in found["items"]} == {str(site.id), str(house.id)}
    both = client.get(f"{SUBJECTS}?q=幸福&domain=self_built_house", headers=field.headers).get_json()
    assert [s["id"] for s in both["items"]] == [str(house.id)]
    ref = client.get(f"{SUBJECTS}?q=ZJF-0042", headers=field.headers).get_json()
    assert [s["id"] for s in ref["items"]] == [str(house.id)]
    none = client.get(f"{SUBJECTS}?q=不存在的名字", headers=field.headers).get_json()
    assert none == {"items": [], "next_cursor": None}


def test_q_wildcards_are_literal(app, field, client):
    """q=% and q=_ search for those characters, not for everything."""
    with app.app_context():
        odd = make_subject(name="百分之百_燃气%用户")
    for q in ("%25", "_"):
        found = client.get(f"{SUBJECTS}?q={q}", headers=field.headers).get_json()
        assert [s["id"] for s in found["items"]] == [str(odd.id)]


def test_near_keeps_subjects_within_the_radius(app, field, client):
    """near=LAT,LON&radius_m= keeps exactly the subjects within that many metres."""
    centre = (38.50, 106.20)
    with app.app_context():
        at = {d: str(make_subject(lat=p[0], lon=p[1]).id) for d, p in
              {0: centre, 300: offset_m(centre, north_m=300), 450: offset_m(centre, east_m=-450),
               700: offset_m(centre, north_m=-420, east_m=560), 3000: offset_m(centre, east_m=3000)}.items()}
    near = f"near={centre[0]},{centre[1]}"
    within_500 = client.get(f"{SUBJECTS}?{near}&radius_m=500", headers=field.headers).get_json()
    assert {s["id"] for s in within_500["items"]} == {at[0], at[300], at[450]}
    within_1000 = client.get(f"{SUBJECTS}?{near}&radius_m=1000", headers=field.headers).get_json()
    assert {s["id"] for s in within_1000["items"]} == {at[0], at[300], at[450], at[700]}
    ids, _ = _walk(client, field.headers, f"{near}&radius_m=1000", 1)
    assert sorted(ids) == sorted(s["id"] for s in within_1000["items"])


def test_bad_cursor_is_a_validation_error(field, client):
    """A cursor the server did not make is 422 validation_error on cursor."""
    forged = base64.urlsafe_b64encode(json.dumps(["not-a-uuid"]).encode()).decode()
    wrong_arity = base64.urlsafe_b64encode(json.dumps(["a", "b"]).encode()).decode()
    for cursor in ("garbage", "!!!", forged, wrong_arity, "e30"):
        body = assert_problem(client.get(f"{SUBJECTS}?cursor={cursor}", headers=field.headers), 422,
                              "validation_error")
        assert "cursor" in body["errors"]


def test_limit_bounds(field, client):
    """limit must be 1..500: 0 and 501 are 422 at limit, 1 and 500 are served."""
    for limit in (0, -1, 501):
        body = assert_problem(client.get(f"{SUBJECTS}?limit={limit}", headers=field.headers), 422,
                              "validation_error")
        assert "limit" in body["errors"]
    for limit in (1, 500):
        assert client.get(f"{SUBJECTS}?limit={limit}", headers=field.headers).status_code == 200
