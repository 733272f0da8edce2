"""`python -m cli.simulate [--scale shanghai] [--live]`: prepare the SIMULATED history (and optionally
keep it live) without serving (data/sim/simulate.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from data import store
from data.geo.cities import CITIES, SCALES, set_scale
from data.sim.simulate import advance_city, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prepare the simulated history (and optionally keep it live).")
    parser.add_argument("--live", action="store_true", help="keep producing live data until interrupted")
    parser.add_argument("--tick", type=float, default=10.0, help="seconds between live ticks")
    parser.add_argument(
        "--scale", choices=["default", *SCALES], help="simulation scale (default: the SIM_SCALE setting)"
    )
    args = parser.parse_args(argv)
    if args.scale:
        os.environ["SIM_SCALE"] = args.scale  # the command line overrides the setting for this process
        set_scale(args.scale)
    engine = store.get_engine()
    started = time.perf_counter()
    print("Preparing simulated data (SIMULATED, see README) ...", flush=True)
    prepare(engine, progress=lambda m: print(m, flush=True))
    size = ""
    if engine.dialect.name == "sqlite" and engine.url.database:
        path = engine.url.database
        size = f", database {sum(os.path.getsize(p) for p in (path, path + '-wal') if os.path.exists(p)) / 1e6:,.0f} MB"
    print(f"Ready in {time.perf_counter() - started:.1f}s{size}", flush=True)
    while args.live:
        time.sleep(args.tick)
        for city in CITIES.values():
            advance_city(engine, city, time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
