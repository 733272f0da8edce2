"""Alembic's environment: runs the revisions on the connection `data.store.migrations.upgrade` hands over."""

from __future__ import annotations

from alembic import context


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run the revisions through `python -m cli.migrations upgrade` (it locks and stamps)")
    # No target metadata: revisions are written out in full, so a later change to data/store/__init__.py's tables
    # never changes what an earlier revision does.
    context.configure(connection=connection, render_as_batch=False)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported")
run()
