"""Import a city's real road network: ``python -m cli.import_roads FILE --city CITY``.

Reads an OpenStreetMap extract (``.osm.pbf``, through pyrosm's driving network) or a vector
file that geopandas reads (``.gpkg``, ``.geojson``, ``.shp``, ...) into the app's road schema:
``name``, ``road_class``, ``lanes``, ``free_flow_kmh`` and a LineString ``geometry`` in
EPSG:4326.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyogrio.errors import DataLayerError, DataSourceError

CRS = "EPSG:4326"
COLUMNS = ["name", "road_class", "lanes", "free_flow_kmh", "geometry"]
VECTOR_SUFFIXES = frozenset({".gpkg", ".geojson", ".json", ".shp", ".fgb"})

_MAIN = ("motorway", "trunk", "primary", "secondary", "tertiary")
ROAD_CLASSES: dict[str, str] = {
    **{f"{c}{link}": c for c in _MAIN for link in ("", "_link")},
    **dict.fromkeys(("residential", "unclassified", "living_street"), "local"),
}
CLASSES: tuple[str, ...] = (*_MAIN, "local")
DEFAULT_FREE_FLOW_KMH: dict[str, float] = dict(zip(CLASSES, (100.0, 80.0, 60.0, 50.0, 40.0, 30.0), strict=True))
DEFAULT_LANES: dict[str, int] = dict(zip(CLASSES, (3, 3, 2, 2, 1, 1), strict=True))

# Implicit limits written as "CC:zone" (OSM wiki "Default speed limits"): the usual value of
# each zone word, and the countries that differ from it.
_ZONE_KMH: dict[str, float] = {
    "urban": 50.0,
    "rural": 90.0,
    "trunk": 90.0,
    "motorway": 120.0,
    "living_street": 20.0,
    "ru:urban": 60.0,
    "ru:motorway": 110.0,
    "de:rural": 100.0,
    "fr:motorway": 130.0,
    "it:motorway": 130.0,
}
_UNIT_KMH = {
    "": 1.0,
    "km/h": 1.0,
    "kmh": 1.0,
    "kph": 1.0,
    "mph": 1.609344,
    "knots": 1.852,
}
_SPEED = re.compile(r"(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?")
_ZONE = re.compile(r"([a-z]{2}):(?:zone:?(\d+)|([a-z_]+))")


class RoadImportError(ValueError):
    """The file cannot give a road network; the message says why."""


@dataclass
class ImportReport:
    """What reading a file did: rows read and rows dropped by reason."""

    rows_read: int
    source: str = ""
    dropped: Counter[str] = field(default_factory=Counter)


def parse_maxspeed(value: Any, default: float) -> float:
    """An OSM ``maxspeed`` in km/h: "50", "50 km/h", "30 mph", "RU:urban", "DE:zone30".

    The first of several values ("50;30") counts; "none", "signals", junk, and speeds
    outside (0, 300] give ``default``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    text = str(value).strip().lower().split(";")[0].split("|")[0].strip()
    if m := _SPEED.fullmatch(text):
        kmh = float(m[1].replace(",", ".")) * _UNIT_KMH[m[2] or ""]
    elif m := _ZONE.fullmatch(text):
        zone = m[3] or ""
        kmh = float(m[2]) if m[2] else _ZONE_KMH.get(f"{m[1]}:{zone}", _ZONE_KMH.get(zone, 0))
    else:
        return default
    return kmh if 0 < kmh <= 300 else default


def parse_lanes(value: Any, default: int) -> int:
    """An OSM ``lanes`` value ("2", "2;3", 3.0); anything else, or outside 1..16, gives default."""
    m = re.match(r"\s*(\d+)(?:\.0*)?\s*(?:;|$)", str(value))
    lanes = int(m[1]) if m else 0
    return lanes if 1 <= lanes <= 16 else default


def _read_pbf(path: Path) -> gpd.GeoDataFrame:
    try:
        from pyrosm import OSM
        from pyrosm.exceptions import PBFException
    except ImportError as exc:
        raise RoadImportError("reading .osm.pbf needs pyrosm: pip install pyrosm") from exc
    try:
        roads = OSM(str(path)).get_network(network_type="driving")
    except PBFException as exc:
        raise RoadImportError(str(exc)) from exc
    return gpd.GeoDataFrame({"highway": []}, geometry=[], crs=CRS) if roads is None else roads


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    if path.suffix.lower() not in VECTOR_SUFFIXES:
        raise RoadImportError(
            f"{path}: unsupported format; use .osm.pbf or one of " + ", ".join(sorted(VECTOR_SUFFIXES))
        )
    try:
        frame = gpd.read_file(path)
    except (DataSourceError, DataLayerError) as exc:
        raise RoadImportError(f"{path}: cannot read: {exc}") from exc
    return frame.rename(columns={c: c.lower() for c in frame.columns if isinstance(c, str)})


def load_roads(path: str | Path) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """``read_roads`` plus the report of what was read and dropped."""
    path = Path(path)
    if not path.is_file():
        raise RoadImportError(f"{path}: no such file")
    pbf = path.name.lower().endswith(".pbf")
    raw = _read_pbf(path) if pbf else _read_vector(path)
    report = ImportReport(rows_read=len(raw), source="pyrosm driving network" if pbf else "all features")
    if "road_class" in raw.columns:
        values = raw["road_class"].astype("string").str.strip().str.lower()
        classes = values.where(values.isin(CLASSES), values.map(ROAD_CLASSES))
        kind = "road_class"
    elif "highway" in raw.columns:
        values = raw["highway"].astype("string").str.strip().str.lower()
        classes, kind = values.map(ROAD_CLASSES), "highway"
    else:
        raise RoadImportError(f"{path}: no 'highway' or 'road_class' column")
    unkept = classes.isna()
    report.dropped.update(f"{kind}={v}" for v in values[unkept].fillna("(missing)"))
    frame = raw.loc[~unkept].assign(road_class=classes[~unkept])

    geom = frame.geometry
    empty = geom.isna() | geom.is_empty
    not_line = ~empty & ~geom.geom_type.isin(["LineString", "MultiLineString"])
    report.dropped.update(["empty geometry"] * int(empty.sum()))
    report.dropped.update(f"not a line ({t})" for t in geom.geom_type[not_line])
    frame = frame.loc[~(empty | not_line)].explode(index_parts=False, ignore_index=True)
    invalid = ~frame.geometry.is_valid
    report.dropped.update(["invalid geometry"] * int(invalid.sum()))
    frame = frame.loc[~invalid]
    if frame.empty:
        dropped = ", ".join(f"{k} {n}" for k, n in report.dropped.most_common())
        raise RoadImportError(f"{path}: no usable road rows ({report.rows_read} read; dropped: {dropped or '-'})")

    road_class = frame["road_class"].astype(str)
    missing = pd.Series(None, index=frame.index, dtype=object)
    ff_col, ms_col, lanes_col, names = (frame.get(c, missing) for c in ("free_flow_kmh", "maxspeed", "lanes", "name"))
    roads = gpd.GeoDataFrame(
        {
            "name": names.fillna("").astype(str).str.strip().to_numpy(),
            "road_class": road_class.to_numpy(),
            "lanes": [parse_lanes(v, DEFAULT_LANES[c]) for v, c in zip(lanes_col, road_class, strict=True)],
            "free_flow_kmh": [
                parse_maxspeed(f, parse_maxspeed(m, DEFAULT_FREE_FLOW_KMH[c]))
                for f, m, c in zip(ff_col, ms_col, road_class, strict=True)
            ],
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    roads["lanes"] = roads["lanes"].astype("int64")
    roads["free_flow_kmh"] = roads["free_flow_kmh"].astype("float64")
    return _to_wgs84(roads, path), report


def _to_wgs84(roads: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    if roads.crs is None:
        minx, miny, maxx, maxy = roads.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise RoadImportError(f"{path}: no CRS and the coordinates are not lon/lat")
        return roads.set_crs(CRS)
    return roads if roads.crs.equals(CRS) else roads.to_crs(CRS)


def read_roads(path: str | Path) -> gpd.GeoDataFrame:
    """Roads of ``path`` with columns ``name, road_class, lanes, free_flow_kmh, geometry``.

    Only kept classes (``ROAD_CLASSES``) and LineStrings (MultiLineStrings exploded) in
    EPSG:4326. Raises ``RoadImportError`` when the file gives no road network.
    """
    return load_roads(path)[0]


def length_km(roads: gpd.GeoDataFrame) -> pd.Series:
    """Length of each road in km, measured in the frame's local UTM zone."""
    return roads.to_crs(roads.estimate_utm_crs()).length / 1000.0


def summary(path: str | Path, roads: gpd.GeoDataFrame, report: ImportReport) -> str:
    km = length_km(roads)
    kept = f"kept {len(roads)} segments, {km.sum():.1f} km"
    read = f"read {report.rows_read} rows ({report.source})"
    lines = [f"{path}: {read}, {kept}"]
    for cls in CLASSES:
        mask = roads["road_class"] == cls
        if mask.any():
            lines.append(f"  {cls:<10} {int(mask.sum()):>7} {km[mask].sum():>9.1f} km")
    lines.append(f"  dropped {sum(report.dropped.values())}")
    lines += [f"    {reason}: {n}" for reason, n in report.dropped.most_common()]
    return "\n".join(lines)
