"""The public side of City Brain: read-only embeds, the open data API and the hardening around them.

`install(app, guard_callbacks)` is the only thing the operator app calls (the OGC API's routes are in
api/ogc.py, registered by app.py; the /share page is pages/share.py). It
1. builds the embed app (`public.embed`) on a Flask server of its own and mounts it at /embed with
   werkzeug's DispatcherMiddleware, so no operator route, layout or callback exists under /embed;
2. lets the operator app take its `dash.callback` registrations now, before anything is served,
   so the order of first requests can never matter;
3. puts one Flask-Limiter (`public.limits`) on both Flask servers;
4. wraps the whole WSGI app in `public.security` (headers, body limit, caching, compression).
"""

from __future__ import annotations

from collections.abc import Callable

import dash
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from public.settings import load_public_settings

EMBED_MOUNT = "/embed"


def install(app: dash.Dash, guard_callbacks: Callable[[dash.Dash], None]) -> dash.Dash:
    """`guard_callbacks` refuses malformed callback bodies of the embed app (auth.callbacks)."""
    from data.config import load_settings
    from public import limits, security
    from public.embed import create_embed_app

    settings = load_public_settings()
    server = app.server
    embed_app = create_embed_app(server)
    guard_callbacks(embed_app)  # malformed callback bodies: 400/404, never 500
    limits.install([server, embed_app.server], settings, load_settings())  # Flask-Limiter, one budget for both
    # Dash hands the process-global `dash.callback` registrations to the first app that sets itself
    # up. Let the operator app do so here, single-threaded; the embed app hides them in any case.
    with server.app_context():
        app._setup_server()
    server.wsgi_app = security.install(DispatcherMiddleware(server.wsgi_app, {EMBED_MOUNT: embed_app.server}), settings)
    server.extensions["citybrain_embed_app"] = embed_app
    return embed_app
