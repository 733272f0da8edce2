"""Read-only queries the open data API needs and `data/store.py` does not offer yet.

The store reads observations one bucket at a time and incidents as whole frames; the API has to
page through a time range and count matches without loading them all (Hangzhou has ~30,000 events
a day: a week of them through `store.incidents_between` takes ~15 s, these queries milliseconds).
They use the store's own table objects and engine, select only the columns needed, and never
write. Candidates to move into `data/store.py` when its owners agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, select, union_all

from data import store

# Observation columns a public reader may see, per layer (never `arrivals`, never anything added later).
PUBLIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "traffic": ("bucket", "segment_id", "speed_kmh", "observed_at"),
    "parking": ("bucket", "lot_id", "occupied", "observed_at"),
    "air_quality": ("bucket", "station_id", *store.POLLUTANT_COLUMNS, "observed_at"),
}
SENSOR_COLUMN = {"traffic": "segment_id", "parking": "lot_id", "air_quality": "station_id"}
# Incident columns read: the public ones, plus the workflow times that give the public status (never
# sent), and the row id that the opaque public id is derived from (never sent).
INCIDENT_COLUMNS = ("id", "kind", "lon", "lat", "district", "reported_at", "simulated")
STATUS_COLUMNS = ("dispatched_at", "on_scene_at", "resolved_at")
HALF_STEP = 0.0005  # locations are published rounded to 0.001°: a bbox filters the rounded values


def _frame(query: Any) -> pd.DataFrame:
    with store.get_engine().connect() as conn:
        result = conn.execute(query)
        columns = list(result.keys())
        return pd.DataFrame([tuple(row) for row in result], columns=columns)


def _count(table: Any, where: Any) -> int:
    with store.get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar() or 0)


# --- observations -------------------------------------------------------------------------------


def _observation_where(layer: str, city: str, first: int, last: int, sensor_ids: Sequence[int] | None):
    table = store.OBSERVATION_TABLES[layer]
    clauses = [table.c.city == city, table.c.bucket >= first, table.c.bucket <= last]
    if sensor_ids is not None:
        clauses.append(table.c[SENSOR_COLUMN[layer]].in_(list(sensor_ids)))
    return table, and_(*clauses)


def observations_between(
    layer: str, city: str, first: int, last: int, sensor_ids: Sequence[int] | None, offset: int, limit: int
) -> pd.DataFrame:
    """Observations with first <= bucket <= last, ordered by (bucket, sensor): one page of them."""
    table, where = _observation_where(layer, city, first, last, sensor_ids)
    query = (
        select(*(table.c[c] for c in PUBLIC_COLUMNS[layer]))
        .where(where)
        .order_by(table.c.bucket, table.c[SENSOR_COLUMN[layer]])
        .offset(offset)
        .limit(limit)
    )
    return _frame(query)


def count_observations_between(layer: str, city: str, first: int, last: int, sensor_ids: Sequence[int] | None) -> int:
    return _count(*_observation_where(layer, city, first, last, sensor_ids))


def observation_range(layer: str, city: str) -> tuple[int | None, int | None]:
    """(oldest, newest) bucket stored for a city's layer (two index lookups)."""
    table = store.OBSERVATION_TABLES[layer]
    with store.get_engine().connect() as conn:
        oldest = conn.execute(select(func.min(table.c.bucket)).where(table.c.city == city)).scalar()
        newest = conn.execute(select(func.max(table.c.bucket)).where(table.c.city == city)).scalar()
    return oldest, newest


# --- incidents ----------------------------------------------------------------------------------


def _incidents(
    names: Sequence[str],
    city: str,
    *,
    open_at: int | None,
    start: int | None,
    end: int | None,
    bbox: Sequence[float] | None,
    oldest: int,
):
    """A subquery of the incidents a selection takes, with columns `names`.

    Open at an instant: reported by then and not yet resolved, read through the (city, resolved_at)
    index as two disjoint parts (resolved later / never); `reported_at + 0` keeps the planner off the
    reported_at index, which would scan a week of events. Otherwise: reported within [start, end].
    """
    c = store.incident.c
    common = [c.city == city]
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        common += [
            c.lon >= minx - HALF_STEP,
            c.lon < maxx + HALF_STEP,
            c.lat >= miny - HALF_STEP,
            c.lat < maxy + HALF_STEP,
        ]
    columns = [c[name] for name in names]
    if open_at is None:
        return select(*columns).where(*common, c.reported_at >= start, c.reported_at <= end).subquery()
    reported = [(c.reported_at + 0) <= open_at, (c.reported_at + 0) >= oldest]
    later = select(*columns).where(*common, c.resolved_at > open_at, *reported)
    never = select(*columns).where(*common, c.resolved_at.is_(None), *reported)
    return union_all(later, never).subquery()


def incidents_page(
    city: str,
    *,
    open_at: int | None = None,
    start: int | None = None,
    end: int | None = None,
    bbox: Sequence[float] | None = None,
    oldest: int = 0,
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Incidents a selection takes, ordered by (reported_at, id): one page of them."""
    sub = _incidents(
        (*INCIDENT_COLUMNS, *STATUS_COLUMNS), city, open_at=open_at, start=start, end=end, bbox=bbox, oldest=oldest
    )
    # On the union, `+ 0` stops SQLite from pushing the order into each part (it would then walk
    # the reported_at index instead of the resolved_at one); a sort of the few open ones is cheap.
    first = sub.c.reported_at + 0 if open_at is not None else sub.c.reported_at
    query = select(sub).order_by(first, sub.c.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return _frame(query)


def count_incidents(
    city: str,
    *,
    open_at: int | None = None,
    start: int | None = None,
    end: int | None = None,
    bbox: Sequence[float] | None = None,
    oldest: int = 0,
) -> int:
    sub = _incidents(("id",), city, open_at=open_at, start=start, end=end, bbox=bbox, oldest=oldest)
    with store.get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sub)).scalar() or 0)


def incidents_reported_at(city: str, reported_at: int) -> pd.DataFrame:
    c = store.incident.c
    query = select(*(c[name] for name in (*INCIDENT_COLUMNS, *STATUS_COLUMNS))).where(
        c.city == city, c.reported_at == reported_at
    )
    return _frame(query)
