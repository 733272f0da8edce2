"""Schema revisions (data/store/migrations/): a version-1 store with data upgrades to the newest revision and
loses nothing, on SQLite and on PostGIS; stores made before Alembic are stamped at their revision; the
revisions end exactly at the tables data/store/__init__.py declares."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from data import store
from data.store import migrations
from data.store import operations as ops_store

# The tables of version 1 and how many of each table's rows the test copies into a version-1 store.
VERSION_1_TABLES = (
    "road_segment",
    "parking_lot",
    "aq_station",
    "traffic_obs",
    "parking_obs",
    "aq_obs",
    "incident",
    "feed_state",
    "meta",
)
ROWS = 400
pytestmark = pytest.mark.filterwarnings("ignore:Did not recognize type .geometry.")


@pytest.fixture()
def fresh(backend, tmp_path, request):
    """An empty database beside the backend's prepared one (with PostGIS installed on PostgreSQL)."""
    if backend.name == "sqlite":
        return store.get_engine(f"sqlite:///{tmp_path / 'upgrade.sqlite'}")
    return store.get_engine(request.getfixturevalue("pg_server").create_database(f"upgrade_{time.time_ns()}"))


def _columns(engine, table: str) -> list[str]:
    return [c["name"] for c in inspect(engine).get_columns(table) if c["name"] != "geom"]


def _rows(engine, table: str, columns: list[str]) -> list[tuple]:
    order = ", ".join(columns)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {order} FROM {table} ORDER BY {order}"))]


def _schema_differences(engine) -> list:
    """What the store's tables lack or have beyond data/store/__init__.py's (PostGIS's own columns aside)."""

    def ours(obj, name, kind, _reflected, _compare_to) -> bool:
        return not (name == "geom" or (kind == "index" and name.endswith("_geom")) or name == "spatial_ref_sys")

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours})
        return compare_metadata(context, store.metadata)


def test_a_version_1_store_with_data_upgrades_and_loses_nothing(backend, fresh):
    migrations.upgrade(fresh, "0001")  # the version-1 schema
    assert migrations.current(fresh) == "0001" and "closed_at" not in _columns(fresh, "incident")
    for table in VERSION_1_TABLES:  # real rows from the prepared store, in version 1's columns
        columns = _columns(fresh, table)
        with backend.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table} LIMIT {ROWS}")).mappings().all()
        assert rows, table
        with fresh.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES (:{', :'.join(columns)})"), rows)
    before = {table: _rows(fresh, table, _columns(fresh, table)) for table in VERSION_1_TABLES}
    v1_columns = {table: _columns(fresh, table) for table in VERSION_1_TABLES}

    store.create_schema(fresh)

    assert migrations.current(fresh) == "0006"
    for table in VERSION_1_TABLES:
        after = _rows(fresh, table, v1_columns[table])
        assert after == before[table] or table == "meta", table  # meta gains the schema version
    assert set(before["meta"]) <= set(_rows(fresh, "meta", ["key", "value"]))
    with fresh.connect() as conn:
        incidents = conn.execute(select(store.incident)).mappings().all()
    assert len(incidents) == len(before["incident"])
    for row in incidents:  # version 1's simulated crews acknowledged on dispatch and closed on resolve
        assert (row["crew"], row["version"], row["unit"], row["alert_key"]) == ("simulated", 1, None, None)
        assert (row["acknowledged_at"], row["closed_at"]) == (row["dispatched_at"], row["resolved_at"])
    assert _schema_differences(fresh) == []
    # 0004: every sensor kept its key and got the outside id the simulator gives it, unique per layer.
    for layer, table in store.SENSOR_TABLES.items():
        with fresh.connect() as conn:
            rows = conn.execute(select(table.c.id, table.c.city, table.c.source_id, table.c.source)).all()
        assert len(rows) == len(before[table.name]) and len({r.source_id for r in rows}) == len(rows), layer
        for sensor_id, city, source_id, source in rows:
            assert (source_id, source) == (store.sim_source_id(layer, city, sensor_id), "simulated"), layer
    assert store.sim_source_id("parking", "beijing", 1_000_042) == "urn:ngsi-ld:OffStreetParking:sim-beijing-0042"
    # The upgraded store registers a feed's sensor beside the kept ones, with a key of its own.
    from data.store.registry import SensorChanges

    new_lot = {"city": "shenzhen", "name": "new", "kind": "commercial", "district": "", "capacity": 10,
               "tariff_cny_h": 0.0, "lon": 114.05, "lat": 22.54, "simulated": False}  # fmt: skip
    sid = "urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042"
    store.write_ingest_batch(fresh, "test", {}, {}, int(time.time()), SensorChanges(new={"parking": {sid: new_lot}}))
    with fresh.connect() as conn:
        new = conn.execute(select(store.parking_lot).where(store.parking_lot.c.source_id == sid)).mappings().one()
        kept = conn.execute(select(func.count()).select_from(store.parking_lot)).scalar()
    assert new["id"] >= store.FIRST_REGISTERED_ID and new["source"] == "feed" and kept == len(before["parking_lot"]) + 1
    # The upgraded store works: users (with their audit entry, which the database keeps) and sessions.
    now = int(time.time())
    ops_store.save_user(fresh, "upgrade.operator", "operator", "unused-hash", "tests", now)
    ops_store.start_session(fresh, "sid-hash", "upgrade.operator", now, now + 60)
    assert ops_store.session_user(fresh, "sid-hash", now)["name"] == "upgrade.operator"
    assert ops_store.get_incident(fresh, incidents[0]["id"])["version"] == 1
    with pytest.raises(Exception, match="append-only"), fresh.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    if backend.name == "postgresql":  # geometry columns follow the upgrade, filled from the kept rows
        assert store.is_spatial(fresh)
        with fresh.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM incident WHERE geom IS NULL")).scalar() == 0


def test_fresh_stores_end_at_the_declared_tables(backend, fresh):
    store.create_schema(fresh)
    store.create_schema(fresh)  # and a second start changes nothing
    assert migrations.current(fresh) == "0006"
    assert store.get_meta(fresh, "schema_version") == store.SCHEMA_VERSION
    assert _schema_differences(fresh) == []


@pytest.mark.parametrize(("sessions", "stamp"), [(True, "0003"), (False, "0002")])
def test_stores_made_before_revisions_are_stamped_and_upgraded_in_place(tmp_path, sessions, stamp):
    """What the code before Alembic made: every table from the declarations, no alembic_version."""
    import data.store.operations  # noqa: F401

    engine = store.get_engine(f"sqlite:///{tmp_path / 'v2.sqlite'}")
    tables = [
        t
        for t in store.metadata.sorted_tables
        if (sessions or t.name != "app_session") and not t.name.startswith("forecast_")  # made after Alembic
    ]
    store.metadata.create_all(engine, tables=tables)
    now = int(time.time())
    ops_store.save_user(engine, "old.admin", "admin", "unused-hash", "tests", now)
    with engine.connect() as conn:
        assert migrations.legacy_revision(conn) == stamp

    store.create_schema(engine)

    assert migrations.current(engine) == "0006"
    assert ops_store.get_user(engine, "old.admin") is not None
    assert inspect(engine).has_table("app_session") and _schema_differences(engine) == []
