"""Benchmark of the forecasts (issue 19): the backtest table, the cost of fitting, and a warm forecast step
of the map's time slider beside a warm history step. A measurement script, not a test.

    python bench/forecast.py [--cities hangzhou,beijing,...] [--days 16] [--json bench/results.json]

1. writes `--days` of SIMULATED history of each city into a temporary store of its own (15+ days, so
   "same time last week" is scored on every held-back day), as `python -m cli.forecast backtest
   --simulated-days` does, and prints that command's table;
2. times the background job's fit of every layer of those cities (data/jobs/forecasting.fit_all, one
   core): CPU seconds of this process and wall seconds (the issue's limit: six cities < 2 min of a core);
3. times, through the cached access layer the command centre uses, a warm forecast step
   (access.forecast_map_values, +30 min) and a warm history step (access.live_values_since, 3 h ago):
   the median of repeated calls after a first one filled the cache.
Results go under the "forecast" key of --json (the file's other keys are kept).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import forecast as cli  # noqa: E402
from data.geo.cities import CITIES, get_city  # noqa: E402


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _median_ms(call, repeat: int) -> float:
    call()  # fills the cache: what follows is warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def serving(engine, city: str, now: int, repeat: int) -> dict:
    from flask import Flask

    from data import access
    from data.config import load_settings
    from data.rules.clock import floor_bucket

    server = Flask("bench-forecast")
    access.cache.init_app(server, config=access.cache_config(load_settings()))
    access._engine = lambda: engine  # the bench's own store
    newest = floor_bucket(now)
    with server.app_context():
        fc_at, past = newest + 1800, newest - 3 * 3600
        forecast = access.forecast_map_values(city, fc_at)
        return {
            "city": city,
            "forecast_step_ms": _median_ms(lambda: access.forecast_map_values(city, fc_at), repeat),
            "history_step_ms": _median_ms(lambda: access.live_values_since(city, past, None), repeat),
            "forecast_layers_served": sorted(k for k, v in forecast["forecast"].items() if v["served"]),
            "repeat": repeat,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", default=",".join(CITIES))
    parser.add_argument("--days", type=float, default=16)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    cities = [get_city(c).key for c in args.cities.split(",")]
    now = int(time.time())

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from data.jobs import forecasting

    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as directory:
        started = time.perf_counter()
        engine = cli.simulated_store(Path(directory), cities, args.days, now, progress)
        simulate_s = time.perf_counter() - started
        print(f"# SIMULATED history: {args.days:g} days of {', '.join(cities)}, in a temporary store")
        started = time.perf_counter()
        scores = cli.scores(engine, cities, list(cli.series.LAYER_SPECS), lambda line: print(line, flush=True))
        backtest_s = time.perf_counter() - started
        forecasting.CITIES = {c: CITIES[c] for c in cities}  # fit only the cities simulated here
        cpu, wall = time.process_time(), time.perf_counter()
        fits = forecasting.fit_all(engine, now=now)
        fit = {
            "cities": cities,
            "cpu_s": round(time.process_time() - cpu, 1),
            "wall_s": round(time.perf_counter() - wall, 1),
            "fits": len(fits),
            "served": sum(bool(f["served"]) for f in fits),
        }
        print(f"fit of every layer of {len(cities)} cities: {fit['cpu_s']} s CPU (one core), {fit['wall_s']} s wall")
        served_city = next((f["city"] for f in fits if f["served"]), cities[0])
        serve = serving(engine, served_city, now, args.repeat)
        print(
            f"warm forecast step {serve['forecast_step_ms']} ms vs warm history step {serve['history_step_ms']} ms"
            f" ({served_city}, median of {args.repeat})"
        )
        engine.dispose()
    entry = {
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "simulated_days": args.days,
        "simulate_s": round(simulate_s, 1),
        "backtest_s": round(backtest_s, 1),
        "table": [
            _clean(
                {
                    "layer": s.layer,
                    "city": s.city,
                    "model": s.model,
                    "mae": s.mae,
                    "baselines": s.baselines,
                    "better": s.better,
                    "skill": s.skill,
                    "skills": s.skills,
                    "hit_rate": s.hit_rate,
                    "coverage80": s.coverage,
                    "n": s.n,
                    "served": s.served,
                }
            )
            for s in scores
        ],
        "fit_all": fit,
        "serving": serve,
    }
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    results["forecast"] = entry
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote the 'forecast' key of {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
