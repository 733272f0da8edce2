"""Map legends, for the operator map and the public embeds alike: one collapsible legend on the map
(`map_legend`) with one block per layer, built from the domain rules' own bands and colours. The two
maps differ only in their stylesheet's class names (`LegendLook`), in how a bilingual text is shown
(`Text`: both languages switchable, or one) and in what marks their incidents (severity or status)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dash import html

from components.i18n import INCIDENT_KINDS, LAYERS, SEVERITIES, Pair, tp
from data.rules import aqi as aqi_rules
from data.rules.congestion import CONGESTION_BANDS
from data.rules.parking import OCCUPANCY_BANDS

Text = Callable[[Pair], Any]
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


def _cls(name: str | None) -> dict[str, str]:
    return {"className": name} if name else {}


def ci_range(band: Any) -> str:
    return f"≥ {band.low:g}" if band.high == float("inf") else f"{band.low:g}–{band.high:g}"


def pct_range(band: Any) -> str:
    return f"{ci_range(band)}%"


def aqi_range(level: Any) -> str:
    return f"> {level.low - 1}" if level.high is None else f"{level.low}–{level.high}"


def swatch(color: str, look: LegendLook, shape: str = "box") -> html.Span:
    style = {"borderColor": color} if shape == "ring" else {"background": color}
    return html.Span(className=f"{look.swatch}swatch {look.swatch}{shape}", style=style)


def band_rows(
    bands: Sequence[Any],
    fmt_range: Callable[[Any], str],
    text: Text,
    look: LegendLook,
    shape: str = "box",
    hint: Callable[[Any], str] | None = None,
) -> list[html.Div]:
    """`bands` carry name_en, name_zh and color; `fmt_range(band)` gives the numeric range text and
    `hint(band)` an optional tooltip."""
    return [
        html.Div(
            [swatch(b.color, look, shape), text((b.name_en, b.name_zh)), html.Span(fmt_range(b), **_cls(look.range))],
            className=look.row,
            **({"title": hint(b)} if hint and isinstance(hint(b), str) else {}),  # a tooltip is plain text
        )
        for b in bands
    ]


def kind_rows(kinds: Iterable[tuple[str, Pair]], icon_base: str, text: Text, look: LegendLook) -> list[html.Div]:
    """One row per incident type: its icon and its name."""
    return [
        html.Div([html.Img(src=f"{icon_base}{kind}.svg", className=look.icon, alt=""), text(name)], className=look.row)
        for kind, name in kinds
    ]


def stale_row(text: Text, look: LegendLook, label: Pair = STALE_TEXT) -> html.Div:
    return html.Div([swatch(STALE_COLOR, look), text(label)], className=look.row)


def block(layer: str, title: Pair, rows: list[Any], text: Text, look: LegendLook) -> html.Div:
    """A layer's block: its title, then its rows."""
    ident = {"className": look.block, "id": f"legend-{layer}"} if look.block else {}
    return html.Div([html.Div(text(title), className=look.title), *rows], **ident)


# --- one legend on the map, for both maps ------------------------------------------------------------


def _layer_rows(layer: str, text: Text, look: LegendLook) -> list[Any]:
    if layer == "traffic":
        return band_rows(CONGESTION_BANDS, ci_range, text, look)
    if layer == "parking":
        return band_rows(OCCUPANCY_BANDS, pct_range, text, look, "dot")
    hint = lambda lv: text((lv.advice_en, lv.advice_zh))  # noqa: E731
    return band_rows(aqi_rules.AQI_LEVELS, aqi_range, text, look, hint=hint)


def group_rows(
    text: Text, look: LegendLook, rank_class: str, group: Pair = GROUP_TEXT, needs: bool = True
) -> list[Any]:
    """How grouped (and, with `needs`, pulsing) incidents look: samples as the map draws them."""
    sample = html.Span(html.Span("12"), className=f"{look.swatch}group {rank_class}")
    rows = [html.Div([sample, text(group)], className=look.row)]
    if needs:
        rows.append(html.Div([html.Span(className=f"{look.swatch}needs"), text(NEEDS_TEXT)], className=look.row))
    return rows


def map_legend(
    layers: Sequence[str],
    text: Text,
    look: LegendLook,
    *,
    kinds: Iterable[tuple[str, Pair]],
    icon_base: str,
    marks: Sequence[tuple[str, Pair]],
    incident_extra: Sequence[Any] = (),
    notes: Sequence[Pair] = (),
    titles: Mapping[str, Pair] = LAYERS,
    legend_id: str,
) -> html.Details:
    """The legend over the map, open (a small embed folds it in the browser): one block per layer of
    `layers` ("traffic", "parking", "air_quality", "incidents"), the stale-data row, then `notes`.
    `marks`: (colour, name) of the rings an incident marker carries (severity, or a notice's status)."""
    blocks = []
    for layer in layers:
        if layer == "incidents":
            rings = [html.Div([swatch(color, look, "ring"), text(name)], className=look.row) for color, name in marks]
            rows = [*kind_rows(kinds, icon_base, text, look), *rings, *incident_extra]
        else:
            rows = _layer_rows(layer, text, look)
        blocks.append(block(layer, titles[layer], rows, text, look))
    if any(layer != "incidents" for layer in layers):
        blocks.append(stale_row(text, look))
    blocks += [html.Div(text(note), className=look.note) for note in notes]
    return html.Details(
        [html.Summary(text(LEGEND_TEXT)), html.Div(blocks, className=look.body)],
        open=True,
        className=look.legend,
        id=legend_id,
    )


def operator_legend(icon_base: str) -> html.Details:
    return map_legend(
        ("traffic", "parking", "air_quality", "incidents"),
        tp,
        OPERATOR,
        kinds=INCIDENT_KINDS.items(),
        icon_base=icon_base,
        marks=list(zip(SEVERITY_COLORS, SEVERITIES, strict=True)),
        incident_extra=group_rows(tp, OPERATOR, "cb-rank-4"),
        notes=[
            (
                "Congestion bands: Amap congestion delay index. AQI: HJ 633-2012.",
                "拥堵分级：高德拥堵延时指数。AQI：HJ 633-2012。",
            )
        ],
        legend_id="cc-legend",
    )
