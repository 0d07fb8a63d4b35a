"""Operations commands for cases: ``flask --app server cases ...``."""

from __future__ import annotations

from flask.cli import AppGroup

import server.cases.models  # noqa: F401  (the tables, for metadata and migrations)

cases_cli = AppGroup("cases", help="Cases transferred to enforcement (移交违法案件) and their dossiers.")

commands = [cases_cli]
