"""The schema the migrations make is the schema the models describe, on both backends, and it downgrades."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.extensions import db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


def _differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "render_as_batch": True})
        return compare_metadata(context, db.metadata)


def test_migrations_make_the_models_schema(app):
    """A model changed without its migration (or the reverse) would break a real upgrade: none is missing."""
    assert _differences(app) == []


def test_every_migration_downgrades_and_upgrades_again(tmp_path):
    """An operator can step back from a bad release: downgrade to nothing, then upgrade to head again."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from server import create_app

    app = create_app("testing", DATABASE_URL=f"sqlite:///{tmp_path / 'steps.db'}", PHOTO_ROOT=str(tmp_path))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "hazard_event" in inspect(db.engine).get_table_names()
        assert _differences(app) == []
        db.engine.dispose()
