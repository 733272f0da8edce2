"""The public side's view of the settings (embeds, open data API, hardening): a projection of the
one Settings object in data/config.py, which alone reads the environment."""

from __future__ import annotations

from dataclasses import dataclass

from data.config import Settings, load_settings


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


def public_settings(settings: Settings) -> PublicSettings:
    return PublicSettings(
        embed_allowed_origins=settings.embed_allowed_origins,
        rate_limit=settings.public_rate_limit,
        trusted_proxies=settings.trusted_proxies,
        public_hosts=settings.public_hosts,
        id_key=settings.public_id_key,
        redis_url=settings.redis_url,
        refresh_seconds=settings.refresh_seconds,
        tile_url=settings.tile_url,
        public_base_url=settings.public_base_url,
    )


def load_public_settings() -> PublicSettings:
    return public_settings(load_settings())
