"""Version 2: the incident workflow (acknowledge/close, crews, units, versions, alert keys), users, API
tokens, failed sign-ins and the append-only audit log.

Version 1 had no acknowledge or close steps: its simulated crews acknowledged on dispatch and closed
on resolve, which is what their rows get here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_ALERT = "alert_key IS NOT NULL AND closed_at IS NULL"
SQLITE_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
POSTGRES_GUARDS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def upgrade() -> None:
    op.add_column("incident", sa.Column("acknowledged_at", sa.Integer(), nullable=True))
    op.add_column("incident", sa.Column("closed_at", sa.Integer(), nullable=True))
    op.add_column("incident", sa.Column("crew", sa.String(length=16), server_default="simulated", nullable=False))
    op.add_column("incident", sa.Column("unit", sa.Text(), nullable=True))
    op.add_column("incident", sa.Column("resolution_code", sa.String(length=32), nullable=True))
    op.add_column("incident", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("incident", sa.Column("alert_key", sa.String(length=128), nullable=True))
    op.execute("UPDATE incident SET acknowledged_at = dispatched_at, closed_at = resolved_at WHERE crew = 'simulated'")
    op.create_index("ix_incident_crew_closed", "incident", ["crew", "closed_at"], unique=False)
    op.create_index(
        "ux_incident_open_alert",
        "incident",
        ["city", "alert_key"],
        unique=True,
        sqlite_where=sa.text(OPEN_ALERT),
        postgresql_where=sa.text(OPEN_ALERT),
    )
    op.create_table(
        "app_user",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "api_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("last_used_at", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_api_token_user_name", "api_token", ["user_name"], unique=False)
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failure_name_at", "login_failure", ["name", "at"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entity", "audit_log", ["entity", "entity_id"], unique=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    # The audit log is append-only in the database too, whoever connects.
    for statement in POSTGRES_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the store is not downgraded: restore a backup taken before the upgrade")
