"""The browser side of a live map page, shared by the command centre and the wall (Dash's page loader
skips `_` files): the refresh interval gates the map and panel ticks while an answer is under way, and
the live values are applied to the features already drawn (assets/citybrain.js)."""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, clientside_callback


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
