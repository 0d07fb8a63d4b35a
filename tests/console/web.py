"""Helpers of the console tests: sign in through the form, post a form with its CSRF token."""

from __future__ import annotations

import re

from helpers import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/console/login") -> str:
    """Return the CSRF token of a console page's form."""
    page = client.get(path).get_data(as_text=True)
    return TOKEN.search(page).group(1)


def console_login(client, username: str, password: str = PASSWORD):
    """Sign in to the console through its form; return the answer of the POST."""
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": csrf_token(client)})


def post_form(client, path: str, data: dict, *, page: str | None = None):
    """POST a console form with the CSRF token taken from ``page`` (default: the dashboard)."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page or "/console/dashboard")})
