"""Map legends: one block per layer, built from the domain rules' own bands and colours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html

from components.i18n import INCIDENT_KINDS, LAYERS, SEVERITIES, t, tp


def _swatch(color: str, shape: str = "box") -> html.Span:
    return html.Span(className=f"legend-swatch legend-{shape}", style={"background": color})


def band_legend(layer: str, bands: Sequence[Any], fmt_range) -> html.Div:
    """`bands` carry name_en, name_zh and color; `fmt_range(band)` gives the numeric range text."""
    return html.Div(
        [html.Div(tp(LAYERS[layer]), className="legend-title")]
        + [
            html.Div(
                [_swatch(b.color), t(b.name_en, b.name_zh), html.Span(fmt_range(b), className="legend-range")],
                className="legend-row",
            )
            for b in bands
        ],
        className="legend-block",
        id=f"legend-{layer}",
    )


def incident_legend(icon_base: str) -> html.Div:
    rows = [
        html.Div(
            [html.Img(src=f"{icon_base}{kind}.svg", className="legend-icon", alt=""), tp(label)], className="legend-row"
        )
        for kind, label in INCIDENT_KINDS.items()
    ]
    rings = html.Div(
        [
            html.Span([html.Span(className=f"legend-ring cb-sev-{i + 1}"), tp(s)], className="legend-sev")
            for i, s in enumerate(SEVERITIES)
        ],
        className="legend-row legend-sevs",
    )
    return html.Div(
        [html.Div(tp(LAYERS["incidents"]), className="legend-title"), *rows, rings],
        className="legend-block",
        id="legend-incidents",
    )


def stale_note() -> html.Div:
    return html.Div([_swatch("#9e9e9e"), t("No recent data (stale)", "数据过期")], className="legend-row")
