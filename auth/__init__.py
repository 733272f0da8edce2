"""Sign-in, sessions and the server-side gate in front of every operator route and callback.

Without sign-in only the public parts answer: /embed (a separate app), /share, /pilots, /api/ogc,
/healthz, the feed-ingest routes (their own API keys) and static files. Every other page, route and
Dash callback needs a signed-in user, and the role a page or callback declares. Pages declare it in
`dash.register_page(..., access=ROLE, id_prefix=P, roles={id_prefix: ROLE})`; a callback belongs to
the page whose id prefix its outputs carry. Unknown callbacks are refused (default deny).
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import dash
from dash._pages import _path_to_page
from flask import Flask, Response, g, has_request_context, redirect, request, session
from werkzeug.exceptions import BadRequest

from api.errors import error_response
from auth import callbacks
from auth.first_run import blueprint as first_run_blueprint
from auth.sessions import keep_alive
from auth.views import blueprint as views_blueprint
from auth.views import forbidden_page
from data import store, users
from data.config import load_settings
from data.rules.workflow import role_at_least

log = logging.getLogger(__name__)

PUBLIC_PREFIXES = (
    "/assets/",
    "/_dash-component-suites/",
    "/_favicon.ico",
    "/_dash-layout",
    "/_dash-dependencies",
    "/_reload-hash",
    "/healthz",
    "/login",
    "/setup",  # the first-run link (auth/first_run.py): only while no user exists, with its one-time token
    "/logout",
    "/api/ogc",
    "/api/v1/ingest/",  # feeds authenticate with INGEST_API_KEYS
    "/api/v1/ngsi/",
    "/embed",
)
# Components that carry their own id prefix: the header's language/theme switches (on every page)
# and the report grids of the public /pilots pages.
COMPONENT_PREFIXES = {"app": "public", "rg": "public", "_pages_dummy": "public"}


def current_user() -> users.User | None:
    """The signed-in user of this request (session or bearer token), checked against the store."""
    if not has_request_context():  # layout validation at start-up
        return None
    if "user" in g:
        return g.user
    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = users.user_for_token(header[7:].strip())
    elif session.get("sid"):
        if time.time() > session.get("expires", 0):
            session.clear()
        else:
            user = users.session_user(session["sid"])
    g.user = user
    return user


_policy: callbacks.Policy | None = None
_app: dash.Dash | None = None


def guard_callbacks(app: dash.Dash) -> None:
    """The Dash app whose callback map decides callback requests (app.py, after creating it)."""
    global _app
    _app = app
    app.server.register_error_handler(Exception, callbacks.failed_callback)


def _is_public(path: str) -> bool:
    """A public prefix matches whole path segments: `/embedx` and `/api/ogcx` are not public."""
    for prefix in PUBLIC_PREFIXES:
        if prefix.endswith("/") and path.startswith(prefix):
            return True
        if path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def _page_access(path: str) -> str:
    """The role of the page Dash would render at `path` (`//audit` is /audit, as for Dash)."""
    page, _ = _path_to_page(path.strip("/"))
    return page.get("access", "viewer") if page else "viewer"


def _callback_body() -> Any:
    try:
        return request.get_json(force=True)  # cached: Dash reads the same parsed body
    except (BadRequest, RecursionError, ValueError):
        raise callbacks.BadCallback("the body is not JSON") from None


def needed_role(method: str, path: str, body: Any = None) -> str | None:
    """The role a request needs: "public", a role name, or None for "refuse whoever asks"."""
    global _policy
    if path == "/_dash-update-component" and method == "POST":
        if _policy is None:
            _policy = callbacks.Policy(COMPONENT_PREFIXES)
        return callbacks.needed_role(_app or dash.get_app(), body, _policy)
    if _is_public(path):
        return "public"
    return _page_access(path)


def _refuse(status: int, code: str, message: str) -> tuple[Response, int]:
    return error_response(status, code, message), status


def _gate():
    try:
        body = _callback_body() if request.path == "/_dash-update-component" and request.method == "POST" else None
        needed = needed_role(request.method, request.path, body)
    except callbacks.BadCallback as exc:
        return _refuse(400, "bad_request", str(exc))
    except LookupError:
        return _refuse(404, "not_found", "no such callback")
    if needed == "public":
        return None
    user = current_user()
    if user is None:
        if request.method == "GET" and not request.path.startswith(("/api/", "/geo/")):
            return redirect(f"/login?next={quote(request.full_path.rstrip('?'), safe='/?=&')}")
        response = error_response(401, "unauthorized", "sign in, or send Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="citybrain"'
        return response, 401
    if needed is None or not role_at_least(user.role, needed):
        message = f"this needs the {needed} role" if needed else "unknown callback"
        if request.method == "GET" and not request.path.startswith(("/api/", "/geo/")):
            return forbidden_page(user, needed or "?"), 403
        return error_response(403, "forbidden", message, role=user.role), 403
    keep_alive()  # a session in use slides (a bearer token has none: nothing to do)
    return None


def _secret_key(engine) -> str:
    """SECRET_KEY, or one generated once and kept in the store so every worker signs alike."""
    configured = load_settings().secret_key
    if configured:
        return configured
    key = store.get_meta(engine, "session_secret")
    if key is None:
        store.set_meta(engine, "session_secret", secrets.token_hex(32))
        key = store.get_meta(engine, "session_secret")
    return key


def install(server: Flask) -> None:
    settings = load_settings()
    engine = store.get_engine(settings.database_url)
    store.create_schema(engine)  # once, at start: requests only read the users and sessions tables
    server.secret_key = _secret_key(engine)
    server.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_NAME="citybrain_session",
        # The cookie is written only when the session changes: a refresh response that was already
        # under way when the user signed out must not bring the old session back.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    server.register_blueprint(views_blueprint)
    server.register_blueprint(first_run_blueprint)
    server.before_request(_gate)
    if not users.has_users():
        log.warning(
            "No user exists yet: the start command prints a one-time link that creates the first admin "
            "(or: python -m cli.users setup-link; python -m cli.users add admin --role admin)."
        )
