"""What an address says about the operator map (components/map_filters.py) and where each city opens."""

from __future__ import annotations

import pytest

from components.map_filters import OPEN_STATUSES, SEVERITY_LEVELS, MapQuery, parse_map_query
from data.geo.cities import CITIES
from data.geo.geography import city_bounds, urban_core_bounds
from data.rules.vocabulary import INCIDENT_KINDS

KINDS = list(INCIDENT_KINDS)


def test_a_shared_link_is_read_back():
    q = parse_map_query(
        {
            "z": "13",
            "lat": "30.27",
            "lon": "120.15",
            "type": "gas_sensor,traffic_accident",
            "sev": "3,4",
            "status": "new",
            "act": "act,mine",
            "view": "density",
        },
        KINDS,
    )
    assert (q.zoom, q.lat, q.lon, q.has_view) == (13, 30.27, 120.15, True)
    assert q.kinds == ("traffic_accident", "gas_sensor")  # known kinds, in their own order
    assert (q.sevs, q.statuses, q.flags, q.view) == ((3, 4), ("new",), ("act", "mine"), "density")


def test_nothing_in_the_address_means_the_defaults():
    assert parse_map_query({}, KINDS) == MapQuery()
    assert MapQuery().sevs == SEVERITY_LEVELS and MapQuery().statuses == OPEN_STATUSES
    assert parse_map_query({"sev": ""}, KINDS).sevs == ()  # every box unticked is a choice too


@pytest.mark.parametrize(
    "query",
    [
        {"z": "nan", "lat": "30", "lon": "120"},
        {"z": "inf", "lat": "30", "lon": "120"},
        {"z": "40", "lat": "30", "lon": "120"},
        {"z": "12", "lat": "95", "lon": "120"},
        {"z": "12", "lat": "30"},  # a view needs all three
        {"z": ["12", "1e400"], "lat": "30", "lon": "120"},  # repeated: the last counts
        {"z": "12" + "0" * 5000, "lat": "30", "lon": "120"},
        {"z": {"x": 1}, "lat": "30", "lon": "120"},
    ],
)
def test_an_unreadable_view_is_ignored(query):
    assert not parse_map_query(query, KINDS).has_view


def test_unknown_or_hostile_filter_values_are_dropped():
    q = parse_map_query(
        {
            "type": "traffic_accident<script>,gas_sensor",
            "sev": "0,3,9,3",
            "status": "closed,new",
            "act": "admin",
            "view": "<svg>",
            "city": "x" * 10_000,
        },
        KINDS,
    )
    assert q.kinds == ("gas_sensor",) and q.sevs == (3,) and q.statuses == ("new",)
    assert q.flags == () and q.view == "groups"


@pytest.mark.parametrize("city", list(CITIES))
def test_each_city_opens_on_its_urban_core(city):
    minx, miny, maxx, maxy = urban_core_bounds(city)
    wx, wy, ex, ny = city_bounds(city)
    lat, lon = CITIES[city].center
    assert wx <= minx < lon < maxx <= ex and wy <= miny < lat < maxy <= ny
    assert (maxx - minx) * (maxy - miny) <= (ex - wx) * (ny - wy)
    if city == "beijing":  # the six urban districts, not the 180 km of rural counties
        assert maxx - minx < 0.4 * (ex - wx) and maxy - miny < 0.3 * (ny - wy)
