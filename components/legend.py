"""Map legends, for the operator map and the public embeds alike: one collapsible legend on the map,
with one block per layer built from the domain rules' own bands and colours.

The legend is static, so it travels as data: `map_legend` gives ONE Dash component (an empty host
whose `data-legend` attribute holds the legend as JSON) and the browser draws it from that
(assets_embed/cbmap.js `legend`, shared by both maps). As ~250 Dash components it was a large part of
what the Dash renderer re-checked on each of the many store updates of every live refresh (bench/
page_cost.py). The two maps differ only in their stylesheet's class names (`LegendLook`), in how a
text is given (`Text`: an [en, zh] pair the page switches, or one language) and in what marks their
incidents (severity or status)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dash import html

from components.i18n import LAYERS, SEVERITIES, Pair

if TYPE_CHECKING:
    from data.rules.tables import RuleTables

Text = Callable[[Pair], Any]  # a pair as the browser receives it: list (both languages) or a string
Row = dict[str, Any]
STALE_COLOR = "#9e9e9e"
STALE_TEXT: Pair = ("No recent data (stale)", "数据过期")


@dataclass(frozen=True)
class LegendLook:
    """Class names of one map's legend."""

    block: str | None  # class of a layer's block (its id is "legend-<layer>" when given)
    title: str
    row: str
    swatch: str  # prefix: "<swatch>swatch <swatch><shape>"
    range: str | None
    icon: str
    note: str
    legend: str  # class of the collapsible legend over the map
    body: str


OPERATOR = LegendLook(
    "legend-block",
    "legend-title",
    "legend-row",
    "legend-",
    "legend-range",
    "legend-icon",
    "legend-source",
    "map-legend",
    "map-legend-body",
)
EMBED = LegendLook(
    None, "em-legend-title", "em-row", "em-", None, "em-icon", "em-legend-note", "em-legend", "em-legend-body"
)
SEVERITY_COLORS = ("#74c0fc", "#fcc419", "#fd7e14", "#e03131")  # as assets/style.css .cb-sev-N
SOURCES_TEXT: Pair = (
    "Congestion bands: Amap congestion delay index. AQI: HJ 633-2012.",
    "拥堵分级：高德拥堵延时指数。AQI：HJ 633-2012。",
)
LEGEND_TEXT: Pair = ("Legend", "图例")
GROUP_TEXT: Pair = ("Group: count, coloured by its worst", "聚合：数量，颜色为其中最严重者")
NEEDS_TEXT: Pair = ("Needs action (pulses; badge on a group)", "待处置（闪烁；聚合角标为其数量）")
DENSITY_TEXT: Pair = ("Density view: incidents per area, few to most", "密度视图：单位面积事件数，由少到多")


def ci_range(band: Any) -> str:
    return f"≥ {band.low:g}" if band.high == float("inf") else f"{band.low:g}–{band.high:g}"


def pct_range(band: Any) -> str:
    return f"{ci_range(band)}%"


def aqi_range(level: Any) -> str:
    return f"> {level.low - 1}" if level.high is None else f"{level.low}–{level.high}"


def band_rows(
    bands: Sequence[Any],
    fmt_range: Callable[[Any], str],
    text: Text,
    shape: str = "box",
    hint: Callable[[Any], Any] | None = None,
) -> list[Row]:
    """`bands` carry name_en, name_zh and color; `fmt_range(band)` gives the numeric range text and
    `hint(band)` an optional tooltip."""
    return [
        {
            "swatch": b.color,
            "shape": shape,
            "text": text((b.name_en, b.name_zh)),
            "range": fmt_range(b),
            **({"hint": hint(b)} if hint else {}),
        }
        for b in bands
    ]


def kind_rows(kinds: Iterable[tuple[str, Pair]], icon_base: str, text: Text) -> list[Row]:
    """One row per incident type: its icon and its name."""
    return [{"icon": f"{icon_base}{kind}.svg", "text": text(name)} for kind, name in kinds]


def group_rows(
    text: Text, rank_class: str, group: Pair = GROUP_TEXT, needs: bool = True, density: bool = False
) -> list[Row]:
    """How grouped (with `needs`, pulsing; with `density`, the density view's ramp) incidents look:
    samples as the map draws them."""
    rows: list[Row] = [{"group": rank_class, "text": text(group)}]
    if needs:
        rows.append({"needs": True, "text": text(NEEDS_TEXT)})
    if density:
        rows.append({"density": True, "text": text(DENSITY_TEXT)})
    return rows


def _layer_rows(layer: str, text: Text, rules: RuleTables) -> list[Row]:
    if layer == "traffic":
        return band_rows(rules.congestion_bands, ci_range, text)
    if layer == "parking":
        return band_rows(rules.occupancy_bands, pct_range, text, "dot")
    return band_rows(rules.aqi_levels, aqi_range, text, hint=lambda lv: text((lv.advice_en, lv.advice_zh)))


def legend_spec(
    layers: Sequence[str],
    text: Text,
    look: LegendLook,
    *,
    rules: RuleTables,
    kinds: Iterable[tuple[str, Pair]],
    icon_base: str,
    marks: Sequence[tuple[str, Pair]],
    incident_extra: Sequence[Row] = (),
    notes: Sequence[Pair] = (),
    titles: Mapping[str, Pair] = LAYERS,
    legend_id: str,
) -> dict[str, Any]:
    """The legend as data: one block per layer of `layers` ("traffic", "parking", "air_quality",
    "incidents"), the stale-data row, then `notes`. `marks`: (colour, name) of the rings an incident
    marker carries (severity, or a notice's status). `rules`: the bands and AQI levels the layers show."""
    blocks = []
    for layer in layers:
        if layer == "incidents":
            rings = [{"swatch": color, "shape": "ring", "text": text(name)} for color, name in marks]
            rows = [*kind_rows(kinds, icon_base, text), *rings, *incident_extra]
        else:
            rows = _layer_rows(layer, text, rules)
        blocks.append({"layer": layer, "title": text(titles[layer]), "rows": rows})
    stale = [{"swatch": STALE_COLOR, "shape": "box", "text": text(STALE_TEXT)}]
    return {
        "id": legend_id,
        "summary": text(LEGEND_TEXT),
        "look": asdict(look),
        "blocks": blocks,
        "stale": stale if any(layer != "incidents" for layer in layers) else [],
        "notes": [text(note) for note in notes],
    }


def map_legend(layers: Sequence[str], text: Text, look: LegendLook, **spec: Any) -> html.Div:
    """The legend over the map: one empty host component the browser fills from its `data-legend`."""
    data = legend_spec(layers, text, look, **spec)
    return html.Div(id=f"{data['id']}-host", className="legend-host", **{"data-legend": json.dumps(data)})


def operator_legend(icon_base: str, rules: RuleTables) -> html.Div:
    return map_legend(
        ("traffic", "parking", "air_quality", "incidents"),
        list,
        OPERATOR,
        rules=rules,
        kinds=rules.incident_kinds.items(),
        icon_base=icon_base,
        marks=list(zip(SEVERITY_COLORS, SEVERITIES, strict=True)),
        incident_extra=group_rows(list, "cb-rank-4", density=True),
        notes=[SOURCES_TEXT],
        legend_id="cc-legend",
    )
