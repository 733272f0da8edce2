"""`python -m cli.migrations upgrade | current | history`: the store's schema revisions by hand
(every start upgrades too; data/store/migrations/)."""

from __future__ import annotations

import argparse

from alembic import command
from alembic.config import Config

from data import store
from data.store import migrations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.migrations", description="The store's schema revisions.")
    parser.add_argument("action", choices=("upgrade", "current", "history"))
    parser.add_argument("--database-url", help="default: the app's (DATABASE_URL, or the SQLite file in DATA_DIR)")
    args = parser.parse_args(argv)
    engine = store.get_engine(args.database_url)
    if args.action == "upgrade":
        store.create_schema(engine)
        print(f"upgraded: {migrations.current(engine)}")
    elif args.action == "current":
        print(migrations.current(engine) or "none (a store made before revisions, or an empty one)")
    else:
        cfg = Config()
        cfg.set_main_option("script_location", str(migrations.HERE))
        command.history(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
