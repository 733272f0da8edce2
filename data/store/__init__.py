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

import numpy as np
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
    case,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from data.config import load_settings
from data.rules.clock import BUCKET_SECONDS
from data.store import migrations

LAYERS = ("traffic", "parking", "air_quality", "incidents")
HISTORY_DAYS = 7  # days of observations kept (older ones are purged) and reachable by the history slider
SCHEMA_VERSION = "2"  # the hand-written version stores recorded before Alembic; still written

metadata = MetaData()


def bucket_of(t: int) -> int:
    """Start of the 15-minute bucket holding epoch second `t`."""
    return int(t) // BUCKET_SECONDS * BUCKET_SECONDS


def _sensor_table(name: str, *columns: Column) -> Table:
    """A sensor registry: id and city, the kind's own `columns`, then the columns every registry shares
    (where a sensor comes from, when it joined and left), in that order."""
    table = Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("city", String(16), nullable=False, index=True),
        *columns,
        Column("source_id", String(256), nullable=True),  # the source's own id, whole (unique: ux_*_source_id)
        Column("source", String(16), nullable=False, default="simulated", server_default="simulated"),
        Column("registered_at", Integer, nullable=True),
        Column("retired_at", Integer, nullable=True),  # retired: off the map and KPIs, history kept
    )
    Index(f"ux_{name}_source_id", table.c.source_id, unique=True)
    return table


road_segment = _sensor_table(
    "road_segment",
    Column("name", Text, nullable=False, default=""),
    Column("road_class", String(16), nullable=False),
    Column("lanes", Integer, nullable=False),
    Column("free_flow_kmh", Float, nullable=False),
    Column("length_m", Float, nullable=False),
    Column("district", Text, nullable=False, default=""),
    Column("coords", Text, nullable=False),  # GeoJSON LineString coordinates, WGS84
    Column("synthetic", Boolean, nullable=False),
)
parking_lot = _sensor_table(
    "parking_lot",
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # commercial / office / residential / on_street
    Column("district", Text, nullable=False, default=""),
    Column("capacity", Integer, nullable=False),
    Column("tariff_cny_h", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("simulated", Boolean, nullable=False),
)
aq_station = _sensor_table(
    "aq_station",
    Column("code", String(16), nullable=False),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False, default=""),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("simulated", Boolean, nullable=False),
)

# The last state of each spot of a ParkingSpot feed: a site's occupancy is its spots occupied.
parking_spot = Table(
    "parking_spot",
    metadata,
    Column("source_id", String(256), primary_key=True),
    Column("lot_id", Integer, nullable=False, index=True),
    Column("occupied", Boolean, nullable=False),
    Column("observed_at", Integer, nullable=False),
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
    # The workflow (issue 7). Status at any time derives from these timestamps, so history mode
    # shows an incident as it stood then. Simulated crews come with pre-drawn times; operator
    # incidents (crew "operator") get them from actions, guarded by `version`.
    Column("acknowledged_at", Integer, nullable=True),
    Column("closed_at", Integer, nullable=True),
    Column("crew", String(16), nullable=False, default="simulated", server_default="simulated"),
    Column("unit", Text, nullable=True),
    Column("resolution_code", String(32), nullable=True),
    Column("version", Integer, nullable=False, default=1, server_default="1"),
    Column("alert_key", String(128), nullable=True),  # rule:object of an incident opened by an alert rule
)
Index("ix_incident_city_reported", incident.c.city, incident.c.reported_at)
Index("ix_incident_city_resolved", incident.c.city, incident.c.resolved_at)
Index("ix_incident_crew_closed", incident.c.crew, incident.c.closed_at)
# The incidents a day carries in (reported before it, still open when it began), found without visiting
# the city's whole history (migration 0006).
Index("ix_incident_city_closed", incident.c.city, incident.c.closed_at)
# At most one open incident per alert rule and object: the de-duplication guard, also under races.
Index(
    "ux_incident_open_alert",
    incident.c.city,
    incident.c.alert_key,
    unique=True,
    sqlite_where=text("alert_key IS NOT NULL AND closed_at IS NULL"),
    postgresql_where=text("alert_key IS NOT NULL AND closed_at IS NULL"),
)

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
# Operations: who may sign in, and what people did (SQL in data/store/operations.py).
app_user = Table(
    "app_user",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

api_token = Table(
    "api_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the token: the token itself is never stored
    Column("user_name", String(64), nullable=False, index=True),
    Column("created_at", Integer, nullable=False),
    Column("last_used_at", Integer, nullable=True),
)

app_session = Table(  # server-side record of each sign-in: signing out or disabling a user ends it everywhere
    "app_session",
    metadata,
    Column("sid", String(64), primary_key=True),  # sha256 of the random id kept in the cookie
    Column("user_name", String(64), nullable=False, index=True),
    Column("created_at", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
)

login_failure = Table(
    "login_failure",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("remote", String(64), nullable=False, default=""),
    Column("at", Integer, nullable=False),
)
Index("ix_login_failure_name_at", login_failure.c.name, login_failure.c.at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Integer, nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("entity", String(16), nullable=False),  # incident / user
    Column("entity_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", Text, nullable=False, default="{}"),
    Column("after", Text, nullable=False, default="{}"),
    Column("note", Text, nullable=False, default=""),
)
Index("ix_audit_entity", audit_log.c.entity, audit_log.c.entity_id)


# Forecasts: each fit with its backtest, the latest forecast per sensor, a next-hour track (SQL in
# data/store/forecasts.py).
forecast_fit = Table(  # one row per fit of a city's layer: when, on how much, and how it scored
    "forecast_fit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("city", String(16), nullable=False),
    Column("layer", String(16), nullable=False),
    Column("model", String(32), nullable=False),  # model version
    Column("fitted_at", Integer, nullable=False),
    Column("fit_seconds", Float, nullable=False),
    Column("history_from", Integer, nullable=False),  # oldest and newest stored bucket it learnt from
    Column("history_to", Integer, nullable=False),
    Column("train_rows", Integer, nullable=False),
    Column("served", Boolean, nullable=False),  # False: the better baseline beat it; no forecast is served
    Column("mae", Float, nullable=True),
    Column("better", String(16), nullable=False),  # the better naive baseline
    Column("skill", Float, nullable=True),
    Column("hit_rate", Float, nullable=True),
    Column("coverage", Float, nullable=True),
    Column("n", Integer, nullable=False),  # scored held-back forecasts
    Column("baselines", Text, nullable=False),  # JSON {baseline: MAE}
)
Index("ix_forecast_fit_city_layer", forecast_fit.c.city, forecast_fit.c.layer, forecast_fit.c.fitted_at)

forecast_value = Table(  # the latest served forecast of each sensor, replaced by every fit
    "forecast_value",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("layer", String(16), primary_key=True),
    Column("target", Integer, primary_key=True),  # the bucket forecast (15-min, or the hour for air quality)
    Column("sensor_id", Integer, primary_key=True),
    Column("fit_id", Integer, nullable=False),
    Column("origin", Integer, nullable=False),  # the newest observation it was made from
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),  # the 80 % interval
    Column("high", Float, nullable=False),
    Column("primary_pollutant", String(8), nullable=True),
    sqlite_with_rowid=False,
)

forecast_track = Table(  # next-hour forecasts of a few sensors per fit, kept TRACK_DAYS: forecast vs actual
    "forecast_track",
    metadata,
    Column("city", String(16), primary_key=True),
    Column("layer", String(16), primary_key=True),
    Column("sensor_id", Integer, primary_key=True),
    Column("target", Integer, primary_key=True),
    Column("origin", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    sqlite_with_rowid=False,
)

SENSOR_COLUMN = {"traffic": "segment_id", "parking": "lot_id", "air_quality": "station_id"}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL is a property of the file: switch once, not from every new connection (several threads
    # opening connections at once and each switching the mode raced into "disk I/O error").
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per database URL (SQLite gets WAL mode and a busy timeout)."""
    if url is not None and (known := _engines.get(url)) is not None:
        return known  # no settings read (a few path syscalls) for an engine already made
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
    """Bring the store to the newest schema revision (data/store/migrations/, Alembic), keeping its data, and
    record the version. Every process runs this on start; the revisions run one process at a time."""
    migrations.upgrade(engine)
    with engine.begin() as conn:
        _set_meta(conn, "schema_version", SCHEMA_VERSION)
    _spatial.pop(engine.url.render_as_string(), None)


# --- PostGIS ------------------------------------------------------------------------------------
# On PostgreSQL with PostGIS, the sensor and incident tables get a generated geometry column (SRID
# 4326, computed by the database from the WGS84 columns every writer already fills) and a GiST
# index; bbox filters and GeoJSON encoding then run in the database. The columns are not part of
# the SQLAlchemy tables above, so SQLite and every `select(table)` are unchanged. The columns are
# made by the migrations (data/store/migrations: SPATIAL_COLUMNS, ensure_spatial).

_spatial: dict[str, bool] = {}


def is_spatial(engine: Engine) -> bool:
    """True when the store has PostGIS geometry columns (PostgreSQL with PostGIS)."""
    key = engine.url.render_as_string()
    if key not in _spatial:
        if engine.dialect.name != "postgresql":
            _spatial[key] = False
        else:
            with engine.connect() as conn:
                _spatial[key] = conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND column_name = 'geom' "
                        "AND table_name IN ('road_segment', 'parking_lot', 'aq_station', 'incident')"
                    )
                ).scalar() == len(migrations.SPATIAL_COLUMNS)
    return _spatial[key]


def _geom(table: Table) -> Any:
    return literal_column(f"{table.name}.geom")


def _envelope(bbox: Sequence[float], margin: float = 0.0) -> Any:
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    return func.ST_MakeEnvelope(minx - margin, miny - margin, maxx + margin, maxy + margin, 4326)


def _set_meta(conn: Connection, key: str, value: str) -> None:
    _upsert(conn, meta, [{"key": key, "value": value}], ("key",))


def get_meta(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def set_meta(engine: Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        _set_meta(conn, key, value)


def take_meta(engine: Engine, key: str, value: str) -> bool:
    """Delete `key` if it still holds `value`; True for the one caller that did (a single-use value)."""
    with engine.begin() as conn:
        return conn.execute(meta.delete().where(meta.c.key == key, meta.c.value == value)).rowcount == 1


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


def bump_feed(conn: Connection, city: str, layer: str, newest: int | None) -> None:
    """Revision + 1, keeping the newest observation time: one upsert, so concurrent writers on
    PostgreSQL never lose a bump, fail on the first row, or move `newest_observed_at` back."""
    _feed_write_started(conn)
    stored = feed_state.c.newest_observed_at
    best = stored if newest is None else case((stored.is_(None) | (stored < newest), newest), else_=stored)
    stmt = _insert_for(conn, feed_state).values(city=city, layer=layer, revision=1, newest_observed_at=newest)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["city", "layer"],
            set_={"revision": feed_state.c.revision + 1, "newest_observed_at": best},
        )
    )


# --- writes -------------------------------------------------------------------------------------


ENTITY_TYPE = {"traffic": "TrafficFlowObserved", "parking": "OffStreetParking", "air_quality": "AirQualityObserved"}
CITY_BLOCK = 1_000_000  # the simulator numbers a city's sensors from city_index * CITY_BLOCK + 1
FIRST_REGISTERED_ID = 100_000_000  # sensors registered by feeds and imports: above every simulated block
SOURCES = ("simulated", "feed", "import")


def sim_source_id(layer: str, city: str, sensor_id: int) -> str:
    """The outside id of a simulated sensor, e.g. urn:ngsi-ld:OffStreetParking:sim-hangzhou-0042."""
    return f"urn:ngsi-ld:{ENTITY_TYPE[layer]}:sim-{city}-{int(sensor_id) % CITY_BLOCK:04d}"


def _next_sensor_id(conn: Connection, table: Table) -> int:
    """The next free key for a sensor registered by a feed or an import (above the simulator's blocks)."""
    top = conn.execute(select(func.max(table.c.id))).scalar() or 0
    return max(int(top), FIRST_REGISTERED_ID - 1) + 1


def write_static(engine: Engine, city: str, segments: list[dict], lots: list[dict], stations: list[dict]) -> None:
    """Replace a city's simulated sensors (segments, lots, stations) in one transaction; sensors that
    came from feeds or imports stay."""
    with engine.begin() as conn:
        for layer, table, rows in (
            ("traffic", road_segment, segments),
            ("parking", parking_lot, lots),
            ("air_quality", aq_station, stations),
        ):
            conn.execute(table.delete().where(table.c.city == city, table.c.source == "simulated"))
            rows = [{"source_id": sim_source_id(layer, city, r["id"]), "source": "simulated", **r} for r in rows]
            if rows:
                conn.execute(table.insert(), rows)
        _set_meta(conn, f"static_rev:{city}", str(time.time_ns()))


def note_simulation(engine: Engine, city: str, layers: Sequence[str]) -> bool:
    """Record which layers SIMULATE drives in a city; when that changed since the last start, bump the
    geometry version and every layer's revision, so no cache or geobuf file serves the old selection.
    True when it changed."""
    spec = ",".join(sorted(layers)) or "-"
    key = f"simulate:{city}"
    if get_meta(engine, key) == spec:
        return False
    with engine.begin() as conn:
        _set_meta(conn, key, spec)
        _set_meta(conn, f"static_rev:{city}", str(time.time_ns()))
        for layer in LAYERS:
            bump_feed(conn, city, layer, None)
    return True


def write_observations(engine: Engine, city: str, layer: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Upsert observation rows of one layer for one city in one transaction; returns rows written."""
    table = OBSERVATION_TABLES[layer]
    keys = [c.name for c in table.primary_key.columns]
    with engine.begin() as conn:
        for start in range(0, len(rows), 20_000):
            _upsert(conn, table, rows[start : start + 20_000], keys)
        newest = max((r["observed_at"] for r in rows), default=None)
        bump_feed(conn, city, layer, newest)
    return len(rows)


def purge_before(engine: Engine, cutoff: int) -> None:
    with engine.begin() as conn:
        for table in OBSERVATION_TABLES.values():
            conn.execute(table.delete().where(table.c.bucket < cutoff))
        # Operator incidents are records of what people did: retention of observations does not apply.
        conn.execute(incident.delete().where(incident.c.reported_at < cutoff, incident.c.crew == "simulated"))


def replace_road_segments(city: str, roads: Any) -> int:
    """Replace `city`'s (a city key) road network with imported roads (a GeoDataFrame in EPSG:4326).

    Traffic observations of the old segments are dropped in the same transaction: they described
    roads that no longer exist in the store.
    """
    import geopandas as gpd

    if not isinstance(roads, gpd.GeoDataFrame) or roads.empty:
        raise ValueError("no roads to write")
    lengths = roads.to_crs(roads.estimate_utm_crs()).length.to_numpy()
    engine = get_engine()
    create_schema(engine)
    with engine.begin() as conn:
        base = _next_sensor_id(conn, road_segment)
        replaced = select(road_segment.c.id).where(road_segment.c.city == city, road_segment.c.source != "feed")
        conn.execute(traffic_obs.delete().where(traffic_obs.c.city == city, traffic_obs.c.segment_id.in_(replaced)))
        conn.execute(road_segment.delete().where(road_segment.c.city == city, road_segment.c.source != "feed"))
        now = int(time.time())
        rows = [
            {
                "id": base + i,
                "source_id": f"urn:ngsi-ld:RoadSegment:{city}-{base + i}",
                "source": "import",
                "registered_at": now,
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
        bump_feed(conn, city, "traffic", None)
        _set_meta(conn, f"roads_source:{city}", "imported")
        _set_meta(conn, f"static_rev:{city}", str(time.time_ns()))
    return len(rows)


# --- reads --------------------------------------------------------------------------------------


def read_frame(engine: Engine, query: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        # Plain tuples: pandas probes each SQLAlchemy Row for array attributes, which costs ~30 %.
        return _own_strings(pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys())))


def read_plain_frame(engine: Engine, query: Any) -> pd.DataFrame:
    """`read_frame` without SQLAlchemy's result processing of each row (60 % of reading a day of
    incidents): the driver's tuples as they come, NOT NULL Boolean columns made bool afterwards (SQLite
    gives 0/1). Only for queries whose columns are numbers, strings and such Booleans."""
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = _own_strings(pd.DataFrame(result.cursor.fetchall(), columns=list(result.keys())))
    for column in query.selected_columns:
        if isinstance(column.type, Boolean) and not getattr(column, "nullable", True):
            frame[column.name] = frame[column.name].astype(bool)
    return frame


_REPEAT_SAMPLE = 1000  # values looked at to tell a column of repeated strings (district, source) from one of ids


def _own_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (built from rows) with each string column in an array of its own, and a string repeated
    down a column one object: the values and dtypes are as they were. pandas builds a frame from rows
    through one 2-D object array of every value read, and keeps each string column a view of it, so a
    cached frame held all of them: its numbers as Python objects, and columns dropped after the read
    (`coords`). At SIM_SCALE=shanghai the 100,000 road segments without coords held 81 MB, now 19 MB
    (9 MB without the sources' ids: access._sensor_frame)."""
    for i, dtype in enumerate(frame.dtypes):
        if not isinstance(dtype, pd.StringDtype):
            continue
        values = frame.iloc[:, i].to_numpy(dtype=object, copy=True)
        head = values[:_REPEAT_SAMPLE].tolist()
        if len(set(head)) * 2 <= len(head):
            present = ~pd.isna(values)
            codes, uniques = pd.factorize(values[present])
            values[present] = uniques[codes]
        frame.isetitem(i, pd.array(values, dtype=dtype, copy=False))
    return frame


def feed_states(engine: Engine, city: str) -> dict[str, tuple[int, int | None]]:
    """{layer: (revision, newest_observed_at)} for one city."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(feed_state.c.layer, feed_state.c.revision, feed_state.c.newest_observed_at).where(
                feed_state.c.city == city
            )
        ).all()
    return {r.layer: (r.revision, r.newest_observed_at) for r in rows}


# --- feed states, briefly remembered -------------------------------------------------------------
# Public answers are cached per feed revision, so every request needs the revisions. Reading them
# from the store on each request costs more than the cached answer itself; `recent_feed_states`
# keeps them for at most `max_age` seconds per process. A write in this process (any `bump_feed`)
# is seen at once: from the bump until its connection goes back to the pool (after the commit),
# readers go to the store and keep nothing, and the return to the pool forgets every kept state.
# Writes by other processes show within `max_age`.

_FEED_KEY = "citybrain_feed_write"
_STUCK_WRITE_S = 60.0  # a write whose return to the pool was never seen stops disabling the cache
_feed_lock = threading.Lock()
_feed_generation = 0
_feed_writes: dict[int, float] = {}  # write token -> monotonic start, until its connection is returned
_feed_tokens = iter(range(1, 1 << 62))
_recent_states: dict[tuple[Engine, str], tuple[float, int, dict[str, tuple[int, int | None]]]] = {}


def _feed_write_started(conn: Connection) -> None:
    global _feed_generation
    with _feed_lock:
        _feed_generation += 1
        token = next(_feed_tokens)
        _feed_writes[token] = time.monotonic()
    record_info = conn.connection.record_info
    if record_info is not None:
        record_info.setdefault(_FEED_KEY, []).append(token)


@event.listens_for(Pool, "checkin")
def _feed_write_done(_dbapi_connection: Any, record: Any) -> None:
    tokens = record.record_info.pop(_FEED_KEY, None) if record is not None and record.record_info else None
    if tokens:
        global _feed_generation
        with _feed_lock:
            _feed_generation += 1
            for token in tokens:
                _feed_writes.pop(token, None)
            _recent_states.clear()


def _feed_writes_pending(now: float) -> bool:
    for token, started in list(_feed_writes.items()):
        if now - started < _STUCK_WRITE_S:
            return True
        _feed_writes.pop(token, None)
    return False


def recent_feed_states(engine: Engine, city: str, max_age: float = 1.0) -> dict[str, tuple[int, int | None]]:
    """`feed_states`, read at most `max_age` seconds ago in this process, never older than a write
    made in this process (see above). Callers must not change the returned dict."""
    key = (engine, city)
    now = time.monotonic()
    with _feed_lock:
        kept = _recent_states.get(key)
        if kept is not None and now - kept[0] < max_age and kept[1] == _feed_generation:
            return kept[2]
        generation = None if _feed_writes_pending(now) else _feed_generation
    states = feed_states(engine, city)
    with _feed_lock:
        if generation is not None and generation == _feed_generation and not _feed_writes:
            _recent_states[key] = (now, generation, states)
    return states


def latest_bucket_at_or_before(engine: Engine, layer: str, city: str, bucket: int) -> int | None:
    table = OBSERVATION_TABLES[layer]
    with engine.connect() as conn:
        return conn.execute(
            select(func.max(table.c.bucket)).where(table.c.city == city, table.c.bucket <= bucket)
        ).scalar()


def observations(engine: Engine, layer: str, city: str, bucket: int) -> pd.DataFrame:
    table = OBSERVATION_TABLES[layer]
    return read_frame(engine, select(table).where(table.c.city == city, table.c.bucket == bucket))


def observation_values(engine: Engine, layer: str, city: str, bucket: int, columns: Sequence[str]) -> pd.DataFrame:
    """Numeric `columns` of one bucket's observations, as `observations` has them (NOT NULL integer
    columns as int64, the others as float64 with NaN for NULL). The driver's tuples go straight into
    one numpy array: at 100k traffic rows this takes ~0.1 s where `read_frame`, building a Row per
    row and a frame from Python objects, takes ~0.5 s (issue 17)."""
    table = OBSERVATION_TABLES[layer]
    cols = [table.c[c] for c in columns]
    query = select(*cols).where(table.c.city == city, table.c.bucket == bucket)
    with engine.connect() as conn:
        # The DBAPI cursor, not SQLAlchemy rows: these columns need no result processing.
        rows = conn.execute(query).cursor.fetchall()
    values = np.array(rows, dtype=float).reshape(-1, len(cols))
    return pd.DataFrame(
        {
            c.name: values[:, i].astype(np.int64) if isinstance(c.type, Integer) and not c.nullable else values[:, i]
            for i, c in enumerate(cols)
        }
    )


SENSOR_TABLES: dict[str, Table] = {"traffic": road_segment, "parking": parking_lot, "air_quality": aq_station}


def sensors(
    engine: Engine,
    layer: str,
    city: str,
    geojson: bool = False,
    include_retired: bool = False,
    all_sources: bool = False,
) -> pd.DataFrame:
    """A city's sensors of one layer as the map, KPIs, alerts and the open data API see them, by id:
    in service (retired ones too with `include_retired`), and on a layer SIMULATE leaves out only
    those from feeds and imports (every one with `all_sources`). With `geojson` on a PostGIS store,
    a `geojson` column holds each geometry encoded by the database (ST_AsGeoJSON, 6 decimals)."""
    table = SENSOR_TABLES[layer]
    columns = [table]
    if geojson and is_spatial(engine):
        columns.append(func.ST_AsGeoJSON(_geom(table), 6).label("geojson"))
    where = [table.c.city == city]
    if not include_retired:
        where.append(table.c.retired_at.is_(None))
    if not all_sources and not load_settings().simulates(city, layer):
        where.append(table.c.source != "simulated")
    return read_frame(engine, select(*columns).where(*where).order_by(table.c.id))


def driven_sensors(engine: Engine, layer: str, city: str) -> pd.DataFrame:
    """The sensors the simulator may write: every one in service except those registered by feeds."""
    frame = sensors(engine, layer, city, all_sources=True)
    return frame[frame["source"] != "feed"].reset_index(drop=True)


def arrivals_between(engine: Engine, city: str, start_bucket: int, end_bucket: int) -> pd.DataFrame:
    """Vehicles that entered each lot over [start, end] buckets, inclusive."""
    q = (
        select(parking_obs.c.lot_id, func.sum(parking_obs.c.arrivals).label("arrivals"))
        .where(parking_obs.c.city == city, parking_obs.c.bucket >= start_bucket, parking_obs.c.bucket <= end_bucket)
        .group_by(parking_obs.c.lot_id)
    )
    return read_plain_frame(engine, q)  # numbers only: the driver's tuples (20,000 lots at SIM_SCALE=shanghai)


def _shown_incidents(city: str) -> list[Any]:
    """Where SIMULATE leaves a city's incidents out, the simulated ones are not shown (nor counted)."""
    return [] if load_settings().simulates(city, "incidents") else [incident.c.simulated.is_(False)]


def trend_rows(engine: Engine, layer: str, city: str, first: int, last: int) -> pd.DataFrame:
    """What the KPI trends need for buckets [first, last], summed in the database: per bucket and
    district for traffic (travel and free-flow times, length, speed x length) and parking (occupied,
    capacity); per hour and station for air quality (the concentrations: AQI is not additive); the
    workflow times and district of incidents."""
    if layer == "traffic":
        o, s = traffic_obs.c, road_segment.c
        q = (
            select(
                o.bucket,
                s.district,
                func.sum(s.length_m / o.speed_kmh * 3.6).label("tt"),
                func.sum(s.length_m / s.free_flow_kmh * 3.6).label("ff"),
                func.sum(s.length_m * o.speed_kmh).label("speed_len"),
                func.sum(s.length_m).label("length"),
            )
            .select_from(traffic_obs.join(road_segment, s.id == o.segment_id))
            .where(o.city == city, o.bucket >= first, o.bucket <= last, o.speed_kmh > 0)
            .group_by(o.bucket, s.district)
        )
    elif layer == "parking":
        o, s = parking_obs.c, parking_lot.c
        q = (
            select(o.bucket, s.district, func.sum(o.occupied).label("occupied"), func.sum(s.capacity).label("capacity"))
            .select_from(parking_obs.join(parking_lot, s.id == o.lot_id))
            .where(o.city == city, o.bucket >= first, o.bucket <= last)
            .group_by(o.bucket, s.district)
        )
    elif layer == "air_quality":
        o = aq_obs.c
        q = select(o.bucket, o.station_id, *(o[p] for p in POLLUTANT_COLUMNS)).where(
            o.city == city, o.bucket >= first, o.bucket <= last
        )
    elif layer == "incidents":  # reported in [first, last], or earlier and not closed by `first`
        c = incident.c
        columns = (c.reported_at, c.dispatched_at, c.resolved_at, c.closed_at, c.district)
        q = _reported_or_carried(columns, [c.city == city], first, last, first)
        return read_plain_frame(engine, q)  # a week of incidents: numbers and a string
    else:
        raise ValueError(f"no trend rows for {layer!r}")
    return read_frame(engine, q)


def incidents_between(
    engine: Engine, city: str, start: int, end: int, open_at: int | None = None, after_id: int | None = None
) -> pd.DataFrame:
    """Incidents reported in [start, end] plus those reported earlier and not yet closed at `open_at`
    (default `end`); with `after_id`, only those of them with a larger id (rows written since a read)."""
    open_at = end if open_at is None else open_at
    where = [*_shown_incidents(city), incident.c.city == city]
    if after_id is not None:
        where.append(incident.c.id > after_id)
    return read_plain_frame(engine, _reported_or_carried((incident,), where, start, end, open_at))


def incidents_between_tally(
    engine: Engine, city: str, start: int, end: int, open_at: int, upto_id: int
) -> tuple[int, int]:
    """(how many, sum of `version`) of the incidents `incidents_between` reads with an id up to `upto_id`:
    every change to an incident bumps its version (data/store/operations.py), so a tally equal to that
    of an earlier read says those rows are as they were (a deleted or late-committed row changes the count)."""
    where = [*_shown_incidents(city), incident.c.city == city, incident.c.id <= upto_id]
    parts = _reported_or_carried((incident.c.version,), where, start, end, open_at).subquery()
    with engine.connect() as conn:
        count, versions = conn.execute(select(func.count(), func.coalesce(func.sum(parts.c.version), 0))).one()
    return int(count), int(versions)


def _reported_or_carried(columns: Sequence[Any], where: list[Any], start: int, end: int, open_at: int) -> Any:
    """Incidents reported in [start, end], or before `start` and not closed at `open_at`: three parts,
    each a range of an index. One OR over them scanned the city's whole history (826,000 incidents at
    SIM_SCALE=shanghai: 1.2-1.4 s for a day of 14,000; 0.16 s now). `+ 0` keeps the carried parts on
    (city, closed_at): SQLite, without statistics, otherwise takes (city, reported_at) for them."""
    c = incident.c
    before = [*where, (c.reported_at + 0) < start, (c.reported_at + 0) <= end]
    return union_all(
        select(*columns).where(*where, c.reported_at >= start, c.reported_at <= end),
        select(*columns).where(*before, c.closed_at.is_(None)),
        select(*columns).where(*before, c.closed_at > open_at),
    )


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
    """Replace a city's observations in buckets [from, to) with `rows`, in one transaction (backfills).
    Observations of sensors registered by feeds stay: the simulator never writes into those."""
    table = OBSERVATION_TABLES[layer]
    sensor_table = SENSOR_TABLES[layer]
    feed_sensors = select(sensor_table.c.id).where(sensor_table.c.city == city, sensor_table.c.source == "feed")
    with engine.begin() as conn:
        conn.execute(
            table.delete().where(
                table.c.city == city,
                table.c.bucket >= from_bucket,
                table.c.bucket < to_bucket,
                table.c[SENSOR_COLUMN[layer]].not_in(feed_sensors),
            )
        )
        if rows and conn.dialect.name == "postgresql":
            _copy_rows(conn, table, columns, rows)
        elif rows:
            conn.exec_driver_sql(_insert_sql(engine, table, columns), rows)
        bump_feed(conn, city, layer, newest)


def _copy_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """PostgreSQL's COPY (psycopg 3), several times faster than INSERTs for a backfill's rows."""
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_incidents_once(engine: Engine, city: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert incidents in one transaction; a `ref` already stored is skipped (idempotent)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # COPY into a scratch table, then one INSERT .. SELECT
            names = ", ".join(columns)
            conn.exec_driver_sql("CREATE TEMP TABLE incident_load (LIKE incident INCLUDING DEFAULTS) ON COMMIT DROP")
            _copy_rows(conn, Table("incident_load", MetaData()), columns, rows)
            conn.exec_driver_sql(
                f"INSERT INTO incident ({names}) SELECT {names} FROM incident_load ON CONFLICT (ref) DO NOTHING"
            )
        else:
            conn.exec_driver_sql(_insert_sql(engine, incident, columns) + " ON CONFLICT (ref) DO NOTHING", rows)
        bump_feed(conn, city, "incidents", max(r[columns.index("reported_at")] for r in rows))


# --- open data API reads: paged, counted and filtered by bbox in the database --------------------
# The API pages through time ranges and counts matches without loading them (Hangzhou has ~30,000
# events a day). Callers name the columns they may read (public/ keeps those lists). A bbox is
# filtered by PostGIS (GiST index, ST_Intersects) when the store has geometry columns; on SQLite
# observations are filtered by the sensor ids the caller found, incidents by their lon/lat.


def observation_bucket_range(engine: Engine, layer: str, city: str) -> tuple[int | None, int | None]:
    """(oldest, newest) bucket stored for a city's layer (two index lookups)."""
    table = OBSERVATION_TABLES[layer]
    with engine.connect() as conn:
        oldest = conn.execute(select(func.min(table.c.bucket)).where(table.c.city == city)).scalar()
        newest = conn.execute(select(func.max(table.c.bucket)).where(table.c.city == city)).scalar()
    return oldest, newest


def sensor_ids_in_bbox(engine: Engine, layer: str, city: str, bbox: Sequence[float]) -> list[int]:
    """Ids of a city's sensors whose geometry intersects bbox (lon/lat, WGS84); needs PostGIS."""
    if not is_spatial(engine):
        raise ValueError("bbox filtering in the database needs PostGIS")
    table = SENSOR_TABLES[layer]
    with engine.connect() as conn:
        return list(conn.execute(_sensors_in_bbox(table, city, bbox).order_by(table.c.id)).scalars())


def _sensors_in_bbox(table: Table, city: str, bbox: Sequence[float]) -> Any:
    envelope = _envelope(bbox)
    return select(table.c.id).where(
        table.c.city == city, _geom(table).op("&&")(envelope), func.ST_Intersects(_geom(table), envelope)
    )


def _observation_where(
    engine: Engine,
    layer: str,
    city: str,
    first: int,
    last: int,
    sensor_ids: Sequence[int] | None,
    bbox: Sequence[float] | None,
) -> tuple[Table, list[Any]]:
    table = OBSERVATION_TABLES[layer]
    sensor = table.c[SENSOR_COLUMN[layer]]
    clauses = [table.c.city == city, table.c.bucket >= first, table.c.bucket <= last]
    if sensor_ids is not None:
        clauses.append(sensor.in_(list(sensor_ids)))
    if bbox is not None:
        if not is_spatial(engine):
            raise ValueError("bbox filtering in the database needs PostGIS; pass sensor_ids")
        clauses.append(sensor.in_(_sensors_in_bbox(SENSOR_TABLES[layer], city, bbox)))
    return table, clauses


def observations_between(
    engine: Engine,
    layer: str,
    city: str,
    first: int,
    last: int,
    columns: Sequence[str],
    *,
    sensor_ids: Sequence[int] | None = None,
    bbox: Sequence[float] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Observations with first <= bucket <= last (of `sensor_ids`, or of the sensors intersecting
    `bbox`), ordered by (bucket, sensor): one page of them, with only `columns`."""
    table, where = _observation_where(engine, layer, city, first, last, sensor_ids, bbox)
    query = (
        select(*(table.c[c] for c in columns))
        .where(*where)
        .order_by(table.c.bucket, table.c[SENSOR_COLUMN[layer]])
        .offset(offset)
    )
    return read_frame(engine, query if limit is None else query.limit(limit))


def count_observations_between(
    engine: Engine,
    layer: str,
    city: str,
    first: int,
    last: int,
    *,
    sensor_ids: Sequence[int] | None = None,
    bbox: Sequence[float] | None = None,
) -> int:
    table, where = _observation_where(engine, layer, city, first, last, sensor_ids, bbox)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


# Operations-internal incident types: a silent sensor says where the city cannot see; never public.
INTERNAL_INCIDENT_KINDS = ("sensor_offline",)


def _incident_selection(
    engine: Engine,
    columns: Sequence[str],
    city: str,
    *,
    open_at: int | None,
    start: int | None,
    end: int | None,
    bbox: Sequence[float] | None,
    bbox_margin: float,
    oldest: int,
) -> Any:
    """A subquery of the incidents a selection takes, with `columns`.

    bbox: lon in [minx - margin, maxx + margin), lat likewise (a margin of half the published
    rounding filters the rounded values); on PostGIS the GiST index finds the candidates first.
    Open at an instant: reported by then and not yet resolved, read through the (city, resolved_at)
    index as two disjoint parts (resolved later / never); `reported_at + 0` keeps the planner off the
    reported_at index, which would scan a week of events. Otherwise: reported within [start, end].
    """
    c = incident.c
    common = [c.city == city, c.kind.not_in(INTERNAL_INCIDENT_KINDS), *_shown_incidents(city)]
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        common += [
            c.lon >= minx - bbox_margin,
            c.lon < maxx + bbox_margin,
            c.lat >= miny - bbox_margin,
            c.lat < maxy + bbox_margin,
        ]
        if is_spatial(engine):
            common.append(_geom(incident).op("&&")(_envelope(bbox, bbox_margin)))
    selected = [c[name] for name in columns]
    if open_at is None:
        return select(*selected).where(*common, c.reported_at >= start, c.reported_at <= end).subquery()
    reported = [(c.reported_at + 0) <= open_at, (c.reported_at + 0) >= oldest]
    later = select(*selected).where(*common, c.resolved_at > open_at, *reported)
    never = select(*selected).where(*common, c.resolved_at.is_(None), *reported)
    return union_all(later, never).subquery()


def incidents_page(
    engine: Engine,
    city: str,
    columns: Sequence[str],
    *,
    open_at: int | None = None,
    start: int | None = None,
    end: int | None = None,
    bbox: Sequence[float] | None = None,
    bbox_margin: float = 0.0,
    oldest: int = 0,
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Incidents a selection takes (see `_incident_selection`), ordered by (reported_at, id): one page.
    `columns` must include `id` and `reported_at`."""
    sub = _incident_selection(
        engine, columns, city, open_at=open_at, start=start, end=end, bbox=bbox, bbox_margin=bbox_margin, oldest=oldest
    )
    # On the union, `+ 0` stops SQLite from pushing the order into each part (it would then walk
    # the reported_at index instead of the resolved_at one); a sort of the few open ones is cheap.
    first = sub.c.reported_at + 0 if open_at is not None else sub.c.reported_at
    query = select(sub).order_by(first, sub.c.id).offset(offset)
    return read_frame(engine, query if limit is None else query.limit(limit))


def count_incidents(
    engine: Engine,
    city: str,
    *,
    open_at: int | None = None,
    start: int | None = None,
    end: int | None = None,
    bbox: Sequence[float] | None = None,
    bbox_margin: float = 0.0,
    oldest: int = 0,
) -> int:
    sub = _incident_selection(
        engine, ("id",), city, open_at=open_at, start=start, end=end, bbox=bbox, bbox_margin=bbox_margin, oldest=oldest
    )
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sub)).scalar() or 0)


def incidents_reported_at(engine: Engine, city: str, reported_at: int, columns: Sequence[str]) -> pd.DataFrame:
    c = incident.c
    query = select(*(c[name] for name in columns)).where(
        c.city == city, c.reported_at == reported_at, c.kind.not_in(INTERNAL_INCIDENT_KINDS), *_shown_incidents(city)
    )
    return read_frame(engine, query)


# --- ingest -------------------------------------------------------------------------------------


INGEST_LOCK_KEY = 0x43697479  # PostgreSQL advisory lock taken by every ingest batch ("City")


def write_ingest_batch(
    engine: Engine,
    source: str,
    parts: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    rejected: Mapping[str, Sequence[Mapping[str, Any]]],
    received_at: int,
    changes: Any = None,
) -> dict[str, tuple[int, int]]:
    """Store validated rows ({layer: {city: rows}}), quarantined rows ({layer: rows}) and a log entry
    per layer, all in ONE transaction. Returns {layer: (accepted, duplicates)}.

    An observation whose sensor already has one at the same `observed_at` (an incident whose `ref`
    exists) is a duplicate and is not written again; a newer observation in the same 15-minute
    bucket replaces the older one; an older one is counted as a duplicate (superseded).

    `changes` (data.store.registry.SensorChanges) registers the batch's new sensors first (rows
    naming one carry its `_source_id` and no key yet), moves sensors, and counts ParkingSpot states
    into their sites, all in the same transaction.
    """
    from data.store import registry as sensor_registry

    counts: dict[str, tuple[int, int]] = {}
    parts = {layer: {city: list(rows) for city, rows in by_city.items()} for layer, by_city in parts.items()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # SQLite's write lock serialises batches; PostgreSQL (READ COMMITTED) would let two
            # concurrent batches both see a row as new. One transaction-scoped lock does the same.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK_KEY})
        else:  # take SQLite's write lock before the registry's reads (see below)
            conn.execute(meta.delete().where(meta.c.key == "ingest:never"))
        if changes is not None:
            ids = sensor_registry.register(conn, changes, received_at)
            for layer, by_city in parts.items():
                sensor = SENSOR_COLUMN.get(layer)
                for rows in by_city.values():
                    for k, row in enumerate(rows):
                        if sensor and row.get(sensor) is None and "_source_id" in row:
                            rows[k] = {c: v for c, v in row.items() if c != "_source_id"}
                            rows[k][sensor] = ids[layer][row["_source_id"]]
            sensor_registry.move(conn, changes, received_at, f"ingest:{source}")
        layers = set(parts) | set(rejected) | ({"parking"} if changes is not None and changes.spots else set())
        for layer in sorted(layers):
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
                    bump_feed(conn, city, "incidents", max(r["reported_at"] for r in fresh))
                else:
                    table = OBSERVATION_TABLES[layer]
                    _upsert(conn, table, fresh, [c.name for c in table.primary_key.columns])
                    bump_feed(conn, city, layer, max(r["observed_at"] for r in fresh))
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
            if layer == "parking" and changes is not None and changes.spots:
                # After the car parks' own rows: at the same instant a site's reported total wins.
                spot_counts = _count_spots(conn, changes.spots)
                accepted, duplicates = accepted + spot_counts[0], duplicates + spot_counts[1]
                conn.execute(
                    ingest_batch.update()
                    .where(ingest_batch.c.id == batch_id)
                    .values(accepted=accepted, duplicates=duplicates)
                )
            counts[layer] = (accepted, duplicates)
    return counts


def _count_spots(conn: Connection, spots: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """ParkingSpot states stored and counted into their sites' occupancy: (accepted, duplicates)."""
    from data.store import registry as sensor_registry

    accepted, duplicates, site_rows = sensor_registry.count_spots(conn, spots)
    for city, rows in site_rows.items():
        fresh = _fresh_observations(conn, "parking", city, rows)
        if fresh:
            _upsert(conn, parking_obs, fresh, [c.name for c in parking_obs.primary_key.columns])
            bump_feed(conn, city, "parking", max(r["observed_at"] for r in fresh))
    return accepted, duplicates


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
