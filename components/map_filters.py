"""The operator map's incident filters and view, as controls over the map and as the address keeps
them (`&z=&lat=&lon=&type=&sev=&status=&act=&view=`): assets/citybrain.js writes the address with
replaceState as the view or a filter changes, and the page reads it back here on a reload."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dash import dcc, html

from components.i18n import SEVERITIES
from components.markup import pair, static, text

if TYPE_CHECKING:
    from data.rules.tables import RuleTables

OPEN_STATUSES = ("new", "acknowledged", "dispatched", "on_scene")  # the incidents the map draws
SEVERITY_LEVELS = (1, 2, 3, 4)
FLAGS = ("act", "mine")  # needs action (new, past SLA, severity >= 3); taken by an operator
VIEWS = ("groups", "density")
MIN_ZOOM, MAX_ZOOM = 3, 19
_MAX_PARAM = 400  # characters of one query value read; an address is not a place for more


@dataclass(frozen=True)
class MapQuery:
    """What an address says about the map; anything unreadable is left at its default."""

    zoom: int | None = None
    lat: float | None = None
    lon: float | None = None
    kinds: tuple[str, ...] = ()  # () = every type
    sevs: tuple[int, ...] = SEVERITY_LEVELS
    statuses: tuple[str, ...] = OPEN_STATUSES
    flags: tuple[str, ...] = ()
    view: str = "groups"

    @property
    def has_view(self) -> bool:
        return self.zoom is not None and self.lat is not None and self.lon is not None


def _one(value: Any) -> str | None:
    """A query value as Dash pages hand it over (a string, or a list when repeated): the last, bounded."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    return value[:_MAX_PARAM] if isinstance(value, str) else None


def _number(value: Any, low: float, high: float) -> float | None:
    raw = _one(value)
    try:
        number = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _members(value: Any, allowed: Sequence[Any], default: tuple[Any, ...]) -> tuple[Any, ...]:
    """Comma-separated items of `allowed` (compared as whole strings), in `allowed`'s order; an empty
    value is an empty choice, a missing one the default. Unknown items are dropped."""
    raw = _one(value)
    if raw is None:
        return default
    wanted = {item.strip() for item in raw.split(",")}
    return tuple(item for item in allowed if str(item) in wanted)


def parse_map_query(query: Mapping[str, Any], kinds: Sequence[str]) -> MapQuery:
    """`z`, `lat`, `lon` (all three, or no view), `type`, `sev`, `status`, `act` and `view`."""
    zoom = _number(query.get("z"), MIN_ZOOM, MAX_ZOOM)
    lat, lon = _number(query.get("lat"), -85, 85), _number(query.get("lon"), -180, 180)
    full = zoom is not None and lat is not None and lon is not None
    return MapQuery(
        zoom=round(zoom) if full and zoom is not None else None,
        lat=lat if full else None,
        lon=lon if full else None,
        kinds=_members(query.get("type"), kinds, ()),
        sevs=_members(query.get("sev"), SEVERITY_LEVELS, SEVERITY_LEVELS),
        statuses=_members(query.get("status"), OPEN_STATUSES, OPEN_STATUSES),
        flags=_members(query.get("act"), FLAGS, ()),
        view=(_members(query.get("view"), VIEWS, ("groups",)) or ("groups",))[0],
    )


def _options(items: Sequence[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [{"label": label, "value": value} for value, label in items]


def _choices(
    kind: Callable[..., Any],
    choices_id: str,
    items: Sequence[tuple[Any, Any]],
    value: Any,
    class_name: str = "map-filter-row",
) -> Any:
    """One inline row of choices: `kind` is dcc.Checklist or dcc.RadioItems."""
    return kind(id=choices_id, options=_options(items), value=value, inline=True, className=class_name)


def incident_filters(prefix: str, query: MapQuery, rules: RuleTables) -> html.Details:
    """Filters over the map (type, severity, status, needs action / mine) and the groups/density switch;
    the types and states with their names come from `rules`."""
    return html.Details(
        [
            static(html.Summary, pair("Filters", "筛选")),
            dcc.Dropdown(
                id=f"{prefix}-f-kind",
                options=_options([(k, text(name)) for k, name in rules.incident_kinds.items()]),
                value=list(query.kinds),
                multi=True,
                searchable=False,
                placeholder="全部事件类型 · All incident types",  # a plain string: no language switch inside
                className="map-filter-kinds",
            ),
            _choices(
                dcc.Checklist,
                f"{prefix}-f-sev",
                [(level, text(SEVERITIES[level - 1])) for level in SEVERITY_LEVELS],
                list(query.sevs),
            ),
            _choices(
                dcc.Checklist,
                f"{prefix}-f-status",
                [(s, text(rules.statuses[s])) for s in OPEN_STATUSES],
                list(query.statuses),
            ),
            _choices(
                dcc.Checklist,
                f"{prefix}-f-flags",
                [("act", text(("Needs action", "待处置"))), ("mine", text(("Mine (operators)", "本中心处置")))],
                list(query.flags),
            ),
            _choices(
                dcc.RadioItems,
                f"{prefix}-f-view",
                [("groups", text(("Groups", "聚合"))), ("density", text(("Density", "密度")))],
                query.view,
                "map-filter-row map-filter-view",
            ),
        ],
        open=query != MapQuery(zoom=query.zoom, lat=query.lat, lon=query.lon),  # open when something is filtered
        className="map-filters",
        id=f"{prefix}-filters",
    )


def filter_defaults() -> dict[str, list[Any]]:
    """What the browser leaves out of the address (the defaults)."""
    return {"sev": list(SEVERITY_LEVELS), "status": list(OPEN_STATUSES)}
