"""Settings: environment variables win, production refuses to start without its secrets."""

import pytest

from server import create_app


def test_production_refuses_to_start_without_secrets(monkeypatch):
    """A production app without QINGLING_SECRET_KEY and QINGLING_DATABASE_URL does not start."""
    monkeypatch.delenv("QINGLING_SECRET_KEY", raising=False)
    monkeypatch.delenv("QINGLING_DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="QINGLING_SECRET_KEY"):
        create_app("production")


def test_prefixed_environment_variables_override_defaults(monkeypatch, tmp_path):
    """QINGLING_<KEY> sets a setting, JSON-parsed, and postgres URLs use psycopg 3."""
    monkeypatch.setenv("QINGLING_FLAG_LOCATION_FAR_M", "350")
    monkeypatch.setenv("QINGLING_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x")
    app = create_app("testing", PHOTO_ROOT=str(tmp_path))
    assert app.config["FLAG_LOCATION_FAR_M"] == 350
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@127.0.0.1:1/x"
