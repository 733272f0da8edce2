"""Storage: one SQLAlchemy schema for the embedded SQLite default and for PostgreSQL.

Only this module writes SQL. Writes are transactional (`engine.begin()`), observation writes are
idempotent upserts keyed on (city, bucket, sensor), and every write bumps the feed's revision so
that cached reads keyed on the revision can never serve stale data.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from data.cities import get_city
from data.config import load_settings

BUCKET_SECONDS = 15 * 60
LAYERS = ("traffic", "parking", "air_quality", "incidents")
SCHEMA_VERSION = "1"

metadata = MetaData()


def bucket_of(t: int) -> int:
    """Start of the 15-minute bucket holding epoch second `t`."""
    return int(t) // BUCKET_SECONDS * BUCKET_SECONDS


road_segment = Table(
    "road_segment",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("city", String(16), nullable=False, index=True),
    Column("name", Text, nullable=False, default=""),
    Column("road_class", String(16), nullable=False),
    Column("lanes", Integer, nullable=False),
    Column("free_flow_kmh", Float, nullable=False),
    Column("length_m", Float, nullable=False),
    Column("district", Text, nullable=False, default=""),
    Column("coords", Text, nullable=False),  # GeoJSON LineString coordinates, WGS84
    Column("synthetic", Boolean, nullable=False),
)

parking_lot = Table(
    "parking_lot",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("city", String(16), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # commercial / office / residential / on_street
    Column("district", Text, nullable=False, default=""),
    Column("capacity", Integer, nullable=False),
    Column("tariff_cny_h", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("simulated", Boolean, nullable=False),
)

aq_station = Table(
    "aq_station",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("city", String(16), nullable=False, index=True),
    Column("code", String(16), nullable=False),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False, default=""),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("simulated", Boolean, nullable=False),
)

traffic_obs = Table(
    "traffic_obs",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("segment_id", Integer, primary_key=True),
    Column("speed_kmh", Float, nullable=False),
    Column("observed_at", Integer, nullable=False),
    sqlite_with_rowid=False,
)

parking_obs = Table(
    "parking_obs",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("lot_id", Integer, primary_key=True),
    Column("occupied", Integer, nullable=False),
    Column("arrivals", Integer, nullable=False),  # vehicles that entered during the bucket
    Column("observed_at", Integer, nullable=False),
    sqlite_with_rowid=False,
)

POLLUTANT_COLUMNS = ("pm25", "pm10", "o3", "no2", "so2", "co")
aq_obs = Table(
    "aq_obs",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("bucket", Integer, primary_key=True),  # start of the hour
    Column("station_id", Integer, primary_key=True),
    *(Column(name, Float, nullable=True) for name in POLLUTANT_COLUMNS),
    Column("observed_at", Integer, nullable=False),
    sqlite_with_rowid=False,
)

incident = Table(
    "incident",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),  # source's own id: makes writes idempotent
    Column("city", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", Integer, nullable=False),  # 1 low .. 4 critical
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("district", Text, nullable=False, default=""),
    Column("reported_at", Integer, nullable=False),
    Column("dispatched_at", Integer, nullable=True),
    Column("on_scene_at", Integer, nullable=True),
    Column("resolved_at", Integer, nullable=True),
    Column("source", String(32), nullable=False),
    Column("simulated", Boolean, nullable=False),
)
Index("ix_incident_city_reported", incident.c.city, incident.c.reported_at)
Index("ix_incident_city_resolved", incident.c.city, incident.c.resolved_at)

feed_state = Table(
    "feed_state",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("layer", String(16), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("newest_observed_at", Integer, nullable=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

ingest_batch = Table(
    "ingest_batch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", Integer, nullable=False, index=True),
    Column("layer", String(16), nullable=False),
    Column("source", String(16), nullable=False),  # ngsi / csv / json / cli
    Column("accepted", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
)

ingest_rejection = Table(  # the quarantine: rejected rows are kept with their raw payload and the reason
    "ingest_rejection",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, nullable=False, index=True),
    Column("received_at", Integer, nullable=False, index=True),
    Column("layer", String(16), nullable=False),
    Column("row_index", Integer, nullable=False),
    Column("entity_id", Text, nullable=False, default=""),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
)

OBSERVATION_TABLES: dict[str, Table] = {"traffic": traffic_obs, "parking": parking_obs, "air_quality": aq_obs}
SENSOR_COLUMN = {"traffic": "segment_id", "parking": "lot_id", "air_quality": "station_id"}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per database URL (SQLite gets WAL mode and a busy timeout)."""
    settings = load_settings()
    url = url or settings.database_url
    with _engines_lock:
        if url not in _engines:
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
            _engines[url] = engine
        return _engines[url]


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        _set_meta(conn, "schema_version", SCHEMA_VERSION)


def _set_meta(conn: Connection, key: str, value: str) -> None:
    _upsert(conn, meta, [{"key": key, "value": value}], ("key",))


def get_meta(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def set_meta(engine: Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        _set_meta(conn, key, value)


def _insert_for(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> None:
    if not rows:
        return
    stmt = _insert_for(conn, table)
    keys = tuple(keys)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        if updates
        else (stmt.on_conflict_do_nothing(index_elements=list(keys)))
    )
    conn.execute(stmt, list(rows))


def _bump_feed(conn: Connection, city: str, layer: str, newest: int | None) -> None:
    current = conn.execute(
        select(feed_state.c.revision, feed_state.c.newest_observed_at).where(
            feed_state.c.city == city, feed_state.c.layer == layer
        )
    ).first()
    if current is None:
        conn.execute(feed_state.insert().values(city=city, layer=layer, revision=1, newest_observed_at=newest))
    else:
        best = (
            max(x for x in (current.newest_observed_at, newest) if x is not None)
            if (current.newest_observed_at is not None or newest is not None)
            else None
        )
        conn.execute(
            feed_state.update()
            .where(feed_state.c.city == city, feed_state.c.layer == layer)
            .values(revision=feed_state.c.revision + 1, newest_observed_at=best)
        )


# --- writes -------------------------------------------------------------------------------------


def write_static(engine: Engine, city: str, segments: list[dict], lots: list[dict], stations: list[dict]) -> None:
    """Replace a city's sensors (segments, lots, stations) in one transaction."""
    with engine.begin() as conn:
        for table, rows in ((road_segment, segments), (parking_lot, lots), (aq_station, stations)):
            conn.execute(table.delete().where(table.c.city == city))
            if rows:
                conn.execute(table.insert(), rows)
        _set_meta(conn, f"static_rev:{city}", str(time.time_ns()))


def write_observations(engine: Engine, city: str, layer: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Upsert observation rows of one layer for one city in one transaction; returns rows written."""
    table = OBSERVATION_TABLES[layer]
    keys = [c.name for c in table.primary_key.columns]
    with engine.begin() as conn:
        for start in range(0, len(rows), 20_000):
            _upsert(conn, table, rows[start : start + 20_000], keys)
        newest = max((r["observed_at"] for r in rows), default=None)
        _bump_feed(conn, city, layer, newest)
    return len(rows)


def purge_before(engine: Engine, cutoff: int) -> None:
    with engine.begin() as conn:
        for table in OBSERVATION_TABLES.values():
            conn.execute(table.delete().where(table.c.bucket < cutoff))
        conn.execute(incident.delete().where(incident.c.reported_at < cutoff))


def replace_road_segments(city: str, roads: Any) -> int:
    """Replace a city's road network with imported roads (a GeoDataFrame in EPSG:4326).

    Traffic observations of the old segments are dropped in the same transaction: they described
    roads that no longer exist in the store.
    """
    import geopandas as gpd

    city = get_city(city).key
    if not isinstance(roads, gpd.GeoDataFrame) or roads.empty:
        raise ValueError("no roads to write")
    lengths = roads.to_crs(roads.estimate_utm_crs()).length.to_numpy()
    engine = get_engine()
    create_schema(engine)
    with engine.begin() as conn:
        base = conn.execute(select(func.coalesce(func.max(road_segment.c.id), 0))).scalar() + 1
        conn.execute(traffic_obs.delete().where(traffic_obs.c.city == city))
        conn.execute(road_segment.delete().where(road_segment.c.city == city))
        rows = [
            {
                "id": base + i,
                "city": city,
                "name": str(row.name or ""),
                "road_class": str(row.road_class),
                "lanes": int(row.lanes),
                "free_flow_kmh": float(row.free_flow_kmh),
                "length_m": float(lengths[i]),
                "district": "",
                "coords": json.dumps([[round(x, 6), round(y, 6)] for x, y in row.geometry.coords]),
                "synthetic": False,
            }
            for i, row in enumerate(roads.itertuples(index=False))
        ]
        conn.execute(road_segment.insert(), rows)
        _bump_feed(conn, city, "traffic", None)
        _set_meta(conn, f"roads_source:{city}", "imported")
        _set_meta(conn, f"static_rev:{city}", str(time.time_ns()))
    return len(rows)


# --- reads --------------------------------------------------------------------------------------


def read_frame(engine: Engine, query: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        # Plain tuples: pandas probes each SQLAlchemy Row for array attributes, which costs ~30 %.
        return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))


def feed_states(engine: Engine, city: str) -> dict[str, tuple[int, int | None]]:
    """{layer: (revision, newest_observed_at)} for one city."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(feed_state.c.layer, feed_state.c.revision, feed_state.c.newest_observed_at).where(
                feed_state.c.city == city
            )
        ).all()
    return {r.layer: (r.revision, r.newest_observed_at) for r in rows}


def latest_bucket_at_or_before(engine: Engine, layer: str, city: str, bucket: int) -> int | None:
    table = OBSERVATION_TABLES[layer]
    with engine.connect() as conn:
        return conn.execute(
            select(func.max(table.c.bucket)).where(table.c.city == city, table.c.bucket <= bucket)
        ).scalar()


def observations(engine: Engine, layer: str, city: str, bucket: int) -> pd.DataFrame:
    table = OBSERVATION_TABLES[layer]
    return read_frame(engine, select(table).where(table.c.city == city, table.c.bucket == bucket))


def sensors(engine: Engine, layer: str, city: str) -> pd.DataFrame:
    table = {"traffic": road_segment, "parking": parking_lot, "air_quality": aq_station}[layer]
    return read_frame(engine, select(table).where(table.c.city == city).order_by(table.c.id))


def arrivals_between(engine: Engine, city: str, start_bucket: int, end_bucket: int) -> pd.DataFrame:
    """Vehicles that entered each lot over [start, end] buckets, inclusive."""
    q = (
        select(parking_obs.c.lot_id, func.sum(parking_obs.c.arrivals).label("arrivals"))
        .where(parking_obs.c.city == city, parking_obs.c.bucket >= start_bucket, parking_obs.c.bucket <= end_bucket)
        .group_by(parking_obs.c.lot_id)
    )
    return read_frame(engine, q)


def incidents_between(engine: Engine, city: str, start: int, end: int) -> pd.DataFrame:
    """Incidents reported in [start, end] plus those reported earlier and still open at `end`."""
    c = incident.c
    q = select(incident).where(
        c.city == city,
        c.reported_at <= end,
        (c.reported_at >= start) | (c.resolved_at.is_(None)) | (c.resolved_at > end),
    )
    return read_frame(engine, q)


def ping(engine: Engine) -> float:
    """Round-trip time of a trivial query, in milliseconds (raises if the database is unreachable)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return (time.perf_counter() - started) * 1000


def _insert_sql(engine: Engine, table: Table, columns: Sequence[str]) -> str:
    marks = ", ".join("?" if engine.dialect.paramstyle == "qmark" else "%s" for _ in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


def bulk_replace(
    engine: Engine,
    city: str,
    layer: str,
    columns: Sequence[str],
    rows: list[tuple],
    from_bucket: int,
    to_bucket: int,
    newest: int,
) -> None:
    """Replace a city's observations in buckets [from, to) with `rows`, in one transaction (backfills)."""
    table = OBSERVATION_TABLES[layer]
    with engine.begin() as conn:
        conn.execute(
            table.delete().where(table.c.city == city, table.c.bucket >= from_bucket, table.c.bucket < to_bucket)
        )
        if rows:
            conn.exec_driver_sql(_insert_sql(engine, table, columns), rows)
        _bump_feed(conn, city, layer, newest)


def insert_incidents_once(engine: Engine, city: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert incidents in one transaction; a `ref` already stored is skipped (idempotent)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_insert_sql(engine, incident, columns) + " ON CONFLICT (ref) DO NOTHING", rows)
        _bump_feed(conn, city, "incidents", max(r[columns.index("reported_at")] for r in rows))


# --- ingest -------------------------------------------------------------------------------------


def write_ingest_batch(
    engine: Engine,
    source: str,
    parts: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    rejected: Mapping[str, Sequence[Mapping[str, Any]]],
    received_at: int,
) -> dict[str, tuple[int, int]]:
    """Store validated rows ({layer: {city: rows}}), quarantined rows ({layer: rows}) and a log entry
    per layer, all in ONE transaction. Returns {layer: (accepted, duplicates)}.

    An observation whose sensor already has one at the same `observed_at` (an incident whose `ref`
    exists) is a duplicate and is not written again; a newer observation in the same 15-minute
    bucket replaces the older one; an older one is counted as a duplicate (superseded).
    """
    counts: dict[str, tuple[int, int]] = {}
    with engine.begin() as conn:
        for layer in sorted(set(parts) | set(rejected)):
            # Writing first takes SQLite's write lock before any read, so concurrent batches
            # serialise instead of deadlocking on a read-to-write lock upgrade.
            batch_id = conn.execute(
                ingest_batch.insert().values(
                    received_at=received_at, layer=layer, source=source, rejected=len(rejected.get(layer, ()))
                )
            ).inserted_primary_key[0]
            accepted = duplicates = 0
            for city, rows in parts.get(layer, {}).items():
                fresh = (
                    _fresh_incidents(conn, rows)
                    if layer == "incidents"
                    else _fresh_observations(conn, layer, city, rows)
                )
                duplicates += len(rows) - len(fresh)
                accepted += len(fresh)
                if not fresh:
                    continue
                if layer == "incidents":
                    conn.execute(incident.insert(), fresh)
                    _bump_feed(conn, city, "incidents", max(r["reported_at"] for r in fresh))
                else:
                    table = OBSERVATION_TABLES[layer]
                    _upsert(conn, table, fresh, [c.name for c in table.primary_key.columns])
                    _bump_feed(conn, city, layer, max(r["observed_at"] for r in fresh))
            if rejected.get(layer):
                conn.execute(
                    ingest_rejection.insert(),
                    [dict(r, batch_id=batch_id, received_at=received_at, layer=layer) for r in rejected[layer]],
                )
            conn.execute(
                ingest_batch.update()
                .where(ingest_batch.c.id == batch_id)
                .values(accepted=accepted, duplicates=duplicates)
            )
            counts[layer] = (accepted, duplicates)
    return counts


def _fresh_observations(conn: Connection, layer: str, city: str, rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Rows not already stored; of several rows for one sensor and bucket, the newest."""
    table = OBSERVATION_TABLES[layer]
    sensor = SENSOR_COLUMN[layer]
    buckets = sorted({r["bucket"] for r in rows})
    stored = {
        (b, sid): obs
        for b, sid, obs in conn.execute(
            select(table.c.bucket, table.c[sensor], table.c.observed_at).where(
                table.c.city == city, table.c.bucket.in_(buckets)
            )
        )
    }
    newest: dict[tuple[int, int], dict] = {}
    for row in rows:
        key = (row["bucket"], row[sensor])
        if stored.get(key) is not None and stored[key] >= row["observed_at"]:
            continue  # the same observation again, or an older one than what the bucket holds
        if key not in newest or newest[key]["observed_at"] < row["observed_at"]:
            newest[key] = dict(row, city=city)
    return list(newest.values())


def _fresh_incidents(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    refs = [r["ref"] for r in rows]
    known = set(conn.execute(select(incident.c.ref).where(incident.c.ref.in_(refs))).scalars())
    fresh: dict[str, dict] = {}
    for row in rows:
        if row["ref"] not in known:
            fresh.setdefault(row["ref"], dict(row))
    return list(fresh.values())


def ingest_history(engine: Engine, since: int) -> pd.DataFrame:
    return read_frame(engine, select(ingest_batch).where(ingest_batch.c.received_at >= since))


def latest_rejections(engine: Engine, limit: int = 50) -> pd.DataFrame:
    return read_frame(engine, select(ingest_rejection).order_by(ingest_rejection.c.id.desc()).limit(limit))


def purge_city_before(engine: Engine, city: str, observation_cutoffs: Mapping[str, int], incident_cutoff: int) -> None:
    """Delete one city's observations older than a per-layer cutoff, and its incidents older than another."""
    with engine.begin() as conn:
        for layer, cutoff in observation_cutoffs.items():
            table = OBSERVATION_TABLES[layer]
            conn.execute(table.delete().where(table.c.city == city, table.c.bucket < cutoff))
        conn.execute(incident.delete().where(incident.c.city == city, incident.c.reported_at < incident_cutoff))
