"""The versioned REST API for phones (/api/v1), documented with OpenAPI."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask, send_from_directory
from flask_smorest import Api

from server import errors

PREFIX = "/api/v1"


class ProblemApi(Api):
    """flask-smorest's Api answering every HTTP error as problem+json."""

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


def resource_modules() -> list:
    """Return every module of this package that defines a blueprint ``blp``, in name order."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return [module for module in modules if hasattr(module, "blp")]


def init_api(app: Flask) -> ProblemApi:
    """Register the API blueprints, the security scheme and the locally served Swagger UI."""
    import swagger_ui_bundle

    api = ProblemApi(app, spec_kwargs={
        "info": {"description": "The contract with the phone app: see docs/api.md."},
        "servers": [{"url": "/"}],
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.schema("Problem", {
        "type": "object",
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "code": {"type": "string", "enum": sorted(errors.CATALOGUE)},
            "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
        "required": ["type", "title", "status", "detail", "code"],
    })
    for module in resource_modules():
        api.register_blueprint(module.blp, url_prefix=PREFIX)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get(f"{PREFIX}/swagger-ui/<path:filename>")
    def swagger_ui_asset(filename):
        return send_from_directory(assets, filename, max_age=86400)

    return api
