"""Side-by-side comparisons at default and Shanghai scale (issue 8), run by `python bench/run.py`.

Each comparison is measured in the same run on the same data directory:
(a) the map's live layer refresh (geometry by URL, values only, deltas) vs a naive Dash app returning
    full GeoJSON from its callback (bench/naive_app.py): bytes and latency;
(b) requests/second of the public API (/api/ogc/...) and an embed (/embed/map) under gunicorn -w 2 vs
    a static file of the same size served by the same gunicorn app (bench/static_wsgi.py), with wrk;
    resident memory per gunicorn worker after the loads;
(c) page open to features drawn in headless Chromium: the command centre vs a minimal dash-leaflet
    page of the same layers (bench/minimal_app.py). The command centre is measured twice: while its
    start-up forecast round may still run (one of the two cores for a minute or two; the minimal page
    runs nothing in the background) and, for the ratio, after that round has ended;
(d) ingest rows/second (bench/ingest.py).

Requires wrk (Debian: apt-get install wrk) and, for (c), Playwright with /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_READY_JS,
    PROJECT,
    Callbacks,
    Client,
    Dash,
    Server,
    auth_headers,
    feature_counts,
    free_port,
    gunicorn_path,
    gz,
    log,
    make_bench_user,
    summary_ms,
)

SCALE_CITY = {"default": "hangzhou", "shanghai": "shanghai"}
TARGETS = {
    "refresh_bytes_vs_naive": 0.1,  # live refresh ≤ 1/10 of the naive app's bytes
    "warm_refresh_p95_ms": 50.0,  # at Shanghai scale
    "api_vs_static_rps": 0.5,  # public API ≥ 1/2 of a static file's requests/s
    "page_vs_minimal": 2.0,  # page-to-drawn ≤ 2× the minimal page
    "worker_rss_mb": 500.0,  # per gunicorn worker at Shanghai scale
}


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench/run.py needs wrk for requests/second: apt-get install -y wrk")
    return found


def backend(env: dict[str, str]) -> dict[str, str]:
    url = env.get("DATABASE_URL", "")
    return {
        "database": url.split(":", 1)[0].split("+", 1)[0] if url else "sqlite",
        "cache": "redis + objects per worker" if env.get("REDIS_URL") else "objects per worker",
    }


# --- data ----------------------------------------------------------------------------------------


def prepare(env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """Prepare the store (as the app's first start does, without the live thread); time and size."""
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    code = (
        "from data.jobs.bootstrap import prepare_data; from data.config import load_settings; "
        "prepare_data(load_settings(), progress=lambda m: print(m, flush=True))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=env | {"SIMULATE_LIVE": "0", "SIMULATE_BACKFILL": "0"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode:
        raise RuntimeError(f"prepare failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    seconds = time.perf_counter() - started
    make_bench_user(env)
    db = data_dir / "citybrain.sqlite"
    size = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists()) if "DATABASE_URL" not in env else None
    return {"seconds": round(seconds, 1), "db_bytes": size, "log": proc.stdout.strip().splitlines()[-20:]}


# --- servers -------------------------------------------------------------------------------------


NO_BACKGROUND_JOBS = {"SIMULATE_LIVE": "0", "ALERT_RULES": "0"}  # the naive and minimal apps write nothing


def gunicorn(name: str, module: str, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    cmd = [gunicorn_path(), "-c", str(PROJECT / "gunicorn.conf.py"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    cmd += ["--no-control-socket", "--timeout", "300"]
    cmd += ["--chdir", str(PROJECT / "bench"), module]
    server = Server(name, cmd, env, log_dir / f"{name}.log", port)
    return server


def child_rss_mb(server: Server) -> dict[str, list[float]]:
    """Resident memory (MB) of the gunicorn master's children: {"workers": [...], "background": [...]}
    (background: `python -m data.jobs.background`, the simulator and alert rules, see gunicorn.conf.py)."""
    out: dict[str, list[float]] = {"workers": [], "background": []}
    if server.proc is None:
        return out
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            text = status.read_text()
            if re.search(rf"^PPid:\s+{server.proc.pid}$", text, re.M):
                rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
                cmdline = (status.parent / "cmdline").read_bytes()
                if rss:
                    kind = "background" if b"data.jobs.background" in cmdline else "workers"
                    out[kind].append(round(int(rss.group(1)) / 1024, 1))
    return {k: sorted(v) for k, v in out.items()}


# --- (a) live refresh ----------------------------------------------------------------------------


def _post(client: Client, url: str, body: bytes, headers: dict[str, str]):
    reply = client.request("POST", url, body, headers)
    if reply.status != 200:
        raise RuntimeError(f"callback answered {reply.status}: {reply.body[:300]!r}")
    return reply


def _with_have(body: bytes, have: dict[str, str] | None) -> bytes:
    payload = json.loads(body)
    if have:
        payload["cb_have"] = have  # what assets/citybrain.js adds to the map refresh request
    return json.dumps(payload, separators=(",", ":")).encode()


def _tokens(reply) -> dict[str, str]:
    data = json.loads(reply.body)["response"]["cc-live"]["data"]
    return {k: v["v"] for k, v in data.items() if isinstance(v, dict) and "v" in v}


def _sizes(replies) -> dict[str, Any]:
    raw = [len(r.body) for r in replies]
    wire = [r.wire_bytes for r in replies]
    return {
        "bytes_median": int(statistics.median(raw)),
        "bytes_max": max(raw),
        "wire_median": int(statistics.median(wire)),
    }


def measure_app_refresh(port: int, city: str, live_s: float, warm_n: int) -> dict[str, Any]:
    client = Client(port)
    dash = Dash(client)
    cbs = Callbacks(dash)
    cbs.city = city  # the layout read is "/" (the default city); the refresh is for this city
    dep = cbs.map_dep
    url, headers = dash.url, dash.headers
    # full: the first refresh of a page (the browser holds nothing)
    body = cbs.live_tick(dep, 1)
    _post(client, url, body, headers)
    full = [_post(client, url, body, headers) for _ in range(max(3, warm_n // 3))]
    # warm: a history step repeated, the browser holding the previous answer (all cached)
    hist = cbs.history(dep, cbs.last_step - 4)
    have = _tokens(_post(client, url, hist, headers))
    for _ in range(4):  # gunicorn's sync workers close every connection: prime both workers' caches
        have |= _tokens(_post(client, url, _with_have(hist, have), headers))
    warm = []
    for _ in range(warm_n):
        reply = _post(client, url, _with_have(hist, have), headers)
        have |= _tokens(reply)  # the newest version of each layer, as the browser keeps it
        warm.append(reply)
    # live: a tick every 2 s for `live_s`, each sending the versions the previous answer gave
    have = _tokens(_post(client, url, body, headers))
    live = []
    stop = time.perf_counter() + live_s
    n = 2
    while time.perf_counter() < stop:
        reply = _post(client, url, _with_have(cbs.live_tick(dep, n), have), headers)
        have |= _tokens(reply)  # the newest version of each layer, as the browser keeps it
        live.append(reply)
        n += 1
        time.sleep(max(0.0, 2.0 - reply.seconds))
    client.close()
    return {
        "full": summary_ms([r.seconds for r in full]) | _sizes(full) | {"gzip_bytes": gz(full[0].body)},
        "warm_delta": summary_ms([r.seconds for r in warm]) | _sizes(warm),
        "live_delta": summary_ms([r.seconds for r in live]) | _sizes(live),
    }


def measure_naive_refresh(port: int, n: int) -> dict[str, Any]:
    client = Client(port, timeout=600)
    deps = json.loads(client.request("GET", "/_dash-dependencies").body)
    dep = next(d for d in deps if "roads.data" in d["output"])
    body = json.dumps(
        {
            "output": dep["output"],
            "outputs": [{"id": o.rsplit(".", 1)[0], "property": "data"} for o in dep["output"][2:-2].split("...")],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["tick.n_intervals"],
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip"}
    _post(client, "/_dash-update-component", body, headers)  # warm-up (imports, connections)
    replies = [_post(client, "/_dash-update-component", body, headers) for _ in range(n)]
    client.close()
    return summary_ms([r.seconds for r in replies]) | _sizes(replies) | {"gzip_bytes": gz(replies[0].body)}


# --- (b) requests per second ---------------------------------------------------------------------


def wrk(url: str, seconds: float, connections: int = 8) -> dict[str, Any]:
    cmd = [require_wrk(), "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout

    def ms(label: str) -> float | None:
        m = re.search(rf"^\s+{label}%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        return round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 1)

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else None,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def measure_rps(port: int, city: str, static_dir: Path, seconds: float) -> dict[str, Any]:
    client = Client(port)
    cases = {
        "api_collections": "/api/ogc/collections",
        "api_traffic_items_100": f"/api/ogc/collections/traffic/items?city={city}&limit=100",
        "api_parking_items_1000": f"/api/ogc/collections/parking/items?city={city}&limit=1000",
        "embed_map_page": f"/embed/map?city={city}",
    }
    out = {}
    for name, path in cases.items():
        reply = client.request("GET", path)  # also warms this worker's cache
        if reply.status != 200:
            raise RuntimeError(f"{path}: {reply.status}")
        static = static_dir / f"{name}.bin"
        static.write_bytes(b"x" * len(reply.body))
        check = client.request("GET", f"/bench-static/{static.name}")
        if check.status != 200 or len(check.body) != len(reply.body):  # (it was once a redirect to /login)
            raise RuntimeError(f"/bench-static/{static.name}: {check.status}, {len(check.body)} bytes")
        base = f"http://127.0.0.1:{port}"
        wrk(base + path, 1)  # warm-up: both workers
        dynamic = wrk(base + path, seconds)
        wrk(f"{base}/bench-static/{static.name}", 1)
        fixed = wrk(f"{base}/bench-static/{static.name}", seconds)
        ratio = round(dynamic["rps"] / fixed["rps"], 3) if dynamic["rps"] and fixed["rps"] else None
        out[name] = {"path": path, "bytes": len(reply.body), "dynamic": dynamic, "static": fixed, "ratio": ratio}
        log(f"    {name}: {dynamic['rps']} vs static {fixed['rps']} req/s")
    client.close()
    return out


# --- (c) page to drawn ---------------------------------------------------------------------------


def minimal_ready_js(features: dict[str, int]) -> str:
    return (
        "() => { const d = window.minimal && window.minimal.drawn; if (!d) { return false; } "
        f"return (d.roads || 0) >= {features['roads']} && (d.air_quality || 0) >= {features['air_quality']} "
        "&& (d.parking || 0) > 0 ? performance.now() : false; }"
    )


PAGE_LOADS = 5  # per page and measurement: with 3 the median of a page's loads moved by ±10 % between runs


def measure_pages(pages: dict[str, tuple[str, str]], loads: int) -> dict[str, Any]:
    """Alternating loads of each page (url, ready JS) in fresh contexts; navigation start → drawn."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not Path(CHROMIUM).exists():
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pages}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                for name, (url, ready) in pages.items():
                    context = browser.new_context(
                        viewport={"width": 1600, "height": 900}, extra_http_headers=auth_headers()
                    )
                    page = context.new_page()
                    run: dict[str, Any] = {}
                    try:
                        page.goto(url, wait_until="commit", timeout=120_000)
                        handle = page.wait_for_function(ready, polling="raf", timeout=180_000)
                        run["drawn_s"] = round(handle.json_value() / 1000, 3)
                        run["transfer_bytes"] = page.evaluate(
                            "() => performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize"
                            " || 0), 0)"
                        )
                    except Exception as exc:
                        run["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    runs[name].append(run)
                    log(f"    page {name}: {run.get('drawn_s', run.get('error'))}")
                    context.close()
        finally:
            browser.close()
    out: dict[str, Any] = {}
    for name, items in runs.items():
        drawn = [r["drawn_s"] for r in items if "drawn_s" in r]
        out[name] = {
            "median_drawn_s": round(statistics.median(drawn), 3) if drawn else None,
            "min_drawn_s": min(drawn) if drawn else None,
            "max_drawn_s": max(drawn) if drawn else None,
            "median_transfer_bytes": int(
                statistics.median([r["transfer_bytes"] for r in items if "transfer_bytes" in r])
            )
            if drawn
            else None,
            "runs": items,
        }
    return out


def _median(values: list[Any]) -> int | None:
    present = [v for v in values if v is not None]
    return int(statistics.median(present)) if present else None


# --- (d) ingest ----------------------------------------------------------------------------------


def measure_ingest(env: dict[str, str], city: str, rows: int) -> dict[str, Any]:
    cmd = [sys.executable, str(PROJECT / "bench" / "ingest.py"), "--rows", str(rows), "--city", city]
    proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1800)
    out = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(JSON|CSV|NGSI-v2)\S*.*?\s+([0-9.]+)\s+([0-9,]+)\s+([0-9,]+)$", line)
        if m:
            out[m.group(1)] = {"seconds": float(m.group(2)), "rows_per_s": int(m.group(3).replace(",", ""))}
    if not out:
        out["error"] = (proc.stdout + proc.stderr)[-1500:]
    return out


# --- one scale -----------------------------------------------------------------------------------


def run_scale(scale: str, base_env: dict[str, str], data_dir: Path, work: Path, quick: bool) -> dict[str, Any]:
    city = SCALE_CITY[scale]
    env = base_env | {"SIM_SCALE": scale, "DATA_DIR": str(data_dir), "BENCH_CITY": city}
    result: dict[str, Any] = {"city": city, "backend": backend(env)}
    if "DATABASE_URL" in env:  # a database this run created (--stores postgis), or one given to it
        fresh = env.get("BENCH_FRESH_DATABASE") == "1"
    else:
        fresh = not (data_dir / "citybrain.sqlite").exists()
    log(f"[{scale}] preparing data in {data_dir} ({'fresh' if fresh else 'reused'}) ...")
    result["prepare"] = prepare(env, data_dir) | {"fresh": fresh}
    if not fresh:
        result["prepare"]["note"] = "reused data directory: seconds = catching up only"
    static_dir = work / f"static-{scale}"
    static_dir.mkdir(parents=True, exist_ok=True)
    rps_s = 3 if quick else 8
    servers: list[Server] = []
    try:
        # the product (with the bench-only static route), live simulator on, as in production
        product = gunicorn(f"product-{scale}", "static_wsgi:server", env | {"BENCH_STATIC_DIR": str(static_dir)}, work)
        servers.append(product)
        result["product_start_s"] = round(product.start(timeout=900), 1)
        started = time.monotonic()
        log(f"[{scale}] (a) live refresh, this app ...")
        result["refresh"] = {"app": measure_app_refresh(product.port, city, 12 if quick else 40, 10 if quick else 30)}
        app_page = (f"http://127.0.0.1:{product.port}/?city={city}", PAGE_READY_JS)
        log(f"[{scale}] (c) page to drawn, this app, while its start-up forecast fit may run ...")
        during_fit = measure_pages({"app": app_page}, 2 if quick else PAGE_LOADS)["app"]
        log(f"[{scale}] (b) requests/s ...")
        result["rps"] = measure_rps(product.port, city, static_dir, rps_s)
        result["first_fit_s"] = wait_for_first_fit(product, env, started)
        log(f"[{scale}] (c) page to drawn, this app, after the first forecast fit ...")
        pages_app = measure_pages({"app": app_page}, 2 if quick else PAGE_LOADS)
        pages_app["app_during_first_fit"] = during_fit
        rss = child_rss_mb(product)
        result["worker_rss_mb"], result["background_rss_mb"] = rss["workers"], rss["background"]
        product.stop()
        servers.remove(product)

        naive = gunicorn(f"naive-{scale}", "naive_app:server", env | NO_BACKGROUND_JOBS, work)
        servers.append(naive)
        naive.start(timeout=300)
        log(f"[{scale}] (a) live refresh, naive app ...")
        result["refresh"]["naive"] = measure_naive_refresh(naive.port, 3 if quick or scale != "default" else 10)
        naive.stop()
        servers.remove(naive)

        minimal = gunicorn(f"minimal-{scale}", "minimal_app:server", env | NO_BACKGROUND_JOBS, work)
        servers.append(minimal)
        minimal.start(timeout=300)
        counts = feature_counts(env)
        log(f"[{scale}] (c) page to drawn, minimal page ...")
        minimal_page = (f"http://127.0.0.1:{minimal.port}/", minimal_ready_js(counts))
        result["page"] = pages_app | measure_pages({"minimal": minimal_page}, 2 if quick else PAGE_LOADS)
        result["page"]["features"] = counts
        minimal.stop()
        servers.remove(minimal)
    finally:
        for server in servers:
            server.stop()
    log(f"[{scale}] (d) ingest ...")
    result["ingest"] = measure_ingest(env, city, 5000 if quick else 20000)
    result["checks"] = checks(scale, result)
    return result


def wait_for_first_fit(server: Server, env: dict[str, str], started: float, limit_s: float = 300.0) -> float | None:
    """Seconds from the product's start to the end of its first forecast round (data/jobs/forecasting.py
    logs it), waited for up to `limit_s`; None with FORECASTS=0. The round keeps one of the machine's two
    cores busy for a minute or two after start (every 15 minutes after that), on the cores the browser
    measuring the page shares: the page's steady-state figure is taken after it."""
    if env.get("FORECASTS", "1") == "0":
        return None
    deadline = started + limit_s
    while time.monotonic() < deadline:
        text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        if "forecasts: " in text or "forecast fit failed" in text:
            return round(time.monotonic() - started, 1)
        time.sleep(2)
    log(f"    no forecast round ended within {limit_s:.0f} s of the start: measuring anyway")
    return None


def checks(scale: str, r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    app, naive = r["refresh"]["app"], r["refresh"]["naive"]
    out["refresh_bytes_vs_naive"] = {
        "value": round(app["live_delta"]["bytes_median"] / naive["bytes_median"], 4),
        "full_value": round(app["full"]["bytes_median"] / naive["bytes_median"], 4),
        "target": f"≤ {TARGETS['refresh_bytes_vs_naive']}",
        "met": app["live_delta"]["bytes_median"] <= TARGETS["refresh_bytes_vs_naive"] * naive["bytes_median"],
    }
    p95 = app["warm_delta"]["p95_ms"]
    out["warm_refresh_p95_ms"] = {
        "value": p95,
        "target": f"< {TARGETS['warm_refresh_p95_ms']:.0f}" + (" (Shanghai scale)" if scale == "shanghai" else ""),
        "met": p95 < TARGETS["warm_refresh_p95_ms"],
    }
    ratios = {k: v["ratio"] for k, v in r["rps"].items() if v["ratio"] is not None}
    out["api_vs_static_rps"] = {
        "value": ratios,
        "target": f"≥ {TARGETS['api_vs_static_rps']}",
        "met": all(x >= TARGETS["api_vs_static_rps"] for x in ratios.values()),
    }
    pg = r.get("page", {})
    if pg.get("app", {}).get("median_drawn_s") and pg.get("minimal", {}).get("median_drawn_s"):
        ratio = pg["app"]["median_drawn_s"] / pg["minimal"]["median_drawn_s"]
        out["page_vs_minimal"] = {
            "value": round(ratio, 2),
            "target": f"≤ {TARGETS['page_vs_minimal']}",
            "met": ratio <= TARGETS["page_vs_minimal"],
        }
    if r.get("worker_rss_mb"):
        out["worker_rss_mb"] = {
            "value": max(r["worker_rss_mb"]),
            "target": f"< {TARGETS['worker_rss_mb']:.0f}",
            "met": max(r["worker_rss_mb"]) < TARGETS["worker_rss_mb"],
        }
    return out


# --- report --------------------------------------------------------------------------------------


def _kb(n: float | None) -> str:
    return "—" if n is None else (f"{n / 1e6:,.2f} MB" if n >= 1e6 else f"{n / 1e3:,.1f} kB")


def render(results: dict[str, Any]) -> str:
    scales = [s for s in ("default", "shanghai") if s in results["scales"]]
    S = results["scales"]
    lines = [
        "City Brain benchmark — side by side, default and Shanghai scale",
        f"machine: {results['machine']}",
        f"backend: {results['backend']}; code {results.get('tree', '?')}; {results['started_at']}",
        "",
    ]

    def row(label: str, fn) -> str:
        cells = []
        for s in scales:
            try:
                cells.append(str(fn(S[s])))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                cells.append("—")
        return f"  {label:<58}" + "".join(f"{c:>28}" for c in cells)

    lines.append(f"  {'':<58}" + "".join(f"{s + ' (' + S[s]['city'] + ')':>28}" for s in scales))
    app = lambda r: r["refresh"]["app"]  # noqa: E731
    spec: list[tuple[str, Any] | str] = [
        ("prepare (first start, no live thread), s", lambda r: r["prepare"]["seconds"]),
        ("database size", lambda r: _kb(r["prepare"]["db_bytes"])),
        "(a) live layer refresh (POST /_dash-update-component)",
        ("  naive app: full GeoJSON, bytes (gzip)", lambda r: _nb(r["refresh"]["naive"])),
        ("  naive app: p50 / p95 ms", lambda r: _lat(r["refresh"]["naive"])),
        ("  this app, first refresh (full arrays), bytes (gzip)", lambda r: _nb(app(r)["full"])),
        ("  this app, first refresh p50 / p95 ms", lambda r: _lat(app(r)["full"])),
        ("  this app, live delta every 2 s, median bytes", lambda r: _kb(app(r)["live_delta"]["bytes_median"])),
        ("  this app, live delta p50 / p95 ms", lambda r: _lat(app(r)["live_delta"])),
        ("  this app, warm (cached) refresh p50 / p95 ms", lambda r: _lat(app(r)["warm_delta"])),
        ("  live delta / naive bytes (target ≤ 0.1)", lambda r: _chk(r, "refresh_bytes_vs_naive")),
        ("  warm p95 < 50 ms", lambda r: _chk(r, "warm_refresh_p95_ms")),
        "(b) gunicorn -w 2, wrk -t2 -c8: req/s dynamic vs static file of the same size (ratio, size)",
        *(
            (f"  {key}", lambda r, key=key: _rps(r["rps"][key]))
            for key in ("api_collections", "api_traffic_items_100", "api_parking_items_1000", "embed_map_page")
        ),
        ("  all ≥ 1/2 of static", lambda r: "MET" if r["checks"]["api_vs_static_rps"]["met"] else "MISSED"),
        ("  RSS per worker after the run, MB (target < 500)", lambda r: " / ".join(map(str, r["worker_rss_mb"]))),
        (
            "  RSS of the background process (simulator + alert rules), MB",
            lambda r: " / ".join(map(str, r.get("background_rss_mb") or ["—"])),
        ),
        "(c) page open → features drawn, headless Chromium, median (min–max) s",
        ("  this app (all four layers + first live values)", lambda r: _page(r["page"]["app"])),
        (
            "  this app while its start-up forecast fit runs",
            lambda r: _page(r["page"]["app_during_first_fit"]) if "app_during_first_fit" in r["page"] else "—",
        ),
        (
            "  first forecast round ended, s after start (measured after it)",
            lambda r: "—" if r.get("first_fit_s") is None else f"{r['first_fit_s']:.0f}",
        ),
        ("  minimal dash-leaflet page (same three layers, geobuf)", lambda r: _page(r["page"]["minimal"])),
        ("  ratio (target ≤ 2)", lambda r: _chk(r, "page_vs_minimal")),
        "(d) ingest, rows/s (traffic rows in batches of 1,000, in-process)",
        *((f"  {fmt}", lambda r, fmt=fmt: f"{r['ingest'][fmt]['rows_per_s']:,}") for fmt in ("JSON", "CSV", "NGSI-v2")),
    ]
    for item in spec:
        lines.append(item if isinstance(item, str) else row(*item))
    return "\n".join(lines)


def _nb(v: dict[str, Any]) -> str:
    return f"{_kb(v['bytes_median'])} ({_kb(v['gzip_bytes'])})"


def _lat(v: dict[str, Any]) -> str:
    return f"{v['p50_ms']} / {v['p95_ms']}"


def _rps(v: dict[str, Any]) -> str:
    return f"{v['dynamic']['rps']:.0f} vs {v['static']['rps']:.0f} ({v['ratio']:.2f}, {_kb(v['bytes'])})"


def _page(v: dict[str, Any]) -> str:
    return f"{v['median_drawn_s']} ({v['min_drawn_s']}–{v['max_drawn_s']})"


def _chk(r: dict[str, Any], key: str) -> str:
    c = r["checks"][key]
    return f"{c['value']} {'MET' if c['met'] else 'MISSED'}"
