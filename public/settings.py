"""Settings of the public side (embeds, open data API, hardening), read from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_ORIGIN = re.compile(r"^(\*|'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?|https?:)$")


@dataclass(frozen=True)
class PublicSettings:
    embed_allowed_origins: tuple[str, ...]  # CSP frame-ancestors sources of embed pages
    rate_limit: tuple[int, int] | None  # (requests, seconds) per client, None = off
    trusted_proxies: int  # how many reverse proxies in front of us append to X-Forwarded-For
    public_hosts: frozenset[str]  # host names that may reach only the public routes
    id_key: str | None  # key of the opaque public incident ids (else one kept in the store)
    redis_url: str | None
    refresh_seconds: int
    tile_url: str | None
    public_base_url: str | None  # how the public reaches this server, for share snippets


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def parse_rate_limit(raw: str) -> tuple[int, int] | None:
    """`120/minute`, `10/second`, `1000/hour`, `5000/day`; `off` or `0` disables it."""
    text = raw.strip().lower()
    if text in ("off", "0", "none"):
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?", text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"PUBLIC_RATE_LIMIT must look like 120/minute, got {raw!r}")
    return int(match.group(1)), int(match.group(2) or 1) * _PERIODS[match.group(3)]


def parse_origins(raw: str) -> tuple[str, ...]:
    """Space- or comma-separated CSP sources: `*`, `'self'` or origins such as `https://news.example.cn`."""
    items = tuple(item for item in re.split(r"[\s,]+", raw.strip()) if item)
    if not items:
        return ("*",)
    bad = [item for item in items if not _ORIGIN.match(item)]
    if bad:
        raise ValueError(f"EMBED_ALLOWED_ORIGINS: not an origin: {', '.join(bad)}")
    return items


def load_public_settings() -> PublicSettings:
    try:
        rate = parse_rate_limit(os.environ.get("PUBLIC_RATE_LIMIT") or "120/minute")
        origins = parse_origins(os.environ.get("EMBED_ALLOWED_ORIGINS") or "*")
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    hosts = frozenset(h.strip().lower() for h in (os.environ.get("PUBLIC_HOSTS") or "").split(",") if h.strip())
    return PublicSettings(
        embed_allowed_origins=origins,
        rate_limit=rate,
        trusted_proxies=max(0, _int("PUBLIC_TRUSTED_PROXIES", 0)),
        public_hosts=hosts,
        id_key=os.environ.get("PUBLIC_ID_KEY") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        refresh_seconds=max(1, _int("REFRESH_SECONDS", 10)),
        tile_url=os.environ.get("TILE_URL") or None,
        public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "").strip().rstrip("/") or None,
    )
