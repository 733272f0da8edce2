"""Bulk sensor inventories: a city's stations or car parks from GeoJSON, GeoPackage or CSV (lon/lat
columns), registered with the rules feeds follow (data.feeds.ingest) and source "import".

Each row needs a place inside the city (a Point, or `lon`/`lat`); car parks also a capacity
(`capacity` or `totalSpotNumber`). A row's id is its `id` column (kept whole), else
`urn:ngsi-ld:<Type>:import-<city>-<file stem>-<row number>`, so importing the same file again
registers nothing twice.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data import store
from data.feeds import ingest
from data.geo.cities import get_city
from data.store import registry

LAYER_TYPE = {"parking": "OffStreetParking", "air_quality": "AirQualityObserved"}
MAKERS = {"parking": ingest._new_lot, "air_quality": ingest._new_station}
ID_COLUMNS = ("id", "source_id", "station_code", "code")
MAX_ROWS = 200_000


@dataclass
class ImportSummary:
    rows: int = 0
    registered: int = 0
    known: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)

    def lines(self) -> list[str]:
        out = [
            f"{self.rows} rows: {self.registered} sensors registered, {self.known} already known, "
            f"{len(self.rejected)} rejected"
        ]
        out += [f"  row {n}: {reason}" for n, reason in self.rejected[:50]]
        if len(self.rejected) > 50:
            out.append(f"  ... and {len(self.rejected) - 50} more")
        return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of the file as dicts: CSV as text cells; GeoJSON and GeoPackage with a `location` geometry."""
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [{k.strip(): (v.strip() or None) for k, v in row.items() if k} for row in csv.DictReader(fh)]
    import geopandas as gpd

    frame = gpd.read_file(path)
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    rows = []
    for record, geometry in zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True):
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        row["location"] = (
            None if geometry is None else json.loads(gpd.GeoSeries([geometry]).to_json())["features"][0]["geometry"]
        )
        rows.append(row)
    return rows


def import_file(path: Path, layer: str, city: str) -> ImportSummary:
    key = get_city(city).key
    rows = read_rows(path)[: MAX_ROWS + 1]
    summary = ImportSummary(rows=len(rows))
    if len(rows) > MAX_ROWS:
        raise ValueError(f"more than {MAX_ROWS} rows: split the file")
    wanted: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, start=1):
        try:
            if "capacity" not in row and row.get("totalSpotNumber") is not None:
                row["capacity"] = row["totalSpotNumber"]
            given = next((row[c] for c in ID_COLUMNS if row.get(c) not in (None, "")), None)
            source_id = (
                ingest._sensor_id({"id": given}, "id")
                if given is not None
                else f"urn:ngsi-ld:{LAYER_TYPE[layer]}:import-{key}-{path.stem}-{number}"
            )
            found, new = MAKERS[layer](row, source_id, ingest._location(row))
            if found != key:
                raise ingest.RowError(f"position is in {found}, not {key}")
            wanted.setdefault(source_id, new)
        except (ingest.RowError, *ingest.MALFORMED) as exc:
            reason = str(exc) if isinstance(exc, ingest.RowError) else f"malformed row ({type(exc).__name__})"
            summary.rejected.append((number, reason))
    if wanted:
        engine = store.get_engine()
        before = set(registry.ids_of_engine(engine, layer, list(wanted)))
        registry.register_inventory(engine, layer, wanted)
        summary.known = len(before)
        summary.registered = len(wanted) - len(before)
    return summary
