"""The OpenAPI document and the interactive page, served without authentication and without a CDN."""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

# Every path and method named by ../shared/api-contract.md (path parameters written as {}).
CONTRACT = {
    "/auth/token": {"post", "delete"},
    "/me": {"get"},
    "/checklists": {"get"},
    "/subjects": {"get"},
    "/assignments": {"get"},
    "/inspections": {"post"},
    "/inspections/{}": {"get"},
    "/photos/{}": {"put", "get"},
    "/photos/{}/display": {"get"},
    "/photos/{}/thumbnail": {"get"},
    "/hazards": {"get"},
    "/hazards/{}": {"get"},
    "/hazards/{}/rectifications": {"post"},
    "/hazards/{}/reviews": {"post"},
}


@pytest.fixture
def backend() -> str:
    """SQLite only: the document and the page do not touch the database."""
    return "sqlite"


def _document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _paths(document) -> dict[str, set[str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {re.sub(r"\{[^}]+\}", "{}", path): {m for m in operations if m in methods}
            for path, operations in document["paths"].items()}


def test_document_is_openapi_3_without_authentication(client):
    """GET /api/v1/openapi.json needs no token and is an OpenAPI 3 document with the bearer scheme."""
    document = _document(client)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())


@pytest.mark.parametrize("path", list(CONTRACT))
def test_document_lists_every_contract_path(client, path):
    """Each path of the contract is in the document under /api/v1 with the contract's methods."""
    paths = _paths(_document(client))
    assert f"/api/v1{path}" in paths, sorted(paths)
    assert CONTRACT[path] <= paths[f"/api/v1{path}"]


def test_errors_are_documented_as_the_problems_they_are(client):
    """A client generator sees application/problem+json with the contract's codes, as the server really answers."""
    document = _document(client)
    default = document["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == ["application/problem+json"]
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "validation_error" in problem["properties"]["code"]["enum"]
    assert problem["properties"]["status"]["type"] == "integer"
    hazard = document["paths"]["/api/v1/hazards/{hazard_id}"]["get"]["responses"]
    assert hazard["default"] == {"$ref": "#/components/responses/DEFAULT_ERROR"}


class _Assets(HTMLParser):
    """Collect the URLs a page loads: scripts, stylesheets, images."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])


def test_docs_page_loads_only_local_assets(client):
    """/api/v1/docs is HTML whose scripts and styles come from this server (no CDN) and all load."""
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    parser = _Assets()
    parser.feed(html)
    assert any(u.endswith(".js") for u in parser.urls) and any(u.endswith(".css") for u in parser.urls)
    for url in parser.urls:
        absolute = urlparse(urljoin("http://localhost/api/v1/docs", url))
        assert absolute.netloc == "localhost", url
        asset = client.get(absolute.path)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url
    assert not re.search(r"https?://(?!localhost)", html), "the page names another host"
    assert "/api/v1/openapi.json" in html
