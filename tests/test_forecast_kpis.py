"""City-level forecast figures (data/rules/forecast_kpis.py) against hand-computed numbers."""

from __future__ import annotations

import pytest

from data.rules.forecast_kpis import combined_mean, combined_sum, worst


def test_sum_adds_points_and_half_widths_in_quadrature():
    # free spaces of three lots: 10 (7..12), 20 (16..20), None (no forecast, left out)
    point, low, high = combined_sum([(10, 7, 12), (20, 16, 20), (None, None, None)])
    assert point == 30
    assert low == pytest.approx(30 - 5.0)  # sqrt(3² + 4²) = 5
    assert high == pytest.approx(30 + 2.0)  # sqrt(2² + 0²) = 2
    assert combined_sum([(None, 1, 2)]) is None


def test_weighted_mean_weights_points_and_intervals():
    # two segments, index 1.0 (0.8..1.3) with free-flow time 60 s and 2.0 (1.5..2.4) with 30 s
    point, low, high = combined_mean([(1.0, 0.8, 1.3), (2.0, 1.5, 2.4)], [60, 30])
    assert point == pytest.approx((60 * 1.0 + 30 * 2.0) / 90)  # 1.3333
    assert low == pytest.approx(point - ((60 * 0.2) ** 2 + (30 * 0.5) ** 2) ** 0.5 / 90)  # 19.209/90 = 0.2134
    assert high == pytest.approx(point + ((60 * 0.3) ** 2 + (30 * 0.4) ** 2) ** 0.5 / 90)  # 21.633/90 = 0.2404
    assert combined_mean([(100, 90, 120), (50, 40, 50)]) == pytest.approx((75, 75 - 10 * 2**0.5 / 2, 75 + 10))


def test_worst_is_the_highest_point_with_its_own_interval():
    assert worst([(80, 70, 95), (None, None, None), (120, 100, 150)]) == (2, (120.0, 100.0, 150.0))
    assert worst([(None, None, None)]) is None
