"""The sensor registry's writes: sensors that feeds and imports register, moves, retirement, spots.

Sensors are matched by `source_id`, the whole id their source gives them (unique per layer). New
sensors get integer keys from FIRST_REGISTERED_ID up, allocated inside the writing transaction, which
holds the ingest lock (PostgreSQL advisory lock; SQLite's write lock), and inserted with ON CONFLICT
DO NOTHING on `source_id`: batches naming the same new sensor at once register it once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Float, Integer, Text, and_, case, cast, func, literal, null, select, text, union_all
from sqlalchemy.engine import Connection, Engine

from data import store
from data.store import operations

ENTITY_OF_LAYER = {"traffic": "road_segment", "parking": "parking_lot", "air_quality": "aq_station"}


@dataclass
class SensorChanges:
    """What one ingest batch changes in the registry, applied in the batch's transaction."""

    new: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # layer -> source_id -> row
    # (layer, id) -> the new place's columns: lon, lat (a point) or coords, length_m (a road segment)
    moves: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    spots: list[dict[str, Any]] = field(default_factory=list)  # source_id, lot_source_id, occupied, observed_at

    def count_new(self) -> int:
        return sum(len(rows) for rows in self.new.values())


def ids_of(conn: Connection, layer: str, source_ids: Sequence[str]) -> dict[str, int]:
    table = store.SENSOR_TABLES[layer]
    found: dict[str, int] = {}
    wanted = list(dict.fromkeys(source_ids))
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(table.c.source_id, table.c.id).where(table.c.source_id.in_(wanted[start : start + 500]))
        )
        found.update({sid: int(i) for sid, i in rows})
    return found


def ids_of_engine(engine: Engine, layer: str, source_ids: Sequence[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return ids_of(conn, layer, source_ids)


def register(conn: Connection, changes: SensorChanges, now: int) -> dict[str, dict[str, int]]:
    """Insert the batch's new sensors not yet stored; {layer: {source_id: id}} of all it named.
    Bumps the geometry version of every city that got a sensor, so maps fetch the new geometry."""
    resolved: dict[str, dict[str, int]] = {}
    cities: set[tuple[str, str]] = set()
    for layer, rows in sorted(changes.new.items()):
        table = store.SENSOR_TABLES[layer]
        known = ids_of(conn, layer, list(rows))
        fresh = [sid for sid in sorted(rows) if sid not in known]
        if fresh:
            first = store._next_sensor_id(conn, table)
            values = [
                dict(rows[sid], id=first + k, source_id=sid, source=rows[sid].get("source", "feed"), registered_at=now)
                for k, sid in enumerate(fresh)
            ]
            stmt = store._insert_for(conn, table).on_conflict_do_nothing(index_elements=["source_id"])
            conn.execute(stmt, values)
            cities.update((layer, v["city"]) for v in values)
        resolved[layer] = ids_of(conn, layer, list(rows))
    for layer, city in sorted(cities):
        store.bump_feed(conn, city, layer, None)
        store._set_meta(conn, f"static_rev:{city}", str(time.time_ns()))
    return resolved


def move(conn: Connection, changes: SensorChanges, now: int, actor: str) -> None:
    """Sensors whose reported place moved (more than 50 m, decided by the caller): new place (a point's
    lon/lat, a road segment's line and length), audited with the place before and after."""
    cities: set[str] = set()
    for (layer, sensor_id), place in sorted(changes.moves.items()):
        table = store.SENSOR_TABLES[layer]
        before = (
            conn.execute(
                select(table.c.city, table.c.source_id, *(table.c[k] for k in place)).where(table.c.id == sensor_id)
            )
            .mappings()
            .first()
        )
        if before is None:
            continue
        conn.execute(table.update().where(table.c.id == sensor_id).values(**place))
        was = {k: before[k] for k in place}
        audit = ("sensor", f"{layer}:{sensor_id}", "move", {"source_id": before["source_id"], **was}, dict(place))
        operations._audit(conn, now, actor, *audit)
        cities.add(before["city"])
    for city in sorted(cities):
        store._set_meta(conn, f"static_rev:{city}", str(time.time_ns()))


def count_spots(conn: Connection, spots: Sequence[Mapping[str, Any]]) -> tuple[int, int, dict[str, list[dict]]]:
    """Store the newest state of each spot; (accepted, duplicates, {city: parking rows of their sites}),
    a site's occupancy being its spots occupied (at most its capacity)."""
    table = store.parking_spot
    lot_ids = ids_of(conn, "parking", [s["lot_source_id"] for s in spots])
    stored = {
        sid: (occ, obs)
        for sid, occ, obs in conn.execute(
            select(table.c.source_id, table.c.occupied, table.c.observed_at).where(
                table.c.source_id.in_([s["source_id"] for s in spots])
            )
        )
    }
    accepted = duplicates = 0
    newest: dict[int, int] = {}
    for spot in sorted(spots, key=lambda s: s["observed_at"]):
        lot = lot_ids[spot["lot_source_id"]]
        kept = stored.get(spot["source_id"])
        if kept is not None and kept[1] >= spot["observed_at"]:
            duplicates += 1
            continue
        row = {"lot_id": lot, "occupied": bool(spot["occupied"]), "observed_at": spot["observed_at"]}
        store._upsert(conn, table, [{"source_id": spot["source_id"], **row}], ("source_id",))
        stored[spot["source_id"]] = (row["occupied"], row["observed_at"])
        newest[lot] = max(newest.get(lot, 0), spot["observed_at"])
        accepted += 1
    by_city: dict[str, list[dict]] = {}
    lots = store.parking_lot
    for lot, observed in sorted(newest.items()):
        city, capacity = conn.execute(select(lots.c.city, lots.c.capacity).where(lots.c.id == lot)).one()
        occupied = conn.execute(select(func.count()).where(table.c.lot_id == lot, table.c.occupied.is_(True))).scalar()
        by_city.setdefault(city, []).append(
            {
                "bucket": store.bucket_of(observed),
                "lot_id": lot,
                "occupied": min(int(occupied), int(capacity)),
                "arrivals": 0,
                "observed_at": observed,
            }
        )
    return accepted, duplicates, by_city


# --- inventory: import, list and retire ----------------------------------------------------------


def register_inventory(engine: Engine, layer: str, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Register imported sensors ({source_id: row}) in one transaction; those already stored keep their
    key and place. Returns {source_id: key} of every row."""
    now = int(time.time())
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": store.INGEST_LOCK_KEY})
        changes = SensorChanges(new={layer: {sid: dict(row, source="import") for sid, row in rows.items()}})
        return register(conn, changes, now)[layer]


def _identity(layer: str) -> list[Any]:
    """A sensor's key, whole source id, name, source and registry dates, as the listings show them."""
    table = store.SENSOR_TABLES[layer]
    name = table.c.name_en if layer == "air_quality" else table.c.name
    columns = ("id", "source_id", "source", "registered_at", "retired_at")
    return [*(table.c[c] for c in columns[:2]), name.label("name"), *(table.c[c] for c in columns[2:])]


def list_sensors(engine: Engine, layer: str | None = None, city: str | None = None) -> pd.DataFrame:
    """Every sensor (retired ones too) with its layer, city, id, source id, name, source and dates."""
    frames = []
    for key, table in store.SENSOR_TABLES.items():
        if layer is not None and key != layer:
            continue
        query = select(table.c.city, *_identity(key)).order_by(table.c.city, table.c.id)
        if city is not None:
            query = query.where(table.c.city == city)
        frame = store.read_frame(engine, query)
        frame.insert(0, "layer", key)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _newest_reading(layer: str) -> tuple[Any, Any]:
    """(value, measure) of a layer's observation row: what the registry shows as its newest value."""
    obs = store.OBSERVATION_TABLES[layer]
    if layer == "traffic":
        return cast(obs.c.speed_kmh, Float), literal("speed_kmh")
    if layer == "parking":
        return cast(obs.c.occupied, Float), literal("occupied")
    present = [(obs.c[p].is_not(None), p) for p in store.POLLUTANT_COLUMNS]
    return func.coalesce(*(obs.c[p] for p in store.POLLUTANT_COLUMNS)), case(
        *((test, literal(p)) for test, p in present), else_=literal("")
    )


def _registry_select(layer: str, city: str) -> Any:
    """One layer's sensors of a city with first / last reading and the newest reading's value."""
    table, obs = store.SENSOR_TABLES[layer], store.OBSERVATION_TABLES[layer]
    sensor = obs.c[store.SENSOR_COLUMN[layer]]
    seen = (
        select(
            sensor.label("sid"),
            func.min(obs.c.observed_at).label("first"),
            func.max(obs.c.observed_at).label("last"),
            func.max(obs.c.bucket).label("bucket"),
        )
        .where(obs.c.city == city)
        .group_by(sensor)
        .subquery()
    )
    value, measure = _newest_reading(layer)
    # The newest reading lies in the newest bucket (a bucket is its reading's time, floored): found
    # by the observation table's primary key (city, bucket, sensor), not by a scan per sensor.
    newest = and_(obs.c.city == city, obs.c.bucket == seen.c.bucket, sensor == seen.c.sid)
    return (
        select(
            literal(layer).label("layer"),
            *_identity(layer),
            seen.c.first.label("first_seen"),
            seen.c.last.label("last_seen"),
            value.label("value"),
            measure.label("measure"),
            (table.c.capacity if layer == "parking" else cast(null(), Integer)).label("capacity"),
            (cast(null(), Float) if layer == "traffic" else table.c.lon).label("lon"),
            (cast(null(), Float) if layer == "traffic" else table.c.lat).label("lat"),
            (table.c.coords if layer == "traffic" else cast(null(), Text)).label("coords"),
        )
        .select_from(table.outerjoin(seen, seen.c.sid == table.c.id).outerjoin(obs, newest))
        .where(table.c.city == city)
    )


def line_midpoints(coords: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of the point halfway along each LineString (GeoJSON coordinates as JSON text)."""
    if not len(coords):
        return np.array([]), np.array([])
    lines = np.array([shapely.LineString(json.loads(c)) for c in coords], dtype=object)  # of any vertex count
    middle = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    return shapely.get_x(middle), shapely.get_y(middle)


def registry_rows(engine: Engine, city: str) -> pd.DataFrame:
    """Every sensor of a city (all layers and sources, retired ones too) in ONE query: layer, id,
    source id, name, source, registered / retired, first and last reading kept, the newest reading's
    value and what it measures (speed_kmh, occupied of `capacity`, or the first pollutant present),
    and where to show it (a road segment: its midpoint)."""
    query = union_all(*(_registry_select(layer, city) for layer in store.SENSOR_TABLES))
    frame = store.read_frame(engine, query)
    roads = frame["layer"] == "traffic"
    if roads.any():
        lon, lat = line_midpoints(frame.loc[roads, "coords"].tolist())
        frame.loc[roads, "lon"], frame.loc[roads, "lat"] = lon, lat
    order = frame["layer"].map({layer: k for k, layer in enumerate(store.SENSOR_TABLES)})
    frame = frame.assign(_order=order).sort_values(["_order", "id"], kind="stable")
    return frame.drop(columns=["coords", "_order"]).reset_index(drop=True)


def retire(engine: Engine, source_id: str, actor: str, now: int | None = None) -> tuple[str, str, int] | None:
    """Retire the sensor with this whole id (any layer): off the map and KPIs, its history kept;
    audited. (layer, city, id), or None when no sensor in service has that id."""
    now = int(time.time()) if now is None else now
    with engine.begin() as conn:
        for layer, table in store.SENSOR_TABLES.items():
            found = conn.execute(
                select(table.c.id, table.c.city).where(table.c.source_id == source_id, table.c.retired_at.is_(None))
            ).first()
            if found is None:
                continue
            conn.execute(table.update().where(table.c.id == found.id).values(retired_at=now))
            operations._audit(
                conn,
                now,
                actor,
                "sensor",
                f"{layer}:{found.id}",
                "retire",
                {"source_id": source_id},
                {"retired_at": now},
            )
            store.bump_feed(conn, found.city, layer, None)
            store._set_meta(conn, f"static_rev:{found.city}", str(time.time_ns()))
            return layer, found.city, int(found.id)
    return None
