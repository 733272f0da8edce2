"""Congestion index bands and parking rules."""

import itertools
import math
from unittest import mock

import pytest

from data.rules import congestion, parking


@pytest.mark.parametrize(
    ("speed", "free_flow", "expected"),
    [(60, 60, 1.0), (30, 60, 2.0), (40, 60, 1.5), (80, 60, 1.0), (12, 60, 5.0)],
)
def test_congestion_index_is_free_flow_over_actual_speed(speed, free_flow, expected):
    assert congestion.congestion_index(speed, free_flow) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [(0, 60), (-5, 60), (30, 0)])
def test_congestion_index_rejects_non_positive_speeds(bad):
    with pytest.raises(ValueError):
        congestion.congestion_index(*bad)


@pytest.mark.parametrize(
    ("index", "band"),
    [(1.0, "free"), (1.49, "free"), (1.5, "slow"), (1.99, "slow"), (2.0, "congested"), (7.3, "congested")],
)
def test_bands_follow_amap_thresholds_at_their_edges(index, band):
    assert congestion.band_for(index).key == band


def test_bands_are_contiguous_and_ordered():
    bands = congestion.CONGESTION_BANDS
    assert bands[0].low == 1.0 and bands[-1].high == math.inf
    for lower, upper in itertools.pairwise(bands):
        assert lower.high == upper.low


def test_network_index_weights_by_travel_time():
    # One long congested road dominates two short free ones.
    assert congestion.network_index([600, 60, 60], [200, 60, 60]) == pytest.approx(720 / 320)
    with pytest.raises(ValueError):
        congestion.network_index([], [])


def test_occupancy_and_free_spaces():
    assert parking.occupancy(45, 60) == pytest.approx(0.75)
    assert parking.free_spaces(45, 60) == 15
    for occupied, capacity in [(-1, 10), (11, 10), (0, 0)]:
        with pytest.raises(ValueError):
            parking.occupancy(occupied, capacity)


def test_turnover_is_vehicles_per_space_per_day():
    assert parking.turnover(400, 100) == pytest.approx(4.0)
    assert parking.turnover(100, 100, hours=12) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        parking.turnover(-1, 100)


def test_forecast_applies_yesterdays_change_and_stays_within_capacity():
    assert parking.forecast_next_hour(50, 40, 70, 100) == 80
    assert parking.forecast_next_hour(90, 40, 90, 100) == 100
    assert parking.forecast_next_hour(10, 60, 20, 100) == 0


def test_occupancy_bands_cover_zero_to_full():
    bands = parking.OCCUPANCY_BANDS
    assert bands[0].low == 0 and bands[-1].low == 100
    for lower, upper in itertools.pairwise(bands):
        assert lower.high == upper.low


@pytest.mark.parametrize(
    ("pct", "band"), [(0, "available"), (69.9, "available"), (70, "busy"), (90, "nearly_full"), (100, "full")]
)
def test_occupancy_band_edges(pct, band):
    assert parking.occupancy_band(pct).key == band


def test_public_projections_use_the_rules():
    """The open data's congestion index and occupancy level are the rules' own (public/data.py)."""
    from public import data as public_data

    row = {"segment_id": 1, "bucket": 0, "observed_at": 0, "speed_kmh": 20.0}
    sensor = {"free_flow_kmh": 50.0, "name": "x", "road_class": "primary", "synthetic_road": True}
    with mock.patch.object(public_data, "congestion_index", return_value=1.75) as index:
        props = public_data.traffic_properties(row, sensor, True)
    index.assert_called_once_with(20.0, 50.0)
    assert (props["congestion_index"], props["congestion_level"]) == (1.75, "slow")
