"""City geography: GCJ-02 <-> WGS84 conversion and the shipped district outlines.

The district files in ``data/shipped/districts`` are WGS84 (built by ``data/geo/build_geodata.py``;
see ``data/shipped/PROVENANCE.md``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from shapely import STRtree, points
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

__all__ = [
    "CITIES",
    "DISTRICTS_DIR",
    "city_bounds",
    "city_outline",
    "gcj02_to_wgs84",
    "load_districts",
    "urban_core_bounds",
    "wgs84_to_gcj02",
]

CITIES: tuple[str, ...] = ("beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou", "xiongan")
DISTRICTS_DIR = Path(__file__).resolve().parent.parent / "shipped" / "districts"

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared

Coord = TypeVar("Coord", float, np.ndarray)


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) at a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    s = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (s + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (s + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _out(lon: Any, lat: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(x), float(y)
    return x, y


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 -> GCJ-02 (the forward "Mars" offset); points outside China are returned unchanged."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(x, y)
    return _out(lon, lat, x + dlon, y + dlat)


def gcj02_to_wgs84(lon: Coord, lat: Coord, iterations: int = 3) -> tuple[Coord, Coord]:
    """GCJ-02 -> WGS84 by fixed-point iteration of the forward transform (error << 1 m)."""
    gx, gy = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = gx.copy(), gy.copy()
    for _ in range(iterations):
        dlon, dlat = _delta(x, y)
        x, y = gx - dlon, gy - dlat
    return _out(lon, lat, x, y)


def load_districts(city: str) -> dict[str, Any]:
    """The shipped WGS84 GeoJSON FeatureCollection of a city's districts."""
    if city not in CITIES:
        raise ValueError(f"unknown city {city!r}; expected one of {CITIES}")
    with (DISTRICTS_DIR / f"{city}.geojson").open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=16)
def city_outline(city: str) -> BaseGeometry:
    """Union of a city's districts (WGS84)."""
    return unary_union([shape(f["geometry"]) for f in load_districts(city)["features"]])


def city_bounds(city: str) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of the city outline, WGS84 degrees."""
    minx, miny, maxx, maxy = city_outline(city).bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def district_lookup(city: Any) -> Callable[[np.ndarray, np.ndarray], list[str]]:
    """A function (lon, lat arrays) -> district names (zh) from `city`'s shipped outlines (a data.geo.cities.City)."""
    features = load_districts(city.key)["features"]
    geoms = [shape(f["geometry"]) for f in features]
    names = [f["properties"]["name_zh"] for f in features]
    tree = STRtree(geoms)

    def lookup(lon: np.ndarray, lat: np.ndarray) -> list[str]:
        pts = points(np.column_stack([lon, lat]))
        found = [""] * len(pts)
        idx_pt, idx_geom = tree.query(pts, predicate="within")
        for p, g in zip(idx_pt.tolist(), idx_geom.tolist(), strict=True):
            found[p] = names[g]
        return found

    return lookup


URBAN_CORE_KM = 22.0  # a district whose centroid lies this close to the city centre is "urban core"


@lru_cache(maxsize=16)
def urban_core_bounds(city: str) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of the districts around the city centre (centroid within URBAN_CORE_KM,
    and always the district holding the centre), WGS84 degrees: what a city map opens fitted to. The
    whole outline reaches far into rural counties (Beijing's spans 180 km), where little happens."""
    from data.geo.cities import CITIES as CITY_INFO

    lat0, lon0 = CITY_INFO[city].center
    kx = 111.32 * np.cos(np.radians(lat0))
    core = []
    for feature in load_districts(city)["features"]:
        geom = shape(feature["geometry"])
        c = geom.centroid
        near = float(np.hypot((c.x - lon0) * kx, (c.y - lat0) * 111.32)) <= URBAN_CORE_KM
        if near or geom.covers(shape({"type": "Point", "coordinates": [lon0, lat0]})):
            core.append(geom)
    if not core:
        return city_bounds(city)
    minx, miny, maxx, maxy = unary_union(core).bounds
    return float(minx), float(miny), float(maxx), float(maxy)
