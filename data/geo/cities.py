"""The report's six leading smart cities (UN-Habitat 2020, tables 2.3-2.9) and their simulation scale."""

from __future__ import annotations

from dataclasses import dataclass, replace

from data.config import load_settings


@dataclass(frozen=True)
class City:
    key: str
    name_zh: str
    name_en: str
    center: tuple[float, float]  # (lat, lon) WGS84, the city's traditional centre
    zoom: int
    # Simulation shape. Typical seasonal PM2.5 (µg/m³, 24-h mean) from published annual means of the
    # Ministry of Ecology and Environment's bulletins, rounded; used only to shape simulated data.
    pm25_typical: float
    segments: int = 2000
    parking_lots: int = 500
    aq_stations: int = 20
    # Perceived events a day; Hangzhou's ~30,000 comes from the report (ch. 3.2.1.2), the others scaled.
    events_per_day: int = 12000
    # Set only at a larger simulation scale (SIM_SCALE, see SCALES); None keeps the defaults.
    total_spaces: int | None = None
    scale: str = "default"
    obs_hours: tuple[tuple[str, float], ...] = ()  # observation history kept per layer (hours); () = default
    incident_days: int | None = None  # incident history kept (days); None = RETENTION_DAYS


CITIES: dict[str, City] = {
    c.key: c
    for c in (
        City("beijing", "北京", "Beijing", (39.9087, 116.3975), 11, pm25_typical=38, events_per_day=26000),
        City("shanghai", "上海", "Shanghai", (31.2304, 121.4737), 11, pm25_typical=32, events_per_day=28000),
        City("guangzhou", "广州", "Guangzhou", (23.1291, 113.2644), 11, pm25_typical=28, events_per_day=20000),
        City("shenzhen", "深圳", "Shenzhen", (22.5431, 114.0579), 11, pm25_typical=20, events_per_day=20000),
        City("hangzhou", "杭州", "Hangzhou", (30.2741, 120.1551), 11, pm25_typical=35, events_per_day=30000),
        City("xiongan", "雄安", "Xiong'an", (39.0300, 115.9900), 11, pm25_typical=48, events_per_day=3000),
    )
}

DEFAULT_CITY = "hangzhou"

# SIM_SCALE=shanghai: Shanghai at the size of a real megacity command centre (issue 8). Keeping 15-min
# traffic for 100,000 segments over 30 days would be 288M rows, so at this scale the store keeps
# traffic for the last 3 hours, parking for the last 26 hours (turnover and "same time yesterday"
# need a day), air quality for the default 7 days, and incidents for 30 days.
SCALES: dict[str, dict] = {
    "shanghai": {
        "city": "shanghai",
        "segments": 100_000,
        "parking_lots": 20_000,
        "total_spaces": 1_000_000,
        "aq_stations": 200,
        "events_per_day": 30_000,
        "obs_hours": (("traffic", 3), ("parking", 26), ("air_quality", 7 * 24)),
        "incident_days": 30,
    }
}


def scaled_city(scale: str, fraction: float = 1.0) -> City:
    """The city of `scale` at that scale; `fraction` shrinks its counts (tests run it in seconds)."""
    spec = dict(SCALES[scale])
    key = spec.pop("city")
    for field in ("segments", "parking_lots", "total_spaces", "aq_stations", "events_per_day"):
        spec[field] = max(1, round(spec[field] * fraction))
    return replace(_BASE[key], scale=scale, **spec)


def _apply_scale(cities: dict[str, City], scale: str) -> dict[str, City]:
    if scale in ("", "default"):
        return cities
    if scale not in SCALES:
        raise SystemExit(f"SIM_SCALE must be 'default' or one of {', '.join(SCALES)}, got {scale!r}")
    scaled = scaled_city(scale)
    return cities | {scaled.key: scaled}


_BASE = dict(CITIES)
CITIES.update(_apply_scale(CITIES, load_settings().sim_scale))


def set_scale(scale: str) -> None:
    """Switch the simulation scale in this process (CITIES is updated in place, so importers see it)."""
    CITIES.update(_apply_scale(dict(_BASE), scale.strip().lower()))


class UnknownCityError(ValueError):
    """Raised for a city key that is not one of the six."""


def get_city(key: str | None) -> City:
    if key is not None and (not isinstance(key, str) or len(key) > 64):  # a client's value, whatever it is
        raise UnknownCityError(str(key)[:40])
    normalized = (key or DEFAULT_CITY).strip().lower().replace("'", "").replace("-", "")
    try:
        return CITIES[normalized]
    except KeyError:
        raise UnknownCityError(key) from None


def city_or_default(key: str | None) -> City:
    """The city `key` names, or the default city for a key that names none (pages whose address may
    carry any value show the default city rather than an error)."""
    try:
        return get_city(key)
    except UnknownCityError:
        return get_city(None)
