"""Ingest throughput on the embedded store: rows per second through the real HTTP routes.

    python bench/ingest.py [--rows 20000] [--batch 1000]

Runs in-process (Flask test client, so no network cost) on a temporary data directory with the
six cities' sensors but no history: JSON and CSV batches to /api/v1/ingest/traffic and NGSI-v2
notifications (normalized, `--batch` entities each) to /api/v1/ngsi/notify. Every row is
validated and written in one transaction per batch, as in production.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--city", default="hangzhou", help="whose segments the rows observe (SIM_SCALE applies)")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="citybrain-bench-ingest-")
    os.environ.update(
        {
            "DATA_DIR": tmp,
            "SIMULATE_LIVE": "0",
            "SIMULATE_BACKFILL": "0",
            "INGEST_API_KEYS": "bench",
            "INGEST_MAX_BYTES": str(50 * 1024 * 1024),
        }
    )
    if os.environ.get("BENCH_KEEP_DATABASE_URL") != "1":  # bench/run.py --database-url keeps it
        os.environ.pop("DATABASE_URL", None)

    from flask import Flask

    from api.routes import blueprint
    from data import store
    from data.access import cache, cache_config
    from data.config import load_settings
    from data.geo.cities import CITIES
    from data.sim import simulate

    engine = store.get_engine()
    store.create_schema(engine)
    for city in CITIES.values():
        simulate.ensure_sensors(engine, city, lambda _m: None)
    server = Flask(__name__)
    cache.init_app(server, config=cache_config(load_settings()))
    server.register_blueprint(blueprint)
    client = server.test_client()
    segments = store.sensors(engine, "traffic", args.city)["source_id"].tolist()
    now = int(time.time())

    def rows(offset: int) -> list[dict]:
        # Distinct observation times per round, so every row is new (no duplicates).
        return [
            {
                "segment_id": segments[k % len(segments)],
                "speed_kmh": 20 + k % 40,
                "observed_at": now - 86400 + offset + k // len(segments) * 60,
            }
            for k in range(args.rows)
        ]

    def timed(label: str, send) -> tuple[str, float, int]:
        started = time.perf_counter()
        accepted = send()
        return label, time.perf_counter() - started, accepted

    headers = {"X-API-Key": "bench"}

    def send_json() -> int:
        data = rows(0)
        return sum(
            client.post("/api/v1/ingest/traffic", json=data[i : i + args.batch], headers=headers).get_json()["accepted"]
            for i in range(0, len(data), args.batch)
        )

    def send_csv() -> int:
        data = rows(3600)
        total = 0
        for i in range(0, len(data), args.batch):
            body = "segment_id,speed_kmh,observed_at\n" + "".join(
                f"{r['segment_id']},{r['speed_kmh']},{r['observed_at']}\n" for r in data[i : i + args.batch]
            )
            total += client.post(
                "/api/v1/ingest/traffic", data=body, headers=headers, content_type="text/csv"
            ).get_json()["accepted"]
        return total

    def send_ngsi() -> int:
        data = rows(7200)
        total = 0
        for i in range(0, len(data), args.batch):
            entities = [
                {
                    "id": r["segment_id"],
                    "type": "TrafficFlowObserved",
                    "averageVehicleSpeed": {"type": "Number", "value": r["speed_kmh"]},
                    "dateObserved": {
                        "type": "DateTime",
                        "value": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["observed_at"])),
                    },
                }
                for r in data[i : i + args.batch]
            ]
            total += client.post(
                "/api/v1/ngsi/notify", json={"subscriptionId": "bench", "data": entities}, headers=headers
            ).get_json()["accepted"]
        return total

    print(
        f"Ingest throughput — {os.cpu_count()} CPUs, Python {platform.python_version()}, {engine.dialect.name}, "
        f"{args.rows:,} traffic rows per format, batches of {args.batch}"
    )
    print(f"{'format':<28}{'seconds':>10}{'rows/s':>12}{'accepted':>10}")
    for label, seconds, accepted in (
        timed("JSON /api/v1/ingest", send_json),
        timed("CSV /api/v1/ingest", send_csv),
        timed("NGSI-v2 normalized /notify", send_ngsi),
    ):
        print(f"{label:<28}{seconds:>10.2f}{args.rows / seconds:>12,.0f}{accepted:>10,}")
    store.dispose_engines()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
