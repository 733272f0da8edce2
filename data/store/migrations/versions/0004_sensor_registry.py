"""The sensor registry (issue 18): every sensor keeps the id its source gives it, whole, and where it
came from, so feeds are matched by that id only and can register sensors of their own.

Each sensor table gains `source_id` (unique per layer: the full URN or outside id), `source`
(simulated / feed / import), `registered_at` and `retired_at`. Existing sensors get the ids the
simulator gives today (`urn:ngsi-ld:OffStreetParking:sim-hangzhou-0042`, the number being the
sensor's place in its city's inventory); imported roads get `urn:ngsi-ld:RoadSegment:<city>-<id>`.
`parking_spot` keeps the last state of each spot of a ParkingSpot feed, counted into its site.

Columns or tables already there (a store made from the declarations before Alembic) are left as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SENSOR_TABLES = ("road_segment", "parking_lot", "aq_station")
ENTITY_TYPE = {
    "road_segment": "TrafficFlowObserved",
    "parking_lot": "OffStreetParking",
    "aq_station": "AirQualityObserved",
}
CITY_BLOCK = 1_000_000  # the simulator numbers each city's sensors from city_index * CITY_BLOCK + 1


def _source_id(table: str, sensor_id: int, city: str, simulated_inventory: bool) -> tuple[str, str]:
    if table == "road_segment" and not simulated_inventory:
        return f"urn:ngsi-ld:RoadSegment:{city}-{sensor_id}", "import"
    return f"urn:ngsi-ld:{ENTITY_TYPE[table]}:sim-{city}-{sensor_id % CITY_BLOCK:04d}", "simulated"


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    for table in SENSOR_TABLES:
        present = {c["name"] for c in inspector.get_columns(table)}
        if "source_id" in present:
            continue
        op.add_column(table, sa.Column("source_id", sa.String(length=256), nullable=True))
        op.add_column(table, sa.Column("source", sa.String(length=16), server_default="simulated", nullable=False))
        op.add_column(table, sa.Column("registered_at", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("retired_at", sa.Integer(), nullable=True))
        flag = "synthetic" if table == "road_segment" else "simulated"
        rows = conn.execute(sa.text(f"SELECT id, city, {flag} FROM {table}")).all()
        updates = []
        for sensor_id, city, simulated in rows:
            # AQ stations are the real 2017 list plus simulated ones: both carry simulated values.
            source_id, source = _source_id(table, int(sensor_id), city, bool(simulated) or table != "road_segment")
            updates.append({"i": sensor_id, "s": source_id, "o": source})
        if updates:
            conn.execute(sa.text(f"UPDATE {table} SET source_id = :s, source = :o WHERE id = :i"), updates)
        op.create_index(f"ux_{table}_source_id", table, ["source_id"], unique=True)
    if not inspector.has_table("parking_spot"):
        op.create_table(
            "parking_spot",
            sa.Column("source_id", sa.String(length=256), nullable=False),
            sa.Column("lot_id", sa.Integer(), nullable=False),
            sa.Column("occupied", sa.Boolean(), nullable=False),
            sa.Column("observed_at", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("source_id"),
        )
        op.create_index("ix_parking_spot_lot_id", "parking_spot", ["lot_id"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the store is not downgraded: restore a backup taken before the upgrade")
