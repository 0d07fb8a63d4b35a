"""The web console for office staff (/console): server-rendered pages over the same services as the API.

Session sign-in (a signed cookie: HttpOnly, SameSite=Lax, Secure unless
``CONSOLE_SECURE_COOKIE`` is off), CSRF tokens on every form (Flask-WTF; the
bearer-token API is exempt), security headers on every console answer,
Simplified Chinese by default with English (Flask-Babel), times shown in the
bureau's zone. Pages live in ``views/``; a domain may add its own pages in
``server/<domain>/console.py`` (imported when present), registering routes on
``bp`` and entries in ``nav.NAV``. See docs/console.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

HERE = Path(__file__).resolve().parent
TRANSLATIONS = HERE / "translations"
LOCALES = ("zh_CN", "en")

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()
babel = Babel()

_views_loaded = False


def _load_views() -> None:
    """Import every page module once: ours under views/, and a domain's ``server/<domain>/console.py``."""
    global _views_loaded
    if _views_loaded:
        return
    from server.console import views

    for info in pkgutil.iter_modules(views.__path__):
        importlib.import_module(f"{views.__name__}.{info.name}")
    import server

    for info in pkgutil.iter_modules(server.__path__):
        name = f"server.{info.name}.console"
        if info.ispkg and info.name != "console" and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    importlib.import_module("server.console.quarterly")  # the quarterly analysis (docs/quarterly.md)
    _views_loaded = True


def _tile_origin(url: str | None) -> str | None:
    """Return scheme://host of the tile server (for the CSP), with {s} subdomains as a wildcard."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "x"))
    host = parts.netloc
    if url.split("//", 1)[-1].startswith("{s}"):
        host = "*." + host.split(".", 1)[1]
    elif "{s}" in url:
        host = "*" + host[host.index("."):] if "." in host else host
    return f"{parts.scheme}://{host}" if parts.scheme and host else None


def content_security_policy(app: Flask) -> str:
    """Return the CSP of console pages: everything from this server, tiles from the configured tile server."""
    images = ["'self'", "data:", "blob:"]
    origin = _tile_origin(app.config.get("TILE_URL"))
    if origin:
        images.append(origin)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src " + " ".join(images)
            + "; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
              "frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    """Bind the console to an app: session cookie, CSRF, translations, headers, pages."""
    from server.console import auth, i18n, models, nav, templating

    app.config.setdefault("SESSION_COOKIE_NAME", "qingling_session")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("CONSOLE_SECURE_COOKIE", True))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config.get("CONSOLE_SESSION_HOURS", 12)))
    # A token lives as long as the session (a form left open over lunch still posts).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", True)

    csrf.init_app(app)
    # The API authenticates every request with a bearer token, never a cookie: nothing to forge there.
    from field_app_api import resource_modules

    for module in resource_modules():
        csrf.exempt(module.blp)

    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone,
                   default_translation_directories=str(TRANSLATIONS),
                   default_locale=app.config.get("CONSOLE_DEFAULT_LOCALE", "zh_CN"))
    _load_views()
    templating.init_app(app)
    app.register_blueprint(bp)
    app.extensions["console.csp"] = content_security_policy(app)

    @app.after_request
    def _console_headers(response):
        if request.blueprint == "console":
            response.headers["Content-Security-Policy"] = app.extensions["console.csp"]
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers["X-Content-Type-Options"] = "nosniff"
            if request.endpoint == "console.static":
                response.headers["Cache-Control"] = "public, max-age=3600"
            else:
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    del auth, models, nav  # imported for their registrations (models: the dashboard_snapshot table)
