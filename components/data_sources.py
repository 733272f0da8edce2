"""Where a city's data come from, per layer: which layers are SIMULATED (the SIMULATE setting) and which
show only sensors from feeds and imports; and the map's note when it has no sensor at all."""

from __future__ import annotations

from collections.abc import Sequence

from dash import html
from markupsafe import Markup

from components.i18n import LAYERS
from components.markup import join, pair, static, tag

ALL_LAYERS = ("traffic", "parking", "air_quality", "incidents")
ALL_SIMULATED_NOTE = (
    "Observations are SIMULATED; roads are synthetic; district outlines and national AQ stations are real. See README.",
    "观测数据为模拟数据；道路为合成路网；行政区边界与国控空气质量站点为真实数据。详见 README。",
)
FEEDS_HELP = "/docs/connect-your-city"  # pages/docs.py serves it (public: no secrets in it)


def _names(layers: Sequence[str], lang: int) -> str:
    return ", ".join(LAYERS[layer][lang] for layer in layers) if layers else ("none", "无")[lang]


def source_note(simulated: Sequence[str]) -> Markup:
    """The data note under the legend, as written HTML: all simulated, or per layer what is simulated
    and what is not."""
    return tag("p", _note_content(simulated), class_="data-note")


def _note_content(simulated: Sequence[str]) -> Markup:
    if set(simulated) >= set(ALL_LAYERS):
        return pair(*ALL_SIMULATED_NOTE)
    real = [layer for layer in ALL_LAYERS if layer not in simulated]
    return join(
        [
            tag("span", pair("SIMULATED", "模拟"), class_="sim-chip"),
            " ",
            pair(_names(simulated, 0), _names(simulated, 1), class_="data-note-simulated"),
            tag("br"),
            pair("From feeds and imports only: ", "仅来自数据接入与导入："),
            pair(_names(real, 0), _names(real, 1), class_="data-note-real"),
        ]
    )


def empty_map_note(note_id: str, hidden: bool) -> html.Div:
    """Over a map with no sensor at all (SIMULATE=none before any feed): what to do, not an error.
    Always in the layout (hidden when there are sensors), so the page can hide it once some report."""
    return static(
        html.Div,
        tag("strong", pair("No sensors yet: connect a feed", "暂无传感器：请接入数据源")),
        tag(
            "p",
            pair(
                "Send NGSI-v2 notifications or CSV/JSON rows to the ingest API; new stations, car parks and "
                "road segments appear here as they report.",
                "向接入接口发送 NGSI-v2 通知或 CSV/JSON 数据；新的站点、停车场和路段上报后即显示于此。",
            ),
        ),
        tag("a", pair("Connect your city: how to", "接入您的城市：操作说明"), href=FEEDS_HELP),
        id=note_id,
        hidden=hidden,
        className="map-empty",
        role="status",
    )
