"""Alert rules that open incidents from the data, one open incident per rule and object.

Rules (thresholds from the environment, defaults in brackets):
- aqi_high: a station's hourly AQI above ALERT_AQI [200, "heavily polluted" and worse in HJ 633-2012];
- congestion: a main road (motorway or primary) with a congestion index above ALERT_CONGESTION_INDEX
  [2.0, Amap's "congested" band] in this 15-minute bucket and the one before (15 minutes or more);
- parking_full: a lot at or above ALERT_PARKING_FULL_PCT occupancy [100];
- sensor_silent: a sensor with no data for STALE_MINUTES; when more than ALERT_SILENT_GROUP [20]
  sensors of one feed are silent, one incident for the whole feed (an outage, not 2,000 tickets).

`evaluate(city, at)` opens what is missing; `python -m cli.alerting --once` runs all cities once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from data import access, heartbeat, outage, store
from data.config import load_settings
from data.geo.cities import CITIES, get_city
from data.jobs.leader import JobLock
from data.jobs.memory import release_freed_memory
from data.rules.thresholds import Thresholds
from data.store import operations as ops_store

log = logging.getLogger(__name__)
MAIN_ROADS = ("motorway", "primary")
ACTOR = "rules"


@dataclass(frozen=True)
class Finding:
    rule: str
    object_key: str  # what the alert is about: one open incident per (rule, object)
    kind: str
    severity: int
    lon: float
    lat: float
    district: str
    detail: str


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def aqi_findings(ids: Sequence[int], aqi: Sequence[float | None], limit: float) -> list[tuple[int, int, float]]:
    """(station id, severity, AQI) of stations above the limit; above 300 (severe) is critical."""
    a = _values(aqi)
    return [(int(ids[k]), 4 if a[k] > 300 else 3, float(a[k])) for k in np.flatnonzero(a > limit)]


def sustained_congestion(
    ids: Sequence[int],
    main: Sequence[bool],
    ci_now: Sequence[float | None],
    ci_before: Sequence[float | None],
    limit: float,
) -> list[tuple[int, float]]:
    """(segment id, index) of main roads above the limit now and one bucket (15 minutes) before."""
    now, before = _values(ci_now), _values(ci_before)
    hit = np.asarray(main, dtype=bool) & (now > limit) & (before > limit)
    return [(int(ids[k]), float(now[k])) for k in np.flatnonzero(hit)]


def full_lots(ids: Sequence[int], occupancy_pct: Sequence[float | None], limit: float) -> list[tuple[int, float]]:
    occ = _values(occupancy_pct)
    return [(int(ids[k]), float(occ[k])) for k in np.flatnonzero(occ >= limit)]


def silent_objects(layer: str, ids: Sequence[int], stale_idx: Sequence[int], group_over: int) -> list[str]:
    """Object keys for silent sensors: each sensor, or the whole feed when many are silent at once."""
    if len(stale_idx) > group_over:
        return [f"feed:{layer}"]
    return [f"{layer}:{int(ids[k])}" for k in stale_idx]


def findings(city: str, at: int, limits: Thresholds | None = None) -> list[Finding]:
    """What the rules find in a city's data at `at` (reads go through the cached data layer)."""
    limits = limits or Thresholds.from_settings(load_settings())
    key = get_city(city).key
    engine = store.get_engine(load_settings().database_url)
    now, before = access.live_values(key, at), access.live_values(key, at - store.BUCKET_SECONDS)
    segs = store.sensors(engine, "traffic", key)
    lots = store.sensors(engine, "parking", key)
    stations = store.sensors(engine, "air_quality", key)
    out: list[Finding] = []
    for sid, severity, value in aqi_findings(
        stations["id"].tolist(), [s["aqi"] for s in now["air_quality"]["stations"]], limits.aqi
    ):
        row = stations.loc[stations["id"] == sid].iloc[0]
        out.append(
            Finding(
                "aqi_high", f"station:{sid}", "pollution_exceedance", severity, row.lon, row.lat, "", f"AQI {value:g}"
            )
        )
    main = segs["road_class"].isin(MAIN_ROADS).tolist()
    for sid, value in sustained_congestion(
        segs["id"].tolist(), main, now["traffic"]["ci"], before["traffic"]["ci"], limits.congestion_index
    ):
        k = int(np.flatnonzero(segs["id"].to_numpy() == sid)[0])
        coords = json.loads(segs["coords"].iloc[k])
        lon, lat = coords[len(coords) // 2]
        severity = 3 if value >= 3 else 2
        name = segs["name"].iloc[k]
        out.append(
            Finding("congestion", f"segment:{sid}", "abnormal_congestion", severity, lon, lat,
                    str(segs["district"].iloc[k]), f"{name} CI {value:.2f}")
        )  # fmt: skip
    for lid, value in full_lots(lots["id"].tolist(), now["parking"]["occ"], limits.parking_full_pct):
        row = lots.loc[lots["id"] == lid].iloc[0]
        out.append(
            Finding("parking_full", f"lot:{lid}", "parking_full", 1, row.lon, row.lat, str(row.district),
                    f"{row['name']} {value:g}%")
        )  # fmt: skip
    centre_lat, centre_lon = get_city(key).center
    for layer, frame in (("traffic", segs), ("parking", lots), ("air_quality", stations)):
        stale = now[layer]["stale"]
        for obj in silent_objects(layer, frame["id"].tolist(), stale, limits.silent_group):
            severity = 3 if obj.startswith("feed:") else 1
            detail = f"{len(stale)} {layer} sensors silent" if obj.startswith("feed:") else obj
            out.append(Finding("sensor_silent", obj, "sensor_offline", severity, centre_lon, centre_lat, "", detail))
    return out


def evaluate(city: str, at: int | None = None, limits: Thresholds | None = None) -> int:
    """Open an incident for each finding that has no open incident yet; returns how many were opened."""
    at = int(at or time.time())
    key = get_city(city).key
    engine = store.get_engine(load_settings().database_url)
    found = findings(key, at, limits)
    already = ops_store.open_alert_keys(engine, key)
    rows = [
        {
            "ref": f"rule-{key}-{f.rule}-{f.object_key}-{at}",
            "city": key,
            "kind": f.kind,
            "severity": f.severity,
            "lon": round(float(f.lon), 6),
            "lat": round(float(f.lat), 6),
            "district": f.district,
            "reported_at": at,
            "source": f"rule:{f.rule}"[:32],
            "simulated": load_settings().simulate_live,  # the rule is real; the data it read may not be
            "crew": "operator",
            "alert_key": f"{f.rule}:{f.object_key}"[:128],
        }
        for f in found
        if f"{f.rule}:{f.object_key}" not in already
    ]
    return ops_store.open_alert_incidents(engine, key, rows, ACTOR, at) if rows else 0


def start(server, settings) -> bool:
    """Evaluate the rules for every city each refresh interval in a background thread (ALERT_RULES=1,
    the default), while this process leads the "alerting" job (data/jobs/leader.py), as with the simulator."""
    if not settings.alert_rules:
        return False
    lock = JobLock(settings, "alerting")

    def run() -> None:
        while True:
            heartbeat.job_beat("alerting")
            time.sleep(settings.refresh_seconds)
            if not lock.held():
                continue
            with server.app_context():
                for key in CITIES:
                    try:
                        evaluate(key)
                        outage.recovered()
                    except Exception as exc:
                        if not outage.is_unavailable(exc):
                            log.exception("alert rules failed for %s", key)
                        outage.failed(exc)
            release_freed_memory()

    threading.Thread(target=run, args=(), name="alert-rules", daemon=True).start()
    server.extensions["citybrain_alert_lock"] = lock
    return True
