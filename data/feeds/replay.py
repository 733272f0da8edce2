"""Stream the simulator's observations into a running server as Orion (NGSI-v2) notifications.

    python -m cli.replay --rate 20 --url http://127.0.0.1:8050 --key $INGEST_KEY [--city hangzhou]

Each message is one notification holding one entity in normalized format, exactly as a FIWARE
Orion Context Broker subscription would deliver it. The data are SIMULATED (data.sim.simulate).
"""

from __future__ import annotations

import json
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
    for sid, speed in zip(segs["id"], simulate.traffic_speeds(city, segs, t)[0], strict=True):
        yield {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:{city.key}-{sid}",
            "type": "TrafficFlowObserved",
            "refRoadSegment": _prop("Relationship", f"urn:ngsi-ld:RoadSegment:{sid}"),
            "averageVehicleSpeed": _prop("Number", float(speed), unitCode="KMH"),
            "dateObserved": _prop("DateTime", stamp),
        }
    lots = store.sensors(engine, "parking", city.key)
    occupied, _arrivals = simulate.parking_state(city, lots, t)
    for lot, capacity, occ in zip(lots["id"], lots["capacity"], occupied[0], strict=True):
        yield {
            "id": f"urn:ngsi-ld:OffStreetParking:{lot}",
            "type": "OffStreetParking",
            "totalSpotNumber": _prop("Number", int(capacity)),
            "availableSpotNumber": _prop("Number", int(capacity - occ)),
            "dateObserved": _prop("DateTime", stamp),
        }
    stations = store.sensors(engine, "air_quality", city.key)
    conc = simulate.aq_concentrations(city, stations, t)
    for k, code in enumerate(stations["code"]):
        entity = {
            "id": f"urn:ngsi-ld:AirQualityObserved:{city.key}:{code}",
            "type": "AirQualityObserved",
            "dateObserved": _prop("DateTime", stamp),
        }
        for pollutant, values in conc.items():
            entity[pollutant] = _prop("Number", float(values[0, k]), unitCode="GP" if pollutant == "co" else "GQ")
        yield entity


def post(url: str, key: str, entity: dict) -> dict:
    body = json.dumps({"subscriptionId": "replay", "data": [entity]}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "X-API-Key": key}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
