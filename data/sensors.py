"""The simulated sensor inventory of a city: a synthetic road network, parking lots, AQ stations.

Everything here is SIMULATED except the national air-quality stations read from
``data/shipped/aq_stations_2017.csv`` (real, 2017 list). Roads are a jittered lattice clipped to the
city's real district outlines: plausible, not real. ``python -m data.import_roads`` replaces them
with a real network.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
from shapely import STRtree, points
from shapely.geometry import LineString, Point
from shapely.prepared import prep

from data.cities import City
from data.geography import city_outline, load_districts

SHIPPED = Path(__file__).resolve().parent / "shipped"
METRES_PER_DEG_LAT = 111_320.0

# Free-flow speed (km/h) and lanes per class of the synthetic network; urban design speeds of
# CJJ 37-2012 (Code for design of urban road engineering): expressway 60-100, arterial 40-60,
# collector 30-50, local 20-40.
ROAD_CLASS_SPEC = {
    "motorway": (80.0, 3),
    "primary": (60.0, 3),
    "secondary": (50.0, 2),
    "local": (35.0, 1),
}
LOT_KINDS = ("commercial", "office", "residential", "on_street")
LOT_KIND_WEIGHTS = (0.3, 0.2, 0.35, 0.15)
# Total spaces the simulated lots add up to. Hangzhou: 476,000 spaces connected to City Brain's
# parking network (report, ch. 3.3.1.1). Other cities are scaled guesses, labelled simulated.
TOTAL_SPACES = {
    "hangzhou": 476_000,
    "beijing": 520_000,
    "shanghai": 520_000,
    "guangzhou": 420_000,
    "shenzhen": 420_000,
    "xiongan": 60_000,
}


def _rng(city: City, stream: int) -> np.random.Generator:
    return np.random.default_rng([20200101, stream, sum(map(ord, city.key))])


def _to_lonlat(city: City, dx_m: np.ndarray, dy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat0, lon0 = city.center
    lat = lat0 + dy_m / METRES_PER_DEG_LAT
    lon = lon0 + dx_m / (METRES_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return lon, lat


def district_lookup(city: City):
    """Return a function (lon, lat arrays) -> district names (zh) for the city's shipped outlines."""
    from shapely.geometry import shape

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


def synthetic_roads(city: City) -> list[dict]:
    """A jittered lattice of roads around the centre, clipped to the city outline."""
    rng = _rng(city, 1)
    outline = prep(city_outline(city.key))
    n = math.ceil(math.sqrt(city.segments / 2)) + 1
    while True:
        spacing = 650.0
        half = (n - 1) * spacing / 2
        grid = np.arange(n) * spacing - half
        gx, gy = np.meshgrid(grid, grid)
        # Dense in the centre, sparser outwards, as real networks are: stretch the lattice radially.
        stretch = 1 + 1.2 * (np.hypot(gx, gy) / half) ** 2
        gx, gy = gx * stretch, gy * stretch
        gx = gx + rng.normal(0, spacing * 0.12, gx.shape)
        gy = gy + rng.normal(0, spacing * 0.12, gy.shape)
        lon, lat = _to_lonlat(city, gx, gy)
        inside = np.vectorize(lambda x, y: outline.contains(Point(x, y)))(lon, lat)
        edges = []
        for i in range(n):
            for j in range(n):
                for di, dj in ((0, 1), (1, 0)):
                    a, b = (i, j), (i + di, j + dj)
                    if b[0] < n and b[1] < n and inside[a] and inside[b]:
                        edges.append((a, b, i if di == 0 else j))
        if len(edges) >= city.segments:
            break
        n += 2
    lookup = district_lookup(city)
    mid_lon = np.array([(lon[a] + lon[b]) / 2 for a, b, _ in edges])
    mid_lat = np.array([(lat[a] + lat[b]) / 2 for a, b, _ in edges])
    districts = lookup(mid_lon, mid_lat)
    centre_line = n // 2
    rows = []
    for k, (a, b, line) in enumerate(edges):
        offset = abs(line - centre_line)
        road_class = (
            "motorway"
            if offset % 12 == 6
            else "primary"
            if offset % 4 == 0
            else "secondary"
            if offset % 2 == 0
            else "local"
        )
        free_flow, lanes = ROAD_CLASS_SPEC[road_class]
        bend = rng.normal(0, 0.00025, 2)
        coords = [
            [round(float(lon[a]), 6), round(float(lat[a]), 6)],
            [round(float(mid_lon[k] + bend[0]), 6), round(float(mid_lat[k] + bend[1]), 6)],
            [round(float(lon[b]), 6), round(float(lat[b]), 6)],
        ]
        horizontal = a[0] == b[0]
        axis_zh, axis_en = ("东西", "E-W") if horizontal else ("南北", "N-S")
        rows.append(
            {
                "city": city.key,
                "name": f"合成{axis_zh}{line + 1}路 / Synthetic {axis_en} road {line + 1}",
                "road_class": road_class,
                "lanes": lanes,
                "free_flow_kmh": free_flow,
                "length_m": _length_m(coords),
                "district": districts[k],
                "coords": json.dumps(coords),
                "synthetic": True,
            }
        )
    return rows


def _length_m(coords: list[list[float]]) -> float:
    line = LineString(coords)
    lat0 = math.radians(coords[0][1])
    scaled = LineString([(x * math.cos(lat0), y) for x, y in line.coords])
    return round(scaled.length * METRES_PER_DEG_LAT, 1)


def parking_lots(city: City, roads: list[dict]) -> list[dict]:
    rng = _rng(city, 2)
    picks = rng.choice(len(roads), size=city.parking_lots, replace=len(roads) < city.parking_lots)
    mids = np.array([json.loads(roads[i]["coords"])[1] for i in picks])
    lon = mids[:, 0] + rng.normal(0, 0.0008, len(picks))
    lat = mids[:, 1] + rng.normal(0, 0.0008, len(picks))
    kinds = rng.choice(len(LOT_KINDS), size=len(picks), p=LOT_KIND_WEIGHTS)
    raw = rng.lognormal(0.0, 0.8, len(picks)) * np.where(kinds == 3, 0.15, 1.0)
    capacity = np.maximum(20, np.round(raw / raw.sum() * TOTAL_SPACES[city.key])).astype(int)
    lat0, lon0 = city.center
    dist_km = np.hypot((lon - lon0) * 111.32 * math.cos(math.radians(lat0)), (lat - lat0) * 111.32)
    tariff = np.clip(np.round(12 - dist_km * 0.6 + rng.normal(0, 1, len(picks))), 2, 15)
    districts = district_lookup(city)(lon, lat)
    return [
        {
            "city": city.key,
            "name": f"模拟停车场 P{k + 1:03d} / Simulated car park P{k + 1:03d}",
            "kind": LOT_KINDS[kinds[k]],
            "district": districts[k],
            "capacity": int(capacity[k]),
            "tariff_cny_h": float(tariff[k]),
            "lon": round(float(lon[k]), 6),
            "lat": round(float(lat[k]), 6),
            "simulated": True,
        }
        for k in range(len(picks))
    ]


def real_stations(city_key: str) -> list[dict]:
    with open(SHIPPED / "aq_stations_2017.csv", encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row["city"] == city_key]


def aq_stations(city: City) -> list[dict]:
    """The city's real 2017 national stations, topped up with simulated ones to `city.aq_stations`."""
    rows = [
        {
            "city": city.key,
            "code": r["station_code"],
            "name_zh": r["name_zh"],
            "name_en": r.get("name_en") or "",
            "lon": float(r["lon"]),
            "lat": float(r["lat"]),
            "simulated": False,
        }
        for r in real_stations(city.key)
    ]
    rng = _rng(city, 3)
    outline = prep(city_outline(city.key))
    while len(rows) < city.aq_stations:
        dx, dy = rng.normal(0, 9000, 2)
        lon, lat = _to_lonlat(city, np.array(dx), np.array(dy))
        if outline.contains(Point(float(lon), float(lat))):
            n = len(rows) + 1
            rows.append(
                {
                    "city": city.key,
                    "code": f"SIM{n:02d}",
                    "name_zh": f"模拟站点 {n:02d}",
                    "name_en": f"Simulated station {n:02d}",
                    "lon": round(float(lon), 5),
                    "lat": round(float(lat), 5),
                    "simulated": True,
                }
            )
    return rows
