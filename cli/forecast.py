"""`python -m cli.forecast backtest [--city C] [--layer L] [--simulated-days N]`: the backtest table.

By default it scores the stored history (the configured store). The store keeps a week, too little to
score "same time last week" on held-back days; `--simulated-days 15` first writes that many days of
SIMULATED history of the chosen cities into a temporary store of its own (deleted afterwards) and
scores that instead. Only this command touches the simulator: the forecasting code never does.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits

from data import store
from data.forecast import backtest as bt
from data.forecast import series
from data.geo.cities import CITIES, UnknownCityError, get_city


def backtest_city(engine: Engine, city: str, layer: str) -> bt.Score | str:
    """The backtest of one city's layer on everything stored, or why there is none."""
    oldest, newest = store.observation_bucket_range(engine, series.LAYER_SPECS[layer].observed, city)
    if oldest is None or newest is None:
        return "no observations"
    try:
        return bt.backtest(series.load(engine, layer, city, oldest, newest)).score
    except ValueError as exc:
        return str(exc)


def _num(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def format_row(score: bt.Score) -> str:
    digits = 3 if score.layer == "traffic" else 1
    base, skills = score.baselines, score.skills
    verdict = "served" if score.served else "baseline better"
    return (
        f"{score.layer:<12}{score.city:<11}{score.model:<11}{_num(score.mae, digits):>9}"
        + "".join(f"{_num(base[name], digits):>9}" for name in bt.BASELINES)
        + f"  {score.better:<12}{_num(score.skill, 3):>7}"
        + "".join(f"{_num(skills[name], 3):>8}" for name in bt.BASELINES)
        + f"{_num(score.hit_rate, 2):>6}{_num(score.coverage, 2):>6}{score.n:>8}  {verdict}"
    )


HEADER = (
    f"{'layer':<12}{'city':<11}{'model':<11}{'MAE':>9}{'persist':>9}{'yestrdy':>9}{'lastwk':>9}"
    f"  {'better':<12}{'skill':>7}{'sk_pers':>8}{'sk_yest':>8}{'sk_week':>8}{'hit':>6}{'cov80':>6}{'n':>8}  verdict"
)
LEGEND = (
    "MAE in free spaces (parking), congestion index (traffic), AQI (air quality); skill = 1 - MAE/MAE(baseline): "
    "'skill' against the better (lower-MAE) baseline, sk_* against each; hit = HJ 633 level hit rate; "
    "cov80 = share of held-back observations inside the 80 % interval"
)


def simulated_store(directory: Path, cities: list[str], days: float, now: float, progress: Callable) -> Engine:
    """A store of its own holding `days` of simulated history of `cities` up to `now`."""
    from data.sim import simulate  # the command builds the history; data/forecast never sees the simulator

    engine = store.get_engine(f"sqlite:///{directory / 'history.sqlite'}")
    store.create_schema(engine)
    for key in cities:
        city = get_city(key)
        simulate.ensure_sensors(engine, city, lambda _m: None)
        started = time.perf_counter()
        simulate.advance_city(engine, city, now, None, days)
        progress(f"# simulated {days:g} days of {key} ({time.perf_counter() - started:.0f}s)")
    return engine


def scores(engine: Engine, cities: list[str], layers: list[str], out: Callable = print) -> list[bt.Score]:
    """Print the table (one core, as the background job) and return the scores."""
    found = []
    with threadpool_limits(1):  # OpenMP threads spinning on a busy machine cost far more than they gain
        out(LEGEND)
        out(HEADER)
        for city in cities:
            for layer in layers:
                started = time.perf_counter()
                result = backtest_city(engine, city, layer)
                line = format_row(result) if isinstance(result, bt.Score) else f"{layer:<12}{city:<11}{result}"
                out(f"{line}  ({time.perf_counter() - started:.1f}s)")
                if isinstance(result, bt.Score):
                    found.append(result)
    return found


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cli.forecast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("backtest", help="score each layer's model against the naive baselines")
    run.add_argument("--city", help="one of " + ", ".join(CITIES))
    run.add_argument("--layer", choices=list(series.LAYER_SPECS))
    run.add_argument(
        "--simulated-days",
        type=float,
        default=0,
        help="score this many days of SIMULATED history in a temporary store (15+ scores 'same time last week')",
    )
    run.add_argument("--now", type=float, help="the simulated history's end (epoch seconds; default now)")
    return parser


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        cities = [get_city(args.city).key] if args.city else list(CITIES)
    except UnknownCityError:
        p.error(f"unknown city {args.city!r}")
    if not 0 <= args.simulated_days <= 31:
        p.error("--simulated-days must be between 0 and 31")
    layers = [args.layer] if args.layer else list(series.LAYER_SPECS)
    if not args.simulated_days:
        scores(store.get_engine(), cities, layers, lambda line: print(line, flush=True))
        return 0
    with tempfile.TemporaryDirectory(prefix="forecast-backtest-") as directory:
        now = time.time() if args.now is None else args.now
        engine = simulated_store(Path(directory), cities, args.simulated_days, now, print)
        print(f"# SIMULATED history: {args.simulated_days:g} days per city, in a temporary store")
        scores(engine, cities, layers, lambda line: print(line, flush=True))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
