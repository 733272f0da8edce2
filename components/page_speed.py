"""What the browser needs first, sooner (issue 8: page open → features drawn).

1. The first page comes with the app layout. Dash Pages renders a page in a callback
   (`_pages_content`) that the renderer sends only after it has loaded and drawn the layout, so
   every page open paid a second round trip and a second render before the map could even
   start fetching its geometry. `page_container(user)` renders the page the browser is opening
   (the layout request's Referer, same origin) into the container and gives `_pages_location` the
   same pathname and search, so dcc.Location finds nothing to report on mount and the routing
   callback does not run. Client-side navigation afterwards goes through Dash Pages as before.
   Without a usable Referer, or for a page this user may not open, it is Dash's own empty
   container (the routing callback and the role gate decide, as before).
2. Component libraries only some pages use are not loaded by every page. Dash puts a <script>
   for every imported component library in every page; dash-ag-grid's bundle (1.3 MB) is only
   used by the incident queue, the audit log and the pilots report grids. The index hook below
   takes its <script> out of the page and `assets/lazy_libraries.js` stands in for the library:
   the first AgGrid rendered loads the real bundle (and Dash waits for it before running the
   callbacks of that grid, as for its own lazy components).
3. The command centre's geometry and the dash-leaflet chunks that read it are preloaded from the
   HTML (<link rel=preload>), so they arrive while the scripts load instead of after the page
   has rendered.
4. Dash puts @babel/polyfill (core-js 2 and regenerator, 99 kB) first in every page for browsers
   without ES2015. Of it the bundles only need the global `regeneratorRuntime`, which
   `assets/regenerator_runtime.js` defines; evaluating the polyfill took 55-85 ms of each page open
   in CPU profiles, and it replaced natives (String.prototype.trim) with slower ones. Operator pages
   leave it out; the embed app, served to any browser, keeps it.
5. Dash puts dash_table's bundle (DataTable, 33 kB) in every page because `import dash` registers it;
   no page of this app draws a DataTable (the grids are dash-ag-grid), so operator pages leave it out.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import dash
import flask
from dash import dcc, html
from dash._pages import _parse_query_string, _path_to_page

log = logging.getLogger(__name__)

# Dash Pages' own ids (dash.dash: _ID_LOCATION, _ID_CONTENT, _ID_STORE, _ID_DUMMY)
LOCATION, CONTENT, STORE, DUMMY = "_pages_location", "_pages_content", "_pages_store", "_pages_dummy"
# Libraries whose bundle is loaded on first use, and the asset that stands in for them until then.
LAZY_LIBRARIES = ("dash_ag_grid",)
STAND_IN = "lazy_libraries.js"
REGENERATOR = "regenerator_runtime.js"  # what the pages without the polyfill need of it
LAZY_ELEMENT_ID = "citybrain-lazy-libraries"


def _allowed(page: dict[str, Any], user) -> bool:
    access = page.get("access", "viewer")
    return access == "public" or bool(user and user.can(access))


def opening() -> tuple[str, str] | None:
    """(pathname, search) of the page whose layout the browser asks for, from a same-origin Referer."""
    if not flask.has_request_context():
        return None
    ref = flask.request.referrer
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc != flask.request.host or parts.scheme not in ("http", "https"):
        return None
    return parts.path or "/", f"?{parts.query}" if parts.query else ""


def page_container(user) -> html.Div:
    """Dash Pages' container, with the page being opened already rendered when that is safe."""
    where = opening()
    if where is None:
        return dash.page_container
    pathname, search = where
    app = _app or dash.get_app()
    page, path_variables = _path_to_page(app.strip_relative_path(pathname))
    if not page or not _allowed(page, user):
        return dash.page_container  # 404 and forbidden pages: the routing callback and the gate, as before
    try:
        layout = page.get("layout", "")
        if callable(layout):
            layout = layout(**{**(path_variables or {}), **_parse_query_string(search)})
        title = page["title"]
        if callable(title):
            title = title(**(path_variables or {}))
    except Exception:  # the routing callback will try again and report it the usual way
        log.exception("could not render %s%s with the layout", pathname, search)
        return dash.page_container
    return html.Div(
        [
            dcc.Location(id=LOCATION, refresh="callback-nav", pathname=pathname, search=search),
            html.Div(layout, id=CONTENT, disable_n_clicks=True),
            dcc.Store(id=STORE, data={"title": title}),
            html.Div(id=DUMMY, disable_n_clicks=True),
        ]
    )


# --- the index page --------------------------------------------------------------------------------

_SCRIPT = re.compile(r'<script src="(?P<src>[^"]*/_dash-component-suites/(?P<ns>[a-zA-Z0-9_]+)/[^"]*)"></script>\s*')
_DASH_TABLE = re.compile(r'<script src="[^"]*/_dash-component-suites/dash/dash_table/bundle[^"]*"></script>\s*')
_POLYFILL = re.compile(r'<script src="[^"]*/_dash-component-suites/dash/deps/polyfill@[^"]*"></script>\s*')


# Scripts Dash puts in every page that operator pages do without (4 and 5 above).
_UNUSED_SCRIPTS = (_POLYFILL, _DASH_TABLE)


def without_unused_scripts(index: str) -> str:
    """Takes @babel/polyfill's and dash_table's <script> out of a page that loads the regenerator runtime
    (the operator pages: the part of the polyfill their bundles need)."""
    if f"/assets/{REGENERATOR}" not in index:
        return index
    for pattern in _UNUSED_SCRIPTS:
        index = pattern.sub("", index, count=1)
    return index


def lazy_scripts(index: str) -> str:
    """Takes the <script> of each LAZY_LIBRARIES bundle out of a page that has the stand-in, and
    hands the stand-in their URLs (a JSON element, not executed)."""
    if f"/assets/{STAND_IN}" not in index:
        return index
    urls: dict[str, str] = {}

    def take(m: re.Match) -> str:
        if m.group("ns") in LAZY_LIBRARIES and m.group("ns") not in urls:
            urls[m.group("ns")] = html_lib.unescape(m.group("src"))
            return PLACE
        return m.group(0)

    index = _SCRIPT.sub(take, index)
    if not urls:
        return index
    # Where the first bundle was: before the assets' scripts, so the stand-in finds the list.
    data = html_lib.escape(json.dumps(urls), quote=False)
    element = f'<script type="application/json" id="{LAZY_ELEMENT_ID}">{data}</script>'
    return index.replace(PLACE, element, 1).replace(PLACE, "")


PLACE = "<!-- lazy library -->"


def preload_links(urls: list[tuple[str, str]]) -> str:
    """<link rel=preload> tags: (url, as) with as "fetch" (geometry) or "script" (webpack chunks)."""
    out = []
    for url, kind in urls:
        cors = ' crossorigin="anonymous"' if kind == "fetch" else ""
        out.append(f'<link rel="preload" href="{html_lib.escape(url)}" as="{kind}"{cors}>')
    return "".join(out)


def index_hook(index: str) -> str:
    if f"/assets/{STAND_IN}" not in index:
        return index  # another Dash app of this server (/embed): untouched
    index = without_unused_scripts(lazy_scripts(index))
    where = opening_of_index()
    if where is None:
        return index
    pathname, search = where
    app = _app or dash.get_app()
    prefix = app.config.requests_pathname_prefix
    # The layout (with the page, see page_container) and the callback graph are asked for as soon
    # as the HTML arrives: the server builds them while the browser loads the scripts, and the
    # renderer's own requests for them later take the preloaded answers.
    urls = [(f"{prefix}_dash-layout", "fetch"), (f"{prefix}_dash-dependencies", "fetch")]
    page, _vars = _path_to_page(app.strip_relative_path(pathname))
    preload = page.get("preload") if page else None
    if callable(preload):
        try:
            urls += preload(**_parse_query_string(search))
        except Exception:
            log.exception("preload for %s%s failed", pathname, search)
    return index.replace("</head>", preload_links(urls) + "</head>", 1)


def opening_of_index() -> tuple[str, str] | None:
    """(pathname, search) of the page HTML being served."""
    if not flask.has_request_context():
        return None
    query = flask.request.query_string.decode("latin-1")
    return flask.request.path, f"?{query}" if query else ""


def install(app: dash.Dash) -> None:
    """Registers the index hook (for every Dash app of the process; `lazy_scripts` only changes
    pages that load the stand-in asset, `preload` only pages that declare it). `app` is the operator
    app: `dash.get_app()` names the last Dash app built, which is the /embed app once it exists."""
    global _installed, _app
    _app = app
    if not _installed:
        dash.hooks.index()(index_hook)
        _installed = True


_installed = False
_app: dash.Dash | None = None
