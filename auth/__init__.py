"""Sign-in, sessions and the server-side gate in front of every operator route and callback.

Without sign-in only the public parts answer: /embed (a separate app), /share, /pilots, /api/ogc,
/healthz, the feed-ingest routes (their own API keys) and static files. Every other page, route and
Dash callback needs a signed-in user, and the role a page or callback declares. Pages declare it in
`dash.register_page(..., access=ROLE, id_prefix=P, roles={id_prefix: ROLE})`; a callback belongs to
the page whose id prefix its outputs carry. Unknown callbacks are refused (default deny).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import timedelta
from typing import Any

import dash
from flask import Flask, g, has_request_context, jsonify, redirect, request, session

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
    "/logout",
    "/api/ogc",
    "/api/v1/ingest/",  # feeds authenticate with INGEST_API_KEYS
    "/api/v1/ngsi/",
    "/embed",
)
# Components that carry their own id prefix: the header's language/theme switches (on every page)
# and the report grids of the public /pilots pages.
COMPONENT_PREFIXES = {"app": "public", "rg": "public", "_pages_dummy": "public"}
PAGES_CONTENT = "_pages_content"  # Dash Pages' own callback that renders a page's layout
SESSION_HOURS = float(os.environ.get("SESSION_HOURS", "12") or 12)  # a shift and then some


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


def _page_policy() -> tuple[dict[str, str], dict[str, str]]:
    """(path → role or "public", id prefix → role or "public") from the page registry."""
    paths, prefixes = {}, dict(COMPONENT_PREFIXES)
    for page in dash.page_registry.values():
        access = page.get("access", "viewer")
        paths[page["path"]] = access
        if page.get("id_prefix"):
            prefixes[page["id_prefix"]] = access
        for prefix, role in (page.get("roles") or {}).items():
            prefixes[prefix] = role
    return paths, prefixes


def _needed_for_ids(ids: list[Any], prefixes: dict[str, str]) -> str | None:
    """The strictest role the outputs need; None when some output belongs to no page (refused)."""
    order = ("public", "viewer", "operator", "supervisor", "admin")
    needed = "public"
    for raw in ids:
        name = raw.get("type", "") if isinstance(raw, dict) else str(raw)
        best = max((p for p in prefixes if name == p or name.startswith(p + "-")), key=len, default=None)
        if best is None:
            return None
        needed = max(needed, prefixes[best], key=order.index)
    return needed


def _callback_outputs(body: dict[str, Any]) -> list[Any]:
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return [o.get("id") for o in outputs if isinstance(o, dict)]


def _pathname(body: dict[str, Any]) -> str:
    inputs = body.get("inputs") or []
    for item in inputs.values() if isinstance(inputs, dict) else inputs:
        if isinstance(item, dict) and item.get("property") == "pathname":
            return str(item.get("value") or "/")
    return "/"


def needed_role(method: str, path: str, body: dict[str, Any] | None) -> str | None:
    """The role a request needs: "public", a role name, or None for "refuse whoever asks"."""
    paths, prefixes = _page_policy()
    if path == "/_dash-update-component" and method == "POST":
        ids = _callback_outputs(body or {})
        if any(i == PAGES_CONTENT for i in ids):
            return paths.get(_pathname(body or {}).rstrip("/") or "/", "viewer")
        return _needed_for_ids(ids, prefixes)
    if path.startswith(PUBLIC_PREFIXES):
        return "public"
    page_role = paths.get(path.rstrip("/") or "/")
    return page_role or "viewer"


def _gate():
    body = request.get_json(silent=True) if request.path == "/_dash-update-component" else None
    needed = needed_role(request.method, request.path, body)
    if needed == "public":
        return None
    user = current_user()
    if user is None:
        if request.method == "GET" and not request.path.startswith(("/api/", "/geo/")):
            return redirect(f"/login?next={request.full_path.rstrip('?')}")
        response = jsonify({"error": "unauthorized", "message": "sign in, or send Authorization: Bearer <token>"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="citybrain"'
        return response, 401
    if needed is None or not role_at_least(user.role, needed):
        message = f"this needs the {needed} role" if needed else "unknown callback"
        if request.method == "GET" and not request.path.startswith(("/api/", "/geo/")):
            return forbidden_page(user, needed or "?"), 403
        return jsonify({"error": "forbidden", "message": message, "role": user.role}), 403
    return None


def _secret_key(engine) -> str:
    """SECRET_KEY, or one generated once and kept in the store so every worker signs alike."""
    configured = os.environ.get("SECRET_KEY", "").strip()
    if configured:
        return configured
    key = store.get_meta(engine, "session_secret")
    if key is None:
        store.set_meta(engine, "session_secret", secrets.token_hex(32))
        key = store.get_meta(engine, "session_secret")
    return key


def install(server: Flask) -> None:
    engine = store.get_engine(load_settings().database_url)
    store.create_schema(engine)  # once, at start: requests only read the users and sessions tables
    server.secret_key = _secret_key(engine)
    server.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        SESSION_COOKIE_NAME="citybrain_session",
        # The cookie is written only when the session changes: a refresh response that was already
        # under way when the user signed out must not bring the old session back.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    server.register_blueprint(views_blueprint)
    server.before_request(_gate)
    if not users.has_users():
        log.warning(
            "No user exists yet. Create the first admin with:\n"
            "    python -m data.users add admin --role admin\n"
            "(it reads the password from standard input), then sign in at /login."
        )


def sign_in(user: users.User) -> None:
    lifetime = int(SESSION_HOURS * 3600)
    session.clear()
    session.permanent = True
    session.update(sid=users.start_session(user, lifetime), expires=time.time() + lifetime)


def sign_out() -> None:
    if session.get("sid"):
        users.end_session(session["sid"])
    session.clear()
