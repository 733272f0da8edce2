"""Helpers of the fault tests: a small PostGIS store of their own, and a bounded load.

The fault tests stop, freeze and restart servers, so they never use the session's shared ones.
The load is bounded in count and time and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from data import store
from data.geo.cities import CITIES
from data.sim import simulate
from data.store import operations as ops_store

PUBLIC_URLS = (
    "/healthz",
    "/api/ogc/collections/parking/items?city=hangzhou&limit=50",
    "/api/ogc/collections/incidents/items?city=hangzhou",
    "/api/ogc/collections/air-quality/items?city=shenzhen",
)


TEMPLATE = "faults_template"


def small_store(pg, name: str) -> str:
    """A new database `name` on `pg` with the six cities' sensors and their last two hours of data
    (copied from a template database built once per server); its URL."""
    import psycopg

    with psycopg.connect(pg.url(driver="postgresql"), autocommit=True) as conn:
        built = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone()
    if not built:
        engine = store.get_engine(pg.create_database(TEMPLATE))
        store.create_schema(engine)
        now = time.time()
        for city in CITIES.values():
            simulate.ensure_sensors(engine, city, lambda _m: None)
            simulate.advance_city(engine, city, now, None, 2 / 24)
        store.set_meta(engine, "prepared", "1")
        store.dispose_engines()  # a template must have no sessions
    with psycopg.connect(pg.url(driver="postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return pg.url(name)


def operator_token(url: str, name: str = "faults.operator") -> dict[str, str]:
    """An operator with a bearer token in the store at `url` (the operator routes need sign-in)."""
    engine = store.get_engine(url)
    token, now = "cb_" + secrets.token_urlsafe(32), int(time.time())
    ops_store.save_user(engine, name, "operator", "unused-hash", "tests", now)
    ops_store.add_token(engine, name, hashlib.sha256(token.encode()).hexdigest(), "tests", now)
    return {"Authorization": f"Bearer {token}"}


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@dataclass
class Load:
    """What a bounded load saw: status per request and its latency (s)."""

    results: list[tuple[str, int, float]] = field(default_factory=list)
    refusals: list[tuple[str, int, str, str]] = field(default_factory=list)  # non-200: path, status, type, Retry-After

    @property
    def errors(self) -> list[tuple[str, int]]:
        return [(url, status) for url, status, _ in self.results if status != 200]

    def p95(self) -> float:
        latencies = sorted(t for _, _, t in self.results)
        return latencies[int(0.95 * (len(latencies) - 1))]


def load(
    base: str,
    calls: list[tuple[str, bytes | None, dict[str, str]]],
    seconds: float,
    max_requests: int = 600,
    threads: int = 2,
) -> Load:
    """`threads` clients cycling through `calls` (path, body, headers) for at most `seconds` and
    `max_requests` requests in all."""
    seen = Load()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            with lock:
                if len(seen.results) >= max_requests:
                    return
            path, body, headers = calls[i % len(calls)]
            i += 1
            started = time.perf_counter()
            try:
                status, answer_headers, _ = request(base + path, body, headers)
            except OSError:
                status, answer_headers = 0, {}  # no answer at all (refused, reset, timed out)
            with lock:
                seen.results.append((path, status, time.perf_counter() - started))
                if status != 200:
                    kind, retry = answer_headers.get("Content-Type", ""), answer_headers.get("Retry-After", "")
                    seen.refusals.append((path, status, kind, retry))

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return seen
