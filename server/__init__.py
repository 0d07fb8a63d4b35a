"""Qingling (清零): the application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from config.settings import CONFIGS
from server import errors
from server.extensions import db, migrate


def create_app(config: str | type | None = None, **overrides) -> Flask:
    """Create the application: settings, database, API, CLI.

    ``config`` names a settings class (``development``, ``testing``,
    ``production``) or is one; ``QINGLING_*`` environment variables and then
    ``overrides`` win over its defaults.
    """
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    name = config or os.environ.get("QINGLING_ENV", "development")
    app.config.from_object(CONFIGS[name] if isinstance(name, str) else name)
    app.config.from_prefixed_env("QINGLING")
    app.config.update(overrides)
    _check_required(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_uri(app.config["DATABASE_URL"])
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            "pool_size": int(app.config["DATABASE_POOL_SIZE"]), "pool_pre_ping": True})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    _import_models()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))

    from server.photos import service as photo_service
    photo_service.init_app(app)

    errors.register(app)

    from server import observability
    observability.init_app(app)

    from field_app_api import init_api
    init_api(app)

    from server import console
    console.init_app(app)

    from server.cli import register_cli
    register_cli(app)

    if app.config.get("SCHEDULER_EMBEDDED"):
        from server.scheduler.runner import start_embedded
        start_embedded(app)

    return app


def _check_required(app: Flask) -> None:
    missing = [key for key in app.config.get("REQUIRED", ()) if not app.config.get(key)]
    if missing:
        raise RuntimeError(f"missing required settings: {', '.join('QINGLING_' + m for m in missing)}")


def _database_uri(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _import_models() -> None:
    """Import every domain's models so that metadata (and migrations) see all tables."""
    import server.accounts.models  # noqa: F401
    import server.audit.models  # noqa: F401
    import server.cases.models  # noqa: F401
    import server.credit.models  # noqa: F401
    import server.hazards.models  # noqa: F401
    import server.inspections.models  # noqa: F401
    import server.notifications.models  # noqa: F401
    import server.photos.models  # noqa: F401
    import server.registry.models  # noqa: F401
    import server.reports.models  # noqa: F401
    import server.scheduler.models  # noqa: F401
