"""Map legends, for the operator map and the public embeds alike: one block per layer, built from the
domain rules' own bands and colours. The two maps differ only in their stylesheet's class names
(`LegendLook`) and in how a bilingual text is shown (`Text`: both languages switchable, or one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dash import html

from components.i18n import INCIDENT_KINDS, LAYERS, SEVERITIES, Pair, tp

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


OPERATOR = LegendLook(
    "legend-block", "legend-title", "legend-row", "legend-", "legend-range", "legend-icon", "legend-source"
)
EMBED = LegendLook(None, "em-legend-title", "em-row", "em-", None, "em-icon", "em-legend-note")


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
            **({"title": hint(b)} if hint else {}),
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


# --- the operator map's blocks (both languages, switched by the page) -------------------------------


def band_legend(layer: str, bands: Sequence[Any], fmt_range: Callable[[Any], str]) -> html.Div:
    return block(layer, LAYERS[layer], band_rows(bands, fmt_range, tp, OPERATOR), tp, OPERATOR)


def incident_legend(icon_base: str) -> html.Div:
    rings = html.Div(
        [
            html.Span([html.Span(className=f"legend-ring cb-sev-{i + 1}"), tp(s)], className="legend-sev")
            for i, s in enumerate(SEVERITIES)
        ],
        className="legend-row legend-sevs",
    )
    rows = [*kind_rows(INCIDENT_KINDS.items(), icon_base, tp, OPERATOR), rings]
    return block("incidents", LAYERS["incidents"], rows, tp, OPERATOR)


def stale_note() -> html.Div:
    return stale_row(tp, OPERATOR)
