"""The map's live arrays are built with numpy (issue 17: 100,000 road segments and 20,000 car parks at
SIM_SCALE=shanghai made a Python loop per entry the cost of every refresh after a tick): the
element-wise parking rules agree with the scalar ones, and `rounded_list` gives the loop's lists."""

import math

import numpy as np
import pytest

from data.access import rounded_list
from data.rules import parking


def _loop(values, digits):
    return [None if math.isnan(x) else (round(float(x)) if digits is None else round(float(x), digits)) for x in values]


@pytest.mark.parametrize("digits", [None, 1, 2])
def test_rounded_list_equals_pythons_round_on_random_values(digits):
    rng = np.random.default_rng(17)
    values = np.concatenate([rng.uniform(0, 200, 50_000), rng.uniform(0, 10, 50_000)])
    values[rng.random(len(values)) < 0.05] = np.nan
    # halves and values within float error of one, where numpy's scale-and-round and Python disagree
    ties = np.array([2.675, 1.005, 0.125, 0.375, 2.5, 3.5, 1.15, 1.25, 1.35, 8.345, 1.0049999999999999, 37.25])
    values = np.concatenate([values, ties, np.arange(0, 300, 0.005), np.arange(0, 30, 0.05)])
    got, want = rounded_list(values, digits), _loop(values, digits)
    assert [type(x) for x in got] == [type(x) for x in want]
    assert got == want


def test_rounded_list_of_nothing_and_all_missing():
    assert rounded_list(np.array([]), 2) == []
    assert rounded_list(np.array([np.nan, np.nan]), None) == [None, None]


def _lots(n, seed):
    rng = np.random.default_rng(seed)
    capacity = rng.integers(1, 2000, n).astype(float)
    occupied = np.floor(rng.random(n) * (capacity + 1))
    y_now = np.floor(rng.random(n) * (capacity + 1))
    y_next = np.floor(rng.random(n) * (capacity + 1))
    arrivals = rng.integers(0, 5000, n).astype(float)
    occupied[rng.random(n) < 0.1] = np.nan
    y_next[rng.random(n) < 0.1] = np.nan
    return occupied, capacity, y_now, y_next, arrivals


def test_parking_arrays_agree_with_the_scalar_rules_on_random_lots():
    occupied, capacity, y_now, y_next, arrivals = _lots(5000, 3)
    occ = parking.occupancy_array(occupied, capacity)
    free = parking.free_spaces_array(occupied, capacity)
    turn = parking.turnover_array(arrivals, capacity, hours=12)
    fc = parking.forecast_next_hour_array(occupied, y_now, y_next, capacity)
    for k in range(len(capacity)):
        o, cap = occupied[k], int(capacity[k])
        assert turn[k] == parking.turnover(int(arrivals[k]), cap, hours=12)
        if math.isnan(o):
            assert math.isnan(occ[k]) and math.isnan(free[k]) and math.isnan(fc[k])
            continue
        assert occ[k] == parking.occupancy(int(o), cap)
        assert free[k] == parking.free_spaces(int(o), cap)
        if math.isnan(y_next[k]):
            assert math.isnan(fc[k])
        else:
            assert fc[k] == parking.forecast_next_hour(int(o), int(y_now[k]), int(y_next[k]), cap)


@pytest.mark.parametrize(("occupied", "capacity"), [(-1, 10), (11, 10), (0, 0), (5, np.nan)])
def test_parking_arrays_reject_what_the_scalar_rules_reject(occupied, capacity):
    occ, cap = np.array([3.0, occupied]), np.array([10.0, capacity])
    with pytest.raises(ValueError):
        parking.occupancy_array(occ, cap)
    with pytest.raises(ValueError):
        parking.free_spaces_array(occ, cap)


def test_parking_arrays_skip_checks_where_there_is_no_reading():
    occ, cap = np.array([np.nan, 4.0]), np.array([0.0, 10.0])
    assert parking.occupancy_array(occ, cap)[1] == 0.4
    assert parking.turnover_array(np.array([np.nan, 20.0]), cap)[1] == 2.0
    with pytest.raises(ValueError):
        parking.turnover_array(np.array([-1.0, 20.0]), np.array([10.0, 10.0]))


@pytest.mark.parametrize("seed", range(20))
def test_arrival_spans_cover_the_day_once_settled_hours_whole(seed):
    from data.access import HOUR, B, arrival_spans

    rng = np.random.default_rng(seed)
    last = int(rng.integers(1_000_000, 2_000_000)) * B
    first = last - 96 * B + B
    settled = last - int(rng.integers(-3, 100)) * B  # before, inside and past the day
    spans = arrival_spans(first, last, settled)
    buckets = [b for lo, hi, _ in spans for b in range(lo, hi + 1, B)]
    assert buckets == list(range(first, last + 1, B))  # every bucket once, in order
    assert all(lo // HOUR == hi // HOUR for lo, hi, _ in spans)  # within one clock hour
    assert all(done == (hi <= settled) for _lo, hi, done in spans)
    unsettled = [b for lo, hi, done in spans if not done for b in range(lo, hi + 1, B)]
    assert unsettled == [b for b in range(first, last + 1, B) if b > settled]


def test_day_arrivals_from_spans_equal_the_days_sum(dash_app):
    from data import access, store

    engine = store.get_engine()
    city = "hangzhou"
    lots = store.sensors(engine, "parking", city)
    last = store.latest_bucket_at_or_before(engine, "parking", city, access.floor_bucket(2**31))
    for bucket in (last, last - 5 * access.B, last - 30 * access.B):  # live, settled edge inside, all settled
        with dash_app.server.app_context():
            got = access._day_arrivals(city, bucket, -1, lots["id"])
        want = store.arrivals_between(engine, city, bucket - access.DAY + access.B, bucket).set_index("lot_id")
        want = want["arrivals"].reindex(lots["id"]).fillna(0).to_numpy(dtype=float)
        assert want.sum() > 0 and np.array_equal(got, want)
