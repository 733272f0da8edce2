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
    place = {"location": _attr(entity, "location"), "name": _attr(entity, "name"), "address": _attr(entity, "address")}
    if kind == "TrafficFlowObserved":
        return "traffic", {
            "id": entity_id,
            "segment_id": entity_id,
            "ref_segment": _attr(entity, "refRoadSegment"),
            "speed_kmh": _attr(entity, "averageVehicleSpeed"),
            "speed_limit_kmh": _attr(entity, "maximumAllowedSpeed"),
            "observed_at": _time(entity, "dateObserved", "dateObservedTo", "TimeInstant"),
            **place,
        }
    if kind == "ParkingSpot":
        return "parking", {
            "id": entity_id,
            "spot_id": entity_id,
            "lot_id": _attr(entity, "refParkingSite"),
            "status": _attr(entity, "status"),
            "observed_at": _time(entity, "dateObserved", "observationDateTime", "dateModified", "TimeInstant")
            or _status_time(entity),
        }
    if kind == "OffStreetParking":
        total, occupied = _attr(entity, "totalSpotNumber"), _attr(entity, "occupiedSpotNumber")
        if occupied is None:
            available = _attr(entity, "availableSpotNumber")
            if total is None or available is None:
                raise RowError("needs occupiedSpotNumber, or totalSpotNumber and availableSpotNumber")
            try:
                occupied = float(total) - float(available)
            except (TypeError, ValueError):
                raise RowError("totalSpotNumber and availableSpotNumber must be numbers") from None
        return "parking", {
            "id": entity_id,
            "lot_id": entity_id,
            "occupied": occupied,
            "capacity": total,
            "arrivals": _attr(entity, "vehicleEntranceCount"),
            "observed_at": _time(entity, "dateObserved", "observationDateTime", "dateModified", "TimeInstant"),
            **place,
        }
    if kind == "AirQualityObserved":
        row: dict[str, Any] = {
            "id": entity_id,
            "station": entity_id,
            "observed_at": _time(entity, "dateObserved", "TimeInstant"),
            **place,
        }
        for pollutant in ("pm25", "pm10", "o3", "no2", "so2", "co"):
            value = _attr(entity, pollutant)
            unit = _unit(entity, pollutant)
            if value is not None and unit is not None:
                if unit not in UNIT_FACTOR:
                    raise RowError(f"{pollutant}: unsupported unitCode {str(unit)[:10]!r} (GQ µg/m³ or GP mg/m³)")
                try:
                    value = float(value) * UNIT_FACTOR[unit] / (1000.0 if pollutant == "co" else 1.0)
                except (TypeError, ValueError):
                    raise RowError(f"{pollutant} must be a number") from None
            row[pollutant] = value
        return "air_quality", row
    sub = _attr(entity, "subCategory")
    if not isinstance(sub, str) or sub not in ALERT_KINDS:
        raise RowError(f"unsupported Alert subCategory {str(sub)[:40]!r}")
    severity = SEVERITY.get(str(_attr(entity, "severity") or "medium"))
    if severity is None:
        raise RowError("severity must be informational, low, medium, high or critical")
    lon, lat = _point(entity)
    return "incidents", {
        "id": entity_id,
        "ref": entity_id[-64:],
        "kind": ALERT_KINDS[sub],
        "severity": severity,
        "lon": lon,
        "lat": lat,
        "reported_at": _time(entity, "dateIssued", "validFrom"),
    }
