"""Settings read from the environment once, with the defaults a fresh machine needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "").strip().lower() or allowed[0]
    if raw not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    refresh_seconds: int
    stale_minutes: int
    tile_url: str | None
    tile_attribution: str
    host: str
    port: int
    simulate_live: bool
    simulate_backfill: bool
    cache_timeout: int
    cache_local_mb: int
    ingest_api_keys: tuple[str, ...]
    ingest_max_bytes: int
    sim_scale: str = "default"  # SIM_SCALE: "default" or "shanghai" (data/geo/cities.py SCALES)
    incident_cluster: str = "auto"  # INCIDENT_CLUSTER: "auto"/"1" group incidents below street zoom, "0" never
    # BACKGROUND_JOBS: "threads" (the serving process runs the simulator and alert rules) or "process"
    # (`python -m data.jobs.background` does; gunicorn.conf.py sets it and starts that process)
    background_jobs: str = "threads"
    alert_rules: bool = True  # ALERT_RULES=0 stops the rules that open incidents from the data
    max_body_bytes: int = 1024 * 1024  # MAX_BODY_BYTES: largest request body outside the ingest routes
    hsts_seconds: int = 0  # HSTS_SECONDS: Strict-Transport-Security max-age when served over TLS (0: off)
    login_rate_limit: str = "10/minute"  # LOGIN_RATE_LIMIT: sign-in attempts per client IP
    callback_rate_limit: str = "120/minute"  # CALLBACK_RATE_LIMIT: anonymous Dash callbacks per client IP
    items_per_cost: int = 100  # OGC_ITEMS_PER_COST: an items page costs one request per this many items
    token_days: int = 90  # TOKEN_DAYS: a bearer token expires this long after it was made
    redis_timeout_ms: int = 250  # REDIS_TIMEOUT_MS: connect and socket timeout of every Redis call
    redis_retry_seconds: int = 5  # REDIS_RETRY_SECONDS: after a Redis failure, skip it this long

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "citybrain.sqlite"


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("DATA_DIR") or PROJECT_DIR / "var").resolve()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'citybrain.sqlite'}"
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        refresh_seconds=max(1, _int("REFRESH_SECONDS", 10)),
        stale_minutes=max(1, _int("STALE_MINUTES", 30)),
        tile_url=os.environ.get("TILE_URL") or None,
        tile_attribution=os.environ.get("TILE_ATTRIBUTION", ""),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=_int("PORT", 8050),
        simulate_live=os.environ.get("SIMULATE_LIVE", "1") != "0",
        simulate_backfill=os.environ.get("SIMULATE_BACKFILL", "1") != "0",
        cache_timeout=_int("CACHE_TIMEOUT", 600),
        cache_local_mb=max(8, _int("CACHE_LOCAL_MB", 160)),
        ingest_api_keys=tuple(k.strip() for k in os.environ.get("INGEST_API_KEYS", "").split(",") if k.strip()),
        ingest_max_bytes=_int("INGEST_MAX_BYTES", 5 * 1024 * 1024),
        sim_scale=os.environ.get("SIM_SCALE", "default").strip().lower() or "default",
        incident_cluster=_choice("INCIDENT_CLUSTER", ("auto", "1", "0")),
        background_jobs=_choice("BACKGROUND_JOBS", ("threads", "process")),
        alert_rules=os.environ.get("ALERT_RULES", "1") != "0",
        max_body_bytes=max(1024, _int("MAX_BODY_BYTES", 1024 * 1024)),
        hsts_seconds=max(0, _int("HSTS_SECONDS", 0)),
        login_rate_limit=os.environ.get("LOGIN_RATE_LIMIT", "").strip() or "10/minute",
        callback_rate_limit=os.environ.get("CALLBACK_RATE_LIMIT", "").strip() or "120/minute",
        items_per_cost=max(1, _int("OGC_ITEMS_PER_COST", 100)),
        token_days=max(1, _int("TOKEN_DAYS", 90)),
        redis_timeout_ms=max(10, _int("REDIS_TIMEOUT_MS", 250)),
        redis_retry_seconds=max(1, _int("REDIS_RETRY_SECONDS", 5)),
    )
