"""Shared fixtures: one prepared store per test session, the app in-process, and a served app.

The environment is set before any project module is imported, so every settings read in the
tests (and in the served app) points at the session's temporary data directory.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SESSION_DIR = Path(tempfile.mkdtemp(prefix="citybrain-tests-"))
os.environ.update(
    {
        "DATA_DIR": str(SESSION_DIR / "data"),
        "SIMULATE_LIVE": "0",
        "SIMULATE_BACKFILL": "0",
        "REFRESH_SECONDS": "10",
        "INGEST_API_KEYS": "test-key-1,test-key-2",
        "INGEST_MAX_BYTES": "200000",
        "ALERT_RULES": "0",  # tests run the alert rules themselves
        "FORECASTS": "0",  # and fit the forecasts themselves (a fit takes seconds of CPU)
    }
)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
ARTIFACTS = PROJECT / "tests" / "artifacts"
# One Chromium command line for the tests and the benchmark (defined in bench/_common.py).
from bench._common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 - after the environment is set


@pytest.fixture(autouse=True)
def _no_live_view_ahead() -> None:
    """Each test starts with no city computed ahead in this process (data/live_now.py): a thread left
    computing views by an earlier test's refreshes read the store while a later test counted its reads."""
    from data import live_now

    live_now.unwatch()


@pytest.fixture(scope="session")
def prepared() -> Path:
    """A store with sensors for all six cities, Hangzhou's 7 days and 26 hours of the others."""
    from data.config import load_settings
    from data.jobs.bootstrap import prepare_data

    prepare_data(load_settings(), progress=lambda _m: None)
    from data import users

    for role in ROLES:  # one account per role, before the served app copies the store
        users.add_user(role, role, PASSWORD)
    return Path(os.environ["DATA_DIR"])


@pytest.fixture(scope="session")
def dash_app(prepared):
    """The app built once per session (Dash keeps a process-global page registry), always on the
    embedded store and in-process cache, even when first asked for inside a PostgreSQL test."""
    saved = {k: os.environ.pop(k) for k in ("DATABASE_URL", "REDIS_URL") if k in os.environ}
    try:
        import app as app_module
    finally:
        os.environ.update(saved)
    return app_module.app


ROLES = ("viewer", "operator", "supervisor", "admin")
_client_addresses = itertools.count()
PASSWORD = "correct horse battery"  # every test account's password; user name = role


def own_address(test_client):
    """The client sends from an address of its own: sign-in and callbacks are limited per address."""
    n = next(_client_addresses)
    test_client.environ_base["REMOTE_ADDR"] = f"10.200.{n // 250 % 250}.{n % 250 + 1}"
    return test_client


def signed_in_client(dash_app, role: str):
    """A Flask test client with a session of the account named `role`."""
    test_client = own_address(dash_app.server.test_client())
    response = test_client.post("/login", data={"name": role, "password": PASSWORD})
    assert response.status_code == 302, response.data[:300]
    return test_client


@pytest.fixture()
def client(dash_app):
    """Signed in as an operator: the command centre's callbacks and routes need a session."""
    return signed_in_client(dash_app, "operator")


@pytest.fixture()
def anon_client(dash_app):
    """No session: what the public (and an attacker) can reach; from an address of its own (rate limits)."""
    return own_address(dash_app.server.test_client())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(
    env: dict[str, str],
    log_path: Path,
    timeout_s: float = 120,
    args: tuple[str, ...] = ("app.py",),
    started: list[subprocess.Popen] | None = None,
) -> Iterator[str]:
    """`python app.py` in a subprocess with `env` on top of ours; yields its base URL once healthy.

    `args` replaces `app.py` (e.g. `-m gunicorn -b 127.0.0.1:{port} app:server`); `{port}` is filled in.
    The process is appended to `started` when given."""
    port = _free_port()
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, *(a.format(port=port) for a in args)],
        cwd=PROJECT,
        env=os.environ | env | {"PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if started is not None:
        started.append(proc)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited: {log_path.read_text()[-2000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"app did not become healthy within {timeout_s:.0f} s")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _copy_store(source: Path, target: Path) -> None:
    """Copy a live SQLite store through SQLite's backup API. Reading the file with plain file calls
    would close a descriptor of it in this process, which drops every POSIX lock SQLite holds on it
    here: the session's own connections then fail with "disk I/O error"."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture(scope="session")
def served_app(prepared):
    """The real app in a subprocess (live simulator on, 2-second refresh), on a copy of the store."""
    data_dir = SESSION_DIR / "served"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {"DATA_DIR": str(data_dir), "SIMULATE_LIVE": "1", "REFRESH_SECONDS": "2"}
    # Every browser test signs in from 127.0.0.1: on a fast machine more than the default 10 a minute
    # (the sign-in limit itself is tested in test_hardening.py).
    env["LOGIN_RATE_LIMIT"] = "600/minute"
    with running_app(env, SESSION_DIR / "served.log", 90) as base:
        yield base


# --- PostgreSQL + PostGIS and Redis ----------------------------------------------------------------


def _throwaway(kind: str) -> Iterator[Any]:
    """A server from tests/servers.py (`start_<kind>`), stopped after the session; fails if missing."""
    from tests import servers

    try:
        server = getattr(servers, f"start_{kind}")()
    except servers.ServerMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL 15 cluster (PostGIS available) on a free loopback port; fails if missing."""
    yield from _throwaway("postgres")


@pytest.fixture(scope="session")
def fault_pg():
    """A PostgreSQL cluster of the fault tests alone: they stop and restart it."""
    yield from _throwaway("postgres")


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway redis-server on a free loopback port; fails if missing."""
    yield from _throwaway("redis")


@pytest.fixture(scope="session")
def pg_prepared(pg_server) -> str:
    """A PostGIS database prepared once per session: sensors of the six cities and their last 26 hours
    (enough for live views and "same time yesterday"); returns its SQLAlchemy URL."""
    from data import store
    from data.geo.cities import CITIES
    from data.sim import simulate

    url = pg_server.create_database("citybrain")
    engine = store.get_engine(url)
    store.create_schema(engine)
    for city in CITIES.values():
        simulate.ensure_sensors(engine, city, lambda _m: None)
    now = time.time()
    for city in CITIES.values():
        simulate.advance_city(engine, city, now, None, 26 / 24)
    store.set_meta(engine, "prepared", "1")
    return url


@pytest.fixture(scope="session")
def pg_cache_app(redis_server):
    """A Flask app whose cache is configured as the served app's is when REDIS_URL is set (Redis)."""
    import dataclasses

    from flask import Flask

    from data import access
    from data.config import load_settings

    app = Flask("citybrain-tests-redis")
    config = access.cache_config(dataclasses.replace(load_settings(), redis_url=redis_server.url))
    assert config["CACHE_TYPE"].endswith("TieredRedisCache")
    access.cache.init_app(app, config=config)
    return app


@dataclass
class Backend:
    name: str  # "sqlite" (embedded store, in-process cache) or "postgresql" (PostGIS + Redis)
    engine: Any
    app: Any  # the Flask app whose cache `data.access` uses inside the test


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch) -> Iterator[Backend]:
    """Runs a test against the embedded store and against PostGIS + Redis, inside an app context.

    For PostgreSQL the environment names the session's database and Redis, so everything reading
    the settings (`store.get_engine()`, the access layer, ingest) uses them during the test."""
    from data import store
    from public import data as public_data

    if request.param == "sqlite":
        app = request.getfixturevalue("dash_app").server
    else:
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_prepared"))
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_server").url)
        app = request.getfixturevalue("pg_cache_app")
    public_data.clear_caches()
    with app.app_context():
        yield Backend(request.param, store.get_engine(), app)
    public_data.clear_caches()


def refresh_map_body(city: str) -> dict:
    """The request the command centre's browser sends for its map refresh (live mode)."""
    return {
        "output": "..cc-live.data...cc-time-label.children..",
        "outputs": [{"id": "cc-live", "property": "data"}, {"id": "cc-time-label", "property": "children"}],
        "inputs": [
            {"id": "cc-tick-map", "property": "data", "value": 1},
            {"id": "cc-mode", "property": "value", "value": "live"},
            {"id": "cc-slider", "property": "value", "value": 0},
        ],
        "state": [{"id": "cc-city-key", "property": "data", "value": city}],
        "changedPropIds": ["cc-tick-map.data"],
    }


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run the README's test command (it installs Debian chromium)")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser, request):
    """A fresh browser page; console errors are collected and a screenshot is kept after the test."""
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    if "served_app" in request.fixturenames and not request.node.get_closest_marker("anonymous"):
        # Sign in as an operator: the browser context keeps the session cookie for every page.
        base = request.getfixturevalue("served_app")
        answer = context.request.post(base + "/login", form={"name": "operator", "password": PASSWORD})
        assert answer.ok, answer.status
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)
