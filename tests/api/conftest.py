"""The API suite runs twice: on SQLite and on a PostgreSQL server started by the harness."""

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param
