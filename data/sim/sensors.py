"""The simulated sensor inventory of a city: a synthetic road network, parking lots, AQ stations.

Everything here is SIMULATED except the national air-quality stations read from
``data/shipped/aq_stations_2017.csv`` (real, 2017 list). Roads are a jittered lattice clipped to the
city's real district outlines: plausible, not real. ``python -m cli.import_roads`` replaces them
with a real network.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.prepared import prep

from data.geo.cities import City
from data.geo.geography import city_outline, district_lookup
from data.rules.congestion import ROAD_CLASS_SPEC
from data.rules.parking import LOT_KINDS

SHIPPED = Path(__file__).resolve().parent.parent / "shipped"
METRES_PER_DEG_LAT = 111_320.0

# Free-flow speed (km/h) and lanes per class of the synthetic network; urban design speeds of
# CJJ 37-2012 (Code for design of urban road engineering): expressway 60-100, arterial 40-60,
# collector 30-50, local 20-40.
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


def synthetic_roads(city: City) -> list[dict]:
    """A jittered lattice of roads around the centre, clipped to the city outline (vectorised).

    At a larger simulation scale (SIM_SCALE) the lattice is denser and trimmed to exactly
    `city.segments`, nearest the centre first.
    """
    rng = _rng(city, 1)
    outline = city_outline(city.key)
    shapely.prepare(outline)
    n = math.ceil(math.sqrt(city.segments / 2)) + 1
    spacing = 650.0 if city.scale == "default" else 650.0 * max(0.25, min(1.0, 2 * math.sqrt(2000 / city.segments)))
    while True:
        half = (n - 1) * spacing / 2
        grid = np.arange(n) * spacing - half
        gx, gy = np.meshgrid(grid, grid)
        # Dense in the centre, sparser outwards, as real networks are: stretch the lattice radially.
        stretch = 1 + 1.2 * (np.hypot(gx, gy) / half) ** 2
        gx, gy = gx * stretch, gy * stretch
        gx = gx + rng.normal(0, spacing * 0.12, gx.shape)
        gy = gy + rng.normal(0, spacing * 0.12, gy.shape)
        lon, lat = _to_lonlat(city, gx, gy)
        inside = shapely.contains_xy(outline, lon, lat)
        # Candidate edges in (i, j, direction) order: direction 0 joins (i, j)-(i, j+1), 1 joins (i, j)-(i+1, j).
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        i_next, j_next = np.minimum(ii + 1, n - 1), np.minimum(jj + 1, n - 1)
        valid = np.stack(
            [(jj + 1 < n) & inside & inside[ii, j_next], (ii + 1 < n) & inside & inside[i_next, jj]], axis=-1
        ).reshape(-1)
        ai = np.stack([ii, ii], axis=-1).reshape(-1)[valid]
        aj = np.stack([jj, jj], axis=-1).reshape(-1)[valid]
        bi = np.stack([ii, ii + 1], axis=-1).reshape(-1)[valid]
        bj = np.stack([jj + 1, jj], axis=-1).reshape(-1)[valid]
        line = np.stack([ii, jj], axis=-1).reshape(-1)[valid]
        if len(line) >= city.segments:
            break
        n += 2
    bi, bj = np.minimum(bi, n - 1), np.minimum(bj, n - 1)
    if city.scale != "default":  # exactly `segments`, the ones nearest the centre
        dist = np.hypot(gx[ai, aj] + gx[bi, bj], gy[ai, aj] + gy[bi, bj])
        keep = np.sort(np.argsort(dist, kind="stable")[: city.segments])
        ai, aj, bi, bj, line = ai[keep], aj[keep], bi[keep], bj[keep], line[keep]
    a_lon, a_lat, b_lon, b_lat = lon[ai, aj], lat[ai, aj], lon[bi, bj], lat[bi, bj]
    mid_lon, mid_lat = (a_lon + b_lon) / 2, (a_lat + b_lat) / 2
    districts = district_lookup(city)(mid_lon, mid_lat)
    offset = np.abs(line - n // 2)
    road_class = np.select(
        [offset % 12 == 6, offset % 4 == 0, offset % 2 == 0], ["motorway", "primary", "secondary"], "local"
    ).tolist()
    bend = rng.normal(0, 0.00025, (len(line), 2))
    xs = np.stack([a_lon, mid_lon + bend[:, 0], b_lon], axis=1).tolist()
    ys = np.stack([a_lat, mid_lat + bend[:, 1], b_lat], axis=1).tolist()
    horizontal = (ai == bi).tolist()
    lines = (line + 1).tolist()
    rounded = [[[round(x, 6), round(y, 6)] for x, y in zip(xk, yk, strict=True)] for xk, yk in zip(xs, ys, strict=True)]
    lengths = _lengths_m(np.asarray(rounded, dtype=float)).tolist()
    rows = []
    for k, coords in enumerate(rounded):
        axis_zh, axis_en = ("东西", "E-W") if horizontal[k] else ("南北", "N-S")
        free_flow, lanes = ROAD_CLASS_SPEC[road_class[k]]
        (x0, y0), (x1, y1), (x2, y2) = coords
        rows.append(
            {
                "city": city.key,
                "name": f"合成{axis_zh}{lines[k]}路 / Synthetic {axis_en} road {lines[k]}",
                "road_class": road_class[k],
                "lanes": lanes,
                "free_flow_kmh": free_flow,
                "length_m": lengths[k],
                "district": districts[k],
                "coords": f"[[{x0!r}, {y0!r}], [{x1!r}, {y1!r}], [{x2!r}, {y2!r}]]",  # = json.dumps(coords)
                "synthetic": True,
            }
        )
    return rows


def _lengths_m(xy: np.ndarray) -> np.ndarray:
    """Lengths (m, 0.1 m) of polylines given as an array (lines, points, lon/lat)."""
    cos0 = np.cos(np.radians(xy[:, 0, 1]))[:, None]
    dx, dy = np.diff(xy[:, :, 0], axis=1) * cos0, np.diff(xy[:, :, 1], axis=1)
    return np.round(np.sqrt(dx * dx + dy * dy).sum(axis=1) * METRES_PER_DEG_LAT, 1)


def parking_lots(city: City, roads: list[dict]) -> list[dict]:
    rng = _rng(city, 2)
    picks = rng.choice(len(roads), size=city.parking_lots, replace=len(roads) < city.parking_lots)
    mids = np.array([json.loads(roads[i]["coords"])[1] for i in picks])
    lon = mids[:, 0] + rng.normal(0, 0.0008, len(picks))
    lat = mids[:, 1] + rng.normal(0, 0.0008, len(picks))
    kinds = rng.choice(len(LOT_KINDS), size=len(picks), p=LOT_KIND_WEIGHTS)
    raw = rng.lognormal(0.0, 0.8, len(picks)) * np.where(kinds == 3, 0.15, 1.0)
    total = city.total_spaces or TOTAL_SPACES[city.key]
    if city.scale == "default":
        capacity = np.maximum(20, np.round(raw / raw.sum() * total)).astype(int)
    else:  # at scale the lots add up to `total_spaces` (a floor of 5 spaces each, then by share)
        floor = min(5, total // len(picks))
        capacity = floor + np.floor(raw / raw.sum() * (total - floor * len(picks))).astype(int)
        capacity[: total - int(capacity.sum())] += 1
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
