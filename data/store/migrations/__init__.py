"""The store's schema changes, as Alembic revisions (versions/), and the one way they are applied.

`upgrade(engine)` brings a store to the newest revision, one process at a time: `store.create_schema`
runs it on every start, on SQLite and PostgreSQL alike, and operators can run it by hand:

    python -m cli.migrations upgrade      # the store named by DATABASE_URL (or DATA_DIR's SQLite file)
    python -m cli.migrations current      # the revision the store is at; `history` lists them all

A store made before Alembic (no `alembic_version` table) is stamped at the revision its tables match
(`legacy_revision`) and upgraded from there with its data. After the revisions, PostGIS geometry
columns are added when the extension is installed (`ensure_spatial`): that depends on the
database server, not on the schema's version, so it is checked on every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
SCHEMA_LOCK_KEY = 0x53636D61  # PostgreSQL advisory lock held while the schema is created or upgraded
# Revisions of stores made before Alembic: version 2 (the incident workflow) without and with the
# server-side sessions added later without a version bump. Version 1 stores have no stamp: revision
# 0001 creates whichever of its tables they lack, and 0002 upgrades them.
VERSION_2, VERSION_2_SESSIONS = "0002", "0003"
# Alembic names each of its autogenerate plugins at INFO on every start; the revisions run stay logged.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def schema_lock(conn: Connection) -> Iterator[None]:
    """One process at a time changes the schema: gunicorn workers starting together on PostgreSQL raced
    on its catalog ("tuple concurrently updated"), and on SQLite two would both create revision 0001."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
        return
    database = conn.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.schema-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def legacy_revision(conn: Connection) -> str | None:
    """The revision a store made before Alembic is at; None for a fresh, version-1 or Alembic store."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables or "incident" not in tables:
        return None
    if "closed_at" not in {c["name"] for c in inspector.get_columns("incident")}:
        return None  # version 1
    return VERSION_2_SESSIONS if "app_session" in tables else VERSION_2


# On PostgreSQL with PostGIS: a generated geometry column (SRID 4326, from the WGS84 columns every
# writer fills) and a GiST index per spatial table.
SPATIAL_COLUMNS: dict[str, tuple[str, str]] = {
    "road_segment": (
        "LineString",
        """ST_SetSRID(ST_GeomFromGeoJSON('{"type":"LineString","coordinates":' || coords || '}'), 4326)""",
    ),
    "parking_lot": ("Point", "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"),
    "aq_station": ("Point", "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"),
    "incident": ("Point", "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"),
}


def ensure_spatial(conn: Connection) -> None:
    """Geometry columns and GiST indexes when PostGIS is installed in the database (or can be). Run after
    every schema upgrade: whether the extension is there depends on the server, not on the revision."""
    available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
    if available is None:
        return
    installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
    if installed is None:
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except Exception:  # not allowed for this role: stay without geometry columns
            return
    for table, (kind, expression) in SPATIAL_COLUMNS.items():
        conn.execute(
            text(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS geom geometry({kind}, 4326) "
                f"GENERATED ALWAYS AS ({expression}) STORED"
            )
        )
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table}_geom ON {table} USING gist (geom)"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect() as conn, schema_lock(conn):
        cfg = config(conn)
        legacy = legacy_revision(conn)
        if legacy is not None:
            command.stamp(cfg, legacy)
        command.upgrade(cfg, revision)
        conn.commit()
        if conn.dialect.name == "postgresql":
            ensure_spatial(conn)
            conn.commit()


def current(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
