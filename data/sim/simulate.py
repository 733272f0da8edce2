"""Seeded simulator: 7 days of history and a live stream for the six cities. ALL OUTPUT IS SIMULATED.

It is shaped by real figures, not by real measurements:
- traffic: weekday morning (~08:15) and evening (~18:00) peaks in China Standard Time; peak network
  congestion index around 1.6-2.0 as in Amap's city reports; free-flow speeds per road class;
- parking: occupancy curves per lot kind (commercial, office, residential, on-street) and daily
  turnover of ~1-6 vehicles per space; Hangzhou's lots add up to the report's 476,000 spaces;
- air quality: each city's typical PM2.5 level for November (heating season in the north), daily
  cycles of NO2 (traffic) and O3 (afternoon sun), multi-day pollution episodes;
- incidents: the kinds the report's City Brain perceives, Hangzhou's ~30,000 events a day
  (report, ch. 3.2.1.2), dispatch within about a minute for urgent ones (Haidian, ch. 3.3.2.3).

Values are a deterministic function of (city, sensor, time), so history, live ticks and re-runs agree.
Run ``python -m cli.simulate`` to prepare the store without starting the app.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from data import store
from data.config import load_settings
from data.geo.cities import CITIES, City
from data.rules.clock import BUCKET_SECONDS, CST, DAY, HOUR, floor_bucket
from data.sim import sensors

HISTORY_DAYS = store.HISTORY_DAYS
RETENTION_DAYS = 8
B = BUCKET_SECONDS

CONGESTION_LEVEL = {
    "beijing": 1.0,
    "shanghai": 0.85,
    "guangzhou": 0.85,
    "shenzhen": 0.8,
    "hangzhou": 0.85,
    "xiongan": 0.3,
}
NORTHERN_HEATING = {"beijing", "xiongan"}

INCIDENT_KINDS: dict[str, tuple[float, tuple[float, float, float, float], float]] = {
    # kind: (share of events, severity 1..4 probabilities, median minutes on scene to resolve)
    "illegal_parking": (0.36, (0.70, 0.25, 0.05, 0.00), 8),
    "abnormal_congestion": (0.18, (0.30, 0.45, 0.20, 0.05), 20),
    "road_obstruction": (0.14, (0.30, 0.40, 0.25, 0.05), 25),
    "vehicle_breakdown": (0.12, (0.25, 0.50, 0.20, 0.05), 20),
    "traffic_accident": (0.12, (0.10, 0.40, 0.35, 0.15), 30),
    "pollution_exceedance": (0.03, (0.20, 0.50, 0.25, 0.05), 45),
    "manhole_cover": (0.03, (0.20, 0.50, 0.25, 0.05), 40),
    "gas_sensor": (0.02, (0.05, 0.25, 0.40, 0.30), 35),
}
# Median seconds from report to dispatch by severity: urgent ones answered within a minute (Haidian).
DISPATCH_MEDIAN_S = {1: 240.0, 2: 120.0, 3: 60.0, 4: 40.0}
TRAVEL_MEDIAN_S = {1: 600.0, 2: 480.0, 3: 360.0, 4: 270.0}
# Simulated call-takers acknowledge before they dispatch; urgent calls faster (report: answered in 60 s).
ACK_MEDIAN_S = {1: 50.0, 2: 35.0, 3: 20.0, 4: 15.0}

Progress = Callable[[str], None]


def local_hours(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hour of day as float, is-weekday) in China Standard Time."""
    local = t + CST
    hours = (local % DAY) / HOUR
    weekday = ((local // DAY + 3) % 7) < 5  # 1970-01-01 was a Thursday
    return hours, weekday


def _bump(h: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-(((h - centre) / width) ** 2))


def traffic_demand(t: np.ndarray) -> np.ndarray:
    h, weekday = local_hours(t)
    workday = 0.95 * _bump(h, 8.25, 0.9) + 1.0 * _bump(h, 18.0, 1.1) + 0.3 * _bump(h, 13.0, 2.5)
    weekend = 0.45 * _bump(h, 15.0, 3.0) + 0.25 * _bump(h, 11.0, 2.0)
    return np.where(weekday, workday, weekend) + 0.03


def _phases(city: City, stream: int, n: int, k: int = 3) -> np.ndarray:
    return np.random.default_rng([7, stream, sum(map(ord, city.key))]).uniform(0, 2 * math.pi, (n, k))


def _wobble(t: np.ndarray, phases: np.ndarray, periods_h: tuple[float, ...]) -> np.ndarray:
    """Smooth per-sensor variation in [-1, 1], shape (len(t), n_sensors)."""
    out = np.zeros((len(t), phases.shape[0]))
    for k, period in enumerate(periods_h):
        out += np.sin(2 * math.pi * t[:, None] / (period * HOUR) + phases[None, :, k])
    return out / len(periods_h)


def _bucket_noise(city: City, stream: int, buckets: np.ndarray, n: int) -> np.ndarray:
    return (
        np.stack(
            [np.random.default_rng([11, stream, sum(map(ord, city.key)), int(b)]).standard_normal(n) for b in buckets]
        )
        if len(buckets)
        else np.zeros((0, n))
    )


def traffic_speeds(city: City, segs: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """Speeds (km/h), shape (len(t), len(segs))."""
    n = len(segs)
    rng = np.random.default_rng([3, sum(map(ord, city.key))])
    sensitivity = (
        rng.lognormal(0, 0.35, n)
        * segs["road_class"]
        .map({"motorway": 0.9, "primary": 1.2, "secondary": 1.0, "local": 0.7})
        .fillna(1.0)
        .to_numpy()
    )
    wobble = _wobble(t, _phases(city, 1, n), (0.75, 3.0, 17.0))
    noise = _bucket_noise(city, 1, t // B, n)
    ci = 1 + CONGESTION_LEVEL[city.key] * sensitivity[None, :] * traffic_demand(t)[:, None] * (1 + 0.3 * wobble)
    ci = np.maximum(1.0, ci + 0.04 * np.abs(noise))
    return np.round(segs["free_flow_kmh"].to_numpy()[None, :] / ci, 1)


def _occupancy_profile(kind: str, h: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    day = np.clip((h - 8.5) / 1.0, 0, 1) * np.clip((18.5 - h) / 1.0, 0, 1)
    if kind == "office":
        return np.where(weekday, 0.08 + 0.82 * day, 0.12 + 0.1 * day)
    if kind == "residential":
        return np.where(weekday, 0.92 - 0.5 * day, 0.85 - 0.2 * day)
    shop = 0.1 + 0.6 * _bump(h, 14.5, 3.5) + 0.25 * _bump(h, 19.5, 1.5)
    if kind == "on_street":
        return np.where(weekday, shop, shop * 1.1)
    return np.clip(np.where(weekday, shop, shop * 1.25), 0, 0.98)


TURNOVER_PER_DAY = {"commercial": 4.0, "office": 1.5, "residential": 0.8, "on_street": 6.0}


def parking_state(city: City, lots: pd.DataFrame, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(occupied, arrivals during the bucket), each shape (len(t), len(lots))."""
    h, weekday = local_hours(t)
    kinds = lots["kind"].to_numpy()
    capacity = lots["capacity"].to_numpy()
    share = np.zeros((len(t), len(lots)))
    arrivals_rate = np.zeros_like(share)
    for kind in sensors.LOT_KINDS:
        mask = kinds == kind
        share[:, mask] = _occupancy_profile(kind, h, weekday)[:, None]
        activity = 0.2 + _occupancy_profile(kind, (h + 1.0) % 24, weekday)  # arrivals lead occupancy
        arrivals_rate[:, mask] = (TURNOVER_PER_DAY[kind] / 96 * activity / 0.7)[:, None]
    wobble = _wobble(t, _phases(city, 2, len(lots)), (1.5, 9.0, 31.0))
    share = np.clip(share * (1 + 0.12 * wobble) + 0.02 * _bucket_noise(city, 2, t // B, len(lots)), 0, 1)
    occupied = np.round(share * capacity[None, :]).astype(int)
    fraction = np.clip((t - t // B * B) / B, 0, 1)  # the live bucket has seen only part of its arrivals
    fraction = np.where(fraction == 0, 1.0, fraction)
    arrivals = np.round(arrivals_rate * capacity[None, :] * fraction[:, None]).astype(int)
    return occupied, arrivals


def aq_concentrations(city: City, stations: pd.DataFrame, t: np.ndarray) -> dict[str, np.ndarray]:
    """Hourly concentrations per pollutant, each shape (len(t), len(stations)); co in mg/m³."""
    h, _weekday = local_hours(t)
    n = len(stations)
    days = t / DAY
    rng = np.random.default_rng([5, sum(map(ord, city.key))])
    ph = rng.uniform(0, 2 * math.pi, 3)
    episode = np.exp(
        0.5
        * (
            np.sin(2 * math.pi * days / 2.3 + ph[0])
            + 0.8 * np.sin(2 * math.pi * days / 4.1 + ph[1])
            + 0.6 * np.sin(2 * math.pi * days / 7.7 + ph[2])
        )
        / 1.4
    )
    season = 1.45 if city.key in NORTHERN_HEATING else 1.15
    diurnal = 0.85 + 0.2 * _bump(h, 21, 3) + 0.1 * _bump(h, 8.5, 1.5)
    station = rng.lognormal(0, 0.12, n)
    wobble = _wobble(t, _phases(city, 3, n), (2.0, 11.0))
    noise = _bucket_noise(city, 3, t // HOUR, n)
    pm25 = city.pm25_typical * season * (episode * diurnal)[:, None] * station[None, :] * (1 + 0.1 * wobble)
    pm25 = np.maximum(2, pm25 * (1 + 0.05 * noise))
    traffic = traffic_demand(t)[:, None]
    return {
        "pm25": np.round(pm25, 1),
        "pm10": np.round(pm25 * (1.55 + 0.15 * wobble), 1),
        "no2": np.round(np.maximum(3, (18 + 30 * traffic) * station[None, :] * (1 + 0.15 * wobble)), 1),
        "o3": np.round(
            np.maximum(2, (15 + 55 * _bump(h, 15, 3.0))[:, None] / np.sqrt(episode)[:, None] * (1 + 0.15 * wobble)), 1
        ),
        "so2": np.round(np.maximum(1, (5 + 4 * (season > 1.2)) * station[None, :] * (1 + 0.2 * wobble)), 1),
        "co": np.round(np.maximum(0.1, 0.35 + 0.012 * pm25), 2),
    }


@dataclass(frozen=True)
class IncidentPlaces:
    """Where simulated events happen: road segment midpoints, and car parks for illegal parking."""

    seg_lon: np.ndarray
    seg_lat: np.ndarray
    seg_district: np.ndarray
    lot_lon: np.ndarray
    lot_lat: np.ndarray
    lot_district: np.ndarray


# Mean demand over a weekday (2024-01-03, a Wednesday): scales events so a weekday has events_per_day.
_WEEKDAY_DEMAND = float(traffic_demand(np.arange(1704211200, 1704211200 + DAY, B) + B / 2).mean())
_KINDS = list(INCIDENT_KINDS)
_SHARES = np.array([INCIDENT_KINDS[k][0] for k in _KINDS]) / sum(INCIDENT_KINDS[k][0] for k in _KINDS)
_SEVERITY_CUM = np.cumsum([INCIDENT_KINDS[k][1] for k in _KINDS], axis=1)
_RESOLVE_MEDIAN_S = np.array([INCIDENT_KINDS[k][2] * 60.0 for k in _KINDS])
_DISPATCH = np.array([0.0] + [DISPATCH_MEDIAN_S[s] for s in (1, 2, 3, 4)])
_TRAVEL = np.array([0.0] + [TRAVEL_MEDIAN_S[s] for s in (1, 2, 3, 4)])
_ACK = np.array([0.0] + [ACK_MEDIAN_S[s] for s in (1, 2, 3, 4)])


def incidents_for_bucket(city: City, bucket: int, places: IncidentPlaces) -> list[tuple]:
    """The simulated events reported during one bucket, with their pre-drawn workflow times."""
    rng = np.random.default_rng([13, sum(map(ord, city.key)), bucket])
    rate = city.events_per_day / 96 * float(traffic_demand(np.array([bucket + B / 2]))[0]) / _WEEKDAY_DEMAND
    n = int(rng.poisson(rate))
    kind = rng.choice(len(_KINDS), size=n, p=_SHARES)
    severity = (rng.random(n)[:, None] > _SEVERITY_CUM[kind]).sum(axis=1) + 1
    at_lot = np.array([_KINDS[k] == "illegal_parking" for k in kind], dtype=bool)
    lot = rng.integers(len(places.lot_lon), size=n)
    seg = rng.integers(len(places.seg_lon), size=n)
    lon = np.where(at_lot, places.lot_lon[lot], places.seg_lon[seg]) + rng.normal(0, 0.0003, n)
    lat = np.where(at_lot, places.lot_lat[lot], places.seg_lat[seg]) + rng.normal(0, 0.0003, n)
    district = np.where(at_lot, places.lot_district[lot], places.seg_district[seg])
    reported = bucket + rng.integers(B, size=n)
    dispatched = reported + rng.lognormal(np.log(_DISPATCH[severity]), 0.5).astype(int)
    on_scene = dispatched + rng.lognormal(np.log(_TRAVEL[severity]), 0.35).astype(int)
    resolved = on_scene + rng.lognormal(np.log(_RESOLVE_MEDIAN_S[kind]), 0.6).astype(int)
    # Drawn last so the earlier draws (and every stored history) stay as they were.
    acknowledged = reported + np.minimum(dispatched - reported, rng.lognormal(np.log(_ACK[severity]), 0.5).astype(int))
    return list(
        zip(
            [f"sim-{city.key}-{bucket}-{i}" for i in range(n)],
            [city.key] * n,
            [_KINDS[k] for k in kind],
            severity.tolist(),
            np.round(lon, 6).tolist(),
            np.round(lat, 6).tolist(),
            district.tolist(),
            reported.tolist(),
            dispatched.tolist(),
            on_scene.tolist(),
            resolved.tolist(),
            ["simulator"] * n,
            [True] * n,
            acknowledged.tolist(),
            resolved.tolist(),  # simulated crews close an incident when they resolve it
            strict=True,
        )
    )


def incident_places(segs: pd.DataFrame, lots: pd.DataFrame) -> IncidentPlaces:
    return IncidentPlaces(
        segs["mid_lon"].to_numpy(),
        segs["mid_lat"].to_numpy(),
        segs["district"].to_numpy(dtype=object),
        lots["lon"].to_numpy(),
        lots["lat"].to_numpy(),
        lots["district"].to_numpy(dtype=object),
    )


INCIDENT_COLUMNS = (
    "ref",
    "city",
    "kind",
    "severity",
    "lon",
    "lat",
    "district",
    "reported_at",
    "dispatched_at",
    "on_scene_at",
    "resolved_at",
    "source",
    "simulated",
    "acknowledged_at",
    "closed_at",
)


def ensure_sensors(engine: Engine, city: City, progress: Progress) -> None:
    if store.get_meta(engine, f"sensors:{city.key}") == "1":
        return
    started = time.perf_counter()
    roads = sensors.synthetic_roads(city)
    base = list(CITIES).index(city.key) * 1_000_000
    for i, row in enumerate(roads):
        row["id"] = base + i + 1
    lots = sensors.parking_lots(city, roads)
    for i, row in enumerate(lots):
        row["id"] = base + i + 1
    stations = sensors.aq_stations(city)
    for i, row in enumerate(stations):
        row["id"] = base + i + 1
    store.write_static(engine, city.key, roads, lots, stations)
    store.set_meta(engine, f"sensors:{city.key}", "1")
    progress(
        f"  {city.name_en}: {len(roads)} synthetic road segments, {len(lots)} simulated car parks, "
        f"{sum(not s['simulated'] for s in stations)} real + {sum(s['simulated'] for s in stations)} simulated "
        f"AQ stations ({time.perf_counter() - started:.1f}s)"
    )


def _segments_frame(engine: Engine, city: City) -> pd.DataFrame:
    segs = store.driven_sensors(engine, "traffic", city.key)
    mids = [coords[len(coords) // 2] for coords in map(json.loads, segs["coords"])]
    segs["mid_lon"] = [p[0] for p in mids]
    segs["mid_lat"] = [p[1] for p in mids]
    return segs


def advance_city(
    engine: Engine, city: City, now: float, progress: Progress | None = None, history_days: float = HISTORY_DAYS
) -> None:
    """Write every bucket from the last one stored up to the current one (as of `now`).

    On a city with no data, only `history_days` are written; `backfill_city` adds the older part.
    """
    if city.scale != "default" and progress is None:  # a live tick: a scaled city updates once a minute
        if now - _last_live_tick.get(city.key, 0.0) < SCALE_TICK_SECONDS:
            return
        _last_live_tick[city.key] = now
    current = floor_bucket(now)
    last = int(store.get_meta(engine, f"sim_closed:{city.key}") or 0)
    if city.scale != "default":  # at scale, never more traffic history than the city keeps
        history_days = min(history_days, obs_hours(city, "traffic") / 24)
    first = max(last + B, floor_bucket(now - history_days * DAY))
    if last == 0 or last + B < floor_bucket(now - HISTORY_DAYS * DAY):
        store.set_meta(engine, f"sim_oldest:{city.key}", str(first))
    counts = _write_buckets(engine, city, first, current + B, now)
    store.set_meta(engine, f"sim_closed:{city.key}", str(current - B))
    if city.scale != "default" and current - B > last:
        trim_city(engine, city, now)
    if progress:
        progress(f"  {city.name_en}: {counts}")


BACKFILL_CHUNK_SECONDS = 6 * 3600  # older history is written this much per transaction


def backfill_city(engine: Engine, city: City, now: float, progress: Progress | None = None) -> None:
    """Add the history older than what `advance_city` wrote, up to HISTORY_DAYS back."""
    if city.scale != "default":
        scale_history(engine, city, now, progress)
        return
    oldest_written = int(store.get_meta(engine, f"sim_oldest:{city.key}") or 0)
    start = floor_bucket(now - HISTORY_DAYS * DAY)
    if not oldest_written or oldest_written <= start:
        return
    # Newest first, a few hours per transaction: a week in one write held SQLite's lock for longer than
    # the web workers' busy timeout (sign-in answered 503 and a restarting worker failed to boot).
    end = oldest_written
    while end > start:
        chunk_start = max(start, floor_bucket(end - BACKFILL_CHUNK_SECONDS, HOUR))
        counts = _write_buckets(engine, city, chunk_start, end, now)
        store.set_meta(engine, f"sim_oldest:{city.key}", str(chunk_start))
        if progress:
            progress(f"  {city.name_en} (older history from {chunk_start}): {counts}")
        end = chunk_start


# --- scale (SIM_SCALE, data/geo/cities.py SCALES) -----------------------------------------------------


# A scaled city's live simulator tick rewrites 100,000 traffic rows and invalidates every cached view
# of the city, so it runs once a minute (feeds at that scale typically report per minute), not every
# REFRESH_SECONDS; the browser still asks every REFRESH_SECONDS and gets an empty delta in between.
SCALE_TICK_SECONDS = 60.0
_last_live_tick: dict[str, float] = {}


def obs_hours(city: City, layer: str) -> float:
    """Hours of `layer` observations the city keeps (HISTORY_DAYS unless it runs at a larger scale)."""
    return float(dict(city.obs_hours).get(layer, HISTORY_DAYS * 24))


def scale_history(engine: Engine, city: City, now: float, progress: Progress | None = None) -> None:
    """A scaled city's older history, written once: parking and air quality back to their windows
    (traffic keeps only what `advance_city` wrote) and incidents back `incident_days`."""
    if store.get_meta(engine, f"scale_history:{city.key}") == city.scale:
        return
    oldest = int(store.get_meta(engine, f"sim_oldest:{city.key}") or floor_bucket(now))
    parts = []
    for layer in ("parking", "air_quality"):
        start = floor_bucket(now - obs_hours(city, layer) * HOUR)
        if start < oldest:
            parts.append(_write_buckets(engine, city, start, oldest, now, layers=(layer,), with_incidents=False))
    start = floor_bucket(now - (city.incident_days or RETENTION_DAYS) * DAY)
    places = incident_places(_segments_frame(engine, city), store.driven_sensors(engine, "parking", city.key))
    written = 0
    for chunk in range(start, oldest, DAY):  # a day a transaction keeps memory flat
        written += _write_incidents(engine, city, places, range(chunk, min(chunk + DAY, oldest), B), now)
    parts.append(f"{written:,} older incidents")
    store.set_meta(engine, f"scale_history:{city.key}", city.scale)
    if progress:
        progress(f"  {city.name_en} ({city.scale} scale, older history): {'; '.join(parts)}")


def trim_city(engine: Engine, city: City, now: float) -> None:
    """Drop a scaled city's observations and incidents older than the windows it keeps."""
    cutoffs = {layer: floor_bucket(now - obs_hours(city, layer) * HOUR) for layer in store.OBSERVATION_TABLES}
    incident_cutoff = floor_bucket(now - (city.incident_days or RETENTION_DAYS) * DAY)
    store.purge_city_before(engine, city.key, cutoffs, incident_cutoff)


def _write_incidents(engine: Engine, city: City, places: IncidentPlaces, buckets: range, now: float) -> int:
    """Insert the simulated incidents of past `buckets` that were reported by `now`; returns how many."""
    if not load_settings().simulates(city.key, "incidents"):
        return 0
    reported_col = INCIDENT_COLUMNS.index("reported_at")
    rows = [row for bucket in buckets for row in incidents_for_bucket(city, bucket, places) if row[reported_col] <= now]
    if rows:
        store.insert_incidents_once(engine, city.key, INCIDENT_COLUMNS, rows)
    return len(rows)


OBS_LAYERS = ("traffic", "parking", "air_quality")


def _write_buckets(
    engine: Engine,
    city: City,
    first: int,
    end: int,
    now: float,
    layers: tuple[str, ...] = OBS_LAYERS,
    with_incidents: bool = True,
) -> str:
    """Write observations and incidents of buckets [first, end) of the layers SIMULATE names for the
    city; `end` may include the live bucket."""
    settings = load_settings()
    layers = tuple(layer for layer in layers if settings.simulates(city.key, layer))
    with_incidents = with_incidents and settings.simulates(city.key, "incidents")
    segs = _segments_frame(engine, city)
    lots = store.driven_sensors(engine, "parking", city.key)
    stations = store.driven_sensors(engine, "air_quality", city.key)
    buckets = np.arange(first, end, B)
    t_eval = np.minimum(buckets + B, now).astype(float)
    observed = t_eval.astype(int)
    newest = int(observed.max()) if len(observed) else int(now)
    rows_t: list[tuple] = []
    rows_p: list[tuple] = []
    if "traffic" in layers:
        rows_t = _matrix_rows(city.key, buckets, segs["id"].to_numpy(), observed, traffic_speeds(city, segs, t_eval))
        store.bulk_replace(
            engine,
            city.key,
            "traffic",
            ("city", "bucket", "segment_id", "speed_kmh", "observed_at"),
            rows_t,
            first,
            end,
            newest,
        )
    if "parking" in layers:
        occupied, arrivals = parking_state(city, lots, t_eval)
        rows_p = _matrix_rows(city.key, buckets, lots["id"].to_numpy(), observed, occupied, arrivals)
        store.bulk_replace(
            engine,
            city.key,
            "parking",
            ("city", "bucket", "lot_id", "occupied", "arrivals", "observed_at"),
            rows_p,
            first,
            end,
            newest,
        )
    # Air quality is hourly. A forward write rewrites the hour holding `first` (it may be partly
    # written); a backfill stops short of the hour holding `end`, which the forward write owns.
    backfill = end <= now
    hours = np.arange(floor_bucket(first, HOUR), floor_bucket(end, HOUR) if backfill else end, HOUR)
    rows_a: list[tuple] = []
    if len(hours) and "air_quality" in layers:
        t_hour = np.minimum(hours + HOUR, now).astype(float)
        conc = aq_concentrations(city, stations, t_hour)
        columns = store.POLLUTANT_COLUMNS
        rows_a = _matrix_rows(
            city.key, hours, stations["id"].to_numpy(), t_hour.astype(int), *(conc[c] for c in columns)
        )
        store.bulk_replace(
            engine,
            city.key,
            "air_quality",
            ("city", "bucket", "station_id", *columns, "observed_at"),
            rows_a,
            int(hours[0]),
            int(hours[-1]) + HOUR,
            int(t_hour.max()),
        )
    # Incidents: a bucket's events are drawn whole (deterministically) but stored only once reported;
    # the live bucket is redrawn each tick and only its newly reported events are added.
    incident_rows: list[tuple] = []
    if with_incidents:
        done = int(store.get_meta(engine, f"sim_incidents:{city.key}") or 0)
        places = incident_places(segs, lots)
        reported_col = INCIDENT_COLUMNS.index("reported_at")
        incident_rows = [
            row
            for bucket in range(first, end, B)
            if backfill or bucket > done
            for row in incidents_for_bucket(city, bucket, places)
            if row[reported_col] <= now
        ]
        if incident_rows:
            store.insert_incidents_once(engine, city.key, INCIDENT_COLUMNS, incident_rows)
        closed = min(end, floor_bucket(now)) - B
        if closed > done:
            store.set_meta(engine, f"sim_incidents:{city.key}", str(closed))
    return (
        f"{len(buckets)} buckets, {len(rows_t):,} traffic, {len(rows_p):,} parking, {len(rows_a):,} air-quality "
        f"rows, {len(incident_rows):,} incidents"
    )


def _matrix_rows(
    city: str, buckets: np.ndarray, ids: np.ndarray, observed: np.ndarray, *values: np.ndarray
) -> list[tuple]:
    """Flatten (bucket x sensor) matrices into (city, bucket, id, observed_at?, *values) tuples."""
    nb, ns = len(buckets), len(ids)
    cols = [np.full(nb * ns, city, dtype=object), np.repeat(buckets, ns).tolist(), np.tile(ids, nb).tolist()]
    cols += [v.reshape(-1).tolist() for v in values]
    cols.append(np.repeat(observed, ns).tolist())
    return list(zip(*cols, strict=True))


def prepare(
    engine: Engine,
    now: float | None = None,
    progress: Progress = print,
    first_city: str = "hangzhou",
    full: bool = True,
) -> None:
    """Create the schema, the sensors and the history, then catch up to now.

    `first_city` gets its full history first; the others get the last 26 hours (enough for live
    views and "same time yesterday"), then, when `full`, their older history.
    """
    now = time.time() if now is None else now
    store.create_schema(engine)
    for city in CITIES.values():
        ensure_sensors(engine, city, progress)
    ordered = sorted(CITIES.values(), key=lambda c: c.key != first_city)
    for city in ordered:
        started = time.perf_counter()
        advance_city(engine, city, now, progress, HISTORY_DAYS if city.key == first_city else 26 / 24)
        if city.scale != "default":  # its whole (shorter) history now: the live views need it
            scale_history(engine, city, now, progress)
        progress(f"    ({time.perf_counter() - started:.1f}s)")
    if full:
        backfill_all(engine, now, progress)


def backfill_all(engine: Engine, now: float | None = None, progress: Progress = print) -> None:
    now = time.time() if now is None else now
    for city in CITIES.values():
        backfill_city(engine, city, now, progress)
    if all(city.scale == "default" for city in CITIES.values()):
        store.purge_before(engine, floor_bucket(now - RETENTION_DAYS * DAY))
        return
    for city in CITIES.values():  # a scaled city keeps its own windows (incidents longer, traffic shorter)
        if city.scale != "default":
            trim_city(engine, city, now)
        else:
            cutoff = floor_bucket(now - RETENTION_DAYS * DAY)
            store.purge_city_before(engine, city.key, dict.fromkeys(store.OBSERVATION_TABLES, cutoff), cutoff)
