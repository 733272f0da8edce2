"""`python -m cli.alerting --once`: evaluate the alert rules for every city once and exit
(the background jobs run them every refresh interval; data/jobs/alerting.py)."""

from __future__ import annotations

import argparse

from data import access
from data.config import load_settings
from data.geo.cities import CITIES
from data.jobs.alerting import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.alerting", description="Run the alert rules.")
    parser.add_argument("--once", action="store_true", required=True, help="evaluate every city once and exit")
    parser.parse_args(argv)
    with access.standalone_cache_host(load_settings(), "citybrain-alerting").app_context():
        for key in CITIES:
            print(f"{key}: opened {evaluate(key)} incident(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
