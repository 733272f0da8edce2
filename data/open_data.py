"""The public side's door into the store (embeds and the open data API, public/data.py): which columns
a public reader may see, and the reads they need, bound to the store's engine.

The SQL lives in `data/store/__init__.py` (paged, counted, bbox-filtered reads; PostGIS does the spatial
filtering when the store has it). This module fixes the column lists, so that no column added to the
store later can reach the public; public/ never imports the store itself (an import-linter contract).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import pandas as pd

from data import store

# Observation columns a public reader may see, per layer (never `arrivals`, never anything added later).
PUBLIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "traffic": ("bucket", "segment_id", "speed_kmh", "observed_at"),
    "parking": ("bucket", "lot_id", "occupied", "observed_at"),
    "air_quality": ("bucket", "station_id", *store.POLLUTANT_COLUMNS, "observed_at"),
}
SENSOR_COLUMN = store.SENSOR_COLUMN
INTERNAL_INCIDENT_KINDS = store.INTERNAL_INCIDENT_KINDS  # never shown to the public
# Incident columns read: the public ones, plus the workflow times that give the public status (never
# sent), and the row id that the opaque public id is derived from (never sent).
INCIDENT_COLUMNS = ("id", "kind", "lon", "lat", "district", "reported_at", "simulated")
STATUS_COLUMNS = ("dispatched_at", "on_scene_at", "resolved_at")
HALF_STEP = 0.0005  # locations are published rounded to 0.001°: a bbox filters the rounded values


def spatial() -> bool:
    """True when the store filters a bbox itself (PostGIS)."""
    return store.is_spatial(store.get_engine())


def observations_between(
    layer: str,
    city: str,
    first: int,
    last: int,
    sensor_ids: Sequence[int] | None,
    offset: int,
    limit: int,
    bbox: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Observations with first <= bucket <= last, ordered by (bucket, sensor): one page of them."""
    return store.observations_between(
        store.get_engine(),
        layer,
        city,
        first,
        last,
        PUBLIC_COLUMNS[layer],
        sensor_ids=sensor_ids,
        bbox=bbox,
        offset=offset,
        limit=limit,
    )


def count_observations_between(
    layer: str,
    city: str,
    first: int,
    last: int,
    sensor_ids: Sequence[int] | None,
    bbox: Sequence[float] | None = None,
) -> int:
    return store.count_observations_between(
        store.get_engine(), layer, city, first, last, sensor_ids=sensor_ids, bbox=bbox
    )


def observation_range(layer: str, city: str) -> tuple[int | None, int | None]:
    """(oldest, newest) bucket stored for a city's layer."""
    return store.observation_bucket_range(store.get_engine(), layer, city)


def incidents_page(city: str, *, offset: int = 0, limit: int | None = None, **selection: Any) -> pd.DataFrame:
    """Incidents a selection takes, ordered by (reported_at, id): one page of them. `selection` is the
    store's (open_at, start, end, bbox, oldest: store.incidents_page); a bbox is matched on published,
    rounded locations."""
    columns = (*INCIDENT_COLUMNS, *STATUS_COLUMNS)
    return store.incidents_page(
        store.get_engine(), city, columns, bbox_margin=HALF_STEP, offset=offset, limit=limit, **selection
    )


def count_incidents(city: str, **selection: Any) -> int:
    """How many incidents `selection` (as for `incidents_page`) takes."""
    return store.count_incidents(store.get_engine(), city, bbox_margin=HALF_STEP, **selection)


def incidents_reported_at(city: str, reported_at: int) -> pd.DataFrame:
    return store.incidents_reported_at(store.get_engine(), city, reported_at, (*INCIDENT_COLUMNS, *STATUS_COLUMNS))


def sensors(layer: str, city: str) -> pd.DataFrame:
    return store.sensors(store.get_engine(), layer, city)


def latest_bucket(layer: str, city: str, bucket: int) -> int | None:
    return store.latest_bucket_at_or_before(store.get_engine(), layer, city, bucket)


def feed_state(city: str, layer: str) -> tuple[int, int | None]:
    """(revision, newest observed_at) of one city's layer; (0, None) before anything was written."""
    return store.feed_states(store.get_engine(), city).get(layer, (0, None))


def simulation_closed(city: str) -> bool:
    """Whether the simulator has closed the city's open simulated incidents (store meta flag)."""
    return store.get_meta(store.get_engine(), f"sim_closed:{city}") is not None


def public_id_key() -> str:
    """The key of the opaque public incident ids: made once, kept in the store so every worker agrees."""
    engine = store.get_engine()
    stored = store.get_meta(engine, "public_id_key")
    if stored is None:
        store.set_meta(engine, "public_id_key", secrets.token_hex(32))
        stored = store.get_meta(engine, "public_id_key")
    return stored
