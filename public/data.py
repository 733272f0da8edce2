"""What the public may see: whitelisted projections of the store for the embeds and the open data API.

Everything public goes through this module, and every function here builds its output from an
explicit list of public fields, so a column added to the store later (notes, assignees, plates,
photos ...) can never reach the public by accident.

Public fields:
- traffic: congestion by road segment (speed, free-flow speed, index, band);
- parking: free spaces and occupancy by car park (with its capacity);
- air quality: per station and hour, the six concentrations, their IAQI, the AQI, the primary
  pollutant and the HJ 633-2012 level with its health advice;
- incidents: public notices only: type, status, time reported, district and a location rounded to
  3 decimals of a degree (about 100 m). Severity, workflow times, source references and database
  row ids stay inside; a notice is identified by an opaque keyed hash.

Segment, car park and station ids are public sensor identifiers (like the national station codes):
they are stable, describe infrastructure, not cases or people, and let a reader join observations
over time. Incident row ids are internal and never leave this module.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import shapely

from data import access, open_data
from data.config import load_settings
from data.geo.cities import get_city
from data.rules import aqi as aqi_rules
from data.rules.clock import BUCKET_SECONDS, HOUR
from data.rules.congestion import band_for, congestion_index
from data.rules.parking import occupancy_band
from data.rules.vocabulary import INCIDENT_KINDS, STATUSES
from public.settings import load_public_settings

B = BUCKET_SECONDS
RETENTION_S = 8 * 86400  # the store keeps 8 days; older instants have no data
LOCATION_DECIMALS = 3  # incident locations: 0.001° ≈ 111 m north-south, ≈ 96 m east-west at 30° N
LOCATION_PRECISION_M = 100


@dataclass(frozen=True)
class Collection:
    id: str  # public name (URL)
    layer: str  # store layer
    step: int | None  # seconds per observation; None for events
    title: tuple[str, str]
    description: str
    geometry: str


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "traffic",
            "traffic",
            B,
            ("Road congestion", "道路拥堵"),
            "Congestion by road segment per 15 minutes: mean speed, free-flow speed, congestion index "
            "(travel time / free-flow travel time) and its band (Amap: <1.5 free-flowing, 1.5-2.0 slow, "
            ">=2.0 congested). Roads are synthetic and speeds SIMULATED unless stated otherwise.",
            "LineString",
        ),
        Collection(
            "parking",
            "parking",
            B,
            ("Car park free spaces", "停车场空余车位"),
            "Free spaces and occupancy by car park per 15 minutes. Car parks and occupancy are SIMULATED.",
            "Point",
        ),
        Collection(
            "air-quality",
            "air_quality",
            HOUR,
            ("Air quality (HJ 633-2012)", "空气质量（HJ 633-2012）"),
            "Hourly concentrations per station (pm25, pm10, o3, no2, so2 in µg/m³, co in mg/m³), each "
            "pollutant's IAQI, the AQI, the primary pollutant and the HJ 633-2012 level with its health "
            "advice, so the AQI can be checked from the published numbers. National stations are real "
            "(2017 list); readings are SIMULATED.",
            "Point",
        ),
        Collection(
            "incidents",
            "incidents",
            None,
            ("Public incident notices", "公共事件通告"),
            "Incidents as public notices: type, status, time reported, district and a location rounded "
            "to about 100 m. Without datetime: the notices open now; with an instant: those open then; "
            "with an interval: those reported in it. Events are SIMULATED.",
            "Point",
        ),
    )
}


def city_key(city: str | None) -> str:
    return get_city(city).key  # raises data.geo.cities.UnknownCityError


def floor_to(t: float, step: int) -> int:
    return int(t // step * step)


def iso(t: float | int | None) -> str | None:
    if t is None or t != t:  # None or NaN
        return None
    return _iso(int(t))


@lru_cache(maxsize=8192)
def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _stamp(t: int) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))


def is_simulated(city: str) -> bool:
    """Whether the city's public map is (at least partly) simulated: SIMULATE names one of its layers
    and the simulator has written it (it marks every city it writes). Under SIMULATE=none, or for a
    city fed only by its own sensors, no "SIMULATED DATA" badge."""
    settings = load_settings()
    if not any(settings.simulates(city, layer) for layer in ("traffic", "parking", "air_quality", "incidents")):
        return False
    return _simulated(city, int(time.time() // 60))


@lru_cache(maxsize=16)
def _simulated(city: str, _minute: int) -> bool:
    return open_data.simulation_closed(city)


# --- public geometry (embeds) -----------------------------------------------------------------------

_GEOMETRY_PROPERTIES = {
    "districts": ("code", "name_zh", "name_en"),
    "roads": ("i", "name", "cls"),
    "parking": ("i", "name", "capacity"),
    "air_quality": ("i", "code", "name_zh", "name_en", "simulated"),
}
GEOMETRY_LAYERS = tuple(_GEOMETRY_PROPERTIES)


def geometry_version(city: str) -> str:
    return access.static_version(city_key(city))


def public_geometry_json(city: str, layer: str) -> str:
    """A layer's static geometry with public properties only; `i` indexes the embed's value arrays."""
    key = city_key(city)
    if layer not in _GEOMETRY_PROPERTIES:
        raise KeyError(layer)
    return _public_geometry(key, layer, access.static_version(key))


def _round_coords(coords: Any, digits: int) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return [round(c, digits) for c in coords]
    return [_round_coords(c, digits) for c in coords]


@lru_cache(maxsize=32)
def _public_geometry(city: str, layer: str, _version: str) -> str:
    source = json.loads(access.geometry_json(city, layer))
    keep = _GEOMETRY_PROPERTIES[layer]
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": f["geometry"]["type"],
                "coordinates": _round_coords(f["geometry"]["coordinates"], 5),
            },
            "properties": {k: f["properties"][k] for k in keep if k in f["properties"]},
        }
        for f in source["features"]
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, separators=(",", ":"))


# --- sensors (open data API) --------------------------------------------------------------------------


class _PublicRows:
    """id -> the sensor's public properties, built on demand from columns (a dict per sensor kept for
    100,000 road segments cost ~40 MB in every worker)."""

    def __init__(self, position: dict[int, int], columns: dict[str, list[Any]]) -> None:
        self._position, self._columns = position, columns

    def __contains__(self, sid: object) -> bool:
        return sid in self._position

    def get(self, sid: int) -> dict[str, Any] | None:
        k = self._position.get(sid)
        return None if k is None else {name: values[k] for name, values in self._columns.items()}


class _Coordinates:
    """id -> GeoJSON coordinates rounded to 6 decimals, decoded on demand from the stored text (road
    lines) or from lon/lat arrays (points)."""

    def __init__(self, position: dict[int, int], lines: list[str] | None, lon: Any = None, lat: Any = None) -> None:
        self._position, self._lines, self._lon, self._lat = position, lines, lon, lat

    def __getitem__(self, sid: int) -> Any:
        k = self._position[sid]
        if self._lines is not None:
            return [[round(x, 6), round(y, 6)] for x, y in json.loads(self._lines[k])]
        return [round(float(self._lon[k]), 6), round(float(self._lat[k]), 6)]


@dataclass(frozen=True)
class Sensors:
    ids: np.ndarray  # sensor ids, in store order
    public: _PublicRows  # id -> the sensor's public properties
    coordinates: _Coordinates  # id -> GeoJSON coordinates
    geometries: np.ndarray  # shapely geometries aligned with ids
    bbox: tuple[float, float, float, float]

    def ids_in(self, bbox: Sequence[float] | None) -> list[int] | None:
        """Ids of the sensors whose geometry intersects bbox; None means all (no filter needed)."""
        if bbox is None:
            return None
        hits = shapely.intersects(self.geometries, shapely.box(*bbox))
        if hits.all():
            return None
        return self.ids[hits].tolist()


def sensors(city: str, layer: str) -> Sensors:
    key = city_key(city)
    return _sensors(key, layer, access.static_version(key))


@lru_cache(maxsize=32)
def _sensors(city: str, layer: str, _version: str) -> Sensors:
    df = open_data.sensors(layer, city)
    ids = df["id"].astype(int).to_numpy()
    position = {sid: k for k, sid in enumerate(ids.tolist())}
    if layer == "traffic":
        lines = df["coords"].astype(str).tolist()
        geoms = shapely.from_geojson(['{"type":"LineString","coordinates":' + c + "}" for c in lines]) if lines else []
        coordinates = _Coordinates(position, lines)
        columns = {
            "name": df["name"].astype(str).tolist(),
            "road_class": df["road_class"].astype(str).tolist(),
            "free_flow_kmh": df["free_flow_kmh"].astype(float).tolist(),
            "synthetic_road": df["synthetic"].astype(bool).tolist(),
        }
    else:
        lon, lat = df["lon"].astype(float).to_numpy(), df["lat"].astype(float).to_numpy()
        geoms = shapely.points(np.round(lon, 6), np.round(lat, 6)) if len(df) else []
        coordinates = _Coordinates(position, None, lon, lat)
        if layer == "parking":
            columns = {
                "name": df["name"].astype(str).tolist(),
                "capacity": df["capacity"].astype(int).tolist(),
                "simulated_lot": df["simulated"].astype(bool).tolist(),
            }
        else:
            columns = {
                "station_code": df["code"].astype(str).tolist(),
                "name_zh": df["name_zh"].astype(str).tolist(),
                "name_en": df["name_en"].astype(str).tolist(),
                "simulated_station": df["simulated"].astype(bool).tolist(),
            }
    geoms = np.asarray(geoms)
    bounds = shapely.total_bounds(geoms) if len(geoms) else (0.0, 0.0, 0.0, 0.0)
    return Sensors(ids, _PublicRows(position, columns), coordinates, geoms, tuple(round(float(b), 6) for b in bounds))


def city_bbox(city: str) -> tuple[float, float, float, float]:
    boxes = [sensors(city, layer).bbox for layer in ("traffic", "parking", "air_quality")]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# --- observations as public features -----------------------------------------------------------------


def _num(value: Any, digits: int | None = None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if value != value:  # NaN
        return None
    return round(value, digits) if digits is not None else value


def _times(row: dict[str, Any], length: int) -> dict[str, str | None]:
    """The interval an observation covers (its bucket, `length` seconds long) and when it was observed."""
    return {
        "time_start": iso(row["bucket"]),
        "time_end": iso(row["bucket"] + length),
        "observed_at": iso(row["observed_at"]),
    }


def traffic_properties(row: dict[str, Any], sensor: dict[str, Any], simulated: bool) -> dict[str, Any]:
    speed = _num(row["speed_kmh"])
    free = sensor["free_flow_kmh"]
    index = congestion_index(speed, free) if speed else None
    band = band_for(index) if index is not None else None
    return {
        "segment_id": row["segment_id"],
        "name": sensor["name"],
        "road_class": sensor["road_class"],
        **_times(row, B),
        "speed_kmh": _num(speed, 1),
        "free_flow_kmh": _num(free, 1),
        "congestion_index": _num(index, 2),
        "congestion_level": band.key if band else None,
        "synthetic_road": sensor["synthetic_road"],
        "simulated": simulated,
    }


def parking_properties(row: dict[str, Any], sensor: dict[str, Any], simulated: bool) -> dict[str, Any]:
    capacity = sensor["capacity"]
    occupied = min(max(int(row["occupied"]), 0), capacity)
    pct = round(occupied / capacity * 100, 1) if capacity else None
    return {
        "lot_id": row["lot_id"],
        "name": sensor["name"],
        "capacity": capacity,
        "free_spaces": capacity - occupied,
        "occupancy_pct": pct,
        "occupancy_level": occupancy_band(pct).key if pct is not None else None,
        **_times(row, B),
        "simulated_lot": sensor["simulated_lot"],
        "simulated": simulated,
    }


def air_properties(row: dict[str, Any], sensor: dict[str, Any], simulated: bool) -> dict[str, Any]:
    conc = {p: _num(row[p]) for p in aqi_rules.POLLUTANTS}
    result = aqi_rules.hourly_aqi(conc)
    level = result.level
    props: dict[str, Any] = {
        "station_id": row["station_id"],
        "station_code": sensor["station_code"],
        "name_zh": sensor["name_zh"],
        "name_en": sensor["name_en"],
        **_times(row, HOUR),
    }
    props |= conc
    props |= {f"iaqi_{p}": result.iaqi[p] for p in aqi_rules.POLLUTANTS}
    props |= {
        "aqi": result.aqi,
        "primary_pollutant": ",".join(result.primary) or None,
        "level": level.level if level else None,
        "category_en": level.name_en if level else None,
        "category_zh": level.name_zh if level else None,
        "health_advice_en": level.advice_en if level else None,
        "health_advice_zh": level.advice_zh if level else None,
        "standard": "HJ 633-2012",
        "simulated_station": sensor["simulated_station"],
        "simulated": simulated,
    }
    return props


PROPERTY_NAMES: dict[str, tuple[str, ...]] = {
    "traffic": (
        "segment_id",
        "name",
        "road_class",
        "time_start",
        "time_end",
        "observed_at",
        "speed_kmh",
        "free_flow_kmh",
        "congestion_index",
        "congestion_level",
        "synthetic_road",
        "simulated",
    ),
    "parking": (
        "lot_id",
        "name",
        "capacity",
        "free_spaces",
        "occupancy_pct",
        "occupancy_level",
        "time_start",
        "time_end",
        "observed_at",
        "simulated_lot",
        "simulated",
    ),
    "air_quality": (
        "station_id",
        "station_code",
        "name_zh",
        "name_en",
        "time_start",
        "time_end",
        "observed_at",
        *aqi_rules.POLLUTANTS,
        *(f"iaqi_{p}" for p in aqi_rules.POLLUTANTS),
        "aqi",
        "primary_pollutant",
        "level",
        "category_en",
        "category_zh",
        "health_advice_en",
        "health_advice_zh",
        "standard",
        "simulated_station",
        "simulated",
    ),
    "incidents": (
        "notice_id",
        "type",
        "type_en",
        "type_zh",
        "status",
        "status_en",
        "status_zh",
        "reported_at",
        "district",
        "location_precision_m",
        "simulated",
    ),
}
_PROPERTIES = {"traffic": traffic_properties, "parking": parking_properties, "air_quality": air_properties}


def observation_feature_id(sensor_id: int, bucket: int) -> str:
    return f"{sensor_id}-{_stamp(bucket)}"


def parse_observation_feature_id(feature_id: str) -> tuple[int, int] | None:
    sensor, _, stamp = feature_id.partition("-")
    if not sensor.isdigit() or len(stamp) != 14:
        return None
    try:
        parsed = time.strptime(stamp, "%Y%m%dT%H%MZ")
    except ValueError:
        return None
    return int(sensor), calendar.timegm(parsed)


def _observation_features(coll: Collection, city: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    table = sensors(city, coll.layer)
    simulated = is_simulated(city)
    build = _PROPERTIES[coll.layer]
    column = open_data.SENSOR_COLUMN[coll.layer]
    names = list(open_data.PUBLIC_COLUMNS[coll.layer])  # only these columns are ever read from a row
    features = []
    for values in zip(*(frame[n].tolist() for n in names), strict=True) if len(frame) else ():
        row = dict(zip(names, values, strict=True))
        sid = int(row[column])
        sensor = table.public.get(sid)
        if sensor is None:  # an observation of a sensor that no longer exists
            continue
        row[column], row["bucket"] = sid, int(row["bucket"])
        features.append(
            {
                "type": "Feature",
                "id": observation_feature_id(sid, row["bucket"]),
                "geometry": {"type": coll.geometry, "coordinates": table.coordinates[sid]},
                "properties": build(row, sensor, simulated),
            }
        )
    return features


@dataclass(frozen=True)
class Window:
    """What a `datetime` asks for: nothing (now), an instant, or an interval (None = open end)."""

    start: float | None = None
    end: float | None = None
    instant: bool = False
    given: bool = False


def _bucket_range(coll: Collection, city: str, window: Window, now: float) -> tuple[int, int] | None:
    step = coll.step or B
    if not window.given:
        latest = open_data.latest_bucket(coll.layer, city, floor_to(now, step))
        return None if latest is None else (latest, latest)
    if window.instant:
        if window.start is None or window.start > now:
            return None
        bucket = floor_to(window.start, step)
        return bucket, bucket
    first = floor_to(max(window.start, now - RETENTION_S), step) if window.start is not None else 0
    last = floor_to(min(window.end if window.end is not None else now, now), step)
    return (first, last) if first <= last else None


def observation_items(
    coll: Collection, city: str, bbox: Sequence[float] | None, window: Window, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of a sensor collection's features and how many match in all."""
    key = city_key(city)
    # PostGIS filters the bbox in the database; without it, the sensors' cached shapes give the ids.
    in_db = bbox is not None and open_data.spatial()
    area = tuple(float(v) for v in bbox) if in_db else None
    ids = None if in_db else sensors(key, coll.layer).ids_in(bbox)
    now = time.time()
    if window.instant and window.start is not None and window.start > now:  # the future: forecasts
        return forecast_items(coll, key, bbox, window.start, offset, limit)
    if ids is None and not load_settings().simulates(key, coll.layer):
        ids = sensors(key, coll.layer).ids.tolist()  # the layer's stored simulated history is not shown
    buckets = _bucket_range(coll, key, window, now)
    if buckets is None or ids == []:
        return [], 0
    revision = open_data.feed_state(key, coll.layer)[0]
    matched = _count_observations(coll.layer, key, *buckets, None if ids is None else tuple(ids), area, revision)
    if offset >= matched:
        return [], matched
    frame = open_data.observations_between(coll.layer, key, *buckets, ids, offset, limit, bbox=area)
    return _observation_features(coll, key, frame), matched


def _forecast_properties(layer: str, sensor: dict[str, Any], k: int, fc: dict[str, Any]) -> dict[str, Any]:
    value, low, high = fc["value"][k], fc["low"][k], fc["high"][k]
    if layer == "traffic":
        own: dict[str, Any] = {
            "name": sensor["name"],
            "road_class": sensor["road_class"],
            "congestion_index": value,
            "congestion_index_low": low,
            "congestion_index_high": high,
            "congestion_level": band_for(value).key,
        }
    elif layer == "parking":
        capacity = sensor["capacity"]
        pct = round((capacity - value) / capacity * 100, 1) if capacity else None
        own = {
            "name": sensor["name"],
            "capacity": capacity,
            "free_spaces": int(value),
            "free_spaces_low": int(low),
            "free_spaces_high": int(high),
            "occupancy_pct": pct,
            "occupancy_level": occupancy_band(pct).key if pct is not None else None,
        }
    else:
        level = aqi_rules.level_for(value)
        own = {
            "station_code": sensor["station_code"],
            "name_zh": sensor["name_zh"],
            "name_en": sensor["name_en"],
            "aqi": int(value),
            "aqi_low": int(low),
            "aqi_high": int(high),
            "level": level.level,
            "category_en": level.name_en,
            "category_zh": level.name_zh,
            "primary_pollutant": fc["primary"][k],
            "standard": "HJ 633-2012",
        }
    return own


def forecast_items(
    coll: Collection, city: str, bbox: Sequence[float] | None, at: float, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of forecast features for the bucket holding `at` (a future instant): the point value
    with its 80 % interval (`_low`, `_high`), `forecast: true` and the model; none when the layer's
    model did not beat its naive baseline, or `at` is beyond the horizon."""
    fc = access.forecast_values(city, coll.layer, int(at))
    if not fc["served"] or not fc["n"]:
        return [], 0
    table = sensors(city, coll.layer)
    wanted = table.ids_in(bbox)
    inside = None if wanted is None else set(wanted)
    keep = [
        k
        for k, sid in enumerate(table.ids.tolist())
        if fc["value"][k] is not None and (inside is None or sid in inside)
    ]
    column = open_data.SENSOR_COLUMN[coll.layer]
    step = coll.step or B
    simulated = is_simulated(city)
    features = []
    for k in keep[offset : offset + limit]:
        sid = int(table.ids[k])
        sensor = table.public.get(sid)
        properties = {column: sid} | _forecast_properties(coll.layer, sensor, k, fc)
        properties |= {
            "time_start": iso(fc["target"]),
            "time_end": iso(fc["target"] + step),
            "forecast": True,
            "interval": "80%",
            "model": fc["model"],
            "fitted_at": iso(fc["fitted_at"]),
            "forecast_from": iso(fc["origin"]),
            "simulated": simulated,
        }
        features.append(
            {
                "type": "Feature",
                "id": f"forecast-{sid}-{_stamp(fc['target'])}",
                "geometry": {"type": coll.geometry, "coordinates": table.coordinates[sid]},
                "properties": properties,
            }
        )
    return features, len(keep)


@lru_cache(maxsize=256)
def _count_observations(
    layer: str,
    city: str,
    first: int,
    last: int,
    ids: tuple[int, ...] | None,
    bbox: tuple[float, ...] | None,
    _revision: int,
) -> int:
    """Counted once per feed revision, so paging through a large result does not count it again."""
    return open_data.count_observations_between(layer, city, first, last, ids, bbox)


def observation_item(coll: Collection, city: str, feature_id: str) -> dict[str, Any] | None:
    key = city_key(city)
    parsed = parse_observation_feature_id(feature_id)
    if parsed is None:
        return None
    sensor_id, bucket = parsed
    if bucket % (coll.step or B) or bucket > time.time():
        return None
    if sensor_id not in sensors(key, coll.layer).public:
        return None
    frame = open_data.observations_between(coll.layer, key, bucket, bucket, [sensor_id], 0, 1)
    features = _observation_features(coll, key, frame)
    return features[0] if features else None


def temporal_extent(coll: Collection, city: str) -> tuple[str | None, str | None]:
    key = city_key(city)
    if coll.layer == "incidents":
        now = time.time()
        return iso(floor_to(now - RETENTION_S, B)), iso(now)
    oldest, newest = _observation_range(coll.layer, key, int(time.time() // 60))
    return iso(oldest), iso(None if newest is None else newest + (coll.step or B))


@lru_cache(maxsize=64)
def _observation_range(layer: str, city: str, _minute: int) -> tuple[int | None, int | None]:
    return open_data.observation_range(layer, city)


# --- incidents as public notices ------------------------------------------------------------------------

_key_lock = threading.Lock()
_key_cache: dict[str, Any] = {"key": None, "read": 0.0}


def _id_key() -> bytes:
    configured = load_public_settings().id_key
    if configured:
        return configured.encode()
    with _key_lock:
        if _key_cache["key"] is None or time.time() - _key_cache["read"] > 60:
            stored = open_data.public_id_key()
            _key_cache.update(key=stored.encode(), read=time.time())
        return _key_cache["key"]


def public_incident_id(row_id: int, reported_at: int, key: bytes | None = None) -> str:
    """`<reported epoch>-<keyed hash>`: stable, opaque, reveals nothing beyond the public report time."""
    digest = hmac.new(key or _id_key(), f"incident:{int(row_id)}".encode(), hashlib.sha256).hexdigest()
    return f"{int(reported_at)}-{digest[:16]}"


def _status(df: pd.DataFrame, at: float) -> np.ndarray:
    """The public status of each incident at `at` (never later than now: workflow times may be pre-drawn)."""

    def reached(column: str) -> np.ndarray:
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return values <= at

    return np.select(
        [reached("resolved_at"), reached("on_scene_at"), reached("dispatched_at")],
        ["resolved", "on_scene", "dispatched"],
        "new",
    )


def _selection(window: Window, now: float) -> dict[str, Any] | None:
    """How a datetime selects notices: open at an instant (default now), or reported in an interval."""
    oldest = int(now - RETENTION_S)
    if not window.given or window.instant:
        at = now if not window.given else window.start
        if at is None or at > now:
            return None
        return {"open_at": int(at), "oldest": oldest, "status_at": int(at)}
    end = min(window.end if window.end is not None else now, now)
    start = max(window.start if window.start is not None else 0, oldest)
    if start > end:
        return None
    return {"start": math.ceil(start), "end": int(end), "oldest": oldest, "status_at": int(end)}


def _notices(df: pd.DataFrame, status_at: int, key: bytes, simulated_city: bool) -> list[dict[str, Any]]:
    if not len(df):
        return []
    df = df.assign(
        status=_status(df, status_at),
        plon=df["lon"].astype(float).round(LOCATION_DECIMALS),
        plat=df["lat"].astype(float).round(LOCATION_DECIMALS),
    )
    return [_notice(r, key, simulated_city) for r in df.itertuples(index=False)]


def _notice(row: Any, key: bytes, simulated_city: bool) -> dict[str, Any]:
    kind = str(row.kind)
    status = str(row.status)
    pid = public_incident_id(row.id, row.reported_at, key)
    return {
        "type": "Feature",
        "id": pid,
        "geometry": {"type": "Point", "coordinates": [float(row.plon), float(row.plat)]},
        "properties": {
            "notice_id": pid,
            "type": kind,
            "type_en": INCIDENT_KINDS.get(kind, (kind, kind))[0],
            "type_zh": INCIDENT_KINDS.get(kind, (kind, kind))[1],
            "status": status,
            "status_en": STATUSES[status][0],
            "status_zh": STATUSES[status][1],
            "reported_at": iso(row.reported_at),
            "district": str(row.district or ""),
            "location_precision_m": LOCATION_PRECISION_M,
            "simulated": bool(row.simulated) or simulated_city,
        },
    }


def incident_items(
    city: str, bbox: Sequence[float] | None, window: Window, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of public notices and how many match: ordered by time reported."""
    key = city_key(city)
    selection = _selection(window, time.time())
    if selection is None:
        return [], 0
    status_at = selection.pop("status_at")
    matched = open_data.count_incidents(key, bbox=bbox, **selection)
    if offset >= matched:
        return [], matched
    page = open_data.incidents_page(key, bbox=bbox, offset=offset, limit=limit, **selection)
    return _notices(page, status_at, _id_key(), is_simulated(key)), matched


def incident_item(city: str, feature_id: str) -> dict[str, Any] | None:
    key = city_key(city)
    reported, _, digest = feature_id.partition("-")
    if not reported.isdigit() or len(digest) != 16:
        return None
    now = time.time()
    if int(reported) > now:
        return None
    df = open_data.incidents_reported_at(key, int(reported))
    id_key = _id_key()
    for k, row in enumerate(df.itertuples(index=False)):
        if hmac.compare_digest(public_incident_id(row.id, row.reported_at, id_key), feature_id):
            return _notices(df.iloc[k : k + 1], int(now), id_key, is_simulated(key))[0]
    return None


# --- the embeds' live values ------------------------------------------------------------------------------

EMBED_LAYERS = ("traffic", "parking", "air-quality", "incidents")


def quantised_now(refresh_seconds: int) -> int:
    """Now, floored to the refresh interval, so every viewer of a city shares one cached computation."""
    return int(time.time() // refresh_seconds * refresh_seconds)


def embed_values(city: str, layers: Iterable[str], at: int) -> dict[str, Any]:
    """Per-feature public values aligned with the public geometry (`i`), plus open incident notices."""
    key = city_key(city)
    layers = [layer for layer in EMBED_LAYERS if layer in set(layers)]
    out: dict[str, Any] = {"at": at, "newest": {}}
    sensors_needed = {"traffic", "parking", "air-quality"} & set(layers)
    values = access.live_values(key, at) if sensors_needed else {}
    if "traffic" in layers:
        v = values["traffic"]
        out["traffic"] = {"ci": v["ci"], "stale": v["stale"]}
        out["newest"]["traffic"] = v["kpi"]["newest"]
    if "parking" in layers:
        v = values["parking"]
        out["parking"] = {"free": v["free"], "occ": v["occ"], "stale": v["stale"]}
        out["newest"]["parking"] = v["kpi"]["newest"]
    if "air-quality" in layers:
        v = values["air_quality"]
        out["air_quality"] = {
            "aqi": [s["aqi"] for s in v["stations"]],
            "level": [s["level"] for s in v["stations"]],
            "primary": [s["primary"] for s in v["stations"]],
            "stale": v["stale"],
        }
        out["newest"]["air_quality"] = v["kpi"]["newest"]
    if "incidents" in layers:
        out["incidents"] = open_notices(key, at)
        newest = open_data.feed_state(key, "incidents")[1]
        out["newest"]["incidents"] = min(newest, at) if newest is not None else None
    return out


def open_notices(city: str, at: int) -> list[list[Any]]:
    """Open incidents at `at` as compact public rows: [id, type, status, lon, lat, reported]."""
    revision = open_data.feed_state(city, "incidents")[0]
    return _open_notices(city, at, revision)


@lru_cache(maxsize=32)
def _open_notices(city: str, at: int, _revision: int) -> list[list[Any]]:
    df = open_data.incidents_page(city, open_at=at, oldest=at - RETENTION_S)
    notices = _notices(df, at, _id_key(), False)
    return [
        [
            n["id"],
            n["properties"]["type"],
            n["properties"]["status"],
            *n["geometry"]["coordinates"],
            int(df["reported_at"].iloc[k]),
        ]
        for k, n in enumerate(notices)
    ]


def clear_caches() -> None:
    """Forget every cached public projection (tests; after a store rebuild)."""
    for cached in (_public_geometry, _sensors, _open_notices, _count_observations, _observation_range, _simulated):
        cached.cache_clear()
