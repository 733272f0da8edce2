"""The public embeds: a separate Dash app on its own Flask server, mounted at /embed/.

    /embed/map?city=hangzhou&layers=traffic,parking,air-quality&lang=zh
    /embed/traffic  /embed/parking  /embed/air-quality  /embed/incidents   (same city/lang parameters)

Separation from the operator app is structural, not a filter:
- its own Flask server, reached only through werkzeug's DispatcherMiddleware for the /embed prefix,
  so its `_dash-layout`, `_dash-dependencies` and `_dash-update-component` are different routes
  with their own callback map, and no operator route exists on this server;
- callbacks are bound to this app (`embed_app.callback`), never `dash.callback`; no pages;
- Dash hands the process-global `dash.callback` registrations to the first app that sets itself
  up. `EmbedDash` hides those globals while it sets up and while it renders its scripts, so it
  never absorbs an operator callback, whatever the order of first requests;
- every value it shows comes from `public.data` (explicit public fields only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash import _callback as dash_callback_module
from dash.exceptions import PreventUpdate
from flask import Flask, Response, abort, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from components import legend
from components.map_layers import city_map, core_fit, incident_meta, layer_hideouts
from data import access
from data.config import load_settings
from data.geo.cities import CITIES, DEFAULT_CITY, UnknownCityError, get_city
from data.geo.geography import urban_core_bounds
from data.open_data import INTERNAL_INCIDENT_KINDS
from data.rules import aqi as aqi_rules
from data.rules.clock import CST, local_label
from data.rules.tables import RULE_TABLES
from data.rules.vocabulary import INCIDENT_KINDS, STATUSES
from public import data as public_data

log = logging.getLogger(__name__)
PROJECT = Path(__file__).resolve().parent.parent
ASSETS = PROJECT / "assets_embed"
ICONS = PROJECT / "assets" / "icons"  # the operator's incident icons: plain public SVG files, read only
PREFIX = "/embed/"
P = "em"  # id prefix of every embed component
PAGES: dict[str, tuple[str, ...] | None] = {
    "": None,
    "map": None,
    "traffic": ("traffic",),
    "parking": ("parking",),
    "air-quality": ("air-quality",),
    "incidents": ("incidents",),
}
ROUTES = {"_dash-layout", "_dash-dependencies", "_dash-update-component", "_dash-component-suites", "assets", "geo"}
ROUTES |= {"icons", "_favicon.ico"}
LAYER_NAMES = {
    "traffic": ("Traffic", "交通"),
    "parking": ("Parking", "停车"),
    "air-quality": ("Air quality", "空气质量"),
    "incidents": ("Incidents", "事件通告"),
}
EMBED_LIBRARIES = ["dash_leaflet"]  # plus Dash's own renderer, core and html components
STATUS_COLORS = {"new": "#e03131", "dispatched": "#f08c00", "on_scene": "#1971c2"}
NOTICE_GROUP = ("Group: count, coloured by its newest status", "聚合：数量，颜色为其中最新状态")
INDEX_MAX_AGE = 5.0  # seconds an embed page's HTML is reused (EmbedDash.index)

INDEX = """<!DOCTYPE html>
<html lang="zh-CN" data-lang="zh">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body>
</html>"""


# --- keeping dash.callback's globals away from this app ------------------------------------------

_GLOBALS_LOCK = threading.RLock()
_GLOBAL_NAMES = ("GLOBAL_CALLBACK_LIST", "GLOBAL_CALLBACK_MAP", "GLOBAL_INLINE_SCRIPTS", "GLOBAL_API_PATHS")


@contextmanager
def _without_global_callbacks() -> Iterator[None]:
    """Show Dash empty global registries for the duration; the real ones are put back untouched."""
    with _GLOBALS_LOCK:
        saved = {name: getattr(dash_callback_module, name) for name in _GLOBAL_NAMES}
        for name, value in saved.items():
            setattr(dash_callback_module, name, type(value)())
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(dash_callback_module, name, value)


class EmbedDash(dash.Dash):
    """A Dash app that only ever knows the callbacks registered on itself."""

    _index_pages: dict[str, tuple[float, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._index_pages = {}
        super().__init__(*args, **kwargs)

    def _setup_server(self) -> None:
        with _without_global_callbacks():
            super()._setup_server()

    def _generate_scripts_html(self) -> str:
        with _without_global_callbacks():
            return super()._generate_scripts_html()

    def csp_hashes(self, hash_algorithm: str = "sha256"):
        with _without_global_callbacks():
            return super().csp_hashes(hash_algorithm)

    def setup_apis(self) -> None:
        with _without_global_callbacks():
            super().setup_apis()

    def _config(self) -> dict[str, Any]:
        """The renderer's config without server details, and one page token for all: the embed has no
        background callbacks (the only use of that token), and a stable page can be cached and revalidated."""
        config = super()._config()
        config.pop("python_version", None)
        if getattr(self, "_page_token", None) is None:
            self._page_token = config["end_id"]
        config["end_id"] = self._page_token
        return config

    def index(self, *args: Any, **kwargs: Any) -> str:
        """The page's HTML, built at most once per INDEX_MAX_AGE seconds per language.

        Nothing in it depends on the request but the language (one page token for all, see `_config`;
        city and layers are read by the browser from its URL); rebuilding it (scripts, fingerprints,
        config) was most of an embed page request. Kept briefly rather than for good, so changed
        assets still show without a restart; not kept at all with hot reload (development)."""
        if self._dev_tools.hot_reload:
            return super().index(*args, **kwargs)
        lang = _lang(request.args.get("lang"))
        now = time.monotonic()
        kept = self._index_pages.get(lang)
        if kept is not None and now - kept[0] < INDEX_MAX_AGE:
            return kept[1]
        page = super().index(*args, **kwargs)
        self._index_pages[lang] = (now, page)
        return page

    def interpolate_index(self, **kwargs: Any) -> str:
        page = super().interpolate_index(**kwargs)
        if _lang(request.args.get("lang")) == "en":
            page = page.replace('<html lang="zh-CN" data-lang="zh">', '<html lang="en" data-lang="en">', 1)
        return page


# --- what an embed URL asks for --------------------------------------------------------------------


class EmbedError(ValueError):
    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


@dataclass(frozen=True)
class EmbedRequest:
    city: str
    layers: tuple[str, ...]
    lang: str


def _lang(raw: str | None) -> str:
    return "en" if (raw or "").lower().startswith("en") else "zh"


def parse_embed_request(pathname: str | None, search: str | None) -> EmbedRequest:
    path = (pathname or PREFIX).split("?")[0]
    page = path[len(PREFIX) :] if path.startswith(PREFIX) else path.strip("/").removeprefix("embed")
    page = page.strip("/")
    query = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    lang = _lang(query.get("lang"))
    if page not in PAGES:
        raise EmbedError(f"Unknown embed: {page}", f"未知的嵌入地图：{page}")
    try:
        city = get_city(query.get("city") or DEFAULT_CITY).key
    except UnknownCityError:
        raise EmbedError(
            f"Unknown city: {query.get('city')}. Cities: {', '.join(CITIES)}",
            f"未知城市：{query.get('city')}。可选：{', '.join(CITIES)}",
        ) from None
    layers = PAGES[page]
    if layers is None:
        wanted = [x.strip().lower().replace("_", "-") for x in (query.get("layers") or "").split(",") if x.strip()]
        unknown = [x for x in wanted if x not in LAYER_NAMES]
        if unknown:
            raise EmbedError(f"Unknown layer: {', '.join(unknown)}", f"未知图层：{', '.join(unknown)}")
        layers = tuple(x for x in public_data.EMBED_LAYERS if x in wanted) or public_data.EMBED_LAYERS
    return EmbedRequest(city, tuple(layers), lang)


def request_from_config(config: Any) -> EmbedRequest | None:
    """The browser sends the config back on every refresh: trust nothing in it."""
    if not isinstance(config, dict):
        return None
    try:
        city = get_city(str(config.get("city"))).key
    except UnknownCityError:
        return None
    layers = tuple(x for x in public_data.EMBED_LAYERS if x in (config.get("layers") or []))
    return EmbedRequest(city, layers, _lang(config.get("lang"))) if layers else None


# --- view -----------------------------------------------------------------------------------------


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "en" else pair[1]


LABELS: dict[str, tuple[str, str]] = {
    "index": ("Congestion index", "拥堵延时指数"),
    "free": ("Free spaces", "空余车位"),
    "capacity": ("Capacity", "泊位数"),
    "occupancy": ("Occupancy", "占用率"),
    "primary": ("Primary pollutant", "首要污染物"),
    "advice": ("Health advice", "建议"),
    "stale": ("No recent data", "数据过期"),
    "status": ("Status", "状态"),
    "reported": ("Reported", "报告时间"),
    "approx": ("Location approximate (about 100 m)", "位置为近似值（约 100 米）"),
    "simulated": ("Simulated data", "模拟数据"),
    "simulated_station": ("Simulated station", "模拟站点"),
    "cst": ("CST", "北京时间"),
}
POLLUTANT_SYMBOLS = {k: v[1] for k, v in aqi_rules.POLLUTANT_LABELS.items()}  # "PM2.5", "O₃", ... in both languages


def _texts(lang: str) -> Callable[[tuple[str, str]], str]:
    """An embed page is in one language: every text goes to the browser already chosen."""
    return lambda pair: _pick(pair, lang)


def _labels(lang: str, simulated: bool = True) -> dict[str, str]:
    labels = {k: _pick(v, lang) for k, v in LABELS.items()}
    if not simulated:
        labels["simulated"] = ""
    return labels


def _hideouts(lang: str, simulated: bool) -> dict[str, Any]:
    return layer_hideouts(_labels(lang, simulated), _texts(lang), POLLUTANT_SYMBOLS, RULE_TABLES)


def _incident_meta(lang: str, simulated: bool) -> dict[str, Any]:
    return incident_meta(
        _labels(lang, simulated),
        _texts(lang),
        f"{PREFIX}icons/",
        RULE_TABLES,
        colors=STATUS_COLORS,
        lang=lang,
        cst_offset=CST,
    )


def _legend(req: EmbedRequest) -> html.Div:
    def text(pair: tuple[str, str]) -> str:
        return _pick(pair, req.lang)

    return legend.map_legend(
        [x.replace("-", "_") for x in req.layers],
        text,
        legend.EMBED,
        rules=RULE_TABLES,
        kinds=((k, v) for k, v in INCIDENT_KINDS.items() if k not in INTERNAL_INCIDENT_KINDS),
        icon_base=f"{PREFIX}icons/",
        marks=[(color, STATUSES[status]) for status, color in STATUS_COLORS.items()],
        incident_extra=[
            *legend.group_rows(text, "cb-rank-4", NOTICE_GROUP, needs=False),
            {"note": text(LABELS["approx"])},
        ],
        notes=[("AQI: HJ 633-2012", "AQI: HJ 633-2012")] if "air-quality" in req.layers else [],
        titles={k.replace("-", "_"): v for k, v in LAYER_NAMES.items()},
        legend_id=f"{P}-legend",
    )


def _view(req: EmbedRequest, tile_url: str | None, tile_attribution: str) -> html.Div:
    info = get_city(req.city)
    lang = req.lang
    version = public_data.geometry_version(req.city)
    simulated = public_data.is_simulated(req.city)
    hide = _hideouts(lang, simulated)

    urls = {layer: f"{PREFIX}geo/{req.city}/{layer}.json?v={version}" for layer in public_data.GEOMETRY_LAYERS}
    title = " · ".join([_pick((info.name_en, info.name_zh), lang), *(_pick(LAYER_NAMES[x], lang) for x in req.layers)])
    badges = []
    if simulated:
        badges.append(html.Span(_pick(("SIMULATED DATA", "模拟数据"), lang), className="em-sim", id=f"{P}-sim"))
    return html.Div(
        [
            html.Div(
                [
                    html.Span(title, className="em-title"),
                    *badges,
                    html.Span(id=f"{P}-time", className="em-time", role="status"),
                ],
                className="em-bar",
            ),
            html.Div(
                [
                    city_map(
                        f"{P}-map",
                        info.center,
                        info.zoom,
                        urls,
                        hide,
                        layers=[x.replace("-", "_") for x in req.layers],
                        namespace="cbembed",
                        layers_control=False,
                        cluster_parking=False,
                        class_name="em-map",
                        scale_position="bottomright",
                        tile_url=tile_url,
                        tile_attribution=tile_attribution,
                        fit=core_fit(urban_core_bounds(req.city)),
                    ),
                    _legend(req),
                ],
                className="em-map-wrap",
            ),
            html.Div(
                [
                    html.A(
                        _pick(("City Brain open data", "城市大脑开放数据"), lang),
                        href=f"/api/ogc/?city={req.city}",
                        target="_blank",
                        rel="noopener",
                    )
                ],
                className="em-foot",
            ),
        ],
        className="em-view",
    )


# The embed's sensor layers (component id suffix, geometry layer): sensors registered after the page
# loaded move the geometry version, which each refresh carries ("geo"); the browser then fetches the
# layers again at the new version (assets_embed/embed.js, `followGeometry`). They travel as GeoJSON,
# which dash-leaflet reads when empty too (an empty geobuf would stop the layer for good).
SENSOR_GEOMETRY = {
    "traffic": ("traffic", "roads"),
    "parking": ("parking", "parking"),
    "air-quality": ("air", "air_quality"),
}


def geometry_config(req: EmbedRequest) -> dict[str, Any]:
    """The geometry version the view was drawn with and the URL (without version) of each sensor layer shown."""
    return {
        "geo": public_data.geometry_version(req.city),
        "geometry": {
            f"{P}-map-{suffix}": f"{PREFIX}geo/{req.city}/{layer}.json"
            for name, (suffix, layer) in SENSOR_GEOMETRY.items()
            if name in req.layers
        },
    }


def _message(err: EmbedError, lang: str) -> html.Div:
    return html.Div(
        [
            html.P(_pick((err.en, err.zh), lang)),
            html.P(
                [
                    _pick(("For example: ", "例如："), lang),
                    html.Code(f"{PREFIX}map?city=hangzhou&layers=traffic,parking"),
                ]
            ),
            html.Span(id=f"{P}-time", hidden=True),  # the refresh callback's output exists on every view
        ],
        className="em-message",
        role="alert",
    )


# --- the app --------------------------------------------------------------------------------------


def create_embed_app(cache_host: Flask | None = None) -> EmbedDash:
    """The embed Dash app on a Flask server of its own; mount `app.server` at /embed. With `cache_host`
    (the operator app's server) it uses that server's cache backend: one cache per process."""
    from dash import _get_app, _get_paths, _pages

    settings = load_settings()
    server = Flask("public.embed")
    shared = cache_host.extensions.get("cache", {}).get(access.cache) if cache_host is not None else None
    if shared is not None:
        # Not init_app: Flask-Caching would make this server the one its code outside a request uses (the
        # workers' live-view and refresh-ahead threads), with a second backend and size budget beside the
        # operator app's; their values were computed again, and held twice.
        server.extensions.setdefault("cache", {})[access.cache] = shared
    else:
        access.cache.init_app(server, config=access.cache_config(settings))
    # Dash points a few module globals at the newest app; the operator app must keep them.
    saved = (_get_paths.CONFIG, _pages.CONFIG, _get_app.APP)
    try:
        app = EmbedDash(
            "public.embed",
            server=server,
            assets_folder=str(ASSETS),
            use_pages=False,
            pages_folder="",
            requests_pathname_prefix=PREFIX,
            routes_pathname_prefix="/",
            title="City Brain map · 城市大脑地图",
            update_title=None,
            suppress_callback_exceptions=True,
            serve_locally=True,
            include_pages_meta=False,
        )
    finally:
        _get_paths.CONFIG, _pages.CONFIG, _get_app.APP = saved
    app.index_string = INDEX
    # Only the component libraries an embed uses reach its pages (the operator app may import others,
    # e.g. data grids, which Dash would otherwise load into every embed).
    app.scripts.get_all_scripts = lambda dev_bundles=False: app.scripts.get_library_scripts(
        EMBED_LIBRARIES, dev_bundles
    )
    app.css.get_all_css = lambda: app.css.get_library_css(EMBED_LIBRARIES)
    refresh_ms = settings.refresh_seconds * 1000
    app.layout = html.Div(
        [
            dcc.Location(id=f"{P}-url"),
            dcc.Store(id=f"{P}-config"),
            dcc.Store(id=f"{P}-live"),
            dcc.Store(id=f"{P}-tick"),
            dcc.Store(id=f"{P}-busy", data=False),
            dcc.Interval(id=f"{P}-interval", interval=refresh_ms),
            html.Div(id=f"{P}-root", className="em-root"),
            html.Span(id=f"{P}-applied", hidden=True),
        ],
        className="em-shell",
    )
    _register_routes(server)
    _register_callbacks(app, settings.refresh_seconds, settings.tile_url, settings.tile_attribution)
    return app


def _register_routes(server: Flask) -> None:
    @server.before_request
    def _only_embed_routes() -> None:
        parts = request.path.strip("/").split("/")
        if (len(parts) == 1 and parts[0] in PAGES) or parts[0] in ROUTES:
            return
        abort(404)

    @server.get("/geo/<city>/<layer>.json")
    def geometry(city: str, layer: str) -> Response:
        try:
            body = public_data.public_geometry_json(city, layer)
            version = public_data.geometry_version(city)
        except (UnknownCityError, KeyError):
            abort(404)
        response = Response(body, mimetype="application/geo+json")
        response.cache_control.public = True
        response.cache_control.max_age = 86400 if request.args.get("v") == version else 60
        return response

    @server.get("/icons/<kind>.svg")
    def icon(kind: str) -> Response:
        if kind not in INCIDENT_KINDS:
            abort(404)
        return send_from_directory(ICONS, f"{kind}.svg", mimetype="image/svg+xml", max_age=86400)

    @server.errorhandler(Exception)
    def _error(exc: Exception):
        if isinstance(exc, HTTPException):
            return jsonify(code=exc.name, description=exc.description), exc.code
        if request.path.endswith("/_dash-update-component"):  # a callback request Dash could not read
            if isinstance(exc, KeyError):  # no such callback on this app (e.g. an operator output)
                return jsonify(code="NotFound", description="No such callback in the embed app."), 404
            log.warning("embed callback request rejected: %r", exc, exc_info=True)
            return jsonify(code="BadRequest", description="The embed app could not read this request."), 400
        log.exception("embed request failed: %s %s", request.method, request.path)
        return jsonify(code="ServerError", description="Temporarily unavailable; please retry."), 500


def _register_callbacks(app: EmbedDash, refresh_seconds: int, tile_url: str | None, tile_attribution: str) -> None:
    @app.callback(
        Output(f"{P}-root", "children"),
        Output(f"{P}-config", "data"),
        Output(f"{P}-interval", "disabled"),
        Input(f"{P}-url", "pathname"),
        Input(f"{P}-url", "search"),
    )
    def configure(pathname: str | None, search: str | None):
        lang = _lang(parse_qs((search or "").lstrip("?")).get("lang", ["zh"])[-1])
        try:
            req = parse_embed_request(pathname, search)
        except EmbedError as err:
            return _message(err, lang), None, True
        config = asdict(req) | {
            "layers": list(req.layers),
            "incidents": _incident_meta(req.lang, public_data.is_simulated(req.city)),
            **geometry_config(req),
        }
        return _view(req, tile_url, tile_attribution), config, False

    @app.callback(
        Output(f"{P}-live", "data"),
        Output(f"{P}-time", "children"),
        Input(f"{P}-tick", "data"),
        Input(f"{P}-config", "data"),
        running=[(Output(f"{P}-busy", "data"), True, False)],
    )
    def refresh(_tick: Any, config: Any):
        req = request_from_config(config)
        if req is None:
            raise PreventUpdate
        at = public_data.quantised_now(refresh_seconds)
        try:
            values = public_data.embed_values(req.city, req.layers, at)
            values["geo"] = public_data.geometry_version(req.city)
        except Exception:
            log.exception("embed refresh failed for %s", req.city)
            return no_update, _pick(("Data temporarily unavailable, retrying", "数据暂不可用，重试中"), req.lang)
        newest = [t for t in values["newest"].values() if t]
        shown = min(newest) if newest else at
        label = f"{_pick(('Data time', '数据时间'), req.lang)} {local_label(shown)} {_labels(req.lang)['cst']}"
        return values, label

    app.clientside_callback(
        ClientsideFunction("cbembed", "gate"),
        Output(f"{P}-tick", "data"),
        Input(f"{P}-interval", "n_intervals"),
        State(f"{P}-busy", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("cbembed", "apply"),
        Output(f"{P}-applied", "children"),
        Input(f"{P}-live", "data"),
        State(f"{P}-config", "data"),
    )
