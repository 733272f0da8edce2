"""While the store is unreachable: 503 answers, not HTML 500 pages and a traceback per request.

API routes answer JSON with Retry-After; a page request gets the "database unavailable" panel
(components/unavailable.py, passed in by app.py); the outage is logged once (data/outage.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import exc as sa_exc

from api.errors import error_response
from data import outage, store

API_PREFIXES = ("/api/", "/geo/", "/embed/geo/", "/_dash-update-component", "/healthz")
_panels: dict[str, Callable[[int], Any]] = {}  # "page" (HTML) and "layout" (a Dash layout), from install()


def answer(exc: BaseException) -> Response | None:
    """The 503 for an error that means the store is unreachable (and the outage noted), else None.
    Blueprints with a catch-all error handler of their own (the open data API) call this first."""
    if not outage.is_unavailable(exc):
        return None
    outage.failed(exc)
    retry = outage.RETRY_AFTER_S
    if request.path == "/_dash-layout" and "layout" in _panels:
        from dash._utils import to_json

        response = Response(to_json(_panels["layout"](retry)), mimetype="application/json")
    elif request.path.startswith(API_PREFIXES) or not request.accept_mimetypes.accept_html or "page" not in _panels:
        response = error_response(503, "database_unavailable", "database unavailable", retry_after_s=retry)
    else:
        response = Response(_panels["page"](retry), mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(retry)
    response.cache_control.no_store = True
    return response


def _probe() -> None:
    """While an outage lasts, check now and then whether the store is back (ends it within ~1 s)."""
    if outage.probe_due():
        _ping()


def _after(response: Response) -> Response:
    """A request answered without a server error during an outage: the store may be back, say so now."""
    if outage.active() and response.status_code < 500:
        _ping()
    return response


def _ping() -> None:
    try:
        store.ping(store.get_engine())
    except Exception:
        return  # still down; the request itself will say so
    outage.recovered()


def install(server: Flask, page: Callable[[int], str], layout: Callable[[int], Any]) -> None:
    """Answer every database-unreachable error on `server` with a 503 (see the module docstring)."""
    _panels.update(page=page, layout=layout)

    def unavailable(exc: Exception) -> Response:
        response = answer(exc)
        if response is None:
            raise exc  # a real bug: Flask's usual 500 and traceback
        return response

    server.before_request_funcs.setdefault(None, []).insert(0, _probe)  # before the sign-in gate reads users
    server.after_request(_after)
    for error in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError, sa_exc.TimeoutError):
        server.register_error_handler(error, unavailable)
