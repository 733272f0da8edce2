"""The composition root: `create_app()` wires the data layer, the API, the gate, the pages, the /embed
app and the background jobs. `python app.py` serves it for development; `gunicorn app:server` (with
gunicorn.conf.py, scripts/start.sh) in production. Importing this module builds nothing: `app` and
`server` are made on first use, so tests and tools set their environment first."""

from __future__ import annotations

import logging
from typing import Any

import dash
import plotly.io as pio
from flask import Flask

import auth
from api import errors as api_errors
from api import ogc
from api import outage as http_outage
from api.incidents import blueprint as incidents_api
from api.routes import blueprint as data_blueprint
from components import page_speed, unavailable
from components.shell import shell
from data import access, users
from data.config import ALL_SIMULATED, Settings, load_settings
from data.jobs import alerting, forecasting
from data.jobs.bootstrap import prepare_data, start_live_simulator
from data.jobs.memory import freeze_startup_objects
from public import install as install_public

INDEX = """<!DOCTYPE html>
<html lang="zh-CN" data-lang="zh" data-theme="light">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body>
</html>"""


def _nav(user: auth.users.User | None) -> list[tuple[str, tuple[str, str]]]:
    """The pages this visitor may open, in their order."""
    pages = sorted(dash.page_registry.values(), key=lambda p: p.get("order", 99))
    allowed = [p for p in pages if p.get("access") == "public" or (user and user.can(p.get("access", "viewer")))]
    return [(p["relative_path"], p["nav"]) for p in allowed if p.get("nav")]


def _layout():
    user = auth.current_user()
    # The page being opened comes with the layout (components/page_speed.py), not in a second round trip.
    return shell(_nav(user), page_speed.page_container(user), user, _simulated(load_settings()))


def _simulated(settings: Settings) -> str:
    """How much the SIMULATE setting simulates: "all", "some" or "none" (the header's badge)."""
    if not settings.simulate:
        return "none"
    return "all" if settings.simulate >= ALL_SIMULATED else "some"


def create_app(settings: Settings | None = None, prepare: bool = True, live: bool | None = None) -> dash.Dash:
    """The operator app (Dash keeps one page registry per process: build it once per process)."""
    settings = settings or load_settings()
    pio.json.config.default_engine = "orjson"  # Dash encodes callback answers with it: 10x the stdlib
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = Flask(__name__)
    access.cache.init_app(server, config=access.cache_config(settings))
    server.register_blueprint(data_blueprint)
    server.register_blueprint(incidents_api)
    api_errors.install(server)  # one JSON error shape on the API's routes
    auth.install(server)  # sign-in, sessions and the role gate in front of every route and callback
    http_outage.install(server, unavailable.page, unavailable.panel)  # store unreachable: 503s, one log line
    if prepare:
        prepare_data(settings)
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        title="City Brain · 城市大脑",
        suppress_callback_exceptions=True,
        update_title=None,
        # The map refresh request carries the versions of the values the page holds (deltas, citybrain.js).
        hooks={"request_pre": "(payload) => window.citybrain && window.citybrain.requestPre(payload)"},
    )
    app.index_string = INDEX
    auth.guard_callbacks(app)  # callback requests are decided from this app's callback map
    page_speed.install(app)  # dash-ag-grid loaded where a grid is shown; the first page's geometry preloaded
    app.layout = _layout
    server.register_blueprint(ogc.blueprint)  # the open data API (OGC API - Features)
    install_public(app, auth.callbacks.install_shape_guard)  # /embed (its own Dash app), headers, rate limits
    # Under gunicorn a process of its own runs these (gunicorn.conf.py, data/jobs/background.py).
    in_process = settings.background_jobs == "threads"
    if (settings.simulate_live and in_process) if live is None else live:
        start_live_simulator(settings)
    if live is not False and in_process:  # real feeds need the rules as much as simulated ones (ALERT_RULES=0: off)
        alerting.start(server, settings)
        forecasting.start(settings)  # FORECASTS=0: off
    return app


_built: dict[str, dash.Dash] = {}


def __getattr__(name: str) -> Any:
    """`app` and `server` (gunicorn's `app:server`), built on first use."""
    if name not in ("app", "server"):
        raise AttributeError(name)
    if "app" not in _built:
        _built["app"] = create_app()
    return _built["app"] if name == "app" else _built["app"].server


if __name__ == "__main__":
    s = load_settings()
    app = create_app(s)
    freeze_startup_objects()
    banner = users.setup_banner(users.base_url(s.host, s.port))  # no user yet: the first-run link
    if banner:
        print(banner, flush=True)
    app.run(host=s.host, port=s.port, debug=False)
