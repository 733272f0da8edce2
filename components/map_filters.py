"""The operator map's incident filters and view, as controls over the map and as the address keeps
them (`&z=&lat=&lon=&type=&sev=&status=&act=&view=`): assets/citybrain.js writes the address with
replaceState as the view or a filter changes, and the page reads it back here on a reload."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dash import html
from markupsafe import Markup

from components.i18n import SEVERITIES, Pair
from components.markup import pair, pair_of, static, tag

if TYPE_CHECKING:
    from data.rules.tables import RuleTables

OPEN_STATUSES = ("new", "acknowledged", "dispatched", "on_scene")  # the incidents the map draws
SEVERITY_LEVELS = (1, 2, 3, 4)
FLAGS = ("act", "mine")  # needs action (new, past SLA, severity >= 3); taken by an operator
VIEWS = ("groups", "density")
FLAG_NAMES: list[tuple[str, Pair]] = [("act", ("Needs action", "待处置")), ("mine", ("Mine (operators)", "本中心处置"))]
VIEW_NAMES: list[tuple[str, Pair]] = [("groups", ("Groups", "聚合")), ("density", ("Density", "密度"))]
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


def _choices(
    choices_id: str,
    name: str,
    items: Sequence[tuple[Any, Pair]],
    chosen: Sequence[Any],
    kind: str = "checkbox",
    class_: str = "map-filter-row",
) -> Markup:
    """One inline row of native boxes (or radio buttons), each in its label."""
    boxes = [
        tag("label", tag("input", type=kind, name=name, value=str(value), checked=value in chosen), pair_of(label))
        for value, label in items
    ]
    return tag("div", *boxes, id=choices_id, class_=class_, role="group")


def incident_filters(prefix: str, query: MapQuery, rules: RuleTables) -> html.Details:
    """Filters over the map (type, severity, status, needs action / mine) and the groups/density switch;
    the types and states with their names come from `rules`. Written HTML with native inputs
    (components/markup.py): assets/citybrain.js reads them on change, so the panel costs the page one
    Dash component instead of about forty (a Dash component's cost at page open grows with how many
    there are), and no callback round. No box ticked under "Types" means every type."""
    return static(
        html.Details,
        tag("summary", pair("Filters", "筛选")),
        tag("div", pair("Types (none ticked: all)", "事件类型（不选即全部）"), class_="map-filter-title"),
        _choices(
            f"{prefix}-f-kind",
            "kind",
            list(rules.incident_kinds.items()),
            query.kinds,
            class_="map-filter-row map-filter-kinds",
        ),
        _choices(f"{prefix}-f-sev", "sev", [(level, SEVERITIES[level - 1]) for level in SEVERITY_LEVELS], query.sevs),
        _choices(f"{prefix}-f-status", "status", [(s, rules.statuses[s]) for s in OPEN_STATUSES], query.statuses),
        _choices(
            f"{prefix}-f-flags",
            "flags",
            FLAG_NAMES,
            query.flags,
        ),
        _choices(
            f"{prefix}-f-view",
            "view",
            VIEW_NAMES,
            (query.view,),
            kind="radio",
            class_="map-filter-row map-filter-view",
        ),
        open=query != MapQuery(zoom=query.zoom, lat=query.lat, lon=query.lon),  # open when something is filtered
        className="map-filters",
        id=f"{prefix}-filters",
    )


def initial_filter(query: MapQuery) -> dict[str, Any]:
    """The filters the page opens with, as assets/citybrain.js holds them (it reads the boxes after that)."""
    return {
        "kind": list(query.kinds),
        "sev": list(query.sevs),
        "status": list(query.statuses),
        "act": "act" in query.flags,
        "mine": "mine" in query.flags,
        "view": query.view,
    }


def filter_defaults() -> dict[str, list[Any]]:
    """What the browser leaves out of the address (the defaults)."""
    return {"sev": list(SEVERITY_LEVELS), "status": list(OPEN_STATUSES)}
