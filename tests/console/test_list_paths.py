"""The console's lists take cheap paths (districts merged, listings driving, a search read in slices, few
subjects through their index); following the cursors still meets exactly the plain query's rows, in order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from console.town import backend, snapshot_app, town  # noqa: F401 - fixtures
from console.web import console_login
from server.console import lists
from server.extensions import db
from server.hazards.models import Hazard
from server.inspections import campaigns as campaign_service


def _all_pages(page_of, *, limit: int) -> tuple[list, int]:
    """Follow the cursors to the end; return the ids met in order and the number of requests."""
    ids, cursor, requests = [], None, 0
    while True:
        page = page_of(cursor, limit)
        requests += 1
        rows, cursor = (page.rows, page.next_cursor) if isinstance(page, lists.HazardPage) else page
        ids.extend(row[0].id if isinstance(row, tuple) or hasattr(row, "_mapping") else row.id for row in rows)
        if cursor is None:
            return ids, requests
        assert requests < 200


def _districts(scope: str) -> frozenset[str] | None:
    """The districts a user of each scope sees: the city (all), one district, a prefecture, two districts."""
    return {"city": None, "640104": frozenset({"640104"}), "640100": campaign_service.covered(["640100"]),
            "two": frozenset({"640104", "640402"})}[scope]


def _plain(query) -> list:
    return [row[0].id if hasattr(row, "_mapping") else row.id for row in db.session.execute(query)]


@pytest.mark.parametrize("filters", [
    {}, {"state": "open"}, {"overdue": True}, {"supervised": True}, {"domain": "gas"}, {"q": "软管"},
    {"q": "测试对象03"}, {"q": "G02"}, {"q": "没有这样的隐患"}, {"state": "closed", "q": "隐患描述"}])
@pytest.mark.parametrize("scope", ["city", "640104", "640100", "two"])
def test_hazard_pages_give_the_plain_querys_rows_in_its_order(app, town, filters, scope):
    """Whatever the path (districts merged, listings driving, a search read in slices of 7 hazards with its
    few subjects through their index), following the cursors meets exactly the plain query's rows, in order."""
    with app.app_context():
        districts = _districts(scope)
        f = lists.HazardFilters(districts=districts, **filters)
        expected = _plain(lists.hazard_query(f))
        got, requests = _all_pages(lambda cursor, limit: lists.hazard_page(f, cursor=cursor, limit=limit,
                                                                           scan_rows=7), limit=4)
        assert got == expected
        if filters.get("q") and scope == "city":
            assert requests >= 60 // 7  # the search went slice by slice through the 60 hazards


def test_a_search_says_down_to_when_it_has_looked(app, town):
    """A search that reads its slice without filling a page says down to which report time it looked and
    offers to go on; an id finds its hazard at once, whatever its age."""
    with app.app_context():
        page = lists.hazard_page(lists.HazardFilters(districts=None, q="没有这样的隐患"), cursor=None, limit=50,
                                 scan_rows=10)
        tenth = db.session.execute(select(Hazard.created_at).order_by(Hazard.created_at.desc(), Hazard.id.desc())
                                   .offset(9).limit(1)).scalar_one()
        assert page.rows == [] and page.searched_to == tenth and page.next_cursor
        exact = lists.hazard_page(lists.HazardFilters(districts=None, q=str(town.hazards[0])), cursor=None, limit=50,
                                  scan_rows=10)
        assert [row[0].id for row in exact.rows] == [town.hazards[0]] and exact.searched_to is None


def test_the_search_notice_on_the_page(snapshot_app, town):
    """The list page tells how far a search has looked and links to the earlier hazards."""
    client = snapshot_app.test_client()
    console_login(client, "t_leader")
    page = client.get("/console/hazards?q=没有这样的隐患").get_data(as_text=True)
    assert 'id="search-more"' in page and "检索更早的隐患" in page
    assert "未找到" in page.split('id="no-rows"')[1].split("</td>")[0]


@pytest.mark.parametrize("filters", [{}, {"q": "测试对象0"}, {"q": "某路"}, {"q": "没有"}, {"outcome": "no_access"}])
@pytest.mark.parametrize("scope", ["city", "640104", "640100"])
def test_inspection_pages_give_the_plain_querys_rows_in_its_order(app, town, filters, scope):
    with app.app_context():
        districts = _districts(scope)
        f = lists.InspectionFilters(districts=districts, **filters)
        got, _ = _all_pages(lambda cursor, limit: lists.inspection_page(f, cursor=cursor, limit=limit), limit=2)
        assert got == _plain(lists.inspection_query(f))


@pytest.mark.parametrize("filters", [{}, {"with_open_hazards": True}, {"q": "测试对象1"}, {"domain": "gas"}])
@pytest.mark.parametrize("scope", ["city", "640104", "640100"])
def test_subject_pages_give_the_plain_querys_rows_in_its_order(app, town, filters, scope):
    with app.app_context():
        districts = _districts(scope)
        f = lists.SubjectFilters(districts=districts, **filters)
        got, _ = _all_pages(lambda cursor, limit: lists.subject_page(f, cursor=cursor, limit=limit), limit=2)
        assert got == [s.id for s in db.session.scalars(lists.subject_query(f))]


@pytest.mark.parametrize("scope", ["city", "640104", "640100"])
@pytest.mark.parametrize("limit", [3, 100])
def test_the_maps_newest_open_hazards_are_the_plain_querys(app, town, scope, limit):
    """The map's points (each district's open hazards from an index, merged) are the newest open ones."""
    with app.app_context():
        districts = _districts(scope)
        query = select(Hazard.id).where(Hazard.status.in_(lists.OPEN)).order_by(Hazard.created_at.desc(),
                                                                                 Hazard.id.desc()).limit(limit)
        if districts is not None:
            query = query.where(Hazard.district_code.in_(sorted(districts)))
        got = [row_id for row_id, _ in db.session.execute(lists.newest_open(where=[Hazard.domain == "gas"],
                                                                           districts=districts, limit=limit))]
        assert got == list(db.session.scalars(query.where(Hazard.domain == "gas"))) != []


def test_an_id_finds_the_hazards_of_what_it_names(app, town):
    """A hazard's id finds it; a subject's or an inspection's id finds their hazards; an unknown id nothing."""
    with app.app_context():
        hazard = db.session.get(Hazard, town.hazards[7])

        def found(text):
            return {row[0].id for row in lists.hazard_page(lists.HazardFilters(districts=None, q=text), cursor=None,
                                                           limit=50).rows}

        assert found(str(hazard.id)) == {hazard.id}
        assert found(str(hazard.subject_id)) == set(db.session.scalars(
            select(Hazard.id).where(Hazard.subject_id == hazard.subject_id))) and len(found(str(hazard.subject_id))) > 1
        assert found(str(hazard.inspection_id)) == set(db.session.scalars(
            select(Hazard.id).where(Hazard.inspection_id == hazard.inspection_id)))
        assert found("00000000-0000-4000-8000-000000000000") == set()
