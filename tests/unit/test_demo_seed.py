"""The demo seed: a small realistic 银川 with accounts to try the system with."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from server import demo
from server.accounts.models import District, User
from server.accounts.service import login
from server.errors import ProblemError
from server.extensions import db
from server.geo import crs
from server.registry import credit_code
from server.registry.models import Enterprise, Subject

EXPECTED_ACCOUNTS = {
    "inspector1": (["inspector"], ["640104"]),
    "inspector2": (["inspector"], ["640106"]),
    "inspector3": (["inspector"], ["640105"]),
    "leader": (["leader"], ["640100"]),
    "committee": (["committee"], []),
    "enforcement": (["enforcement"], ["640100"]),
    "admin": (["admin"], []),
}


def domain_counts() -> dict[str, int]:
    """Return the number of subjects per domain."""
    return dict(db.session.execute(select(Subject.domain, func.count()).group_by(Subject.domain)).all())


def snapshot() -> list[tuple]:
    """Return the seeded register in a form that does not depend on the random row ids."""
    subjects = sorted((s.external_ref, s.name, s.address, s.district_code, s.lat, s.lon, repr(s.attributes))
                      for s in db.session.scalars(select(Subject)))
    enterprises = sorted((e.credit_code, e.name, e.kind) for e in db.session.scalars(select(Enterprise)))
    return subjects + enterprises


@pytest.fixture(scope="module")
def seeded_database(sqlite_template, tmp_path_factory):
    """The demo seed run once for this module (it takes seconds): a database file and what seed returned."""
    from server import create_app

    folder = tmp_path_factory.mktemp("demo-seed")
    shutil.copyfile(sqlite_template, folder / "seeded.db")
    app = create_app("testing", DATABASE_URL=f"sqlite:///{folder / 'seeded.db'}", PHOTO_ROOT=str(folder / "photos"))
    with app.app_context():
        accounts = demo.seed(if_empty=True)
        db.session.remove()
        db.engine.dispose()
    return folder, accounts


@pytest.fixture
def seeded(seeded_database, tmp_path):
    """An app on a copy of the seeded database (photos included); yields the accounts seed returned."""
    from server import create_app

    folder, accounts = seeded_database
    shutil.copyfile(folder / "seeded.db", tmp_path / "seeded.db")
    shutil.copytree(folder / "photos", tmp_path / "photos")
    app = create_app("testing", DATABASE_URL=f"sqlite:///{tmp_path / 'seeded.db'}", PHOTO_ROOT=str(tmp_path / "photos"))
    with app.app_context():
        yield accounts
        db.session.remove()
        db.engine.dispose()


def test_seed_builds_the_city(seeded):
    """The seed makes about 200 gas users (30 of them catering), 50 self-built houses and 20 sites."""
    assert domain_counts() == {"gas": 200, "self_built_house": 50, "construction_site": 20}
    catering = [s for s in db.session.scalars(select(Subject).where(Subject.domain == "gas"))
                if s.attributes.get("is_catering")]
    assert len(catering) == 30
    assert all(s.attributes["user_type"].startswith("非居民") for s in catering)
    operating = db.session.scalars(select(Subject).where(Subject.domain == "self_built_house")).all()
    assert any(s.attributes["is_operating"] and s.attributes.get("operating_type") in ("餐饮", "旅馆")
               for s in operating)
    assert subject_by_ref("GAS-640104-000001").address.startswith("兴庆区")
    assert subject_by_ref("GD-640105-001").domain == "construction_site"
    assert subject_by_ref("ZJF-640106-0001").domain == "self_built_house"


def subject_by_ref(ref: str) -> Subject:
    """Return the subject with this external_ref."""
    return db.session.scalar(select(Subject).where(Subject.external_ref == ref))


def test_every_enterprise_has_a_valid_credit_code(seeded):
    """Every seeded enterprise has a valid, unique 18-character credit code, and every kind is present."""
    enterprises = db.session.scalars(select(Enterprise)).all()
    assert all(credit_code.validate(e.credit_code) is None for e in enterprises)
    assert all(e.credit_code.startswith("916401") for e in enterprises)
    kinds = {}
    for e in enterprises:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    assert kinds == {"gas_operator": 4, "contractor": 10, "supervisor": 5, "developer": 6, "property_manager": 4}


def test_sites_link_their_contractor_supervisor_and_developer(seeded):
    """Each site is linked to the enterprises its attributes name, and gas users to their operator."""
    by_id = {e.id: e for e in db.session.scalars(select(Enterprise))}
    for s in db.session.scalars(select(Subject).where(Subject.domain == "construction_site")):
        codes = {by_id[i].credit_code for i in s.enterprise_ids}
        named = {s.attributes[k] for k in ("contractor_credit_code", "supervisor_credit_code",
                                           "developer_credit_code") if k in s.attributes}
        assert codes == named
    for s in db.session.scalars(select(Subject).where(Subject.domain == "gas")):
        assert "gas_operator" in {by_id[i].kind for i in s.enterprise_ids}


def test_every_subject_is_inside_its_district(seeded):
    """Every subject's district exists and its position lies within about 3 km of the district centre."""
    districts = set(db.session.scalars(select(District.code)))
    for s in db.session.scalars(select(Subject)):
        assert s.district_code in districts
        _, lat, lon = demo.DISTRICTS[s.district_code]
        assert crs.distance_m((s.lat, s.lon), (lat, lon)) <= 3100
        assert s.source_crs == "wgs84"
    assert {s.district_code for s in db.session.scalars(select(Subject))} == set(demo.DISTRICTS)


def test_accounts_have_their_roles_districts_and_passwords(seeded):
    """The demo accounts exist with the listed roles and districts, and sign in with the printed passwords."""
    users = {u.username: u for u in db.session.scalars(select(User))}
    assert {name: (u.roles, u.districts) for name, u in users.items()} == EXPECTED_ACCOUNTS
    printed = {a["username"]: a for a in seeded}
    assert printed["leader"] == {"username": "leader", "password": "demo-leader", "roles": "leader",
                                 "districts": "640100"}
    assert printed["admin"]["districts"] == "-"
    for account in seeded:
        assert len(account["password"]) >= 8
        token, _ = login(username=account["username"], password=account["password"], device_id=None,
                         remote_addr=None, ttl_days=1, max_failures=10, window_minutes=15)
        assert token


def test_second_seed_if_empty_does_nothing(seeded):
    """Seeding again with if_empty returns None and adds nothing."""
    before = (snapshot(), db.session.scalar(select(func.count()).select_from(User)))
    assert demo.seed(if_empty=True) is None
    assert (snapshot(), db.session.scalar(select(func.count()).select_from(User))) == before


def test_seed_without_if_empty_refuses_to_duplicate_accounts(seeded):
    """Seeding again without if_empty is refused because the demo accounts exist."""
    with pytest.raises(ProblemError) as caught:
        demo.seed(if_empty=False)
    assert caught.value.code == "conflict"
    assert "inspector1" in caught.value.detail


def test_seed_is_deterministic(app, sqlite_template, tmp_path):
    """Two seeds on two empty databases produce the same register."""
    from server import create_app

    with app.app_context():
        demo.seed(if_empty=False)
        first = snapshot()
    other_db = tmp_path / "other.db"
    shutil.copyfile(sqlite_template, other_db)
    other = create_app("testing", DATABASE_URL=f"sqlite:///{other_db}", PHOTO_ROOT=str(tmp_path / "p2"))
    with other.app_context():
        demo.seed(if_empty=False)
        assert snapshot() == first
        db.session.remove()
        db.engine.dispose()


def test_cli_demo_seed_prints_the_accounts(app):
    """`demo seed` prints every account with its password; `--if-empty` then skips but still prints them."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "demo accounts (username / password / roles / districts):"
    assert len(lines) == 1 + len(EXPECTED_ACCOUNTS)
    assert lines[1].split() == ["inspector1", "demo-inspector1", "inspector", "640104"]
    assert "admin" in result.stdout and "demo-admin" in result.stdout
    again = runner.invoke(args=["demo", "seed", "--if-empty"])
    again_lines = again.stdout.splitlines()
    assert again_lines[0] == "the database already has data: demo seed skipped"
    assert again_lines[1:] == lines
    with app.app_context():
        assert domain_counts()["gas"] == 200
