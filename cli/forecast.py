"""`python -m cli.forecast backtest [--city C] [--layer L]`: the backtest table of the stored history."""

from __future__ import annotations

import argparse
import math
import sys
import time

from threadpoolctl import threadpool_limits

from data import store
from data.forecast import backtest as bt
from data.forecast import series
from data.geo.cities import CITIES, UnknownCityError, get_city


def backtest_city(engine, city: str, layer: str) -> bt.Score | str:
    """The backtest of one city's layer on everything stored, or why there is none."""
    oldest, newest = store.observation_bucket_range(engine, layer, city)
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
    base = score.baselines
    verdict = "served" if score.served else "baseline better"
    return (
        f"{score.layer:<12}{score.city:<11}{score.model:<11}{_num(score.mae, digits):>9}"
        + "".join(f"{_num(base[name], digits):>9}" for name in bt.BASELINES)
        + f"  {score.better:<12}{_num(score.skill, 3):>7}{_num(score.hit_rate, 2):>6}{_num(score.coverage, 2):>6}"
        f"{score.n:>8}  {verdict}"
    )


HEADER = (
    f"{'layer':<12}{'city':<11}{'model':<11}{'MAE':>9}{'persist':>9}{'yestrdy':>9}{'lastwk':>9}"
    f"  {'better':<12}{'skill':>7}{'hit':>6}{'cov80':>6}{'n':>8}  verdict"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.forecast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("backtest", help="score each layer's model against the naive baselines")
    run.add_argument("--city", help="one of " + ", ".join(CITIES))
    run.add_argument("--layer", choices=list(series.LAYER_SPECS))
    args = parser.parse_args(argv)
    try:
        cities = [get_city(args.city).key] if args.city else list(CITIES)
    except UnknownCityError:
        parser.error(f"unknown city {args.city!r}")
    layers = [args.layer] if args.layer else list(series.LAYER_SPECS)
    engine = store.get_engine()
    # One core, as the background job: OpenMP threads spinning on a busy machine cost far more than they gain.
    limit = threadpool_limits(1)
    print("MAE in free spaces (parking), congestion index (traffic), AQI (air quality); hit = HJ 633 level hit rate")
    print(HEADER)
    for city in cities:
        for layer in layers:
            started = time.perf_counter()
            result = backtest_city(engine, city, layer)
            line = format_row(result) if isinstance(result, bt.Score) else f"{layer:<12}{city:<11}{result}"
            print(f"{line}  ({time.perf_counter() - started:.1f}s)", flush=True)
    limit.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
