"""The one Settings object: the only module that reads the environment, with the defaults a fresh
machine needs. `load_settings()` is cheap to call per request (remembered per environment)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_ORIGIN = re.compile(r"^(\*|'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?|https?:)$")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


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


# The six cities' keys (data/geo/cities.py, which reads these settings, so it cannot be imported here)
# and the layers the simulator can drive.
CITY_KEYS = ("beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou", "xiongan")
SIM_LAYERS = ("traffic", "parking", "air_quality", "incidents")
ALL_SIMULATED = frozenset((city, layer) for city in CITY_KEYS for layer in SIM_LAYERS)


def parse_simulate(raw: str) -> frozenset[tuple[str, str]]:
    """SIMULATE: `all` (default), `none`, or items `city` / `city:layer` (layer: traffic, parking,
    air-quality, incidents), e.g. `hangzhou:traffic,hangzhou:parking,shanghai`: the (city, layer)
    pairs the simulator drives."""
    text = raw.strip().lower()
    if text in ("", "all"):
        return ALL_SIMULATED
    if text == "none":
        return frozenset()
    pairs: set[tuple[str, str]] = set()
    for item in (part.strip() for part in re.split(r"[\s,]+", text) if part.strip()):
        city, _, layer = item.partition(":")
        layer = layer.replace("-", "_")
        if city not in CITY_KEYS:
            raise ValueError(f"SIMULATE: unknown city {city!r} (one of {', '.join(CITY_KEYS)})")
        if layer and layer not in SIM_LAYERS:
            raise ValueError(f"SIMULATE: unknown layer {layer!r} (traffic, parking, air-quality, incidents)")
        pairs.update((city, one) for one in ((layer,) if layer else SIM_LAYERS))
    return frozenset(pairs)


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
    ingest_max_new_sensors: int = 5000  # INGEST_MAX_NEW_SENSORS: sensors one ingest batch may register
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
    web_concurrency: int = 2  # WEB_CONCURRENCY: gunicorn workers (gunicorn.conf.py, scripts/start.sh)
    # Sign-in
    secret_key: str | None = None  # SECRET_KEY: signs sessions (else one generated once, kept in the store)
    session_hours: float = 12.0  # SESSION_HOURS: idle this long (no request at all) and a session ends
    session_max_days: float = 7.0  # SESSION_MAX_DAYS: a session ends this long after sign-in, in use or not
    session_cookie_secure: bool = False  # SESSION_COOKIE_SECURE=1 behind TLS
    # Incidents and alert rules
    sla_file: str | None = None  # SLA_FILE: JSON overrides of the response-time targets
    alert_aqi: float = 200  # ALERT_AQI: station AQI above this opens an incident
    alert_congestion_index: float = 2.0  # ALERT_CONGESTION_INDEX
    alert_parking_full_pct: float = 100  # ALERT_PARKING_FULL_PCT
    alert_silent_group: int = 20  # ALERT_SILENT_GROUP: this many sensors silent together is one incident
    # Public side: embeds, open data API, hardening
    embed_allowed_origins: tuple[str, ...] = ("*",)  # EMBED_ALLOWED_ORIGINS: CSP frame-ancestors of embeds
    public_rate_limit: tuple[int, int] | None = (120, 60)  # PUBLIC_RATE_LIMIT: (requests, seconds), None = off
    trusted_proxies: int = 0  # PUBLIC_TRUSTED_PROXIES: reverse proxies appending to X-Forwarded-For
    public_hosts: frozenset[str] = frozenset()  # PUBLIC_HOSTS: host names that reach only public routes
    public_id_key: str | None = None  # PUBLIC_ID_KEY: key of opaque public incident ids (else kept in store)
    public_base_url: str | None = None  # PUBLIC_BASE_URL: how the public reaches this server (links, snippets)
    # SIMULATE: the (city, layer) pairs the simulator drives; a layer outside it shows only sensors
    # from feeds and imports
    simulate: frozenset[tuple[str, str]] = ALL_SIMULATED

    def simulates(self, city: str, layer: str) -> bool:
        return (city, layer) in self.simulate

    forecasts: bool = True  # FORECASTS=0 stops the background job that fits and stores the forecasts
    forecast_minutes: int = 15  # FORECAST_MINUTES: how often the forecasts are refitted

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "citybrain.sqlite"


_remembered: dict[tuple, Settings] = {}


def load_settings() -> Settings:
    """The settings for the current environment (and working directory, which a relative DATA_DIR
    depends on): read once per distinct environment, so request paths may call it freely."""
    data_dir = os.environ.get("DATA_DIR")
    # Only a relative DATA_DIR depends on the working directory (which may even be gone: then no key needs it).
    key = (tuple(sorted(os.environ.items())), os.getcwd() if data_dir and not os.path.isabs(data_dir) else None)
    settings = _remembered.get(key)
    if settings is None:
        settings = _read_settings()
        if len(_remembered) > 32:  # tests change the environment many times
            _remembered.clear()
        _remembered[key] = settings
    return settings


def _read_settings() -> Settings:
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
        ingest_max_new_sensors=max(0, _int("INGEST_MAX_NEW_SENSORS", 5000)),
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
        web_concurrency=max(1, _int("WEB_CONCURRENCY", 2)),
        secret_key=os.environ.get("SECRET_KEY", "").strip() or None,
        session_hours=_float("SESSION_HOURS", 12.0) or 12.0,
        session_max_days=_float("SESSION_MAX_DAYS", 7.0) or 7.0,
        session_cookie_secure=os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        sla_file=os.environ.get("SLA_FILE", "").strip() or None,
        alert_aqi=_float("ALERT_AQI", 200),
        alert_congestion_index=_float("ALERT_CONGESTION_INDEX", 2.0),
        alert_parking_full_pct=_float("ALERT_PARKING_FULL_PCT", 100),
        alert_silent_group=int(_float("ALERT_SILENT_GROUP", 20)),
        simulate=_simulate(),
        **_public_fields(),
        forecasts=os.environ.get("FORECASTS", "1") != "0",
        forecast_minutes=max(1, _int("FORECAST_MINUTES", 15)),
    )


def _simulate() -> frozenset[tuple[str, str]]:
    try:
        return parse_simulate(os.environ.get("SIMULATE", ""))
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def _public_fields() -> dict:
    try:
        rate = parse_rate_limit(os.environ.get("PUBLIC_RATE_LIMIT") or "120/minute")
        origins = parse_origins(os.environ.get("EMBED_ALLOWED_ORIGINS") or "*")
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    hosts = frozenset(h.strip().lower() for h in (os.environ.get("PUBLIC_HOSTS") or "").split(",") if h.strip())
    return {
        "embed_allowed_origins": origins,
        "public_rate_limit": rate,
        "trusted_proxies": max(0, _int("PUBLIC_TRUSTED_PROXIES", 0)),
        "public_hosts": hosts,
        "public_id_key": os.environ.get("PUBLIC_ID_KEY") or None,
        "public_base_url": (os.environ.get("PUBLIC_BASE_URL") or "").strip().rstrip("/") or None,
    }
