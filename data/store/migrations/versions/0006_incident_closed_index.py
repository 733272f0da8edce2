"""Incidents by city and closing time (issue 17): an index on incident (city, closed_at).

A day's incidents are those reported that day plus those carried into it (reported before, still
open when it began). Asked as one OR, SQLite walked the city's whole history through (city,
reported_at): 1.2-1.4 s for a day of 14,000 incidents among 826,000 at SIM_SCALE=shanghai, on every
simulator tick. The carried ones are now read as two ranges of this index (0.16 s for the day).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "ix_incident_city_closed"


def upgrade() -> None:
    if NAME not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("incident")}:
        op.create_index(NAME, "incident", ["city", "closed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(NAME, table_name="incident")
