"""Version 1 of the store: sensors, observations, incidents, feed revisions, meta, ingest quarantine.

Stores made by version-1 code are not stamped: they run this revision too, which creates only the
tables and indexes they lack (the ingest tables arrived during version 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OBSERVATION_PK = ("city", "bucket")


def _create_table(name: str, *columns: sa.SchemaItem, **kwargs: object) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns, **kwargs)


def _index(name: str, table: str, columns: list[str], **kwargs: object) -> None:
    op.create_index(name, table, columns, unique=False, if_not_exists=True, **kwargs)


def upgrade() -> None:
    _create_table(
        "road_segment",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("road_class", sa.String(length=16), nullable=False),
        sa.Column("lanes", sa.Integer(), nullable=False),
        sa.Column("free_flow_kmh", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("coords", sa.Text(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_road_segment_city", "road_segment", ["city"])
    _create_table(
        "parking_lot",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("tariff_cny_h", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_parking_lot_city", "parking_lot", ["city"])
    _create_table(
        "aq_station",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_aq_station_city", "aq_station", ["city"])
    _create_table(
        "traffic_obs",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*OBSERVATION_PK, "segment_id"),
        sqlite_with_rowid=False,
    )
    _create_table(
        "parking_obs",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("occupied", sa.Integer(), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*OBSERVATION_PK, "lot_id"),
        sqlite_with_rowid=False,
    )
    _create_table(
        "aq_obs",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in ("pm25", "pm10", "o3", "no2", "so2", "co")),
        sa.Column("observed_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*OBSERVATION_PK, "station_id"),
        sqlite_with_rowid=False,
    )
    _create_table(
        "incident",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("reported_at", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.Integer(), nullable=True),
        sa.Column("on_scene_at", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    _index("ix_incident_city_reported", "incident", ["city", "reported_at"])
    _index("ix_incident_city_resolved", "incident", ["city", "resolved_at"])
    _create_table(
        "feed_state",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("newest_observed_at", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("city", "layer"),
    )
    _create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    _create_table(
        "ingest_batch",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_ingest_batch_received_at", "ingest_batch", ["received_at"])
    _create_table(
        "ingest_rejection",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_ingest_rejection_batch_id", "ingest_rejection", ["batch_id"])
    _index("ix_ingest_rejection_received_at", "ingest_rejection", ["received_at"])


def downgrade() -> None:
    raise NotImplementedError("the store is not downgraded: restore a backup taken before the upgrade")
