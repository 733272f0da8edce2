"""Forecasts (issue 19): each fit with its backtest, the latest forecast per sensor, the next-hour track.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_fit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("fitted_at", sa.Integer(), nullable=False),
        sa.Column("fit_seconds", sa.Float(), nullable=False),
        sa.Column("history_from", sa.Integer(), nullable=False),
        sa.Column("history_to", sa.Integer(), nullable=False),
        sa.Column("train_rows", sa.Integer(), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("mae", sa.Float(), nullable=True),
        sa.Column("better", sa.String(length=16), nullable=False),
        sa.Column("skill", sa.Float(), nullable=True),
        sa.Column("hit_rate", sa.Float(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("baselines", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forecast_fit_city_layer", "forecast_fit", ["city", "layer", "fitted_at"], unique=False)
    op.create_table(
        "forecast_value",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("fit_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("primary_pollutant", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("city", "layer", "target", "sensor_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "forecast_track",
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("origin", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("city", "layer", "sensor_id", "target"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    raise NotImplementedError("the store is not downgraded: restore a backup taken before the upgrade")
