"""The scenario suite runs on SQLite and on PostgreSQL with the API suite's fixtures (reused, not copied)."""

from api.conftest import backend, checklists_parsed_once, fast_password_hash  # noqa: F401 - fixtures
