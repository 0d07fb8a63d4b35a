"""One error catalogue and one wire shape (RFC 9457 problem+json) for every failure."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# code -> (status, title)
CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid_credentials": (401, "Invalid credentials"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Forbidden"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "validation_error": (422, "Validation error"),
    "conflict": (409, "Conflict"),
    "invalid_transition": (409, "Invalid transition"),
    "digest_mismatch": (422, "Digest mismatch"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media": (415, "Unsupported media type"),
    "corrupt_image": (422, "Corrupt image"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal server error"),
}

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """A failure with a catalogue code; raised by services and views alike."""

    def __init__(self, code: str, detail: str, *, errors: dict | None = None,
                 status: int | None = None, headers: dict | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.status = status or CATALOGUE[code][0]
        self.headers = headers or {}
        self.extra = extra or {}


def validation_error(field: str, message: str) -> ProblemError:
    """Return a 422 problem for one offending field."""
    return ProblemError("validation_error", f"{field}: {message}", errors={field: [message]})


def problem_response(code: str, detail: str, *, status: int | None = None, errors: dict | None = None,
                     headers: dict | None = None, extra: dict | None = None) -> Response:
    """Build the problem+json response for a catalogue code."""
    status = status or CATALOGUE[code][0]
    body = {
        "type": f"https://qingling.invalid/problems/{code}",
        "title": CATALOGUE[code][1],
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow/webargs nested messages into {"a.0.b": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "headers", "view_args", "form", "files") and not prefix:
                flat.update(flatten_messages(value, ""))
                continue
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            flat.update(flatten_messages(value, name))
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            flat.setdefault(prefix or "_body", []).extend(messages)
        else:
            for index, value in enumerate(messages):
                flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat.setdefault(prefix or "_body", []).append(str(messages))
    return flat


HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media",
    422: "validation_error",
    429: "rate_limited",
}


def handle_http_exception(error: HTTPException) -> Response:
    """Answer a werkzeug/webargs HTTP exception as problem+json."""
    status = error.code or 500
    code = HTTP_CODES.get(status, "internal_error" if status >= 500 else "validation_error")
    data = getattr(error, "data", None) or {}
    errors = None
    if "messages" in data:
        errors = flatten_messages(data["messages"])
    detail = error.description or CATALOGUE[code][1]
    if errors:
        first = next(iter(errors.items()))
        detail = f"{first[0]}: {first[1][0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    elif status == 400:
        detail = "The request body is not valid JSON." if request.mimetype == "application/json" else detail
    headers = dict(data.get("headers") or {})
    if status == 405:
        headers["Allow"] = ", ".join(error.valid_methods or [])  # type: ignore[attr-defined]
    return problem_response(code, detail, status=status, errors=errors, headers=headers)


def handle_problem(error: ProblemError) -> Response:
    """Answer a domain failure."""
    return problem_response(error.code, error.detail, status=error.status, errors=error.errors,
                            headers=error.headers, extra=error.extra)


def handle_unexpected(error: Exception) -> Response:
    """Answer an unexpected failure without leaking internals; log it with the request id."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response("internal_error", "An unexpected error occurred; it has been logged.")


def handle_too_deep(error: RecursionError) -> Response:
    """Answer a body nested too deeply to parse as a client error."""
    return problem_response("validation_error", "The JSON body is nested too deeply.", status=400)


def register(app: Flask) -> None:
    """Register the handlers: domain problems, HTTP exceptions, everything else."""
    app.register_error_handler(ProblemError, handle_problem)
    app.register_error_handler(RecursionError, handle_too_deep)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
