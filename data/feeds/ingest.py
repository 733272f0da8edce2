"""Feeds in: CSV / JSON rows and FIWARE NGSI-v2 entities, validated row by row.

Every row is checked (required fields, types, units, ranges, known sensor, position inside the
city, time not in the future); valid rows are stored, rejected rows go to the quarantine table with
their raw payload and reason, and the whole batch is one transaction (data.store.write_ingest_batch).

CLI for backfills: ``python -m cli.ingest FILE --layer LAYER`` (CSV or JSON array).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import pandas as pd
import shapely
from shapely import points
from shapely.prepared import prep

from data import store
from data.config import load_settings
from data.feeds.errors import RowError
from data.feeds.ngsi import to_row
from data.geo.cities import CITIES, UnknownCityError, get_city
from data.geo.geography import city_outline, district_lookup
from data.rules.congestion import ROAD_CLASS_SPEC
from data.rules.parking import LOT_KINDS
from data.store.registry import SensorChanges

LAYERS = ("traffic", "parking", "air_quality", "incidents")
MAX_ID_CHARS = 64  # every id a feed sends is bounded before it is parsed
MAX_SOURCE_ID = 256  # a sensor's outside id (a URN), kept whole
MAX_LOCATION_CHARS = 100_000
MAX_LINE_POINTS = 2_000
MAX_CAPACITY = 100_000
MOVE_THRESHOLD_M = 50.0  # a known sensor reported further than this from its place is moved (audited)
# A new road segment's free-flow speed without a speed limit: its class's design speed (CJJ 37-2012,
# data/rules/congestion.py ROAD_CLASS_SPEC), secondary (50 km/h) when the row names none. A new car
# park's kind without one: commercial; its tariff without one: 0 (unknown).
DEFAULT_ROAD_CLASS = "secondary"
DEFAULT_LOT_KIND = "commercial"
# What a row that is not what it claims to be raises (lists where strings go, huge numbers, ...):
# the row goes to quarantine with the reason, never the batch.
MALFORMED = (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError, RecursionError)
FUTURE_SKEW_S = 120
MAX_AGE_S = 8 * 86400  # older than the store keeps
# Upper bounds well above anything measured in China's network, below sensor-fault values.
POLLUTANT_MAX = {"pm25": 1500.0, "pm10": 3000.0, "o3": 1200.0, "no2": 3000.0, "so2": 3000.0, "co": 150.0}
MAX_SPEED_KMH = 200.0
INCIDENT_KINDS = (
    "traffic_accident",
    "illegal_parking",
    "road_obstruction",
    "vehicle_breakdown",
    "abnormal_congestion",
    "pollution_exceedance",
    "manhole_cover",
    "gas_sensor",
)

CSV_COLUMNS = {
    "traffic": ("segment_id", "observed_at", "speed_kmh"),
    "parking": ("lot_id", "observed_at", "occupied", "arrivals?"),
    "air_quality": ("station", "observed_at", "pm25?", "pm10?", "o3?", "no2?", "so2?", "co?"),
    "incidents": ("ref", "kind", "severity", "lon", "lat", "reported_at", "city?"),
}


class BadPayload(ValueError):
    """The body as a whole cannot be read (400), with where it went wrong."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    registered: int = 0  # new sensors the batch named (registered now, or by a concurrent batch)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "new_sensors": self.registered,
        }


# --- parsing ------------------------------------------------------------------------------------


def parse_body(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """A JSON array of objects or CSV with a header row; BadPayload says where it is malformed."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadPayload(f"body is not UTF-8 (byte {exc.start})") from None
    if "csv" in content_type:
        return parse_csv(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadPayload(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError):  # nested too deep, or an integer of thousands of digits
        raise BadPayload("malformed JSON: nested too deep or a number too long") from None
    if not isinstance(data, list):
        raise BadPayload("expected a JSON array of objects")
    return data


def parse_csv(text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BadPayload("empty CSV: a header row is required") from None
    except csv.Error as exc:
        raise BadPayload(f"malformed CSV on line 1: {exc}") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or not all(header):
        raise BadPayload("CSV header has empty or repeated column names")
    rows = []
    try:
        for line_no, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(header):
                raise BadPayload(f"malformed CSV on line {line_no}: {len(values)} fields, header has {len(header)}")
            rows.append({k: (v.strip() if v.strip() != "" else None) for k, v in zip(header, values, strict=True)})
    except csv.Error as exc:
        raise BadPayload(f"malformed CSV on line {reader.line_num}: {exc}") from None
    return rows


# --- value checks ---------------------------------------------------------------------------------


def _number(row: Mapping[str, Any], key: str, required: bool = True) -> float | None:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise RowError(f"missing {key}")
        return None
    if isinstance(value, bool):
        raise RowError(f"{key} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RowError(f"{key} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise RowError(f"{key} must be finite")
    return number


def _integer(row: Mapping[str, Any], key: str, required: bool = True) -> int | None:
    number = _number(row, key, required)
    if number is None:
        return None
    if number != int(number):
        raise RowError(f"{key} must be a whole number")
    return int(number)


def parse_time(value: Any, key: str = "observed_at") -> int:
    """Epoch seconds from an ISO 8601 string (offset required, or Z) or a number of epoch seconds."""
    if value is None or value == "":
        raise RowError(f"missing {key}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > 1e11:
            raise RowError(f"{key} must be epoch seconds")
        return int(value)
    text = _bounded(value, key)
    if "/" in text:  # an ISO 8601 interval: the observation is attributed to its end
        text = text.split("/")[-1]
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return int(float(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"{key} is not an ISO 8601 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise RowError(f"{key} needs a time zone (e.g. Z or +08:00)")
    return int(moment.timestamp())


def utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _check_time(t: int, now: float, key: str = "observed_at") -> int:
    if t > now + FUTURE_SKEW_S:
        raise RowError(f"{key} is in the future ({int(t - now)} s ahead)")
    if t < now - MAX_AGE_S:
        raise RowError(f"{key} is older than the {MAX_AGE_S // 86400} days the store keeps")
    return t


# --- sensor catalogue ---------------------------------------------------------------------------


class Known(NamedTuple):
    """A stored sensor, found by the whole id its source gives it (immutable: the catalogue is shared)."""

    id: int
    city: str
    capacity: int | None = None
    lon: float | None = None
    lat: float | None = None
    retired: bool = False
    coords: str | None = None  # a road segment's line (GeoJSON coordinates as JSON text)


@dataclass(frozen=True)
class Catalogue:
    sensors: dict[str, dict[str, Known]]  # layer -> source_id -> sensor


@lru_cache(maxsize=4)
def _catalogue(version: str) -> Catalogue:
    engine = store.get_engine()
    found: dict[str, dict[str, Known]] = {"traffic": {}, "parking": {}, "air_quality": {}}
    for key in CITIES:
        for layer in found:
            frame = store.sensors(engine, layer, key, include_retired=True, all_sources=True)
            for r in frame.itertuples(index=False):
                found[layer][str(r.source_id)] = Known(
                    id=int(r.id),
                    city=key,
                    capacity=int(r.capacity) if layer == "parking" else None,
                    lon=float(r.lon) if layer != "traffic" else None,
                    lat=float(r.lat) if layer != "traffic" else None,
                    retired=r.retired_at is not None and not pd.isna(r.retired_at),
                    coords=str(r.coords) if layer == "traffic" else None,
                )
    return Catalogue(found)


def catalogue() -> Catalogue:
    engine = store.get_engine()
    version = ",".join(store.get_meta(engine, f"static_rev:{c}") or "0" for c in CITIES)
    return _catalogue(version)


@lru_cache(maxsize=8)
def _prepared_outline(city: str):
    return prep(city_outline(city).buffer(0.01))  # ~1 km tolerance at the edge


def city_of_point(lon: float, lat: float) -> str | None:
    point = points(lon, lat)
    return next((key for key in CITIES if _prepared_outline(key).contains(point)), None)


# --- new sensors ------------------------------------------------------------------------------------


class Batch:
    """The sensors one batch registers and moves, at most `limit` new ones (INGEST_MAX_NEW_SENSORS)."""

    def __init__(self, cat: Catalogue, limit: int) -> None:
        self.cat = cat
        self.limit = limit
        self.changes = SensorChanges()

    def find(self, layer: str, source_id: str) -> Known | None:
        known = self.cat.sensors[layer].get(source_id)
        if known is not None and known.retired:
            raise RowError(f"sensor {source_id[:80]!r} is retired")
        return known

    def pending(self, layer: str, source_id: str) -> dict[str, Any] | None:
        return self.changes.new.get(layer, {}).get(source_id)

    def add(self, layer: str, source_id: str, row: dict[str, Any]) -> None:
        rows = self.changes.new.setdefault(layer, {})
        if source_id not in rows and self.changes.count_new() >= self.limit:
            raise RowError(f"more than INGEST_MAX_NEW_SENSORS ({self.limit}) new sensors in one batch")
        rows.setdefault(source_id, row)

    def maybe_move(self, layer: str, known: Known, location: Mapping[str, Any]) -> None:
        """A known sensor reported more than MOVE_THRESHOLD_M from its place moves there (audited): a
        station or car park by its Point, a road segment by its LineString (line_distance_m). The new
        place must lie in the sensor's city; other geometry types leave the place as it is."""
        kind = location.get("type")
        if layer == "traffic" and kind == "LineString" and known.coords:
            line = _line(location)
            if line_distance_m(json.loads(known.coords), line) > MOVE_THRESHOLD_M:
                _in_city(known.city, *line[len(line) // 2])
                self.changes.moves[(layer, known.id)] = _line_columns(line)
        elif layer != "traffic" and kind == "Point" and known.lon is not None and known.lat is not None:
            lon, lat = _lonlat(location.get("coordinates"))
            if distance_m(known.lon, known.lat, lon, lat) > MOVE_THRESHOLD_M:
                _in_city(known.city, lon, lat)
                self.changes.moves[(layer, known.id)] = {"lon": lon, "lat": lat}


def _in_city(city: str, lon: float, lat: float) -> None:
    if city_of_point(lon, lat) != city:
        raise RowError(f"position ({lon:g}, {lat:g}) is outside {city}, the sensor's city")


EARTH_RADIUS_M = 6_371_000


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def line_distance_m(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """How far apart two lines ([lon, lat] positions) are, metres: their Hausdorff distance, the
    greatest distance from a point of either line to the other line (GEOS's discrete Hausdorff
    distance, each segment densified into quarters), on an equirectangular projection at their
    mean latitude (exact enough over a city: under 0.1 % at these spans)."""
    lat0 = math.radians((sum(p[1] for p in a) / len(a) + sum(p[1] for p in b) / len(b)) / 2)
    scale_x, scale_y = EARTH_RADIUS_M * math.cos(lat0) * math.pi / 180, EARTH_RADIUS_M * math.pi / 180
    ab = [shapely.LineString([(p[0] * scale_x, p[1] * scale_y) for p in line]) for line in (a, b)]
    return float(shapely.hausdorff_distance(ab[0], ab[1], densify=0.25))


def _sensor_id(row: Mapping[str, Any], key: str) -> str:
    """The source's id of a sensor, whole: text (or a number, as written) of 1..MAX_SOURCE_ID characters."""
    value = row.get(key)
    if value is None or value == "":
        raise RowError(f"missing {key}")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(f"{key} must be text")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_SOURCE_ID:
            raise RowError(f"{key} is longer than {MAX_SOURCE_ID} characters")
        return str(value)
    text = value.strip()
    if not text or len(text) > MAX_SOURCE_ID:
        raise RowError(f"{key} must be text of 1 to {MAX_SOURCE_ID} characters")
    return text


def _location(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A GeoJSON geometry from `location` (an object, or its JSON text in a CSV cell), else a Point
    from `lon`/`lat`; None when the row carries no place."""
    location = row.get("location")
    if isinstance(location, str):
        if len(location) > MAX_LOCATION_CHARS:
            raise RowError(f"location is longer than {MAX_LOCATION_CHARS} characters")
        try:
            location = json.loads(location)
        except (ValueError, RecursionError):
            raise RowError("location is not GeoJSON") from None
    if location is None:
        if row.get("lon") in (None, "") and row.get("lat") in (None, ""):
            return None
        return {"type": "Point", "coordinates": [_number(row, "lon"), _number(row, "lat")]}
    if not isinstance(location, Mapping) or not isinstance(location.get("type"), str):
        raise RowError("location must be a GeoJSON geometry")
    return dict(location)


def _lonlat(pair: Any) -> tuple[float, float]:
    if not isinstance(pair, (list, tuple)) or len(pair) < 2:
        raise RowError("location: a position must be [lon, lat]")
    lon, lat = _number({"lon": pair[0]}, "lon"), _number({"lat": pair[1]}, "lat")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise RowError(f"location ({lon:g}, {lat:g}) is not a WGS84 lon/lat position")
    return lon, lat


def _point_in_city(location: Mapping[str, Any], what: str) -> tuple[str, float, float]:
    if location.get("type") != "Point":
        raise RowError(f"{what} needs a Point location, got {str(location.get('type'))[:20]}")
    lon, lat = _lonlat(location.get("coordinates"))
    city = city_of_point(lon, lat)
    if city is None:
        raise RowError(f"position ({lon:g}, {lat:g}) is outside the six cities")
    return city, lon, lat


def _name(row: Mapping[str, Any], source_id: str) -> str:
    for key in ("name", "address"):
        value = row.get(key)
        if isinstance(value, Mapping):  # a Smart Data Models PostalAddress
            value = ", ".join(str(value[k]) for k in ("streetAddress", "addressLocality") if value.get(k))
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return source_id[:200]


def _new_station(row: Mapping[str, Any], source_id: str, location: Mapping[str, Any] | None) -> tuple[str, dict]:
    if location is None:
        raise RowError(f"unknown air-quality station {source_id[:80]!r} and no location (a Point) to register it")
    city, lon, lat = _point_in_city(location, "a new air-quality station")
    name = _name(row, source_id)
    code = source_id.rsplit(":", 1)[-1][-16:]
    return city, {
        "city": city,
        "code": code,
        "name_zh": name,
        "name_en": name,
        "lon": lon,
        "lat": lat,
        "simulated": False,
    }


def _new_lot(row: Mapping[str, Any], source_id: str, location: Mapping[str, Any] | None) -> tuple[str, dict]:
    if location is None:
        raise RowError(f"unknown car park {source_id[:80]!r} and no location (a Point) to register it")
    capacity = _integer(row, "capacity", required=False)
    if capacity is None:
        raise RowError(f"unknown car park {source_id[:80]!r} and no capacity (totalSpotNumber) to register it")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise RowError(f"capacity {capacity} outside 1..{MAX_CAPACITY}")
    city, lon, lat = _point_in_city(location, "a new car park")
    kind = row.get("kind") if row.get("kind") in LOT_KINDS else DEFAULT_LOT_KIND
    tariff = _number(row, "tariff_cny_h", required=False)
    return city, {
        "city": city,
        "name": _name(row, source_id),
        "kind": kind,
        "district": _district_of(city, lon, lat),
        "capacity": capacity,
        "tariff_cny_h": 0.0 if tariff is None or not 0 <= tariff <= 1000 else tariff,
        "lon": lon,
        "lat": lat,
        "simulated": False,
    }


def _line(location: Mapping[str, Any]) -> list[tuple[float, float]]:
    """A LineString location's positions, checked (2 to MAX_LINE_POINTS WGS84 positions)."""
    coords = location.get("coordinates")
    if not isinstance(coords, list) or not 2 <= len(coords) <= MAX_LINE_POINTS:
        raise RowError(f"location: a LineString of 2 to {MAX_LINE_POINTS} positions")
    return [_lonlat(p) for p in coords]


def _line_columns(line: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """A road segment's stored line and length."""
    return {
        "coords": json.dumps([[round(x, 6), round(y, 6)] for x, y in line]),
        "length_m": round(sum(distance_m(*a, *b) for a, b in itertools.pairwise(line)), 1),
    }


def _new_segment(row: Mapping[str, Any], source_id: str, location: Mapping[str, Any] | None) -> tuple[str, dict]:
    if location is None:
        raise RowError(f"unknown road segment {source_id[:80]!r} and no location (a LineString) to register it")
    if location.get("type") != "LineString":
        raise RowError(f"a new road segment needs a LineString location, got {str(location.get('type'))[:20]}")
    line = _line(location)
    mid_lon, mid_lat = line[len(line) // 2]
    city = city_of_point(mid_lon, mid_lat)
    if city is None:
        raise RowError(f"position ({mid_lon:g}, {mid_lat:g}) is outside the six cities")
    road_class = row.get("road_class") if row.get("road_class") in ROAD_CLASS_SPEC else DEFAULT_ROAD_CLASS
    default_speed, lanes = ROAD_CLASS_SPEC[road_class]
    limit = _number(row, "speed_limit_kmh", required=False)
    if limit is not None and not 0 < limit <= MAX_SPEED_KMH:
        raise RowError(f"speed_limit_kmh {limit:g} outside (0, {MAX_SPEED_KMH:g}]")
    return city, {
        "city": city,
        "name": _name(row, source_id),
        "road_class": road_class,
        "lanes": lanes,
        "free_flow_kmh": limit or default_speed,
        "district": _district_of(city, mid_lon, mid_lat),
        "synthetic": False,
        **_line_columns(line),
    }


# --- row validation per layer -------------------------------------------------------------------


def _bounded(value: Any, key: str) -> str:
    """A client's id or time as text, refused beyond MAX_ID_CHARS before any parsing."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**MAX_ID_CHARS:
        return str(value)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise RowError(f"{key} must be text or a number")
    text = value.strip() if isinstance(value, str) else repr(value)
    if len(text) > MAX_ID_CHARS:
        raise RowError(f"{key} is longer than {MAX_ID_CHARS} characters")
    return text


def _sensor(
    batch: Batch, layer: str, row: Mapping[str, Any], key: str, make: Callable, *refs: str
) -> tuple[str, int | None, str, dict | None]:
    """(city, key or None while new, source id, new sensor row or None) of the row's sensor: matched
    by its whole id (or a whole reference id in `refs`), else registered from the row's place."""
    source_id = _sensor_id(row, key)
    location = _location(row)
    references = [row[r].strip() for r in refs if isinstance(row.get(r), str) and len(row[r]) <= MAX_SOURCE_ID]
    for candidate in (source_id, *references):
        known = batch.find(layer, candidate)
        if known is not None:
            if location is not None and candidate == source_id:  # (a row joining a segment by reference
                batch.maybe_move(layer, known, location)  # reports its own place, not the segment's)
            return known.city, known.id, candidate, None
        pending = batch.pending(layer, candidate)
        if pending is not None:
            return pending["city"], None, candidate, pending
    city, new = make(row, source_id, location)
    return city, None, source_id, new


def _keyed(clean: dict, column: str, sensor_id: int | None, source_id: str) -> dict:
    """A clean row naming its sensor by key, or by source id while the sensor is being registered."""
    clean[column] = sensor_id
    if sensor_id is None:
        clean["_source_id"] = source_id
    return clean


def validate_traffic(row: Mapping[str, Any], batch: Batch, now: float) -> tuple[str, dict]:
    city, sensor_id, source_id, new = _sensor(batch, "traffic", row, "segment_id", _new_segment, "ref_segment")
    speed = _number(row, "speed_kmh")
    if not 0 < speed <= MAX_SPEED_KMH:
        raise RowError(f"speed_kmh {speed:g} outside (0, {MAX_SPEED_KMH:g}]")
    t = _check_time(parse_time(row.get("observed_at")), now)
    if new is not None:
        batch.add("traffic", source_id, new)
    clean = {"bucket": store.bucket_of(t), "speed_kmh": speed, "observed_at": t}
    return city, _keyed(clean, "segment_id", sensor_id, source_id)


def validate_parking(row: Mapping[str, Any], batch: Batch, now: float) -> tuple[str, dict]:
    if row.get("spot_id") is not None:
        return _validate_spot(row, batch, now)
    city, sensor_id, source_id, new = _sensor(batch, "parking", row, "lot_id", _new_lot)
    capacity = new["capacity"] if new is not None else batch.cat.sensors["parking"][source_id].capacity
    occupied = _integer(row, "occupied")
    if not 0 <= occupied <= capacity:
        raise RowError(f"occupied {occupied} outside 0..{capacity} (the car park's capacity)")
    arrivals = _integer(row, "arrivals", required=False) or 0
    if arrivals < 0:
        raise RowError("arrivals cannot be negative")
    t = _check_time(parse_time(row.get("observed_at")), now)
    if new is not None:
        batch.add("parking", source_id, new)
    clean = {"bucket": store.bucket_of(t), "occupied": occupied, "arrivals": arrivals, "observed_at": t}
    return city, _keyed(clean, "lot_id", sensor_id, source_id)


def _validate_spot(row: Mapping[str, Any], batch: Batch, now: float) -> tuple[str, dict]:
    """A ParkingSpot: its state counts into the site it names (refParkingSite), which must be known."""
    spot = _sensor_id(row, "spot_id")
    site = _sensor_id(row, "lot_id")
    known = batch.find("parking", site)
    pending = batch.pending("parking", site)
    if known is None and pending is None:
        raise RowError(f"parking spot's site {site[:80]!r} is not a known car park (send its OffStreetParking first)")
    status = row.get("status")
    if status not in ("occupied", "free"):
        raise RowError(f"parking spot status must be occupied or free, got {str(status)[:20]!r}")
    t = _check_time(parse_time(row.get("observed_at")), now)
    city = known.city if known is not None else pending["city"]
    spot_row = {"source_id": spot, "lot_source_id": site, "occupied": status == "occupied", "observed_at": t}
    return city, {"_spot": spot_row}


def validate_air_quality(row: Mapping[str, Any], batch: Batch, now: float) -> tuple[str, dict]:
    city, sensor_id, source_id, new = _sensor(batch, "air_quality", row, "station", _new_station)
    values = {}
    for pollutant, upper in POLLUTANT_MAX.items():
        v = _number(row, pollutant, required=False)
        if v is not None and not 0 <= v <= upper:
            unit = "mg/m³" if pollutant == "co" else "µg/m³"
            raise RowError(f"{pollutant} {v:g} outside 0..{upper:g} {unit}")
        values[pollutant] = v
    if all(v is None for v in values.values()):
        raise RowError("no pollutant value (pm25, pm10, o3, no2, so2, co)")
    t = _check_time(parse_time(row.get("observed_at")), now)
    if new is not None:
        batch.add("air_quality", source_id, new)
    clean = {"bucket": t // 3600 * 3600, **values, "observed_at": t}
    return city, _keyed(clean, "station_id", sensor_id, source_id)


@lru_cache(maxsize=8)
def _district_lookup(city: str) -> Callable:
    return district_lookup(get_city(city))


def _district_of(city: str, lon: float, lat: float) -> str:
    """The district an event lies in (from the shipped outlines), so operators can sort by it."""
    import numpy as np

    return _district_lookup(city)(np.array([lon]), np.array([lat]))[0]


def validate_incident(row: Mapping[str, Any], batch: Batch, now: float) -> tuple[str, dict]:
    ref = _bounded(row.get("ref") or "", "ref")
    if not ref:
        raise RowError("ref (the source's id) is required, at most 64 characters")
    kind = row.get("kind")
    if not isinstance(kind, str) or kind not in INCIDENT_KINDS:
        raise RowError(f"unknown incident kind {str(kind)[:40]!r}")
    severity = _integer(row, "severity")
    if not 1 <= severity <= 4:
        raise RowError("severity must be 1..4")
    lon, lat = _number(row, "lon"), _number(row, "lat")
    city = city_of_point(lon, lat)
    if row.get("city"):
        try:
            claimed = get_city(str(row["city"])).key
        except UnknownCityError:
            raise RowError(f"unknown city {str(row['city'])[:40]!r}") from None
        if city != claimed:
            raise RowError(f"position ({lon:g}, {lat:g}) is outside {claimed}")
    if city is None:
        raise RowError(f"position ({lon:g}, {lat:g}) is outside the six cities")
    t = _check_time(parse_time(row.get("reported_at"), "reported_at"), now, "reported_at")
    return city, {
        "ref": ref,
        "city": city,
        "kind": kind,
        "severity": severity,
        "lon": lon,
        "lat": lat,
        "district": _district_of(city, lon, lat),
        "reported_at": t,
        "dispatched_at": None,
        "on_scene_at": None,
        "resolved_at": None,
        "source": "feed",
        "simulated": False,
        "crew": "operator",  # a reported event waits for an operator to take it
    }


VALIDATORS: dict[str, Callable[[Mapping[str, Any], Batch, float], tuple[str, dict]]] = {
    "traffic": validate_traffic,
    "parking": validate_parking,
    "air_quality": validate_air_quality,
    "incidents": validate_incident,
}


def _row_id(row: Any) -> str:
    if isinstance(row, Mapping):
        for key in ("id", "ref", "segment_id", "lot_id", "station"):
            value = row.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return _safe_text(value if isinstance(value, str) else _bounded_repr(value))[:120]
    return ""


def _bounded_repr(value: int | float) -> str:
    return repr(value) if not isinstance(value, int) or abs(value) < 10**120 else "<integer too long>"


def _safe_text(text: str) -> str:
    """The text as is when it is valid Unicode, else with the lone surrogates escaped."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _escaped(value: Any) -> str:
    """JSON text with every non-ASCII character escaped: lone surrogates and all are stored safely."""
    try:
        return json.dumps(value, ensure_ascii=True, default=str)
    except MALFORMED:
        return json.dumps(repr(type(value)))


def _check_text(row: Mapping[str, Any]) -> None:
    """A row the store could not write (lone surrogates) or that nests without end is refused whole."""
    try:
        json.dumps(row, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise RowError("text is not valid Unicode (a lone surrogate)") from None
    except MALFORMED:
        raise RowError("row is nested too deep or holds a number too long") from None


def ingest_rows(layer: str, rows: Iterable[Any], source: str, now: float | None = None) -> IngestResult:
    """Validate and store rows of one layer as one transaction."""
    if layer not in VALIDATORS:
        raise BadPayload(f"unknown layer {layer!r}: one of {', '.join(LAYERS)}")
    return ingest_items([(layer, row, row) for row in rows], source, now)


def ingest_items(
    items: list[tuple[str | None, Any, Any]],
    source: str,
    now: float | None = None,
    reason_for: Mapping[int, str] | None = None,
) -> IngestResult:
    """Validate and store (layer, row, raw) items as one transaction.

    `raw` is what quarantine keeps; an item whose layer is None was already refused upstream with
    the reason in `reason_for[index]`.
    """
    now = time.time() if now is None else now
    batch = Batch(catalogue(), load_settings().ingest_max_new_sensors)
    parts: dict[str, dict[str, list[dict]]] = {}
    quarantine: dict[str, list[dict]] = {}
    result = IngestResult()
    for index, (layer, row, raw) in enumerate(items):
        try:
            if layer is None:
                raise RowError((reason_for or {}).get(index, "unusable row"))
            if not isinstance(row, Mapping):
                raise RowError("row is not an object")
            _check_text(row)
            city, clean = VALIDATORS[layer](row, batch, now)
        except (RowError, *MALFORMED) as exc:
            reason = str(exc) if isinstance(exc, RowError) else f"malformed row ({type(exc).__name__})"
            entry = {"index": index, "id": _row_id(raw), "reason": reason}
            result.rejected.append(entry)
            quarantine.setdefault(layer or "unknown", []).append(
                {
                    "row_index": index,
                    "entity_id": entry["id"],
                    "reason": entry["reason"],
                    "raw": _escaped(raw)[:10_000],
                }
            )
            continue
        if "_spot" in clean:
            batch.changes.spots.append(clean["_spot"])
            continue
        parts.setdefault(layer, {}).setdefault(city, []).append(clean)
    counts = store.write_ingest_batch(store.get_engine(), source, parts, quarantine, int(now), batch.changes)
    result.registered = batch.changes.count_new()
    result.accepted = sum(a for a, _ in counts.values())
    result.duplicates = sum(d for _, d in counts.values())
    return result


def ingest_ngsi(entities: list[Any], now: float | None = None) -> IngestResult:
    """An Orion notification's `data`: entities of any supported type, one transaction."""

    items: list[tuple[str | None, Any, Any]] = []
    reasons: dict[int, str] = {}
    for index, entity in enumerate(entities):
        try:
            layer, row = to_row(entity)
            items.append((layer, row, entity))
        except (RowError, *MALFORMED) as exc:
            reasons[index] = str(exc) if isinstance(exc, RowError) else f"malformed entity ({type(exc).__name__})"
            items.append((None, None, entity))
    return ingest_items(items, "ngsi", now, reasons)
