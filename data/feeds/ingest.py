"""Feeds in: CSV / JSON rows and FIWARE NGSI-v2 entities, validated row by row.

Every row is checked (required fields, types, units, ranges, known sensor, position inside the
city, time not in the future); valid rows are stored, rejected rows go to the quarantine table with
their raw payload and reason, and the whole batch is one transaction (data.store.write_ingest_batch).

CLI for backfills: ``python -m cli.ingest FILE --layer LAYER`` (CSV or JSON array).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shapely import points
from shapely.prepared import prep

from data import store
from data.feeds.errors import RowError
from data.feeds.ngsi import to_row
from data.geo.cities import CITIES, UnknownCityError, get_city
from data.geo.geography import city_outline, district_lookup

LAYERS = ("traffic", "parking", "air_quality", "incidents")
MAX_ID_CHARS = 64  # every id a feed sends is bounded before it is parsed
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

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


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


@dataclass(frozen=True)
class Catalogue:
    segments: dict[int, str]  # id -> city
    lots: dict[int, tuple[str, int]]  # id -> (city, capacity)
    stations: dict[str, tuple[str, int]]  # code or id (as text) -> (city, id)


@lru_cache(maxsize=4)
def _catalogue(version: str) -> Catalogue:
    engine = store.get_engine()
    segments, lots, stations = {}, {}, {}
    for key in CITIES:
        for r in store.sensors(engine, "traffic", key)[["id"]].itertuples(index=False):
            segments[int(r.id)] = key
        for r in store.sensors(engine, "parking", key)[["id", "capacity"]].itertuples(index=False):
            lots[int(r.id)] = (key, int(r.capacity))
        for r in store.sensors(engine, "air_quality", key)[["id", "code"]].itertuples(index=False):
            stations[str(r.code)] = (key, int(r.id))
            stations[str(r.id)] = (key, int(r.id))
    return Catalogue(segments, lots, stations)


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


def _trailing_int(value: Any, key: str) -> int:
    text = _bounded("" if value is None else value, key)
    digits = len(text) - len(text.rstrip("0123456789"))
    if not digits:
        raise RowError(f"{key} must end in a numeric sensor id, got {text!r}")
    return int(text[-digits:])


def validate_traffic(row: Mapping[str, Any], cat: Catalogue, now: float) -> tuple[str, dict]:
    segment = _trailing_int(row.get("segment_id"), "segment_id")
    if segment not in cat.segments:
        raise RowError(f"unknown road segment {segment}")
    speed = _number(row, "speed_kmh")
    if not 0 < speed <= MAX_SPEED_KMH:
        raise RowError(f"speed_kmh {speed:g} outside (0, {MAX_SPEED_KMH:g}]")
    t = _check_time(parse_time(row.get("observed_at")), now)
    return cat.segments[segment], {
        "bucket": store.bucket_of(t),
        "segment_id": segment,
        "speed_kmh": speed,
        "observed_at": t,
    }


def validate_parking(row: Mapping[str, Any], cat: Catalogue, now: float) -> tuple[str, dict]:
    lot = _trailing_int(row.get("lot_id"), "lot_id")
    if lot not in cat.lots:
        raise RowError(f"unknown car park {lot}")
    city, capacity = cat.lots[lot]
    occupied = _integer(row, "occupied")
    if not 0 <= occupied <= capacity:
        raise RowError(f"occupied {occupied} outside 0..{capacity} (the car park's capacity)")
    arrivals = _integer(row, "arrivals", required=False) or 0
    if arrivals < 0:
        raise RowError("arrivals cannot be negative")
    t = _check_time(parse_time(row.get("observed_at")), now)
    return city, {
        "bucket": store.bucket_of(t),
        "lot_id": lot,
        "occupied": occupied,
        "arrivals": arrivals,
        "observed_at": t,
    }


def validate_air_quality(row: Mapping[str, Any], cat: Catalogue, now: float) -> tuple[str, dict]:
    code = _bounded(row.get("station") or "", "station")
    if code not in cat.stations:
        raise RowError(f"unknown air-quality station {code[:40]!r}")
    city, station_id = cat.stations[code]
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
    return city, {"bucket": t // 3600 * 3600, "station_id": station_id, **values, "observed_at": t}


@lru_cache(maxsize=8)
def _district_lookup(city: str) -> Callable:
    return district_lookup(get_city(city))


def _district_of(city: str, lon: float, lat: float) -> str:
    """The district an event lies in (from the shipped outlines), so operators can sort by it."""
    import numpy as np

    return _district_lookup(city)(np.array([lon]), np.array([lat]))[0]


def validate_incident(row: Mapping[str, Any], cat: Catalogue, now: float) -> tuple[str, dict]:
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


VALIDATORS: dict[str, Callable[[Mapping[str, Any], Catalogue, float], tuple[str, dict]]] = {
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
    cat = catalogue()
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
            city, clean = VALIDATORS[layer](row, cat, now)
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
        parts.setdefault(layer, {}).setdefault(city, []).append(clean)
    counts = store.write_ingest_batch(store.get_engine(), source, parts, quarantine, int(now))
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
