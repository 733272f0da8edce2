"""The data-access layer every page goes through: typed, cached reads keyed on plain parameters.

Cache keys are (city, layer, time bucket, feed revision). A write bumps the feed's revision, so a
cached entry can never outlive the data it was computed from; the cache is flask-caching's
SimpleCache by default and RedisCache when REDIS_URL is set (shared across gunicorn workers).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask
from flask_caching import Cache

from data import heartbeat, store, trends
from data.breaker import open_breakers
from data.cache_tiers import redis_options
from data.config import Settings, load_settings
from data.geo.cities import CITIES, get_city
from data.geo.geography import load_districts
from data.refresh_ahead import RefreshAhead
from data.rules import aqi as aqi_rules
from data.rules import congestion, parking, sla
from data.rules import forecast_kpis as forecast_kpis_rules
from data.rules import workflow as workflow_rules
from data.rules.clock import CST, DAY, HOUR, floor_bucket, local_day_start
from data.rules.thresholds import Thresholds
from data.store import forecasts as forecast_store

B = store.BUCKET_SECONDS
cache = Cache()
STATUSES = workflow_rules.STATES
RESOLVED = STATUSES.index("resolved")


def standalone_cache_host(settings: Settings, name: str) -> Flask:
    """A bare Flask object that only hosts the cache, for processes that serve nothing (background
    jobs, command-line tools): Flask-Caching keeps its backend on an app. Use its `app_context()`."""
    host = Flask(name)
    cache.init_app(host, config=cache_config(settings))
    return host


def cache_config(settings: Settings) -> dict[str, Any]:
    """Values stay Python objects in each process (data/cache_tiers.py); with REDIS_URL they are also
    shared by every worker through Redis."""
    local = {"CACHE_LOCAL_MAX_BYTES": settings.cache_local_mb * 1024 * 1024, "CACHE_THRESHOLD": 2000}
    if settings.redis_url:
        return local | {
            "CACHE_TYPE": "data.cache_tiers.TieredRedisCache",
            "CACHE_REDIS_URL": settings.redis_url,
            "CACHE_DEFAULT_TIMEOUT": settings.cache_timeout,
            "CACHE_KEY_PREFIX": "citybrain:",
            "CACHE_REDIS_RETRY_SECONDS": settings.redis_retry_seconds,
            "CACHE_OPTIONS": redis_options(settings.redis_timeout_ms),
        }
    return local | {"CACHE_TYPE": "data.cache_tiers.ObjectCache", "CACHE_DEFAULT_TIMEOUT": settings.cache_timeout}


def _engine():
    return store.get_engine()


# --- time -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    first_bucket: int
    last_bucket: int  # the current (live, still filling) bucket

    @property
    def steps(self) -> int:
        return (self.last_bucket - self.first_bucket) // B


def history_window(now: float | None = None) -> TimeWindow:
    now = time.time() if now is None else now
    last = floor_bucket(now)
    return TimeWindow(last - store.HISTORY_DAYS * DAY // B * B, last)


def interval_start(at: float, settings: Settings | None = None) -> int:
    """The start of the refresh interval holding `at`: live values are keyed by it, so every viewer within
    one interval shares the same cache entries."""
    refresh = (settings or load_settings()).refresh_seconds
    return int(at // refresh * refresh)


def resolve_at(mode: str, step: int | None, now: float | None = None) -> int:
    """The instant a view shows: now when live, else the end of the chosen 15-minute step."""
    now = time.time() if now is None else now
    if mode != "history" or step is None:
        return int(now)
    window = history_window(now)
    step = min(max(int(step), 0), window.steps)
    return min(int(now), window.first_bucket + step * B + B - 1)


# --- static geometry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSources:
    """Where a city's layers get their data: the layers SIMULATE drives, and the sensors on the map."""

    simulated: tuple[str, ...]  # of traffic, parking, air_quality, incidents
    sensors: dict[str, int]  # layer -> sensors shown (in service, of the sources the layer shows)

    @property
    def empty(self) -> bool:
        return not any(self.sensors.values())


def data_sources(city: str) -> DataSources:
    key = get_city(city).key
    settings = load_settings()
    version = static_version(key)
    return DataSources(
        simulated=tuple(layer for layer in store.LAYERS if settings.simulates(key, layer)),
        sensors={layer: len(_sensor_frame(key, layer, version)) for layer in ("traffic", "parking", "air_quality")},
    )


def sensor_registry(city: str) -> pd.DataFrame:
    """Every sensor of a city (all layers, all sources, retired ones too) with its first and last
    reading and newest value, for the registry page: one query, cached until a feed or the
    registry changes (the layers' feed revisions and the geometry version are the key)."""
    key = get_city(city).key
    revisions = _revisions(key)
    version = static_version(key)
    return _sensor_registry(key, version, revisions["traffic"], revisions["parking"], revisions["air_quality"])


@cache.memoize()
def _sensor_registry(city: str, version: str, traffic_rev: int, parking_rev: int, air_rev: int) -> pd.DataFrame:
    from data.store import registry

    return registry.registry_rows(_engine(), city)


def retire_sensor(source_id: str, actor: str) -> tuple[str, str, int] | None:
    """Retire a sensor by its whole id (audited); None when no sensor in service has it."""
    from data.store import registry

    return registry.retire(_engine(), source_id, actor)


def static_version(city: str) -> str:
    return store.get_meta(_engine(), f"static_rev:{get_city(city).key}") or "0"


# A sensor layer's features: (store kind, geometry type, a row's coordinates, its properties). The property
# names are the short ones the browser's style and popup functions read.
_SENSOR_FEATURES: dict[str, tuple[Any, ...]] = {
    "roads": (
        "traffic",
        "LineString",
        lambda r: r.coords,
        lambda r: {
            "name": r.name,
            "cls": r.road_class,
            "ff": r.free_flow_kmh,
            "district": r.district,
            "synthetic": bool(r.synthetic),
        },
    ),
    "parking": (
        "parking",
        "Point",
        lambda r: [r.lon, r.lat],
        lambda r: {
            "name": r.name,
            "kind": r.kind,
            "capacity": int(r.capacity),
            "tariff": r.tariff_cny_h,
            "district": r.district,
            "simulated": bool(r.simulated),
        },
    ),
    "air_quality": (
        "air_quality",
        "Point",
        lambda r: [r.lon, r.lat],
        lambda r: {"code": r.code, "name_zh": r.name_zh, "name_en": r.name_en, "simulated": bool(r.simulated)},
    ),
}


@cache.memoize()
def _geometry(city: str, layer: str, version: str) -> str:
    engine = _engine()
    if layer == "districts":
        return json.dumps(load_districts(city), ensure_ascii=False, separators=(",", ":"))
    kind, geometry, coordinates, properties = _SENSOR_FEATURES[layer]  # KeyError: no such layer
    df = store.sensors(engine, kind, city, geojson=True)
    features = [
        {
            "type": "Feature",
            "id": int(r.id),
            "geometry": _geometry_of(r, geometry, coordinates(r)),
            "properties": {"i": i, **properties(r)},
        }
        for i, r in enumerate(df.itertuples(index=False))
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, separators=(",", ":"))


def _geometry_of(row: Any, kind: str, coordinates: Any) -> dict[str, Any]:
    """The feature's geometry: as the database encoded it (PostGIS `geojson`), else from its columns
    (`coordinates`, or their JSON text)."""
    encoded = getattr(row, "geojson", None)
    if encoded is not None:
        return json.loads(encoded)
    return {"type": kind, "coordinates": json.loads(coordinates) if isinstance(coordinates, str) else coordinates}


GEOMETRY_LAYERS = ("districts", "roads", "parking", "air_quality")


def geometry_json(city: str, layer: str) -> str:
    """GeoJSON text of a city's static features; feature property `i` indexes the live value arrays."""
    key = get_city(city).key
    if layer not in GEOMETRY_LAYERS:
        raise KeyError(layer)
    return _geometry(key, layer, static_version(key))


# --- live values ----------------------------------------------------------------------------------


def _revision(city: str, layer: str) -> int:
    return store.feed_states(_engine(), city).get(layer, (0, None))[0]


def rounded_list(values: np.ndarray, digits: int | None) -> list[Any]:
    """`[None if isnan(x) else round(float(x), digits) for x in values]` without a Python call per entry
    (100,000 road segments at SIM_SCALE=shanghai: the first map refresh after each tick spent its time
    there). `digits=None` gives ints, as `round(x)` does. numpy rounds `x * 10**digits`, which can fall
    on the other side of a half than Python's correctly rounded `round` when x is within float error of
    a tie: those few are rounded by Python, so the lists are the same as the loop's."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    if digits is None:
        out = np.rint(np.where(missing, 0.0, values)).astype(np.int64).astype(object)
    else:
        scale = 10.0**digits
        scaled = values * scale
        out = (np.rint(scaled) / scale).astype(object)
        for i in np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6):
            out[i] = round(float(values[i]), digits)
    out[missing] = None
    return out.tolist()


def _stale_mask(observed_at: np.ndarray, at: int, stale_minutes: int) -> list[int]:
    return np.flatnonzero(at - observed_at > stale_minutes * 60).tolist()


def _with_stale(base: dict[str, Any], at: int, stale_minutes: int) -> dict[str, Any]:
    """A sensor layer's values: its base (computed once per revision) with staleness judged at `at`."""
    values = dict(base)
    observed = values.pop("_observed")
    return values | {"stale": _stale_mask(observed, at, stale_minutes)}


@cache.memoize()
def _traffic_values(city: str, bucket: int, at: int, revision: int, stale_minutes: int) -> dict[str, Any]:
    return _with_stale(_traffic_base(city, bucket, revision), at, stale_minutes)


@cache.memoize()
def _traffic_base(city: str, bucket: int, revision: int) -> dict[str, Any]:
    engine = _engine()
    segs = _sensor_frame(city, "traffic", static_version(city))
    found = store.latest_bucket_at_or_before(engine, "traffic", city, bucket)
    columns = ["segment_id", "speed_kmh", "observed_at"]
    obs = store.observation_values(engine, "traffic", city, found, columns) if found is not None else pd.DataFrame()
    frame = segs[["id", "free_flow_kmh", "length_m"]].merge(
        obs if len(obs) else pd.DataFrame(columns=columns),
        left_on="id",
        right_on="segment_id",
        how="left",
    )
    speed = frame["speed_kmh"].to_numpy(dtype=float)
    free = frame["free_flow_kmh"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(speed > 0, np.maximum(1.0, free / speed), np.nan)
    observed = frame["observed_at"].to_numpy(dtype=float)
    has = ~np.isnan(speed)
    lengths = frame["length_m"].to_numpy(dtype=float)
    network = (
        congestion.network_index((lengths[has] / speed[has] * 3.6).tolist(), (lengths[has] / free[has] * 3.6).tolist())
        if has.any()
        else None
    )
    return {
        "n": len(frame),
        "ci": rounded_list(index, 2),
        "speed": rounded_list(speed, 1),
        "_observed": np.nan_to_num(observed, nan=0),
        "kpi": {
            "index": network,
            "speed": float(np.average(speed[has], weights=lengths[has])) if has.any() else None,
            "newest": int(np.nanmax(observed)) if has.any() else None,
        },
    }


@cache.memoize()
def _parking_values(city: str, bucket: int, at: int, revision: int, stale_minutes: int) -> dict[str, Any]:
    return _with_stale(_parking_base(city, bucket, revision), at, stale_minutes)


def settled_bucket(now: float | None = None) -> int:
    """The newest bucket no longer written to: the simulator and live feeds write the last two (a
    feed's late rows for older buckets, or a backfill, show once the caches below them expire)."""
    return floor_bucket(time.time() if now is None else now) - 2 * B


def arrival_spans(first: int, last: int, settled: int) -> list[tuple[int, int, bool]]:
    """Buckets [first, last] as (lo, hi, settled) spans within clock hours, split where `settled` ends:
    whole settled hours are read once and kept, the unsettled end (at most two buckets) on each revision."""
    spans: list[tuple[int, int, bool]] = []
    for hour in range(first // HOUR * HOUR, last + 1, HOUR):
        lo, hi = max(hour, first), min(hour + HOUR - B, last)
        if hi <= settled:
            spans.append((lo, hi, True))
        elif lo <= settled:
            spans += [(lo, settled, True), (settled + B, hi, False)]
        else:
            spans.append((lo, hi, False))
    return spans


def _day_arrivals(city: str, bucket: int, revision: int, lot_ids: pd.Series) -> np.ndarray:
    """Vehicles that entered each lot (in `lot_ids` order) over the day up to `bucket`, the turnover's
    numerator. Summed from spans (arrival_spans): a simulator tick re-reads only the unsettled buckets;
    at SIM_SCALE=shanghai the whole day (1.9M rows) took ~1 s to sum on every tick."""
    total = np.zeros(len(lot_ids))
    for lo, hi, settled in arrival_spans(bucket - DAY + B, bucket, settled_bucket()):
        if not settled:
            part = _arrivals_unsettled(city, lo, hi, revision)
        elif hi - lo == HOUR - B:
            part = _arrivals_hour(city, lo)
        else:
            part = _arrivals_part_hour(city, lo, hi)
        total += part.reindex(lot_ids).fillna(0).to_numpy(dtype=float)
    return total


def _arrivals(city: str, lo: int, hi: int) -> pd.Series:
    return store.arrivals_between(_engine(), city, lo, hi).set_index("lot_id")["arrivals"]


@cache.memoize(timeout=6 * 3600)
def _arrivals_hour(city: str, hour: int) -> pd.Series:
    return _arrivals(city, hour, hour + HOUR - B)


@cache.memoize(timeout=1800)  # the day's ends move on every 15 minutes: these keys are not asked for again
def _arrivals_part_hour(city: str, lo: int, hi: int) -> pd.Series:
    return _arrivals(city, lo, hi)


@cache.memoize()
def _arrivals_unsettled(city: str, lo: int, hi: int, revision: int) -> pd.Series:
    return _arrivals(city, lo, hi)


@cache.memoize()
def _parking_base(city: str, bucket: int, revision: int) -> dict[str, Any]:
    engine, static = _engine(), static_version(city)
    lots = _sensor_frame(city, "parking", static)
    found = store.latest_bucket_at_or_before(engine, "parking", city, bucket)

    def at_bucket(b: int | None) -> pd.Series:
        if b is None:
            return pd.Series(np.nan, index=lots["id"])
        return _occupied_a_day_back(city, b, static).reindex(lots["id"])

    now_obs = (
        store.observation_values(engine, "parking", city, found, ["lot_id", "occupied", "observed_at"])
        .set_index("lot_id")
        .reindex(lots["id"])
        if (found is not None)
        else pd.DataFrame(index=lots["id"], columns=["occupied", "observed_at"], dtype=float)
    )
    occupied = now_obs["occupied"].to_numpy(dtype=float)
    capacity = lots["capacity"].to_numpy(dtype=float)
    y_now = at_bucket(found - DAY if found is not None else None).to_numpy(dtype=float)
    y_next = at_bucket(found - DAY + HOUR if found is not None else None).to_numpy(dtype=float)
    arrivals = _day_arrivals(city, bucket, revision, lots["id"])
    # int() as the rules take whole vehicles; NaN (no reading) stays NaN and becomes None
    o = np.trunc(occupied)
    cap = np.trunc(capacity)
    forecast = cap - parking.forecast_next_hour_array(o, np.trunc(y_now), np.trunc(y_next), cap)
    occ = rounded_list(parking.occupancy_array(o, cap) * 100, None)
    free = rounded_list(parking.free_spaces_array(o, cap), None)
    turn = rounded_list(parking.turnover_array(np.where(np.isnan(o), np.nan, np.trunc(arrivals)), cap), 1)
    forecast = rounded_list(forecast, None)
    observed = now_obs["observed_at"].to_numpy(dtype=float)
    has = ~np.isnan(occupied)
    return {
        "n": len(lots),
        "occ": occ,
        "free": free,
        "turnover": turn,
        "forecast_free": forecast,
        "_observed": np.nan_to_num(observed, nan=0),
        "kpi": {
            "occupancy": float(occupied[has].sum() / capacity[has].sum() * 100) if has.any() else None,
            "free": int(capacity[has].sum() - occupied[has].sum()) if has.any() else None,
            "newest": int(np.nanmax(observed)) if has.any() else None,
        },
    }


@cache.memoize(timeout=6 * 3600)
def _occupied_a_day_back(city: str, bucket: int, static: str) -> pd.Series:
    """Each lot's occupied spaces in a bucket a day back (the forecast's yesterday), by lot id: settled
    history, kept 6 h rather than read again at every revision (20,000 lots twice per tick at Shanghai);
    `static`: the lots it was read for (an import of car parks, whose backfill may write that bucket)."""
    obs = store.observation_values(_engine(), "parking", city, bucket, ["lot_id", "occupied"])
    return obs.set_index("lot_id")["occupied"]


@cache.memoize()
def _air_values(city: str, hour: int, at: int, revision: int, stale_minutes: int) -> dict[str, Any]:
    return _with_stale(_air_base(city, hour, revision), at, stale_minutes)


@cache.memoize()
def _air_base(city: str, hour: int, revision: int) -> dict[str, Any]:
    engine = _engine()
    stations = store.sensors(engine, "air_quality", city)
    found = store.latest_bucket_at_or_before(engine, "air_quality", city, hour)
    obs = (
        store.observations(engine, "air_quality", city, found).set_index("station_id").reindex(stations["id"])
        if found is not None
        else pd.DataFrame(index=stations["id"], columns=[*store.POLLUTANT_COLUMNS, "observed_at"], dtype=float)
    )
    columns = {p: obs[p].to_numpy(dtype=float) for p in aqi_rules.POLLUTANTS}
    rows = []
    for k in range(len(stations)):
        conc = {p: (None if math.isnan(v[k]) else float(v[k])) for p, v in columns.items()}
        result = aqi_rules.hourly_aqi(conc)
        rows.append(
            {
                "aqi": result.aqi,
                "level": result.level.level if result.level else None,
                "primary": list(result.primary),
                "iaqi": result.iaqi,
                "conc": conc,
            }
        )
    observed = obs["observed_at"].to_numpy(dtype=float)
    valid = [(r["aqi"], k) for k, r in enumerate(rows) if r["aqi"] is not None]
    worst = max(valid) if valid else None
    city_aqi = aqi_rules.hourly_aqi({p: _mean([r["conc"][p] for r in rows]) for p in aqi_rules.POLLUTANTS})
    return {
        "n": len(rows),
        "stations": rows,
        "_observed": np.nan_to_num(observed, nan=0),
        "kpi": {
            "aqi": city_aqi.aqi,
            "level": city_aqi.level.level if city_aqi.level else None,
            "primary": list(city_aqi.primary),
            "worst_aqi": worst[0] if worst else None,
            "worst_station": (station_names(stations.iloc[worst[1]]) if worst else None),
            "newest": int(np.nanmax(observed)) if (~np.isnan(observed)).any() else None,
        },
    }


def station_names(station: pd.Series) -> tuple[str, str]:
    """(English, Chinese) name of an air-quality station; the Chinese name where it has no English one."""
    zh, en = str(station["name_zh"]), station.get("name_en")
    return ("" if en is None or pd.isna(en) else str(en)) or zh, zh


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _status_codes(df: pd.DataFrame, at: int) -> np.ndarray:
    """Each incident's state at `at` as an index into STATUSES (vectorised `status_at`)."""
    codes = np.zeros(len(df), dtype=int)
    for code, state in enumerate(STATUSES[1:], start=1):
        reached = pd.to_numeric(df[workflow_rules.STATE_TIMESTAMP[state]], errors="coerce").to_numpy(dtype=float)
        codes = np.where(~np.isnan(reached) & (reached <= at), code, codes)
    return codes


def _step_times(df: pd.DataFrame, column: str, at: int) -> np.ndarray:
    """A workflow timestamp per incident, NaN when it has not happened by `at`."""
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    return np.where(values <= at, values, np.nan)


def _sla_columns(df: pd.DataFrame, at: int) -> dict[str, np.ndarray]:
    """Per incident: ack/dispatch targets, breach flags and the next deadline (NaN when none is left)."""
    reported = df["reported_at"].to_numpy(dtype=float)
    ack_target, dispatch_target = sla.current(load_settings().sla_file).arrays(
        df["kind"].to_numpy(dtype=str), df["severity"].to_numpy(dtype=int)
    )
    acked = _step_times(df, "acknowledged_at", at)
    dispatched = _step_times(df, "dispatched_at", at)
    resolved = _step_times(df, "resolved_at", at)
    # Resolving without dispatch (a false alarm, say) ends the dispatch clock too.
    dispatch_done = np.where(np.isnan(dispatched), resolved, dispatched)
    ack_due, dispatch_due = reported + ack_target, reported + dispatch_target
    next_due = np.where(np.isnan(acked), ack_due, np.where(np.isnan(dispatch_done), dispatch_due, np.nan))
    return {
        "ack_s": acked - reported,
        "dispatch_s": dispatched - reported,
        "resolve_s": resolved - reported,
        "ack_breach": sla.breached(reported, acked, ack_target, at),
        "dispatch_breach": sla.breached(reported, dispatch_done, dispatch_target, at),
        "next_due": next_due,
    }


@cache.memoize()
def _incident_day(city: str, day_start: int, revision: int) -> pd.DataFrame:
    """A local day's incidents and those carried into it, once per feed revision. Read whole only when
    rows read before have changed: the simulator's every tick adds incidents (a new revision), and reading
    Hangzhou's 28,000 a day again took 0.4-0.9 s per day, twice a tick (today and yesterday) per worker."""
    key = (_engine().url.render_as_string(), city, day_start)  # a test may change stores in one process
    held = _held_days.get(key)
    if held is not None and held[0] <= revision:
        frame = _grown_day(city, day_start, held[1])
        if frame is not None:
            _hold_day(key, revision, frame)
            return frame
    frame = store.incidents_between(_engine(), city, day_start, day_start + DAY, open_at=day_start)
    _hold_day(key, revision, frame)
    return frame


_held_days: dict[tuple[str, str, int], tuple[int, pd.DataFrame]] = {}  # this process's newest read of each day


def _oldest_live_day() -> int:
    return local_day_start(time.time()) - DAY


def _hold_day(key: tuple[str, str, int], revision: int, frame: pd.DataFrame) -> None:
    """Keep a day's frame to extend at the next revision: only today's and yesterday's, the days new
    incidents are written to. A day browsed in History is not kept: it lies outside the cache's size
    budget (at SIM_SCALE=shanghai a day is 13-19 MB), and its rows no longer grow."""
    _held_days.pop(key, None)  # re-inserted at the end: the least recently written leave first
    oldest_live = _oldest_live_day()
    for gone in [k for k in _held_days if k[2] < oldest_live]:
        del _held_days[gone]
    if key[2] >= oldest_live:
        _held_days[key] = (revision, frame)
    while len(_held_days) > 2 * len(CITIES):  # today and yesterday of each city
        _held_days.pop(next(iter(_held_days)))


def _grown_day(city: str, day_start: int, held: pd.DataFrame) -> pd.DataFrame | None:
    """`held` with the incidents written since it was read, or None when any of its rows changed."""
    engine, end = _engine(), day_start + DAY
    upto = int(held["id"].max()) if len(held) else 0
    tally = store.incidents_between_tally(engine, city, day_start, end, day_start, upto)
    if tally != (len(held), int(held["version"].sum())):
        return None
    added = store.incidents_between(engine, city, day_start, end, open_at=day_start, after_id=upto)
    # infer_objects: the column types one read of all the rows would have (a column of None alone is object)
    return held if added.empty else pd.concat([held, added], ignore_index=True).infer_objects()


@cache.memoize()
def _incidents(city: str, at: int, revision: int) -> dict[str, Any]:
    return _incident_values(_incident_day(city, local_day_start(at), revision), at)


def _incident_values(day: pd.DataFrame, at: int) -> dict[str, Any]:
    """Open incidents at `at` (of `day`, _incident_day of at's local day), column-wise with lookup tables
    (about 40 bytes an incident on the wire)."""
    day_start = local_day_start(at)
    closed = pd.to_numeric(day["closed_at"], errors="coerce")
    reported_at = day["reported_at"].astype(np.int64)
    # what store.incidents_between(day_start, at) reads: reported by `at`, today or still open at `at`
    df = day[(reported_at <= at) & ((reported_at >= day_start) | closed.isna() | (closed > at))]
    status = _status_codes(df, at)
    reported = df["reported_at"].to_numpy(dtype=np.int64)
    today = reported >= day_start
    times = _sla_columns(df, at)
    dispatch_s = times["dispatch_s"][today & ~np.isnan(times["dispatch_s"])]
    is_open = status < RESOLVED
    open_rows = df[is_open]
    kinds, kind_idx = np.unique(open_rows["kind"].to_numpy(dtype=str), return_inverse=True)
    districts, district_idx = np.unique(open_rows["district"].fillna("").to_numpy(dtype=str), return_inverse=True)
    due = times["next_due"][is_open]
    breach = (times["ack_breach"] | times["dispatch_breach"])[is_open]
    return {
        "kinds": kinds.tolist(),
        "statuses": list(STATUSES),
        "districts": districts.tolist(),
        "id": open_rows["id"].astype(int).tolist(),
        "kind": kind_idx.tolist(),
        "sev": open_rows["severity"].astype(int).tolist(),
        "status": status[is_open].tolist(),
        "lon": open_rows["lon"].round(4).tolist(),
        "lat": open_rows["lat"].round(4).tolist(),
        "age": (at - open_rows["reported_at"].astype(np.int64)).tolist(),
        "district": district_idx.tolist(),
        "sim": open_rows["simulated"].astype(int).tolist(),
        "ops": (open_rows["crew"] == "operator").astype(int).tolist(),
        # When the next SLA deadline falls (epoch seconds), None when no deadline is left.
        "due_at": [None if np.isnan(d) else int(d) for d in due],
        "breach": breach.astype(int).tolist(),
        "kpi": {
            "open": len(open_rows),
            "today": int(today.sum()),
            "median_dispatch_s": float(np.median(dispatch_s)) if len(dispatch_s) else None,
            "breaches_open": int(breach.sum()),
            "newest": int(reported.max()) if len(df) else None,
        },
    }


# --- public API -----------------------------------------------------------------------------------


def live_values(city: str, at: int) -> dict[str, Any]:
    """Per-feature values of the three sensor layers at `at`, aligned with `geometry_json` order."""
    key = get_city(city).key
    return _live_values(key, at, _revisions(key), load_settings())


def _revisions(key: str) -> dict[str, int]:
    """Each layer's feed revision (one read, so values and the tokens naming them agree)."""
    states = store.feed_states(_engine(), key)
    return {layer: states.get(layer, (0, None))[0] for layer in store.LAYERS}


def _live_values(key: str, at: int, rev: dict[str, int], settings: Settings) -> dict[str, Any]:
    # Staleness is judged at `at` rounded to the refresh interval, so every viewer within one
    # interval shares the same cache entry.
    at_key = interval_start(at, settings)
    return {"at": at} | {
        layer: _layer_values(key, layer, _layer_bucket(layer, at), at_key, rev[layer], settings.stale_minutes)
        for layer in store.LAYERS
        if layer != "incidents"
    }


LAYER_STEP = {"traffic": B, "parking": B, "air_quality": HOUR, "incidents": 0}  # seconds a live bucket spans


def _layer_bucket(layer: str, at: int) -> int:
    """The bucket a layer's live values at `at` come from (0 for incidents, which have none)."""
    step = LAYER_STEP[layer]
    return floor_bucket(at, step) if step else 0


def _layer_values(key: str, layer: str, bucket: int, at_key: int, revision: int, stale: int) -> dict[str, Any]:
    """One layer's cached live values (for incidents `bucket` and `stale` play no part)."""
    if layer == "incidents":
        return _incidents(key, at_key, revision)
    compute = {"traffic": _traffic_values, "parking": _parking_values, "air_quality": _air_values}[layer]
    return compute(key, bucket, at_key, revision, stale)


def incidents(city: str, at: int) -> dict[str, Any]:
    """Open incidents at `at` (column-wise, see `_incidents`) and today's counts, per refresh interval."""
    key = get_city(city).key
    return _incidents(key, interval_start(at), _revision(key, "incidents"))


@dataclass(frozen=True)
class Kpi:
    key: str
    value: float | int | str | None
    unit: str
    previous: float | int | None  # same time yesterday
    newest: int | None  # epoch seconds of the newest data behind it
    stale: bool
    detail: str | tuple[str, str] = ""  # a pair (English, Chinese) where the languages differ
    level: int | None = None

    @property
    def change(self) -> float | None:
        if isinstance(self.value, (int, float)) and isinstance(self.previous, (int, float)):
            return self.value - self.previous
        return None


def kpis(city: str, at: int) -> list[Kpi]:
    """The command-centre KPIs at `at`, each with its value at the same time yesterday."""
    key = get_city(city).key
    return kpis_from(key, at, current_values(key, at, _revisions(key)))


def kpis_from(city: str, at: int, values: dict[str, Any]) -> list[Kpi]:
    """`kpis` from the values `current_values` gave for `at` (a city key)."""
    stale_s = load_settings().stale_minutes * 60
    now_inc = values["incidents"]
    then = _kpis_back_then(city, at - DAY)
    t, p, a = (values[k]["kpi"] for k in ("traffic", "parking", "air_quality"))
    ty, py, ay, then_inc = (then[k] for k in store.LAYERS)

    def mk(key: str, value: Any, unit: str, prev: Any, newest: int | None, **extra: Any) -> Kpi:
        stale = newest is None or at - newest > stale_s
        return Kpi(key, value, unit, prev, newest, stale, **extra)

    return [
        mk("congestion_index", _r(t["index"], 2), "", _r(ty["index"], 2), t["newest"]),
        mk("mean_speed", _r(t["speed"], 1), "km/h", _r(ty["speed"], 1), t["newest"]),
        mk("parking_occupancy", _r(p["occupancy"], 1), "%", _r(py["occupancy"], 1), p["newest"]),
        mk("free_spaces", p["free"], "spaces", py["free"], p["newest"]),
        mk("city_aqi", a["aqi"], "AQI", ay["aqi"], a["newest"], level=a["level"], detail=",".join(a["primary"])),
        mk(
            "worst_station",
            a["worst_aqi"],
            "AQI",
            ay["worst_aqi"],
            a["newest"],
            detail=a["worst_station"] or "",
            level=aqi_rules.level_for(a["worst_aqi"]).level if a["worst_aqi"] is not None else None,
        ),
        mk("open_incidents", now_inc["kpi"]["open"], "incidents", then_inc["open"], now_inc["kpi"]["newest"]),
        mk("incidents_today", now_inc["kpi"]["today"], "incidents", then_inc["today"], now_inc["kpi"]["newest"]),
        mk(
            "median_dispatch",
            _r(now_inc["kpi"]["median_dispatch_s"], 0),
            "s",
            _r(then_inc["median_dispatch_s"], 0),
            now_inc["kpi"]["newest"],
        ),
    ]


SENSOR_LAYERS = ("traffic", "parking", "air_quality")


def _kpis_back_then(key: str, at: int) -> dict[str, dict[str, Any]]:
    """Each layer's "kpi" at `at` (same time yesterday). Settled history is kept 6 h, as the trends keep
    it (a late feed or a backfill shows within 6 h), not recomputed at every feed revision: after each
    simulator tick every worker spent ~0.25 s on yesterday's three layers and day of incidents again."""
    if floor_bucket(at) + HOUR > settled_bucket():  # not settled yet (a clock set back): as for now
        values = live_values(key, at)
        return {layer: values[layer]["kpi"] for layer in SENSOR_LAYERS} | {"incidents": incidents(key, at)["kpi"]}
    static = static_version(key)
    return {layer: _settled_kpi(key, layer, _layer_bucket(layer, at), static) for layer in SENSOR_LAYERS} | {
        "incidents": _settled_incident_kpi(key, interval_start(at))
    }


@cache.memoize(timeout=6 * 3600)
def _settled_kpi(city: str, layer: str, bucket: int, static: str) -> dict[str, Any]:
    """A sensor layer's "kpi" from a settled bucket (`static`: the geometry it belongs to)."""
    base_of = {"traffic": _traffic_base, "parking": _parking_base, "air_quality": _air_base}[layer]
    return base_of.uncached(city, bucket, _revisions(city)[layer])["kpi"]


@cache.memoize()
def _settled_incident_kpi(city: str, at_key: int) -> dict[str, Any]:
    return _incident_values(_settled_incident_day(city, local_day_start(at_key)), at_key)["kpi"]


@cache.memoize(timeout=6 * 3600)
def _settled_incident_day(city: str, day_start: int) -> pd.DataFrame:
    return store.incidents_between(_engine(), city, day_start, day_start + DAY, open_at=day_start)


# --- KPI trends ---------------------------------------------------------------------------------

TREND_DAYS = 7


@cache.memoize(timeout=6 * 3600)
def _trend_rows_done(city: str, layer: str, first: int, last: int) -> pd.DataFrame:
    """A day of trend rows no longer written to (history is not rewritten; a backfill shows within 6 h)."""
    return store.trend_rows(_engine(), layer, city, first, last)


@cache.memoize()
def _trend_rows_open(city: str, layer: str, first: int, last: int) -> pd.DataFrame:
    return store.trend_rows(_engine(), layer, city, first, last)


def _trend_rows(city: str, layer: str, first: int, last: int) -> pd.DataFrame:
    """Trend rows of buckets [first, last], read a day at a time: only the newest day is read again
    when the grid moves on by a bucket."""
    settled = settled_bucket()
    parts = []
    for day in range(first // DAY * DAY, last + 1, DAY):
        end = day + DAY - B
        if end <= settled:
            part = _trend_rows_done(city, layer, day, end)
        else:
            part = _trend_rows_open(city, layer, day, min(end, last))
        parts.append(part[(part["bucket"] >= first) & (part["bucket"] <= last)])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _incident_trend_rows(city: str, day_start: int, first: int, last: int) -> pd.DataFrame:
    """Incidents reported since `day_start` (today's counts at `first`) or still open at `first`."""
    frame = store.trend_rows(_engine(), "incidents", city, day_start, last)
    closed = pd.to_numeric(frame["closed_at"], errors="coerce")
    return frame[(frame["reported_at"] >= day_start) | closed.isna() | (closed > first)]


def trend_thresholds() -> dict[str, list[dict[str, Any]]]:
    """The lines the alerts draw on (data/jobs/alerting.py rules and the `alerts` panel)."""
    rules = Thresholds.from_settings(load_settings())

    def line(value: float, en: str, zh: str, level: str) -> dict[str, Any]:
        return {"value": value, "en": en, "zh": zh, "level": level}

    aqi = [
        line(150, "AQI 150: alert", "AQI 150：告警", "warning"),
        line(rules.aqi, "incident rule", "开单规则", "critical"),
    ]
    return {
        "congestion_index": [
            line(2.0, "congested (alert)", "拥堵（告警）", "warning"),
            *(
                [line(rules.congestion_index, "incident rule", "开单规则", "critical")]
                if rules.congestion_index != 2.0
                else []
            ),
        ],
        "parking_occupancy": [line(rules.parking_full_pct, "full: incident rule", "满位：开单规则", "warning")],
        "city_aqi": aqi,
        "worst_station": aqi,
        "median_dispatch": [line(60, "60 s dispatch target", "60 秒派遣目标", "critical")],
    }


@cache.memoize()
def _trends(city: str, end_bucket: int) -> dict[str, Any]:
    buckets = trends.grid(end_bucket, TREND_DAYS)
    first, last = int(buckets[0]), int(buckets[-1])
    engine = _engine()
    series: dict[str, Any] = {}
    breakdown: dict[str, Any] = {}
    for part in (
        trends.traffic(_trend_rows(city, "traffic", first, last), buckets),
        trends.parking(_trend_rows(city, "parking", first, last), buckets),
        trends.air(
            _trend_rows(city, "air_quality", first // HOUR * HOUR, last),
            buckets,
            dict(store.sensors(engine, "air_quality", city)[["id", "name_zh"]].itertuples(index=False, name=None)),
        ),
        trends.incidents(_incident_trend_rows(city, local_day_start(first), first, last), buckets),
    ):
        series |= part[0]
        breakdown |= part[1]
    return {"t": buckets.tolist(), "series": series, "breakdown": breakdown, "breakdown_at": last}


TRENDS_AHEAD = RefreshAhead(slow_seconds=0.0)


def kpi_trends_ready(city: str, at: int) -> dict[str, Any] | None:
    """`kpi_trends` when at hand, without waiting: a cold 7-day read takes seconds (far more on a busy
    machine) and the KPI cards must not wait for their sparklines. Meanwhile one thread reads them; the
    trends of up to an hour earlier stand in (a 24 h line), else None (the cards show no sparkline)."""
    key = get_city(city).key
    bucket = floor_bucket(at)
    slot = (load_settings().database_url, key)  # (one process may open several stores: the tests do)
    return TRENDS_AHEAD.get_nowait(
        slot, bucket, lambda: kpi_trends(key, at), accept=lambda held: abs(held - bucket) <= HOUR
    )


def kpi_trends(city: str, at: int) -> dict[str, Any]:
    """Every KPI over the 7 days up to `at` on the 15-minute grid (`t`, `series`), each KPI's values
    by district (stations for AQI) at the last point (`breakdown`) and the alert `thresholds`. One
    cached read per grid bucket serves the sparklines and the chart panel alike."""
    key = get_city(city).key
    return _trends(key, floor_bucket(at)) | {"thresholds": trend_thresholds()}


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits) if digits else round(value)


LIVE_STALE_INTERVALS = 3  # with SIMULATE_LIVE, /healthz is degraded when the newest data is older than this


def _ping_shared_cache() -> None:
    """Ask the shared cache tier (Redis), if there is one, so its breaker reflects it now."""
    try:
        backend = cache.cache
    except Exception:  # (no app, or caching not set up: nothing shared to ask)
        return
    ping = getattr(backend, "ping", None)
    if callable(ping):
        ping()


def health() -> dict[str, Any]:
    """Database reachability and the newest observation's age per layer and city; "degraded" (with
    the reasons) while a shared service is skipped (data/breaker.py), live data stopped coming, or
    this machine's background process stopped beating (data/heartbeat.py)."""
    settings = load_settings()
    engine = _engine()
    try:
        ping_ms = store.ping(engine)
    except Exception as exc:
        return {"status": "error", "database": {"reachable": False, "error": type(exc).__name__}}
    now = int(time.time())
    layers: dict[str, dict[str, Any]] = {}
    newest_all: int | None = None
    for city in CITIES:
        for layer, (_, newest) in store.feed_states(engine, city).items():
            age = None if newest is None else now - newest
            if layer in store.OBSERVATION_TABLES and newest is not None:  # (simulated incidents may lie ahead)
                newest_all = max(newest_all or newest, newest)
            layers.setdefault(layer, {})[city] = {
                "newest_age_s": age,
                "stale": age is None or age > settings.stale_minutes * 60,
            }
    _ping_shared_cache()
    degraded = {name: status["reason"] for name, status in open_breakers().items()}
    live_limit = LIVE_STALE_INTERVALS * settings.refresh_seconds
    if settings.simulate_live and (newest_all is None or now - newest_all > live_limit):
        age = "none" if newest_all is None else f"{now - newest_all} s old"
        degraded["live_data"] = f"newest observation {age}, over {LIVE_STALE_INTERVALS} refresh intervals"
    if settings.background_jobs == "process" and (settings.simulate_live or settings.alert_rules):
        beat = heartbeat.read(settings.data_dir)
        if beat is not None and time.time() - beat[1] > settings.refresh_seconds:
            degraded["background_jobs"] = f"no heartbeat for {time.time() - beat[1]:.0f} s (process {beat[0]})"
    report = {
        "status": "degraded" if degraded else "ok",
        "database": {"reachable": True, "backend": engine.dialect.name, "ping_ms": round(ping_ms, 2)},
        "layers": layers,
    }
    return report | ({"degraded": degraded} if degraded else {})


def kpi_dicts(items: list[Kpi]) -> list[dict[str, Any]]:
    return [asdict(k) | {"change": k.change} for k in items]


@dataclass(frozen=True)
class Alert:
    key: str  # what kind of alert; the UI words it
    level: str  # "critical" | "warning" | "info"
    count: int
    detail: str = ""


def alerts(city: str, at: int) -> list[Alert]:
    """Operator alerts derived from the data at `at`, most urgent first."""
    key = get_city(city).key
    return alerts_from(at, current_values(key, at, _revisions(key)))


def alerts_from(at: int, values: dict[str, Any]) -> list[Alert]:
    """`alerts` from the values `current_values` gave for `at`."""
    inc = values["incidents"]
    found: list[Alert] = []
    overdue = [s for s, due in zip(inc["status"], inc["due_at"], strict=True) if due is not None and due < at]
    if overdue.count(0):
        found.append(Alert("sla_ack_breach", "critical", overdue.count(0)))
    if overdue.count(1):
        found.append(Alert("sla_dispatch_breach", "critical", overdue.count(1)))
    stations = values["air_quality"]["stations"]
    heavy = [s for s in stations if s["aqi"] is not None and s["aqi"] > 200]
    if heavy:
        found.append(Alert("aqi_heavy", "critical", len(heavy), str(max(s["aqi"] for s in heavy))))
    polluted = [s for s in stations if s["aqi"] is not None and 150 < s["aqi"] <= 200]
    if polluted:
        found.append(Alert("aqi_moderate", "warning", len(polluted), str(max(s["aqi"] for s in polluted))))
    congested = [ci for ci in values["traffic"]["ci"] if ci is not None and ci >= 2.0]
    if congested:
        found.append(Alert("congested_segments", "warning", len(congested)))
    full = [o for o in values["parking"]["occ"] if o is not None and o >= 100]
    if full:
        found.append(Alert("lots_full", "info", len(full)))
    for layer in ("traffic", "parking", "air_quality"):
        stale = values[layer]["stale"]
        if stale:
            found.append(Alert("stale_sensors", "warning", len(stale), layer))
    return found


# --- data quality -------------------------------------------------------------------------------


def ingest_summary(since: int, bin_seconds: int = 3600) -> pd.DataFrame:
    """Rows accepted, duplicated and rejected per feed (layer) and time bin since `since`."""
    df = store.ingest_history(_engine(), since)
    if df.empty:
        return pd.DataFrame(columns=["bin", "layer", "accepted", "duplicates", "rejected"])
    df["bin"] = df["received_at"] // bin_seconds * bin_seconds
    return df.groupby(["bin", "layer"], as_index=False)[["accepted", "duplicates", "rejected"]].sum()


def latest_rejections(limit: int = 50) -> list[dict[str, Any]]:
    df = store.latest_rejections(_engine(), limit)
    return df.drop(columns=["raw"]).to_dict("records") if len(df) else []


def stale_sensors(city: str, at: int) -> dict[str, list[dict[str, Any]]]:
    """Per layer, the sensors with no data for STALE_MINUTES at `at` (id, name)."""
    key = get_city(city).key
    values = live_values(key, at)
    engine = _engine()
    out = {}
    for layer, name_column in (("traffic", "name"), ("parking", "name"), ("air_quality", "name_zh")):
        frame = store.sensors(engine, layer, key)
        out[layer] = [
            {"id": int(frame["id"].iloc[i]), "name": str(frame[name_column].iloc[i])} for i in values[layer]["stale"]
        ]
    return out


# --- incident operations (queue, performance, handover, audit) -------------------------------------


@cache.memoize()
def _queue(city: str | None, at: int, include_closed: bool, crew: str | None, revision: int) -> list[dict[str, Any]]:
    from data.store import operations as ops_store

    df = ops_store.incident_rows(_engine(), city, at - DAY, at, crew=crew, open_only=not include_closed)
    df = df[df["reported_at"] <= at]
    if df.empty:
        return []
    status = _status_codes(df, at)
    times = _sla_columns(df, at)
    keep = (status < len(STATUSES) - 1) | include_closed
    out = df.assign(
        status=[STATUSES[k] for k in status],
        due_at=times["next_due"],
        ack_breach=times["ack_breach"],
        dispatch_breach=times["dispatch_breach"],
    )[keep]
    # Simulated crews' incidents close themselves when resolved; operator ones wait to be closed.
    columns = ["id", "ref", "city", "kind", "severity", "district", "status", "reported_at", "due_at",
               "ack_breach", "dispatch_breach", "unit", "resolution_code", "crew", "version", "simulated", "lon", "lat",
               "source"]  # fmt: skip
    out = out[columns].replace({np.nan: None})
    return out.to_dict("records")


def incident_queue(
    city: str | None, at: int, include_closed: bool = False, crew: str | None = None
) -> list[dict[str, Any]]:
    """The incidents an operator works on at `at` (last 24 h and anything still not closed), newest first.

    Each row has its state, the time of its next SLA deadline (`due_at`, None when none is left) and
    its version. `at` is rounded up to the refresh interval, so what was just written is included.
    """
    key = get_city(city).key if city else None
    revision = sum(_revision(c, "incidents") for c in ([key] if key else CITIES))
    quantum = load_settings().refresh_seconds
    return _queue(key, -(-int(at) // quantum) * quantum, include_closed, crew, revision)


SHIFT_STARTS_H = (0, 8, 16)  # local-time shift starts (China Standard Time)


def shift_of(t: np.ndarray | int) -> np.ndarray:
    """The shift (index into SHIFT_STARTS_H) a time falls in."""
    hour = ((np.asarray(t, dtype=np.int64) + CST) % DAY) // HOUR
    return np.searchsorted(np.array(SHIFT_STARTS_H), hour, side="right") - 1


def shift_bounds(at: int) -> tuple[int, int]:
    """Start and end (epoch seconds) of the shift holding `at`."""
    index = int(shift_of(at))
    day_start = local_day_start(at)
    start = day_start + SHIFT_STARTS_H[index] * HOUR
    end = day_start + (SHIFT_STARTS_H[index + 1] * HOUR if index + 1 < len(SHIFT_STARTS_H) else DAY)
    return start, end


def shift_label(start: int) -> str:
    hour = ((start + CST) % DAY) // HOUR
    length = 24 // len(SHIFT_STARTS_H)
    return f"{hour:02d}:00–{(hour + length) % 24:02d}:00"


@cache.memoize()
def _performance(city: str | None, since: int, until: int, revision: int) -> dict[str, list[dict[str, Any]]]:
    from data.store import operations as ops_store

    df = ops_store.incident_rows(_engine(), city, since, until)
    df = df[(df["reported_at"] >= since) & (df["reported_at"] <= until)]
    if df.empty:
        return {"kind": [], "district": [], "shift": [], "crew": [], "all": []}
    t = _sla_columns(df, until)
    frame = pd.DataFrame(
        {
            "kind": df["kind"].to_numpy(),
            "district": df["district"].fillna("").replace("", "—").to_numpy(),
            "shift": [shift_label(shift_bounds(int(r))[0]) for r in df["reported_at"]],
            "crew": df["crew"].to_numpy(),
            "all": "all",
            "ack_s": t["ack_s"],
            "dispatch_s": t["dispatch_s"],
            "resolve_s": t["resolve_s"],
            "ack_ok": ~t["ack_breach"],
            "dispatch_ok": ~t["dispatch_breach"],
            "breached": t["ack_breach"] | t["dispatch_breach"],
        }
    )

    def by(column: str) -> list[dict[str, Any]]:
        g = frame.groupby(column)
        table = pd.DataFrame(
            {
                "incidents": g.size(),
                "median_ack_s": g["ack_s"].median(),
                "median_dispatch_s": g["dispatch_s"].median(),
                "median_resolve_s": g["resolve_s"].median(),
                "ack_sla_pct": g["ack_ok"].mean() * 100,
                "dispatch_sla_pct": g["dispatch_ok"].mean() * 100,
                "breaches": g["breached"].sum(),
            }
        ).round(1)
        return table.reset_index().rename(columns={column: "group"}).replace({np.nan: None}).to_dict("records")

    return {name: by(name) for name in ("all", "kind", "district", "shift", "crew")}


def incident_performance(city: str | None, since: int, until: int) -> dict[str, list[dict[str, Any]]]:
    """Time to acknowledge, dispatch and resolve (medians, seconds) and SLA compliance (%) of the
    incidents reported in [since, until], overall and by type, district, shift and crew."""
    key = get_city(city).key if city else None
    revision = sum(_revision(c, "incidents") for c in ([key] if key else CITIES))
    return _performance(key, since, interval_start(until), revision)


def handover(city: str | None, start: int, end: int) -> dict[str, Any]:
    """A shift's record: incidents opened, closed and breached in [start, end] and what is still open."""
    from data.store import operations as ops_store

    key = get_city(city).key if city else None
    df = ops_store.incident_rows(_engine(), key, start, end)
    df = df[df["reported_at"] <= end]
    if df.empty:
        return {"opened": [], "closed": [], "breached": [], "still_open": [], "start": start, "end": end}
    status = _status_codes(df, end)
    t = _sla_columns(df, end)
    closed_at = pd.to_numeric(df["closed_at"], errors="coerce").to_numpy(dtype=float)
    rows = df.assign(status=[STATUSES[k] for k in status], breached=t["ack_breach"] | t["dispatch_breach"])
    rows = rows[["id", "ref", "city", "kind", "severity", "district", "status", "reported_at", "unit",
                 "resolution_code", "crew", "breached"]].replace({np.nan: None})  # fmt: skip
    reported = df["reported_at"].to_numpy()
    in_shift = (reported >= start) & (reported <= end)

    def pick(mask: np.ndarray) -> list[dict[str, Any]]:
        return rows[mask].to_dict("records")

    return {
        "start": start,
        "end": end,
        "opened": pick(in_shift),
        "closed": pick((closed_at >= start) & (closed_at <= end)),
        "breached": pick(in_shift & rows["breached"].to_numpy(dtype=bool)),
        "still_open": pick(status < len(STATUSES) - 1),
    }


def audit_log(since: int, until: int, incident_id: int | None = None) -> list[dict[str, Any]]:
    """Audit entries in [since, until], newest first (uncached: the record must be exact)."""
    from data.store import operations as ops_store

    df = ops_store.audit_entries(_engine(), since, until, "incident" if incident_id else None,
                                 str(incident_id) if incident_id else None)  # fmt: skip
    return df.to_dict("records") if len(df) else []


def incident_focus(incident_id: str | int) -> dict[str, Any] | None:
    """Where an incident is (city, lon, lat), for flying the map to it; None if there is no such incident."""
    from data.store import operations as ops_store

    try:
        row = ops_store.get_incident(_engine(), int(incident_id))
    except (TypeError, ValueError):
        return None
    return {"city": row["city"], "lon": row["lon"], "lat": row["lat"]} if row else None


# --- geobuf geometry and live deltas (large scale) -----------------------------------------------


def geometry_geobuf(city: str, layer: str) -> bytes:
    """Geobuf (protobuf) bytes of `geometry_json`, the form dash-leaflet's GeoJSON(format="geobuf") reads.

    Encoding 100,000 features takes seconds, so the bytes are kept in memory and in DATA_DIR/geobuf/
    (shared by the gunicorn workers and across restarts), named by the static data version.
    """
    key = get_city(city).key
    if layer not in GEOMETRY_LAYERS:
        raise KeyError(layer)
    return _geobuf_bytes(key, layer, static_version(key))


@functools.lru_cache(maxsize=32)
def _geobuf_bytes(city: str, layer: str, version: str) -> bytes:
    return _geobuf_file(city, layer, version)


def build_geobuf_files(progress=print) -> None:
    """Encode every city's sensor layers to DATA_DIR/geobuf/ now, so no page open waits for it (the first
    Shanghai-scale page took 34 s while 100,000 roads were encoded). Kept files are left as they are."""
    for key in CITIES:
        version = static_version(key)
        for layer in ("roads", "parking", "air_quality"):
            started = time.perf_counter()
            if _geobuf_file(key, layer, version, keep=False) and time.perf_counter() - started > 1:
                progress(f"geobuf {key}/{layer}: {time.perf_counter() - started:.1f}s")


def _geobuf_file(city: str, layer: str, version: str, keep: bool = True) -> bytes:
    """The layer's geobuf from its file, encoded and written first when missing (`keep=False`: the bytes are
    not needed, an existing file is not read)."""
    import geobuf

    folder = load_settings().data_dir / "geobuf"
    path = folder / f"{city}-{layer}-{version}.pbf"
    if path.exists():
        return path.read_bytes() if keep else b""
    body = geobuf.encode(json.loads(_geometry.uncached(city, layer, version)), 6)  # not kept: 25 MB at scale
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(body)
    tmp.replace(path)  # atomic: a concurrent worker reads either nothing or the whole file
    return body


@functools.lru_cache(maxsize=16)
def _sensor_frame(city: str, layer: str, version: str) -> pd.DataFrame:
    """A city's sensors of `layer` without geometry, read once per static version (100,000 segments at
    SIM_SCALE=shanghai took ~1 s to read on every recomputation). Callers must not modify it. The sources'
    own ids are left out too: no caller reads them (a string per sensor, 11 MB of Shanghai's 120,000)."""
    frame = store.sensors(_engine(), layer, city)
    return frame.drop(columns=["coords", "source_id"], errors="ignore")


LIVE_ARRAYS = {
    "traffic": ("ci", "speed"),
    "parking": ("occ", "free", "turnover", "forecast_free"),
    "air_quality": ("stations",),
}
INCIDENT_ROW = ("kind", "sev", "status", "lon", "lat", "district", "sim", "ops", "breach", "due_at")
SNAPSHOT_TIMEOUT = 120  # a browser refreshes every REFRESH_SECONDS: an older base is rarely asked for


def live_values_since(city: str, at: int, have: dict[str, str] | None = None) -> dict[str, Any]:
    """The map's live values at `at`, each layer as a delta against the snapshot the browser has.

    `have` maps layer -> the version token (`v`) of the values the browser holds. A layer whose base
    snapshot is still cached comes back as {"v", "base", "n", "changes": {field: [indices, values]},
    "stale_add", "stale_del"} (incidents: {"v", "base", "remove", "rows", "age_shift", lookups});
    otherwise in full, as `live_values` gives it, plus its "v". Snapshots live in the app cache (so
    in Redis, shared by every worker, when REDIS_URL is set).
    """
    key = get_city(city).key
    rev = _revisions(key)  # one read for the values and their tokens (it was three per refresh)
    return values_since(key, at, rev, current_values(key, at, rev), have)


def revisions(city: str) -> dict[str, int]:
    """Each layer's feed revision now (one read): what `current_values` are computed from."""
    return _revisions(get_city(city).key)


def current_values(city: str, at: int, rev: dict[str, int]) -> dict[str, Any]:
    """Every layer's live values at `at` for the feed revisions `rev` (a city key), incidents included;
    each layer carries its "kpi". Shared cached values: read-only."""
    settings = load_settings()
    at_key = interval_start(at, settings)
    values = _live_values(city, at, rev, settings)
    values["incidents"] = _layer_values(city, "incidents", 0, at_key, rev["incidents"], settings.stale_minutes)
    return values


def values_since(
    key: str, at: int, rev: dict[str, int], values: dict[str, Any], have: dict[str, str] | None
) -> dict[str, Any]:
    """`live_values_since` for the values `current_values(key, at, rev)` gave."""
    settings = load_settings()
    at_key = interval_start(at, settings)
    version = static_version(key)
    have = have or {}
    # "geo": the geometry version; a browser holding older geometry (sensors registered since) refetches it.
    out: dict[str, Any] = {"at": at, "geo": version}
    for layer in store.LAYERS:
        source = _token_source(key, layer, at, rev, version, settings)
        token = source.token(at_key)
        new = {k: v for k, v in values[layer].items() if k != "kpi"}
        if not cache.has(f"snap:{token}"):  # (an add would pickle `new` for Redis just to find it there)
            cache.add(f"snap:{token}", new, timeout=SNAPSHOT_TIMEOUT)
        base_token = have.get(layer)
        base = cache.get(f"snap:{base_token}") if isinstance(base_token, str) and base_token else None
        if base is None and isinstance(base_token, str) and base_token != token:
            base = _rebuilt_snapshot(base_token, source, at_key, settings.refresh_seconds)
        if base_token == token:
            out[layer] = {"v": token, "base": token, "n": new.get("n"), "changes": {}, "stale_add": [], "stale_del": []}
            if layer == "incidents":
                out[layer] = {"v": token, "base": token, "remove": [], "rows": _incident_rows(new, []), "age_shift": 0}
        elif base is None:
            out[layer] = new | {"v": token}
        elif layer == "incidents":
            out[layer] = incident_delta(base, new) | {"v": token, "base": base_token}
        elif base.get("n") != new.get("n"):
            out[layer] = new | {"v": token}
        else:
            delta = array_delta(base, new, LIVE_ARRAYS[layer])
            # (a delta naming most entries is larger than the layer itself: a new time bucket, say)
            if _delta_size(delta) > new["n"] * len(LIVE_ARRAYS[layer]) // 2:
                out[layer] = new | {"v": token}
            else:
                out[layer] = delta | {"v": token, "base": base_token}
    return out


def value_tokens(key: str, at: int, rev: dict[str, int]) -> dict[str, str]:
    """Each layer's version token (`v`) for the values `current_values(key, at, rev)` gave."""
    settings, version = load_settings(), static_version(key)
    at_key = interval_start(at, settings)
    return {layer: _token_source(key, layer, at, rev, version, settings).token(at_key) for layer in store.LAYERS}


def _token_source(key: str, layer: str, at: int, rev: dict[str, int], version: str, settings: Settings) -> TokenSource:
    return TokenSource(key, layer, version, _layer_bucket(layer, at), rev[layer], settings.stale_minutes)


@dataclass(frozen=True)
class TokenSource:
    """What a layer's live values are computed from, but for the refresh interval (`at_key`)."""

    city: str
    layer: str
    version: str  # the geometry's
    bucket: int  # _layer_bucket
    revision: int  # the feed's
    stale: int  # minutes

    def token(self, at_key: int) -> str:
        """The version token of the values at `at_key`: everything they were computed from."""
        part = "" if self.layer == "incidents" else str(self.bucket)
        return f"{self.city}:{self.layer}:{self.version}:{part}:{at_key}:{self.revision}:{self.stale}"


REBUILD_REVISIONS = 3  # a browser's values are rebuilt from up to this many feed revisions back


def _rebuilt_snapshot(base_token: str, source: TokenSource, at_key: int, refresh: int) -> dict[str, Any] | None:
    """The values a browser's token names when it is one this process would have issued for the same
    city, layer and geometry at an earlier refresh (up to a snapshot's lifetime back), at this feed
    revision or one of the few before it, in this bucket or the one before. The token is matched whole
    against those candidates; nothing is parsed out of it. Snapshots are per worker without REDIS_URL,
    and a browser's refreshes land on either gunicorn worker: at SIM_SCALE=shanghai the worker that had
    not answered the browser's last refresh sent each layer in full (1.3 MB) after every simulator tick.
    The current revision's values are computed as usual; an earlier revision's come only from what this
    process still has cached for it (computing them now would read newer data under the old name)."""
    for bucket in dict.fromkeys((source.bucket, source.bucket - LAYER_STEP[source.layer])):
        for revision in range(source.revision, max(source.revision - REBUILD_REVISIONS, 0) - 1, -1):
            candidate = replace(source, bucket=bucket, revision=revision)
            earlier = (at_key - back for back in range(0, SNAPSHOT_TIMEOUT + 1, refresh))
            then = next((t for t in earlier if base_token == candidate.token(t)), None)
            if then is not None:
                values = _snapshot_values(candidate, then, current=candidate == source)
                return None if values is None else {k: v for k, v in values.items() if k != "kpi"}
    return None


def _snapshot_values(s: TokenSource, at_key: int, current: bool) -> dict[str, Any] | None:
    if current:
        return _layer_values(s.city, s.layer, s.bucket, at_key, s.revision, s.stale)
    if s.layer == "incidents":
        day = _cached_only(_incident_day, s.city, local_day_start(at_key), s.revision)
        return None if day is None else _incident_values(day, at_key)
    base_of = {"traffic": _traffic_base, "parking": _parking_base, "air_quality": _air_base}[s.layer]
    base = _cached_only(base_of, s.city, s.bucket, s.revision)
    return None if base is None else _with_stale(base, at_key, s.stale)


def _cached_only(memoized: Any, *args: Any) -> Any:
    """What the cache holds for `memoized(*args)`, without computing it (None when nothing)."""
    return cache.get(memoized.make_cache_key(memoized.uncached, *args))


def array_delta(old: dict[str, Any], new: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Changed entries of aligned arrays: {"n", "changes": {field: [indices, values]}, "stale_add", "stale_del"}."""
    changes = {}
    for field in fields:
        a, b = old[field], new[field]
        if a is b:  # the same cached list (same feed revision): nothing to compare
            continue
        idx = _changed_positions(a, b)
        if idx:
            changes[field] = [idx, [b[i] for i in idx]]
    was, now = set(old["stale"]), set(new["stale"])
    return {"n": new["n"], "changes": changes, "stale_add": sorted(now - was), "stale_del": sorted(was - now)}


def _changed_positions(a: list[Any], b: list[Any]) -> list[int]:
    """Positions where two aligned lists differ (numbers compared with numpy, None as NaN)."""
    try:
        x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    except (TypeError, ValueError):  # not numbers (air-quality stations are dicts)
        return [i for i, (p, q) in enumerate(zip(a, b, strict=True)) if p != q]
    return np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y)))).tolist()


def _delta_size(delta: dict[str, Any]) -> int:
    return sum(len(idx) for idx, _ in delta["changes"].values()) + len(delta["stale_add"]) + len(delta["stale_del"])


def apply_array_delta(old: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """What the browser does with `array_delta` (assets/citybrain.js applyLive): old + delta = new."""
    out = {k: (list(v) if isinstance(v, list) else v) for k, v in old.items()}
    for field, (idx, vals) in delta["changes"].items():
        for i, v in zip(idx, vals, strict=True):
            out[field][i] = v
    out["stale"] = sorted((set(old["stale"]) - set(delta["stale_del"])) | set(delta["stale_add"]))
    out["n"] = delta["n"]
    return out


def _incident_rows(inc: dict[str, Any], positions: list[int] | None) -> dict[str, Any]:
    pos = range(len(inc["id"])) if positions is None else positions
    return {col: [inc[col][p] for p in pos] for col in ("id", "age", *INCIDENT_ROW)}


def incident_delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Open incidents by id: ids gone, rows new or changed (ages move by `age_shift` for the rest)."""

    def rows(inc: dict[str, Any]) -> dict[int, tuple]:
        names = {"kind": inc["kinds"], "district": inc["districts"], "status": inc["statuses"]}
        cols = [[names[c][x] for x in inc[c]] if c in names else inc[c] for c in INCIDENT_ROW]
        return dict(zip(inc["id"], zip(*cols, strict=True), strict=True)) if inc["id"] else {}

    before, after = rows(old), rows(new)
    old_age = dict(zip(old["id"], old["age"], strict=True))
    shift = next((a - old_age[i] for i, a in zip(new["id"], new["age"], strict=True) if i in old_age), 0)
    changed = [
        p
        for p, (i, a) in enumerate(zip(new["id"], new["age"], strict=True))
        if before.get(i) != after[i] or old_age.get(i, a - shift) != a - shift
    ]
    return {
        "remove": [i for i in old["id"] if i not in after],
        "rows": _incident_rows(new, changed),
        "age_shift": shift,
        "kinds": new["kinds"],
        "statuses": new["statuses"],
        "districts": new["districts"],
    }


def apply_incident_delta(old: dict[str, Any], delta: dict[str, Any]) -> dict[int, tuple]:
    """Old open incidents + delta, as {id: (age, kind, sev, status, lon, lat, district, sim, ops, breach,
    due_at)} with names."""

    def named(inc: dict[str, Any], rows: dict[str, Any], k: int) -> tuple:
        return (
            rows["age"][k],
            inc["kinds"][rows["kind"][k]],
            rows["sev"][k],
            inc["statuses"][rows["status"][k]],
            rows["lon"][k],
            rows["lat"][k],
            inc["districts"][rows["district"][k]],
            rows["sim"][k],
            rows["ops"][k],
            rows["breach"][k],
            rows["due_at"][k],
        )

    gone = set(delta["remove"])
    out = {}
    for k, i in enumerate(old["id"]):
        if i not in gone:
            row = named(old, old, k)
            out[i] = (row[0] + delta["age_shift"], *row[1:])
    for k, i in enumerate(delta["rows"]["id"]):
        out[i] = named(delta, delta["rows"], k)
    return out


# --- forecasts (issue 19: fitted by the background job, data/jobs/forecasting.py) ------------------

FORECAST_LAYERS = ("parking", "traffic", "air_quality")


def _forecast_revision(key: str) -> int:
    return forecast_store.revision(_engine(), key)


def forecast_values(city: str, layer: str, target: int) -> dict[str, Any]:
    """The served forecast of a city's layer for the bucket holding `target` (the hour, for air quality),
    aligned with `geometry_json` order: value, low and high of the 80 % interval (None where there is
    none), the model, when it was fitted and from which observation; `served` False with the reason."""
    key = get_city(city).key
    if layer not in FORECAST_LAYERS:
        raise ValueError(f"no forecast for layer {layer!r}")
    bucket = floor_bucket(target, HOUR if layer == "air_quality" else B)
    return _forecast_layer(key, layer, bucket, _forecast_revision(key))


def _stored_layer(city: str, layer: str, bucket: int, revision: int) -> str:
    """Where a target's forecast is stored: air quality beyond the hourly model's day comes from the
    +25..+72 h outlook model (fitted, backtested and served or not on its own)."""
    if layer != "air_quality":
        return layer
    fit = _latest_fit(city, "air_quality", revision)
    return layer if fit is None or bucket <= int(fit["history_to"]) + DAY else "aqi_outlook"


@cache.memoize()
def _forecast_layer(city: str, layer: str, bucket: int, revision: int) -> dict[str, Any]:
    engine = _engine()
    sensors = _sensor_frame(city, layer, static_version(city))
    stored = _stored_layer(city, layer, bucket, revision)
    fit = _latest_fit(city, stored, revision)
    frame = forecast_store.values_at(engine, city, stored, bucket)
    aligned = sensors[["id"]].merge(frame, left_on="id", right_on="sensor_id", how="left")

    def column(name: str, digits: int) -> list[float | None]:
        return [None if math.isnan(v) else round(float(v), digits) for v in aligned[name].to_numpy(dtype=float)]

    digits = 2 if layer == "traffic" else 0
    return {
        "target": bucket,
        "served": bool(fit and fit["served"]),
        "reason": None if fit is None else (None if fit["served"] else "baseline better"),
        "model": fit["model"] if fit else None,
        "fitted_at": fit["fitted_at"] if fit else None,
        "origin": int(frame["origin"].max()) if len(frame) else None,
        "n": len(frame),
        "value": column("value", digits),
        "low": column("low", digits),
        "high": column("high", digits),
        "primary": [p if isinstance(p, str) else None for p in aligned["primary_pollutant"]],
    }


@cache.memoize()
def _latest_fit(city: str, layer: str, revision: int) -> dict[str, Any] | None:
    fits = forecast_store.fits(_engine(), city, since=0)
    fits = fits[fits["layer"] == layer]
    return None if fits.empty else fits.iloc[0].to_dict()


def forecast_horizon(city: str) -> dict[str, int | None]:
    """Per layer, the furthest target with a served forecast (None when the layer has none)."""
    key = get_city(city).key
    return _forecast_horizon(key, _forecast_revision(key))


@cache.memoize()
def _forecast_horizon(city: str, revision: int) -> dict[str, int | None]:
    out = {}
    for layer in FORECAST_LAYERS:
        found = forecast_store.targets(_engine(), city, layer)
        if layer == "air_quality":  # and the outlook's hours beyond the first day
            found += forecast_store.targets(_engine(), city, "aqi_outlook")
        out[layer] = max(found) if found else None
    return out


def model_quality(since: int) -> dict[str, Any]:
    """The newest fit of every city's layer and the fits since `since` (skill over time), for the Model quality page."""
    revision = sum(_forecast_revision(c) % 1_000_000_007 for c in CITIES)
    return _model_quality(since // 900 * 900, revision)


@cache.memoize()
def _model_quality(since: int, revision: int) -> dict[str, Any]:
    engine = _engine()
    latest = forecast_store.latest_fits(engine)
    history = forecast_store.fits(engine, since=since)
    cols = ["city", "layer", "fitted_at", "skill", "served"]
    records = latest.to_dict("records")
    for record in records:
        record["baselines"] = json.loads(record["baselines"])
        for key in ("mae", "skill", "hit_rate", "coverage"):  # NULL arrives as NaN through pandas
            if isinstance(record[key], float) and math.isnan(record[key]):
                record[key] = None
    history = history[cols].astype(object).where(history[cols].notna(), None) if len(history) else history
    return {
        "latest": records,
        "history": history[cols].to_dict("records") if len(history) else [],
    }


def forecast_track(city: str, layer: str, sensor_id: int, since: int) -> dict[str, Any]:
    """Next-hour forecasts of one tracked sensor since `since`, beside what was observed (served units)."""
    key = get_city(city).key
    if layer not in FORECAST_LAYERS:
        raise ValueError(f"no forecast for layer {layer!r}")
    return _forecast_track(key, layer, int(sensor_id), since // B * B, _forecast_revision(key), _revision(key, layer))


@cache.memoize()
def _forecast_track(city: str, layer: str, sensor_id: int, since: int, revision: int, obs_revision: int) -> dict:
    engine = _engine()
    tracked = forecast_store.track(engine, city, layer, sensor_id, since)
    sensors = _sensor_frame(city, layer, static_version(city))
    row = sensors[sensors["id"] == sensor_id]
    if row.empty:
        return {"forecast": [], "actual": [], "name": None}
    newest = store.observation_bucket_range(engine, layer, city)[1] or since
    columns = {"traffic": ("bucket", "speed_kmh"), "parking": ("bucket", "occupied")}.get(
        layer, ("bucket", *store.POLLUTANT_COLUMNS)
    )
    obs = store.observations_between(engine, layer, city, since, newest, columns, sensor_ids=[sensor_id])
    if layer == "traffic":
        free_flow = float(row["free_flow_kmh"].iloc[0])
        actual = [congestion.congestion_index(s, free_flow) if s > 0 else None for s in obs["speed_kmh"]]
    elif layer == "parking":
        actual = (int(row["capacity"].iloc[0]) - obs["occupied"]).tolist()
    else:
        actual = [aqi_rules.hourly_aqi({p: r[p] for p in store.POLLUTANT_COLUMNS}).aqi for r in obs.to_dict("records")]
    name = row["name"].iloc[0] if "name" in row else row["name_en"].iloc[0] or row["name_zh"].iloc[0]
    return {
        "name": str(name),
        "actual": [{"t": int(t), "v": v} for t, v in zip(obs["bucket"], actual, strict=True)],
        "forecast": tracked.to_dict("records"),
    }


def tracked_sensors(city: str, layer: str) -> list[int]:
    key = get_city(city).key
    return forecast_store.tracked_sensors(_engine(), key, layer) if layer in FORECAST_LAYERS else []


FORECAST_STEPS = 4  # the map's time slider runs 15-minute steps past now to +1 h (all layers) ...
AQI_FORECAST_HOURS = 72  # ... then hourly steps to +72 h (air quality only)
FORECAST_SLIDER_STEPS = FORECAST_STEPS + AQI_FORECAST_HOURS - FORECAST_STEPS * B // HOUR


def forecast_step_at(last_bucket: int, ahead: int) -> int:
    """The instant of the slider's `ahead`-th step past now (1..FORECAST_SLIDER_STEPS): quarter hours
    to +1 h, then whole hours to +72 h."""
    ahead = min(max(int(ahead), 1), FORECAST_SLIDER_STEPS)
    if ahead <= FORECAST_STEPS:
        return last_bucket + ahead * B
    return last_bucket + FORECAST_STEPS * B + (ahead - FORECAST_STEPS) * HOUR


def forecast_map_values(city: str, at: int) -> dict[str, Any]:
    """The map's values for a future instant, shaped like `live_values_since` in full (so the browser
    applies them the same way) with the 80 % interval beside each value and `forecast` describing
    each layer: served, or why not ("baseline better", "beyond 1 h" for parking and traffic past the
    hour, or none fitted). A layer without a forecast for `at` has no values (drawn grey, never the present);
    air quality within the current hour keeps the hour's observations."""
    key = get_city(city).key
    revision = _forecast_revision(key)
    out: dict[str, Any] = {"at": at, "forecast": {}}
    hour_ahead = floor_bucket(time.time()) + FORECAST_STEPS * B
    buckets = tuple(floor_bucket(at, HOUR if layer == "air_quality" else B) for layer in FORECAST_LAYERS)
    for layer, bucket, (values, info) in zip(
        FORECAST_LAYERS, buckets, _forecast_map_layers(key, buckets, revision), strict=True
    ):
        if layer != "air_quality" and bucket > hour_ahead:
            info = info | {"served": False, "reason": "beyond 1 h"}
        if layer == "air_quality" and not info["served"] and bucket == floor_bucket(time.time(), HOUR):
            live = live_values(key, int(time.time()))[layer]
            values = _strip_kpi(live) | {"v": values["v"] + ":observed"}
            info = info | {"reason": "observed hour"}
        out[layer], out["forecast"][layer] = values, info
    return out


@cache.memoize()
def _forecast_map_layers(city: str, buckets: tuple[int, ...], revision: int) -> list[tuple[dict, dict]]:
    """The three layers' answers under one cache key: a warm step costs one lookup, not three."""
    pairs = zip(FORECAST_LAYERS, buckets, strict=True)
    return [_forecast_map_layer(city, layer, bucket, revision) for layer, bucket in pairs]


@cache.memoize()
def _forecast_map_layer(city: str, layer: str, bucket: int, revision: int) -> tuple[dict[str, Any], dict[str, Any]]:
    fc = _forecast_layer(city, layer, bucket, revision)
    info = {
        "served": fc["served"] and fc["n"] > 0,
        "reason": fc["reason"] if not fc["served"] else (None if fc["n"] else "beyond horizon"),
        "model": fc["model"],
        "fitted_at": fc["fitted_at"],
    }
    return _forecast_layer_values(city, layer, fc) | {"v": f"fc:{city}:{layer}:{bucket}:{revision}"}, info


def forecast_outlook(city: str, now: float | None = None) -> dict[str, Any]:
    """The city's air-quality outlook for the next three local days in HJ 633 levels (data/forecast/outlook.py)
    from the served hourly forecasts, with the verdict of each model (served, or "baseline better")."""
    key = get_city(city).key
    now = time.time() if now is None else now
    return _forecast_outlook(key, floor_bucket(now, HOUR), _forecast_revision(key))


@cache.memoize()
def _forecast_outlook(city: str, hour: int, revision: int) -> dict[str, Any]:
    from data.forecast.outlook import city_outlook  # pandas only: no model code in the serving process

    engine = _engine()
    first = local_day_start(hour) + DAY
    frames = [forecast_store.values_between(engine, city, k, first, first + 3 * DAY) for k in AQI_MODELS]
    models = {}
    for k in AQI_MODELS:
        fit = _latest_fit(city, k, revision)
        served = bool(fit and fit["served"])
        reason = None if fit is None or served else "baseline better"
        models[k] = {"served": served, "reason": reason, "model": fit["model"] if fit else None}
    return {"days": city_outlook(pd.concat(frames, ignore_index=True), hour), "models": models}


AQI_MODELS = ("air_quality", "aqi_outlook")  # +1..+24 h, +25..+72 h


def _strip_kpi(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if k != "kpi"}


def _forecast_layer_values(city: str, layer: str, fc: dict[str, Any]) -> dict[str, Any]:
    sensors = _sensor_frame(city, layer, static_version(city))
    n = len(sensors)
    value, low, high = fc["value"], fc["low"], fc["high"]
    if layer == "traffic":
        free_flow = sensors["free_flow_kmh"].to_numpy(dtype=float)
        speed = [None if v is None else round(float(free_flow[k]) / v, 1) for k, v in enumerate(value)]
        return {"n": n, "ci": value, "speed": speed, "ci_low": low, "ci_high": high, "stale": []}
    if layer == "parking":
        capacity = sensors["capacity"].to_numpy(dtype=float)
        occ = [None if v is None else round((capacity[k] - v) / capacity[k] * 100) for k, v in enumerate(value)]
        free = [None if v is None else int(v) for v in value]
        empty = [None] * n
        return {"n": n, "occ": occ, "free": free, "turnover": empty, "forecast_free": empty,
                "free_low": low, "free_high": high, "stale": []}  # fmt: skip
    stations = []
    for k, v in enumerate(value):
        level = aqi_rules.level_for(v).level if v is not None else None
        primary = fc["primary"][k]
        stations.append(
            {
                "aqi": None if v is None else int(v),
                "level": level,
                "primary": [primary] if primary and v is not None and v > 50 else [],
                "iaqi": dict.fromkeys(aqi_rules.POLLUTANTS),
                "conc": dict.fromkeys(aqi_rules.POLLUTANTS),
                "low": low[k],
                "high": high[k],
            }
        )
    return {"n": n, "stations": stations, "stale": []}


# --- City KPIs at a forecast step (issue 19) ------------------------------------------------------------


def forecast_kpis(city: str, at: int) -> dict[str, dict[str, Any]]:
    """The layer KPIs for a future instant from the stored per-sensor forecasts, aggregated as the live
    KPIs aggregate observations (data/rules/forecast_kpis.py, which also says how the 80 % intervals
    combine): congestion index = free-flow-time-weighted mean of segment indices (`network_index`), mean
    speed = length-weighted mean of free-flow speed / index, free spaces = sum over car parks, occupancy
    from it and their capacity, city AQI = mean of the station forecasts (concentrations are not
    forecast), worst station = the highest. Per KPI key: value, low, high, level (AQI), served and, when
    not served, the reason ("baseline better", "beyond horizon", None: no model fitted yet)."""
    key = get_city(city).key
    hour = floor_bucket(at, HOUR)
    found = _forecast_kpis(key, floor_bucket(at), hour, _forecast_revision(key))
    if hour == floor_bucket(time.time(), HOUR):  # as on the map: this hour's AQI is observed, not forecast
        found = found | {k: {"served": False, "reason": "observed hour"} for k in ("city_aqi", "worst_station")
                         if not found[k]["served"]}  # fmt: skip
    return found


@cache.memoize()
def _forecast_kpis(city: str, bucket: int, hour: int, revision: int) -> dict[str, dict[str, Any]]:
    fk = forecast_kpis_rules
    version = static_version(city)
    out: dict[str, dict[str, Any]] = {}

    def put(kpi: str, fc: dict[str, Any], found: tuple[float, float, float] | None, digits: int, **extra: Any):
        if not fc["served"]:
            out[kpi] = {"served": False, "reason": fc["reason"]}
        elif not fc["n"] or found is None:
            out[kpi] = {"served": False, "reason": "beyond horizon"}
        else:
            value, low, high = (_r(x, digits) for x in found)
            out[kpi] = {"served": True, "reason": None, "value": value, "low": low, "high": high, **extra}

    traffic = _forecast_layer(city, "traffic", bucket, revision)
    segs = _sensor_frame(city, "traffic", version)
    free_flow = segs["free_flow_kmh"].to_numpy(dtype=float)
    lengths = segs["length_m"].to_numpy(dtype=float)
    items = list(zip(traffic["value"], traffic["low"], traffic["high"], strict=True))
    put("congestion_index", traffic, fk.combined_mean(items, (lengths / free_flow).tolist()), 2)
    speeds = [
        (None, None, None) if v is None else (ff / v, ff / hi if hi else None, ff / lo if lo else None)
        for (v, lo, hi), ff in zip(items, free_flow, strict=True)
    ]
    put("mean_speed", traffic, fk.combined_mean(speeds, lengths.tolist()), 1)

    lots = _forecast_layer(city, "parking", bucket, revision)
    capacity = _sensor_frame(city, "parking", version)["capacity"].to_numpy(dtype=float)
    items = list(zip(lots["value"], lots["low"], lots["high"], strict=True))
    free = fk.combined_sum(items)
    put("free_spaces", lots, free, 0)
    total = float(sum(c for c, (v, _, _) in zip(capacity, items, strict=True) if v is not None))
    occupancy = None if free is None or total <= 0 else tuple((total - f) / total * 100 for f in free)
    put("parking_occupancy", lots, None if occupancy is None else (occupancy[0], occupancy[2], occupancy[1]), 1)

    air = _forecast_layer(city, "air_quality", hour, revision)
    items = list(zip(air["value"], air["low"], air["high"], strict=True))
    mean = fk.combined_mean(items)
    put("city_aqi", air, mean, 0, level=aqi_rules.level_for(mean[0]).level if mean else None)
    top = fk.worst(items)
    stations = _sensor_frame(city, "air_quality", version)
    put(
        "worst_station",
        air,
        top[1] if top else None,
        0,
        level=aqi_rules.level_for(top[1][0]).level if top else None,
        detail=station_names(stations.iloc[top[0]]) if top else "",
    )
    return out


# Forecast alerts: shown beside the others, labelled FORECAST; never opening an incident (the alert
# rules in data/jobs/alerting.py read observations only).
FORECAST_ALERT_AHEAD = {"parking": HOUR, "traffic": HOUR, "air_quality": DAY}


def forecast_alerts(city: str, now: int) -> list[Alert]:
    """Car parks forecast full within the hour, main-road congestion within the hour, stations forecast
    above AQI 200 within 24 h: count and, as detail, minutes until the first (AQI: that time, CST)."""
    key = get_city(city).key
    return _forecast_alerts(key, floor_bucket(now), _forecast_revision(key))


@cache.memoize()
def _forecast_alerts(city: str, bucket: int, revision: int) -> list[Alert]:
    engine = _engine()
    found: list[Alert] = []
    frames = {
        layer: forecast_store.values_between(engine, city, layer, bucket + 1, bucket + ahead)
        for layer, ahead in FORECAST_ALERT_AHEAD.items()
    }
    parking_frame = frames["parking"]
    full = parking_frame[parking_frame["value"] <= 0] if len(parking_frame) else parking_frame
    if len(full):
        first = int(full["target"].min())
        found.append(Alert("forecast_lots_full", "info", int(full["sensor_id"].nunique()), str((first - bucket) // 60)))
    traffic_frame = frames["traffic"]
    jammed = traffic_frame[traffic_frame["value"] >= 2.0] if len(traffic_frame) else traffic_frame
    if len(jammed):
        first = int(jammed["target"].min())
        found.append(
            Alert("forecast_congested", "info", int(jammed["sensor_id"].nunique()), str((first - bucket) // 60))
        )
    air = frames["air_quality"]
    heavy = air[air["value"] > 200] if len(air) else air
    if len(heavy):
        found.append(
            Alert(
                "forecast_aqi_heavy",
                "warning",
                int(heavy["sensor_id"].nunique()),
                local_label_hm(int(heavy["target"].min())),
            )
        )
    return found


def local_label_hm(t: int) -> str:
    """ "MM-DD HH:MM" in China Standard Time."""
    return time.strftime("%m-%d %H:%M", time.gmtime(int(t) + CST))
