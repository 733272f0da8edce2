"""The product app plus one bench-only route serving static files (bench/run.py, never in production).

    BENCH_STATIC_DIR=/tmp/x gunicorn -w 2 --chdir bench static_wsgi:server

GET /bench-static/<name> sends a file of BENCH_STATIC_DIR with Flask's send_from_directory, from the
same gunicorn workers and WSGI stack as the public API, so requests/second can be compared with a
static file of the same size.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.chdir(Path(__file__).resolve().parent.parent)  # app.py finds assets/ and pages/ relative to itself

from flask import send_from_directory  # noqa: E402

import auth  # noqa: E402
from app import app  # noqa: E402

# Public like the API it is compared with: without this the sign-in gate answered a 302 to /login and
# every earlier "static" figure measured that redirect.
auth.PUBLIC_PREFIXES = (*auth.PUBLIC_PREFIXES, "/bench-static/")

STATIC_DIR = os.environ.get("BENCH_STATIC_DIR", "/tmp")


@app.server.get("/bench-static/<path:name>")
def bench_static(name: str):
    return send_from_directory(STATIC_DIR, name, max_age=0)


server = app.server
