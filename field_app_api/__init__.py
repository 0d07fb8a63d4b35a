"""The versioned REST API for phones (/api/v1), documented with OpenAPI."""

from __future__ import annotations

import http
import importlib
import pkgutil

import marshmallow as ma

from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from server import errors

PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"


class ProblemSchema(ma.Schema):
    """An error as RFC 9457 problem details with the contract's code (documentation only)."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    code = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(errors.CATALOGUE)))
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class ProblemApi(Api):
    """flask-smorest's Api answering, and documenting, every HTTP error as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        """Document the error responses flask-smorest adds to operations as application/problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


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
    for module in resource_modules():
        api.register_blueprint(module.blp, url_prefix=PREFIX)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get(f"{PREFIX}/swagger-ui/<path:filename>")
    def swagger_ui_asset(filename):
        return send_from_directory(assets, filename, max_age=86400)

    return api
