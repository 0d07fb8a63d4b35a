"""Schemathesis against the served OpenAPI document: no 5xx, and every answer matches what the document says.

Every operation gets a bounded number of generated requests (valid and
invalid), signed in as an inspector of 兴庆区 with a subject there. The checks
are the ones the contract promises: never a server error; the status, the
content type, the headers and the body of each response are documented.
Requests the server rightly refuses for reasons a schema cannot express
(a cursor it never gave, a subject that does not exist) are not failures.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, ignored_auth, not_a_server_error,
                                 response_headers_conformance, response_schema_conformance, status_code_conformance)

from helpers import login, make_enterprise, make_subject, make_user

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, ignored_auth]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the API suite already runs every endpoint on PostgreSQL; this bounds the fuzzing time


@pytest.fixture
def api_schema(app):
    with app.app_context():
        make_user("fuzz", roles=["inspector"], districts=["640104"])
        make_subject(enterprises=[make_enterprise()])
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def signed_in(api_schema, client) -> dict:
    return login(client, "fuzz")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_documented_promises(case, signed_in):
    case.call_and_validate(headers=signed_in, checks=CHECKS)
