"""FIWARE NGSI-v2 entities (Smart Data Models) to our canonical rows.

Both attribute formats are read: `normalized` ({"attr": {"type": ..., "value": ..., "metadata": ...}})
and `keyValues` ({"attr": value}). A sensor is the entity's id, whole (never digits parsed out of
it); an id not known yet registers a new sensor when the entity says where it is (data.feeds.ingest).

- TrafficFlowObserved: the id, else `refRoadSegment` naming a stored segment (e.g. one imported);
  `averageVehicleSpeed` km/h, `dateObserved`; to register: a LineString `location`, and
  `maximumAllowedSpeed` as the free-flow speed when given.
- OffStreetParking: `occupiedSpotNumber`, or `totalSpotNumber` minus `availableSpotNumber`;
  `vehicleEntranceCount` (optional) as arrivals; `dateObserved`/`dateModified`; to register: a Point
  `location` and `totalSpotNumber`.
- ParkingSpot: `status` (occupied / free) of one spot, counted into the car park `refParkingSite`
  names (a site's occupancy = its spots occupied).
- AirQualityObserved: `pm25`, `pm10`, `o3`, `no2`, `so2` in µg/m³ and `co` in mg/m³ (China's
  reporting unit). In normalized form the `unitCode` metadata is honoured: GQ = µg/m³, GP = mg/m³;
  other units are rejected. To register: a Point `location`; name from `name` or `address`.
- Alert: becomes an incident; `subCategory` gives the kind, `severity` the level, `dateIssued` the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from data.feeds.errors import RowError

SEVERITY = {"informational": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
ALERT_KINDS = {
    "carAccident": "traffic_accident",
    "trafficJam": "abnormal_congestion",
    "carStopped": "vehicle_breakdown",
    "hazardOnRoad": "road_obstruction",
    "roadClosed": "road_obstruction",
    "roadWorks": "road_obstruction",
    "pothole": "road_obstruction",
    "airPollution": "pollution_exceedance",
    # Project extensions for kinds the report's City Brain perceives but Smart Data Models lacks:
    "illegalParking": "illegal_parking",
    "manholeCover": "manhole_cover",
    "gasLeak": "gas_sensor",
}
LAYER_OF_TYPE = {
    "TrafficFlowObserved": "traffic",
    "OffStreetParking": "parking",
    "ParkingSpot": "parking",
    "AirQualityObserved": "air_quality",
    "Alert": "incidents",
}
UNIT_FACTOR = {"GQ": 1.0, "GP": 1000.0}  # to µg/m³
MAX_ENTITY_ID = 256  # URNs such as urn:ngsi-ld:AirQualityObserved:hangzhou:1234 are far shorter
POLLUTANTS = ("pm25", "pm10", "o3", "no2", "so2", "co")
# Per sensor type: the row's key for the entity's id, the attributes read as they are (row key: attribute),
# and the attributes that may give the observation's time, first present wins.
SENSOR_KEY = {"TrafficFlowObserved": "segment_id", "ParkingSpot": "spot_id", "OffStreetParking": "lot_id",
              "AirQualityObserved": "station"}  # fmt: skip
ATTRIBUTES = {
    "TrafficFlowObserved": {
        "ref_segment": "refRoadSegment",
        "speed_kmh": "averageVehicleSpeed",
        "speed_limit_kmh": "maximumAllowedSpeed",
    },
    "ParkingSpot": {"lot_id": "refParkingSite", "status": "status"},
    "OffStreetParking": {"capacity": "totalSpotNumber", "arrivals": "vehicleEntranceCount"},
    "AirQualityObserved": {},
}
_PARKING_TIMES = ("dateObserved", "observationDateTime", "dateModified", "TimeInstant")
OBSERVED_AT = {
    "TrafficFlowObserved": ("dateObserved", "dateObservedTo", "TimeInstant"),
    "ParkingSpot": _PARKING_TIMES,
    "OffStreetParking": _PARKING_TIMES,
    "AirQualityObserved": ("dateObserved", "TimeInstant"),
}


def _attr(entity: Mapping[str, Any], name: str) -> Any:
    value = entity.get(name)
    if isinstance(value, Mapping) and "value" in value and "type" in value:
        return value["value"]
    return value


def _unit(entity: Mapping[str, Any], name: str) -> str | None:
    value = entity.get(name)
    if isinstance(value, Mapping):
        meta = value.get("metadata") or {}
        if not isinstance(meta, Mapping):
            raise RowError(f"{name}: metadata must be an object")
        code = meta.get("unitCode")
        return code.get("value") if isinstance(code, Mapping) else code
    return None


def _time(entity: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = _attr(entity, name)
        if value not in (None, ""):
            return value
    return None


def _point(entity: Mapping[str, Any]) -> tuple[Any, Any]:
    location = _attr(entity, "location")
    if not isinstance(location, Mapping) or location.get("type") != "Point":
        raise RowError("location must be a GeoJSON Point")
    coords = location.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise RowError("location has no coordinates")
    return coords[0], coords[1]


def _status_time(entity: Mapping[str, Any]) -> Any:
    """A ParkingSpot's `status.metadata.timestamp` (normalized form), when it has one."""
    status = entity.get("status")
    meta = status.get("metadata") if isinstance(status, Mapping) else None
    stamp = meta.get("timestamp") if isinstance(meta, Mapping) else None
    return stamp.get("value") if isinstance(stamp, Mapping) else stamp


def to_row(entity: Any) -> tuple[str, dict[str, Any]]:
    """(layer, canonical row) for one entity; RowError for an unusable one."""
    if not isinstance(entity, Mapping):
        raise RowError("entity is not an object")
    kind = entity.get("type")
    if not isinstance(kind, str) or kind not in LAYER_OF_TYPE:
        raise RowError(f"unsupported entity type {str(kind)[:40]!r}")
    entity_id = entity.get("id") or ""
    if not isinstance(entity_id, str) or not entity_id or len(entity_id) > MAX_ENTITY_ID:
        raise RowError(f"entity id must be text of 1 to {MAX_ENTITY_ID} characters")
    if kind == "Alert":
        return "incidents", _alert(entity, entity_id)
    row = {"id": entity_id, SENSOR_KEY[kind]: entity_id}
    row |= {key: _attr(entity, name) for key, name in ATTRIBUTES[kind].items()}
    row["observed_at"] = _time(entity, *OBSERVED_AT[kind])
    if kind == "ParkingSpot":
        row["observed_at"] = row["observed_at"] or _status_time(entity)
        return "parking", row
    row |= {key: _attr(entity, key) for key in ("location", "name", "address")}  # to register a new sensor
    if kind == "OffStreetParking":
        row["occupied"] = _occupied(entity, row["capacity"])
    if kind == "AirQualityObserved":
        row |= {pollutant: _concentration(entity, pollutant) for pollutant in POLLUTANTS}
    return LAYER_OF_TYPE[kind], row


def _occupied(entity: Mapping[str, Any], total: Any) -> Any:
    """`occupiedSpotNumber`, else `totalSpotNumber` minus `availableSpotNumber`."""
    occupied = _attr(entity, "occupiedSpotNumber")
    if occupied is not None:
        return occupied
    available = _attr(entity, "availableSpotNumber")
    if total is None or available is None:
        raise RowError("needs occupiedSpotNumber, or totalSpotNumber and availableSpotNumber")
    try:
        return float(total) - float(available)
    except (TypeError, ValueError):
        raise RowError("totalSpotNumber and availableSpotNumber must be numbers") from None


def _concentration(entity: Mapping[str, Any], pollutant: str) -> Any:
    """The value in our unit (µg/m³, CO mg/m³); a normalized entity's `unitCode` (GQ, GP) is honoured."""
    value, unit = _attr(entity, pollutant), _unit(entity, pollutant)
    if value is None or unit is None:
        return value
    if unit not in UNIT_FACTOR:
        raise RowError(f"{pollutant}: unsupported unitCode {str(unit)[:10]!r} (GQ µg/m³ or GP mg/m³)")
    try:
        return float(value) * UNIT_FACTOR[unit] / (1000.0 if pollutant == "co" else 1.0)
    except (TypeError, ValueError):
        raise RowError(f"{pollutant} must be a number") from None


def _alert(entity: Mapping[str, Any], entity_id: str) -> dict[str, Any]:
    """An Alert as an incident row: `subCategory` the kind, `severity` the level, `dateIssued` the time."""
    sub = _attr(entity, "subCategory")
    if not isinstance(sub, str) or sub not in ALERT_KINDS:
        raise RowError(f"unsupported Alert subCategory {str(sub)[:40]!r}")
    severity = SEVERITY.get(str(_attr(entity, "severity") or "medium"))
    if severity is None:
        raise RowError("severity must be informational, low, medium, high or critical")
    lon, lat = _point(entity)
    return {
        "id": entity_id,
        "ref": entity_id[-64:],
        "kind": ALERT_KINDS[sub],
        "severity": severity,
        "lon": lon,
        "lat": lat,
        "reported_at": _time(entity, "dateIssued", "validFrom"),
    }
