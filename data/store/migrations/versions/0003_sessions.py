"""Server-side sessions: signing out (or disabling a user) ends a session everywhere. Added after
version 2 without a version bump, so stores of version 2 are stamped here or one revision before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_session",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index("ix_app_session_user_name", "app_session", ["user_name"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the store is not downgraded: restore a backup taken before the upgrade")
