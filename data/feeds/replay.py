"""Stream the simulator's observations into a running server as Orion (NGSI-v2) notifications.

    python -m cli.replay --rate 20 --url http://127.0.0.1:8050 --key $INGEST_KEY [--city hangzhou]

Each message is one notification holding one entity in normalized format, exactly as a FIWARE
Orion Context Broker subscription would deliver it. The data are SIMULATED (data.sim.simulate).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np

from data import store
from data.feeds.ingest import utc_iso
from data.geo.cities import get_city
from data.sim import simulate


def _prop(kind: str, value, **metadata) -> dict:
    return {"type": kind, "value": value, "metadata": {k: {"type": "Text", "value": v} for k, v in metadata.items()}}


def entities(city_key: str, now: float) -> Iterator[dict]:
    """One round of NGSI entities: every segment, car park and station of the city at `now`."""
    city = get_city(city_key)
    engine = store.get_engine()
    t = np.array([float(now)])
    stamp = utc_iso(now)
    segs = simulate._segments_frame(engine, city)
    for sid, speed in zip(segs["source_id"], simulate.traffic_speeds(city, segs, t)[0], strict=True):
        yield {
            "id": sid,
            "type": "TrafficFlowObserved",
            "averageVehicleSpeed": _prop("Number", float(speed), unitCode="KMH"),
            "dateObserved": _prop("DateTime", stamp),
        }
    lots = store.driven_sensors(engine, "parking", city.key)
    occupied, _arrivals = simulate.parking_state(city, lots, t)
    for lot, capacity, occ in zip(lots["source_id"], lots["capacity"], occupied[0], strict=True):
        yield {
            "id": lot,
            "type": "OffStreetParking",
            "totalSpotNumber": _prop("Number", int(capacity)),
            "availableSpotNumber": _prop("Number", int(capacity - occ)),
            "dateObserved": _prop("DateTime", stamp),
        }
    stations = store.driven_sensors(engine, "air_quality", city.key)
    conc = simulate.aq_concentrations(city, stations, t)
    for k, sid in enumerate(stations["source_id"]):
        entity = {
            "id": sid,
            "type": "AirQualityObserved",
            "dateObserved": _prop("DateTime", stamp),
        }
        for pollutant, values in conc.items():
            entity[pollutant] = _prop("Number", float(values[0, k]), unitCode="GP" if pollutant == "co" else "GQ")
        yield entity


def new_entities(city_key: str, now: float, count: int) -> Iterator[dict]:
    """`count` sensors of each layer the store does not know yet (ids `urn:ngsi-ld:<Type>:replay-<city>-<k>`),
    placed near the city centre with their location, so a server registers them. Values SIMULATED."""
    city = get_city(city_key)
    rng = np.random.default_rng(int(now) // 900)
    lat0, lon0 = city.center
    stamp = utc_iso(now)
    for k in range(count):
        lon, lat = lon0 + 0.02 * math.cos(k * 2.4), lat0 + 0.02 * math.sin(k * 2.4)
        point = {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
        line = {
            "type": "LineString",
            "coordinates": [[round(lon, 6), round(lat, 6)], [round(lon + 0.004, 6), round(lat, 6)]],
        }
        yield {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:replay-{city.key}-{k:04d}",
            "type": "TrafficFlowObserved",
            "location": _prop("geo:json", line),
            "maximumAllowedSpeed": _prop("Number", 60),
            "averageVehicleSpeed": _prop("Number", round(float(rng.uniform(15, 60)), 1), unitCode="KMH"),
            "dateObserved": _prop("DateTime", stamp),
        }
        capacity = 200 + 50 * k
        yield {
            "id": f"urn:ngsi-ld:OffStreetParking:replay-{city.key}-{k:04d}",
            "type": "OffStreetParking",
            "name": _prop("Text", f"Replay car park {k}"),
            "location": _prop("geo:json", point),
            "totalSpotNumber": _prop("Number", capacity),
            "availableSpotNumber": _prop("Number", int(rng.integers(0, capacity))),
            "dateObserved": _prop("DateTime", stamp),
        }
        yield {
            "id": f"urn:ngsi-ld:AirQualityObserved:replay-{city.key}-{k:04d}",
            "type": "AirQualityObserved",
            "name": _prop("Text", f"Replay station {k}"),
            "location": _prop("geo:json", {"type": "Point", "coordinates": [round(lon - 0.01, 6), round(lat, 6)]}),
            "pm25": _prop("Number", round(float(rng.uniform(10, 120)), 1), unitCode="GQ"),
            "pm10": _prop("Number", round(float(rng.uniform(20, 180)), 1), unitCode="GQ"),
            "dateObserved": _prop("DateTime", stamp),
        }


def post(url: str, key: str, entity: dict) -> dict:
    body = json.dumps({"subscriptionId": "replay", "data": [entity]}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "X-API-Key": key}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
