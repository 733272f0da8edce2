"""What a live map page needs, shared by the command centre and the wall (Dash's page loader skips `_`
files): the refresh interval gates the map and panel ticks while an answer is under way, the live values
are applied to the features already drawn (assets/citybrain.js), the browser's value versions are read
from the refresh request, and the KPI and alert panels: drawn once, then refreshed as data (two small
stores) that assets/citybrain.js `applyPanels` writes into them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import flask
import numpy as np
from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html, no_update
from markupsafe import Markup

from components.alerts import alert_panel, alert_rows
from components.i18n import t
from components.kpi import HIGHER_IS_WORSE, error_markup, kpi_grid, kpi_view
from components.map_layers import INCIDENTS_OVERLAY
from components.trend import SPARK, spark_paths
from data import access, live_now
from data.trends import sparkline as spark_series

log = logging.getLogger(__name__)
FAILED = {"error": True}  # a panel's data when its read failed: the panel shows its error state


def browser_versions() -> dict[str, str] | None:
    """Version tokens of the values the browser holds, per layer. assets/citybrain.js `requestPre` adds
    them to the refresh request as an extra top-level key "cb_have" (Dash ignores it; not a declared
    State, so a request without it, e.g. from another client, gets every layer in full)."""
    body = flask.request.get_json(silent=True) if flask.has_request_context() else None
    have = body.get("cb_have") if isinstance(body, dict) else None
    return {k: v for k, v in have.items() if isinstance(v, str)} if isinstance(have, dict) else None


def map_answer(
    city: str, at: int | None, label: Callable[[int], list[Any]], have: dict[str, str] | None, watch: bool = True
) -> tuple[Any, list[Any]]:
    """A map refresh: the values at `at` (None: live, data.live_now's view), each layer in full or only
    what changed since the versions the browser has (`have`: browser_versions), and the time label for
    the instant they show (`label(at)`); no_update, and a note in the label, when they failed (the map
    keeps its last values). `watch`: False for a page's first values (data.live_now.view)."""
    try:
        if at is None:
            now = live_now.view(city, watch=watch)
            at, payload = now.at, now.since(have)
        else:
            payload = access.live_values_since(city, at, have)
    except Exception:
        log.exception("map refresh failed for %s at %s", city, at)
        note = html.Span(t("map data unavailable, retrying", "地图数据暂不可用，重试中"), className="text-error")
        return no_update, [*label(int(time.time()) if at is None else at), " · ", note]
    payload["at"] = at
    return payload, label(at)


def kpi_sparklines(city: str, at: int, now: dict[str, Any]) -> dict[str, Any]:
    """The cards' sparklines (trend.spark_paths) from the cached trends (their last point is the card's own
    value `now`); none when the trends cannot be read (the cards still show)."""
    try:
        trend = access.kpi_trends_ready(city, at)  # (the cards do not wait for a cold 7-day read)
    except Exception:
        log.exception("KPI trends failed for %s", city)
        return {}
    if trend is None:
        return {}
    return {key: spark_paths(*spark_series(series, now.get(key))) for key, series in trend["series"].items()}


NOT_FORECAST = ("no forecast for this indicator", "此指标无预测")


def kpi_data(
    city: str,
    at: int | None,
    forecast_at: int | None = None,
    reasons: dict[str | None, tuple[str, str]] | None = None,
    now: live_now.LiveView | None = None,
) -> dict[str, Any]:
    """The KPI panel's refresh at `at` (None: live, from the live view `now`): each card's kpi_view, or
    FAILED. With `forecast_at` (a step of the time control past now) the layer KPIs show their
    forecast for it (data.access.forecast_kpis), or why there is none, worded by `reasons` (by reason;
    None: no model fitted yet)."""
    try:
        if at is None:
            at, items = now.at, now.kpis
            if items is None:
                return FAILED  # (logged by data.live_now)
        else:
            items = access.kpis(city, at)
        sparks = kpi_sparklines(city, at, {k.key: k.value for k in items})
        ahead = _forecasts(city, forecast_at, reasons or {}) if forecast_at is not None else {}
        cards = [
            kpi_view(k, at, HIGHER_IS_WORSE[k["key"]], sparks.get(k["key"]), ahead.get(k["key"], ahead.get(None)))
            for k in access.kpi_dicts(items)
        ]
    except Exception:
        log.exception("KPI refresh failed for %s", city)
        return FAILED
    return {"cards": cards}


def _forecasts(city: str, at: int, reasons: dict[str | None, tuple[str, str]]) -> dict[str | None, Any]:
    """kpi_view's `forecast` per KPI key; under None, what the KPIs without a forecast show."""
    out: dict[str | None, Any] = {None: {"note": NOT_FORECAST}}
    for key, fc in access.forecast_kpis(city, at).items():
        if fc["served"]:
            out[key] = fc
        elif fc["reason"] == "observed hour":
            out[key] = None  # this hour is observed (as on the map): the card keeps the present value
        else:
            out[key] = {"note": reasons.get(fc["reason"], reasons.get(None, NOT_FORECAST))}
    return out


def alert_data(
    city: str,
    at: int | None,
    forecast_now: int | None = None,
    now: live_now.LiveView | None = None,
) -> list[list[str]] | dict[str, Any]:
    """The alerts panel's refresh: alert_rows of the alerts at `at` (None: live, from the live view `now`;
    with the forecast alerts from `forecast_now` when given: labelled FORECAST, never an incident), or
    FAILED."""
    try:
        found = now.alerts if at is None else access.alerts(city, at)
        if found is None:
            return FAILED  # (logged by data.live_now)
        found = list(found)  # (the view's own list is shared)
        if forecast_now is not None:
            found += access.forecast_alerts(city, forecast_now)
        return alert_rows([asdict(a) for a in found])
    except Exception:
        log.exception("alerts failed for %s", city)
        return FAILED


def panel_data(
    city: str,
    at: int | None,
    forecast_at: int | None = None,
    reasons: dict[str | None, tuple[str, str]] | None = None,
    forecast_now: int | None = None,
    watch: bool = True,
) -> tuple[dict[str, Any], list[list[str]] | dict[str, Any]]:
    """Both panels' refresh (kpi_data, alert_data). Live (`at` None) from one live view: the KPIs and the
    alerts show the same instant (two reads could take two views a refresh interval apart)."""
    now = None
    if at is None:
        try:
            now = live_now.view(city, watch=watch)
        except Exception:
            log.exception("live view failed for %s", city)
            return FAILED, FAILED
    return kpi_data(city, at, forecast_at, reasons, now=now), alert_data(city, at, forecast_now, now=now)


def kpi_panel(prefix: str, class_name: str = "kpi-grid", pickable: bool = False) -> Markup:
    """The nine cards' grid as written HTML; the browser makes the cards and fills them from
    {prefix}-kpi-data (the first values come with the page). `pickable`: a card opens its chart
    ({prefix}-kpi-pick, in the page)."""
    return kpi_grid(f"{prefix}-kpis", class_name, SPARK, f"{prefix}-kpi-pick" if pickable else None)


def alerts_panel(prefix: str) -> Markup:
    return alert_panel(f"{prefix}-alerts", error_markup(("alerts", "告警")))


def _as_arrays(value: Any) -> Any:
    """The live values with each long all-int or all-float list as a numpy array: the same JSON, but Dash
    encodes a layout holding components by walking every list element in Python (plotly's
    clean_to_json_compatible: 0.1 s for the ~40,000 numbers of Hangzhou's live values), and an array is
    one leaf that orjson writes natively."""
    if isinstance(value, dict):
        return {k: _as_arrays(v) for k, v in value.items()}
    if isinstance(value, list) and len(value) >= 64:
        kinds = {type(v) for v in value}
        if kinds == {int} or kinds == {float}:
            return np.asarray(value)
        return [_as_arrays(v) for v in value]
    return value


def live_stores(
    prefix: str, city: str, live: Any, incident_meta: dict[str, Any], kpis: Any = None, alerts: Any = None
) -> list[Any]:
    """What register_live_refresh works with: the city, the live values (`live`: the first ones, or
    None), the refresh gates, the incidents' meta, the panels' data and the hidden targets of the
    clientside applies."""
    return [
        dcc.Store(id=f"{prefix}-city-key", data=city),
        dcc.Store(id=f"{prefix}-live", data=_as_arrays(live)),
        # Refresh ticks pass a browser-side gate: a tick that would supersede a still-running refresh is
        # skipped, because Dash discards the result of a superseded callback (a slow server would
        # otherwise never show any data). The busy flags are set while each refresh runs.
        dcc.Store(id=f"{prefix}-tick-map"),
        dcc.Store(id=f"{prefix}-tick-panels"),
        dcc.Store(id=f"{prefix}-busy-map", data=False),
        dcc.Store(id=f"{prefix}-busy-panels", data=False),
        dcc.Store(id=f"{prefix}-incident-meta", data=incident_meta),
        dcc.Store(id=f"{prefix}-overlay-name", data=INCIDENTS_OVERLAY),
        dcc.Store(id=f"{prefix}-kpi-data", data=kpis),
        dcc.Store(id=f"{prefix}-alert-data", data=alerts),
    ]


def register_live_refresh(prefix: str) -> None:
    """Ids used: {prefix}-refresh, -tick-map, -tick-panels, -busy-map, -busy-panels, -live,
    -incident-meta, -kpi-data, -alert-data, -kpis, -alerts. The applies have no Dash output (they draw
    in the browser): a hidden target per apply was one more component for every store update to
    notify, and its new value at every refresh one more store update."""
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
        Input(f"{prefix}-live", "data"),
        State(f"{prefix}-incident-meta", "data"),
    )
    clientside_callback(
        f"(kpis, alerts) => window.citybrain.applyPanels({prefix!r}, kpis, alerts)",
        Input(f"{prefix}-kpi-data", "data"),
        Input(f"{prefix}-alert-data", "data"),
    )
