"""The one JSON error shape of the HTTP API: `{"error": code, "message": text, ...extra}`.

Domain errors (data/errors.py) carry a kind; this module alone maps kinds to status codes. The open
data API (api/ogc.py) keeps the OGC API exception shape `{"code", "description"}` its standard defines.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from data.errors import DomainError

STATUS_OF_KIND = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unprocessable": 422}
# Routes whose errors are JSON (pages and /login answer HTML; /api/ogc has its own shape).
JSON_PREFIXES = ("/api/v1/", "/geo/", "/healthz")


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    return response


def domain_error_response(exc: DomainError) -> Response:
    extra = {"incident": exc.current} if exc.current is not None else {}
    return error_response(STATUS_OF_KIND[exc.kind], exc.code, str(exc), **extra)


def _http_error(exc: HTTPException) -> Response | HTTPException:
    if not request.path.startswith(JSON_PREFIXES):
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    response = error_response(exc.code or 500, code, exc.description or exc.name or "error")
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def install(server: Flask) -> None:
    """JSON errors (404, 405, 413, ...) for the API's own routes instead of Flask's HTML pages."""
    server.register_error_handler(HTTPException, _http_error)
