"""Rate limits per client IP with Flask-Limiter, one limiter for the operator app and the embeds.

- Public routes (`/embed/…`, `/api/ogc/…`; static files not counted): PUBLIC_RATE_LIMIT, and an
  items page costs one request per OGC_ITEMS_PER_COST items asked for (`limit`), so 10,000 items
  at a time weigh what 100 pages of 100 do.
- Anonymous Dash callbacks of the operator app (the public /pilots and /share pages): CALLBACK_RATE_LIMIT.
- Sign-in attempts (`POST /login`): LOGIN_RATE_LIMIT.

Storage: Redis when REDIS_URL is set (one budget for every gunicorn worker; in-process if Redis
fails), else in process. Behind a reverse proxy the client IP is right only with PUBLIC_TRUSTED_PROXIES.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask, jsonify, request, session
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.errors import RateLimitExceeded

from data.cache_tiers import redis_options
from data.config import Settings
from public.security import UNCOUNTED, classify
from public.settings import PublicSettings

ITEMS_SUFFIX = "/items"
MAX_ITEMS = 10_000  # api.ogc.MAX_LIMIT: a larger `limit` is served as this many


def _client() -> str:
    return request.remote_addr or "unknown"


def _full_path() -> str:
    return request.script_root + request.path  # the embed app is mounted at /embed


def _public_exempt() -> bool:
    path = _full_path()
    return classify(path) == "operator" or path.startswith(UNCOUNTED)


def _callback_exempt() -> bool:
    if request.script_root or request.path != "/_dash-update-component":
        return True
    return bool(session.get("sid") or request.headers.get("Authorization"))  # signed in: not anonymous


def _login_exempt() -> bool:
    return request.script_root != "" or request.path != "/login" or request.method != "POST"


def items_cost(items_per_cost: int) -> Any:
    def cost() -> int:
        if not _full_path().endswith(ITEMS_SUFFIX):
            return 1
        try:
            asked = int(request.args.get("limit", "100")[:6])
        except ValueError:
            return 1  # the view answers 400
        return max(1, math.ceil(min(max(asked, 1), MAX_ITEMS) / items_per_cost))

    return cost


def _as_limit(rate: tuple[int, int]) -> str:
    count, seconds = rate
    return f"{count}/{seconds} second"


def _too_many(exc: RateLimitExceeded) -> Any:
    description = f"Rate limit reached ({exc.description}); retry later."
    if classify(_full_path()) == "operator":
        return jsonify({"error": "too_many_requests", "message": description}), 429
    return jsonify({"code": "TooManyRequests", "description": description}), 429


def build(public: PublicSettings, core: Settings) -> Limiter:
    limits = [
        ApplicationLimit(core.callback_rate_limit, key_function=_client, scope="cb", exempt_when=_callback_exempt),
        ApplicationLimit(core.login_rate_limit, key_function=_client, scope="login", exempt_when=_login_exempt),
    ]
    if public.rate_limit:
        limits.append(
            ApplicationLimit(
                _as_limit(public.rate_limit),
                key_function=_client,
                scope="public",
                exempt_when=_public_exempt,
                cost=items_cost(core.items_per_cost),
            )
        )
    return Limiter(
        _client,
        application_limits=limits,
        storage_uri=core.redis_url or "memory://",
        # The same short timeouts as the cache's Redis client: a frozen Redis must not hold requests.
        storage_options=redis_options(core.redis_timeout_ms) if core.redis_url else {},
        strategy="moving-window",
        key_prefix="citybrain",
        headers_enabled=True,
        retry_after="delta-seconds",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )


def install(servers: list[Flask], public: PublicSettings, core: Settings) -> Limiter:
    """One limiter over `servers`: the storage made last is the one every server's checks use."""
    limiter = build(public, core)
    for server in servers:
        limiter.init_app(server)
        server.register_error_handler(RateLimitExceeded, _too_many)
    return limiter
