"""Live / history time control: a mode switch, a 7-day slider in 15-minute steps (and optionally a few
forecast steps past now), play/pause."""

from __future__ import annotations

from dash import dcc, html

from components.markup import text

PLAY, PAUSE = ("▶ Play", "▶ 播放"), ("❚❚ Pause", "❚❚ 暂停")


def time_control(
    prefix: str,
    steps: int,
    day_marks: dict[int, str],
    refresh_seconds: int,
    label=None,
    timeline: dict[str, int] | None = None,
    future: int = 0,
) -> html.Div:
    """`timeline` ({"bucket", "span", "offset"}: seconds of a step, of the window, and of local time from
    UTC) lets the slider's tooltip show the moment a step stands for (assets/citybrain.js `stepTime`);
    `future` steps past now (the last history step) show forecasts."""
    data = {f"data-{k}": str(v) for k, v in (timeline or {}).items()}
    return html.Div(
        [
            dcc.RadioItems(
                id=f"{prefix}-mode",
                options=[
                    {"label": text(("Live", "实时")), "value": "live"},
                    {"label": text(("History", "历史")), "value": "history"},
                ],
                value="live",
                inline=True,
                className="mode-switch",
            ),
            html.Button(text(PLAY), id=f"{prefix}-play", n_clicks=0, className="btn", disabled=True),
            html.Div(
                dcc.Slider(
                    id=f"{prefix}-slider",
                    min=0,
                    max=steps + future,
                    step=1,
                    value=steps,
                    marks=day_marks,
                    updatemode="mouseup",
                    disabled=True,
                    tooltip={"always_visible": False, "transform": "stepTime"}
                    if timeline
                    else {"always_visible": False},
                    allow_direct_input=False,  # the raw step index (0-672) means nothing to an operator
                ),
                className="time-slider",
                **data,
            ),
            html.Div(label, id=f"{prefix}-time-label", className="time-label", **{"aria-live": "polite"}),
            dcc.Interval(id=f"{prefix}-refresh", interval=refresh_seconds * 1000),
            dcc.Interval(id=f"{prefix}-playback", interval=1200, disabled=True),
        ],
        className="time-control",
    )
