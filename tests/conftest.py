"""Fixtures: an app per test from the factory on a freshly migrated database (SQLite, or PostgreSQL for the API suite)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pg_harness import PostgresServer
from s3_harness import S3Server

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def _migrate(url: str, tmp: Path) -> None:
    """Create the schema the only way production does: by running the migrations."""
    from flask_migrate import upgrade

    from server import create_app

    app = create_app("testing", DATABASE_URL=url, PHOTO_ROOT=str(tmp / "photos"))
    with app.app_context():
        upgrade()
        from server.extensions import db
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database that each test copies."""
    tmp = tmp_path_factory.mktemp("sqlite-template")
    path = tmp / "template.db"
    _migrate(f"sqlite:///{path}", tmp)
    return path


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL server with a migrated database, for the whole session."""
    server = PostgresServer()
    admin_url = server.start()
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE qingling_test"))
    engine.dispose()
    url = server.url("qingling_test")
    _migrate(url, tmp_path_factory.mktemp("pg-template"))
    yield url
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server process (moto in server mode) for the whole session."""
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A fresh, empty bucket for one test."""
    import re

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + f"-{next(_buckets)}"
    s3_server.client().create_bucket(Bucket=name)
    return name


_buckets = itertools.count(1)

KEEP_TABLES = {"alembic_version", "district"}


def _truncate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")) if r[0] not in KEEP_TABLES]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def backend() -> str:
    """The database the app runs on; the API suite overrides this to run on both."""
    return "sqlite"


@pytest.fixture
def database_url(request, backend, tmp_path, sqlite_template) -> str:
    if backend == "postgres":
        url = request.getfixturevalue("postgres")
        _truncate(url)
        return url
    path = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    """A fresh application on a fresh database."""
    from server import create_app
    from server.extensions import db

    app = create_app("testing", DATABASE_URL=database_url, PHOTO_ROOT=str(tmp_path / "photos"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def shared_photos() -> Path:
    """The real photos of ../shared/photos (never copied into the repository)."""
    path = SHARED / "photos"
    if not path.is_dir():
        pytest.skip("../shared/photos is not beside the clone")
    return path
