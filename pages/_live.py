"""What a live map page needs, shared by the command centre and the wall (Dash's page loader skips `_`
files): the refresh interval gates the map and panel ticks while an answer is under way, the live values
are applied to the features already drawn (assets/citybrain.js), the browser's value versions are read
from the refresh request, and the KPI cards get their sparklines."""

from __future__ import annotations

import logging
from typing import Any

import flask
from dash import ClientsideFunction, Input, Output, State, clientside_callback

from components.trend import sparkline
from data import access
from data.trends import sparkline as spark_series

log = logging.getLogger(__name__)


def browser_versions() -> dict[str, str] | None:
    """Version tokens of the values the browser holds, per layer. assets/citybrain.js `requestPre` adds
    them to the refresh request as an extra top-level key "cb_have" (Dash ignores it; not a declared
    State, so a request without it, e.g. from another client, gets every layer in full)."""
    body = flask.request.get_json(silent=True) if flask.has_request_context() else None
    have = body.get("cb_have") if isinstance(body, dict) else None
    return {k: v for k, v in have.items() if isinstance(v, str)} if isinstance(have, dict) else None


def kpi_sparklines(city: str, at: int, now: dict[str, Any]) -> dict[str, Any]:
    """The cards' sparklines from the cached trends (their last point is the card's own value `now`);
    none when the trends cannot be read (the cards still show)."""
    try:
        trend = access.kpi_trends(city, at)
    except Exception:
        log.exception("KPI trends failed for %s", city)
        return {}
    return {key: sparkline(*spark_series(series, now.get(key))) for key, series in trend["series"].items()}


def register_live_refresh(prefix: str) -> None:
    """Ids used: {prefix}-refresh, -tick-map, -tick-panels, -busy-map, -busy-panels, -live, -applied,
    -incident-meta."""
    for part in ("map", "panels"):
        clientside_callback(
            ClientsideFunction("citybrain", f"gate{part.title()}"),
            Output(f"{prefix}-tick-{part}", "data"),
            Input(f"{prefix}-refresh", "n_intervals"),
            State(f"{prefix}-busy-{part}", "data"),
            prevent_initial_call=True,
        )
    clientside_callback(
        ClientsideFunction("citybrain", "applyLive"),
        Output(f"{prefix}-applied", "children"),
        Input(f"{prefix}-live", "data"),
        State(f"{prefix}-incident-meta", "data"),
    )
