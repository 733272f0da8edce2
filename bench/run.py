"""Benchmark of the command centre (a measurement script, not a test).

    python bench/run.py [--quick] [--scales default,shanghai] [--json bench/results.json]
                        [--data-dir-default DIR] [--data-dir-shanghai DIR]
                        [--database-url URL] [--redis-url URL]

By default it runs the side-by-side comparisons of bench/compare.py at the default scale (Hangzhou)
and at SIM_SCALE=shanghai (Shanghai: 100k segments, 20k car parks), each on its own data directory,
prints one table and writes bench/results.json. It needs wrk (apt-get install wrk) and, for the page
timings, Playwright with /usr/bin/chromium. --database-url / --redis-url are passed to every server
it starts as DATABASE_URL / REDIS_URL, and the backend is recorded in the results.

    python bench/run.py --detail [--quick] [--json bench/out/detail.json] [--data-dir DIR] [--settle]

is the earlier detailed run for Hangzhou's default data, described below.

It prints a table (stdout; progress goes to stderr) and writes the same numbers to --json:
1. start: a fresh temporary DATA_DIR (or --data-dir, reused and kept) served by `python app.py` on a
   free port with SIMULATE_LIVE=1, SIMULATE_BACKFILL=0, REFRESH_SECONDS=10, timed until /healthz
   answers 200 (on a fresh directory: first start = prepare + serve, acceptance target 60 s);
2. static geometry: /geo/hangzhou/<layer>.json, raw and as served gzipped;
3. payload: the refresh_map response (the live store of all four layers) split per layer, live now
   and at the largest of the history steps sampled (rush hours first: most incidents are open then);
4. latency of the two command-centre callbacks, POSTed to /_dash-update-component exactly as Dash
   4.4.1's renderer builds the request: cold (history, a slider step not computed yet), warm (the
   same request repeated) and live (an interval tick);
5. requests per second at concurrency 4 (threads, http.client): warm refresh_map, roads geometry and
   /healthz, against `python app.py` (werkzeug), then `gunicorn -w 2 app:server` on the same data;
6. page open to all four layers drawn in headless Chromium (median of 5 fresh contexts).

With SIMULATE_LIVE=1 the app's live-simulator thread first backfills the older history of the five
other cities (SIMULATE_BACKFILL only matters without the live simulator); on a fresh data directory
that runs for minutes after the app already serves, and competes for the CPU. The report says for
each phase whether it was still running; `--settle` waits for it first (steady state, longer run),
and `--data-dir` on a directory prepared before does not have it.

Standard library and the project's own dependencies only (Playwright for the page timing).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_READY_JS,
    PROJECT,
    Callbacks,
    Client,
    Dash,
    Reply,
    Server,
    auth_headers,
    backfill_pending,
    cpu_busy,
    free_port,
    gunicorn_path,
    gz,
    local_label,
    log,
    make_bench_user,
    summary_ms,
    table,
    tree_state,
)

CITY = "hangzhou"
GEOMETRY_LAYERS = ("districts", "roads", "parking", "air_quality")
LIVE_LAYERS = ("traffic", "parking", "air_quality", "incidents")
KB = 1000  # sizes are printed in kB = 1000 bytes

TARGETS = {
    "first_start_s": 60.0,  # fresh data dir: prepare + serve
    "live_refresh_bytes": 200 * KB,  # refresh_map response (all four layers), uncompressed
    "warm_callback_p95_ms": 50.0,
    "page_drawn_s": 3.0,
}


PAGE_DETAIL_JS = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    const geo = res.filter(e => e.name.includes("/geo/"));
    const s = window.citybrain.state;
    return {
        dcl: nav ? nav.domContentLoadedEventEnd : null,
        geo_end: geo.length ? Math.max(...geo.map(e => e.responseEnd)) : null,
        transfer_bytes: (nav ? nav.transferSize : 0) + res.reduce((a, e) => a + (e.transferSize || 0), 0),
        requests: res.length + 1,
        largest: res.map(e => [e.name.replace(location.origin, "").split("?")[0], e.transferSize || 0])
            .sort((a, b) => b[1] - a[1]).slice(0, 4),
        features: {traffic: Object.keys(s.registry.traffic).length, parking: Object.keys(s.registry.parking).length,
                   air_quality: Object.keys(s.registry.air_quality).length, incidents: s.incidentCount},
        time_origin: performance.timeOrigin,
    };
}"""


@dataclass
class Profile:
    warm: int
    cold: int
    live: int
    cold_budget_s: float  # cold samples of one callback stop early after this long (slow machine)
    live_budget_s: float  # the same for live ticks (each waits for the next refresh-interval boundary)
    rps_seconds: float
    page_loads: int
    page_budget_s: float  # page loads stop early after this long, once at least 3 (or all) are done


FULL = Profile(
    warm=50, cold=20, live=3, cold_budget_s=10, live_budget_s=20, rps_seconds=5, page_loads=5, page_budget_s=45
)
QUICK = Profile(
    warm=10, cold=2, live=1, cold_budget_s=2, live_budget_s=0, rps_seconds=1, page_loads=2, page_budget_s=15
)


def measure_geometry(client: Client) -> dict[str, Any]:
    out = {}
    for layer in GEOMETRY_LAYERS:
        path = f"/geo/{CITY}/{layer}.json"
        raw = client.request("GET", path)
        served = client.request("GET", path, headers={"Accept-Encoding": "gzip, deflate, br"})
        if raw.status != 200 or served.status != 200:
            raise RuntimeError(f"{path}: {raw.status}/{served.status}")
        out[layer] = {
            "raw_bytes": len(raw.body),
            "gzip_bytes": served.wire_bytes,
            "served_encoding": served.headers.get("content-encoding", "identity"),
            "features": len(json.loads(raw.body).get("features", [])),
        }
    return out


def store_sizes(reply: Reply) -> dict[str, Any]:
    """A refresh_map response: its size and the live store's size per layer (as the response holds it)."""
    store = json.loads(reply.body)["response"]["cc-live"]["data"]
    layers = {}
    for layer in LIVE_LAYERS:
        text = json.dumps(store[layer], separators=(",", ":")).encode()
        layers[layer] = {
            "bytes": len(text),
            "gzip_bytes": gz(text),
            "exact": text in reply.body,  # the same bytes appear in the response
            "items": len(store[layer]["id"]) if layer == "incidents" else int(store[layer].get("n", 0)),
        }
    return {
        "bytes": len(reply.body),
        "gzip_bytes": gz(reply.body),
        "wire_encoding": reply.headers.get("content-encoding", "identity"),
        "wire_bytes": reply.wire_bytes,
        "at_local": local_label(int(store["at"])),
        "layers": layers,
    }


def payload_sizes(map_reply: Reply, panels_reply: Reply, cold_map: list[Reply]) -> dict[str, Any]:
    largest = max(cold_map, key=lambda r: len(r.body), default=None)
    return {
        "refresh_map": store_sizes(map_reply),
        # history at other times of day: the open-incident count, and so the size, follows the rush hours
        "refresh_map_largest_history": store_sizes(largest) | {"samples": len(cold_map)} if largest else None,
        "refresh_panels": {
            "bytes": len(panels_reply.body),
            "gzip_bytes": gz(panels_reply.body),
            "wire_encoding": panels_reply.headers.get("content-encoding", "identity"),
            "wire_bytes": panels_reply.wire_bytes,
        },
    }


def sampled(calls: Iterable[Callable[[], Reply]], budget_s: float) -> list[Reply]:
    """Run the calls in order until they are done or `budget_s` has passed (at least one runs)."""
    stop_at = time.perf_counter() + budget_s
    replies = []
    for call in calls:
        replies.append(call())
        if time.perf_counter() > stop_at:
            break
    return replies


def measure_callbacks(cbs: Callbacks, prof: Profile, refresh_s: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(latency per callback and case, payload sizes), from the same calls."""
    dash = cbs.dash
    second = Client(dash.client.port)

    def post(client: Client, body: bytes) -> Reply:
        reply = client.request("POST", dash.url, body, dash.headers)
        if reply.status != 200:
            raise RuntimeError(f"callback answered {reply.status}: {reply.body[:300]!r}")
        return reply

    # Live: at each refresh-interval boundary the browser fires both callbacks at once; the first
    # viewer after a boundary computes the interval's values (the app keys them on it).
    live: dict[str, list[Reply]] = {"refresh_map": [], "refresh_panels": []}
    stop_at = time.perf_counter() + prof.live_budget_s
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tick") as pool:
        for n in range(1, prof.live + 1):
            time.sleep(refresh_s - time.time() % refresh_s + 0.02)
            f_map = pool.submit(post, dash.client, cbs.live_tick(cbs.map_dep, n))
            f_panels = pool.submit(post, second, cbs.live_tick(cbs.panels_dep, n))
            live["refresh_map"].append(f_map.result())
            live["refresh_panels"].append(f_panels.result())
            if time.perf_counter() > stop_at:
                break
    second.close()

    latency: dict[str, Any] = {}
    cold_map: list[Reply] = []
    for name, dep, cold_steps, warm_step in (
        ("refresh_map", cbs.map_dep, cbs.plan["map_cold"], cbs.plan["map_warm"]),
        ("refresh_panels", cbs.panels_dep, cbs.plan["panels_cold"], cbs.plan["panels_warm"]),
    ):
        cold_calls = (lambda step=step, dep=dep: dash.post(cbs.history(dep, step)) for step in cold_steps[: prof.cold])
        cold = sampled(cold_calls, prof.cold_budget_s)
        if name == "refresh_map":
            cold_map = cold
        body = cbs.history(dep, warm_step)
        dash.post(body)  # prime
        warm = [dash.post(body).seconds for _ in range(prof.warm)]
        warm_summary = summary_ms(warm)
        # Every live tick (each REFRESH_SECONDS) bumps the feed revisions that are part of every cache
        # key, so a repeat straddling a tick is recomputed: count those.
        warm_summary["recomputed"] = sum(x * 1000 > 4 * warm_summary["p50_ms"] for x in warm)
        latency[name] = {
            "cold": summary_ms([r.seconds for r in cold]),
            "warm": warm_summary,
            "live": summary_ms([r.seconds for r in live[name]]),
        }
    return latency, payload_sizes(live["refresh_map"][0], live["refresh_panels"][0], cold_map)


def load_test(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], seconds: float, concurrency: int
) -> dict[str, Any]:
    start_gate = threading.Barrier(concurrency + 1)
    results: list[tuple[list[float], int, int, int]] = []
    lock = threading.Lock()
    stop_at = [0.0]

    def worker() -> None:
        client = Client(port, timeout=60)
        latencies: list[float] = []
        errors = 0
        nbytes = 0
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            try:
                reply = client.request(method, path, body, headers, decode=False)
                if reply.status == 200:
                    latencies.append(reply.seconds)
                    nbytes += reply.wire_bytes
                else:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                time.sleep(0.01)
        with lock:
            results.append((latencies, errors, nbytes, client.connects))
        client.close()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        stop_at[0] = time.perf_counter() + seconds
        started = time.perf_counter()
        start_gate.wait()
        for future in futures:
            future.result(timeout=seconds + 120)
        elapsed = time.perf_counter() - started
    latencies = [x for r in results for x in r[0]]
    return {
        "requests": len(latencies),
        "errors": sum(r[1] for r in results),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "mb_per_s": round(sum(r[2] for r in results) / elapsed / 1e6, 2),
        "connections": sum(r[3] for r in results),
        **{k: v for k, v in summary_ms(latencies).items() if k in ("p50_ms", "p95_ms", "max_ms")},
    }


def measure_throughput(port: int, cbs_body: bytes, dash_url: str, prof: Profile) -> dict[str, Any]:
    json_headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip"}
    cases = {
        "dash_refresh_map_warm": ("POST", dash_url, cbs_body, json_headers),
        "geo_roads": ("GET", f"/geo/{CITY}/roads.json", None, {"Accept-Encoding": "gzip, deflate, br"}),
        "healthz": ("GET", "/healthz", None, {}),
    }
    out = {}
    for name, (method, path, body, headers) in cases.items():
        # Warm-up at the same concurrency (not counted): every worker process has its own cache.
        load_test(port, method, path, body, headers, min(1.0, prof.rps_seconds / 2), concurrency=4)
        out[name] = load_test(port, method, path, body, headers, prof.rps_seconds, concurrency=4)
    return out


def measure_page(base: str, prof: Profile) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not Path(CHROMIUM).exists():
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    runs: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            stop_at = time.perf_counter() + prof.page_budget_s
            for _ in range(prof.page_loads):
                if len(runs) >= min(3, prof.page_loads) and time.perf_counter() > stop_at:
                    break
                context = browser.new_context(
                    viewport={"width": 1600, "height": 900}, extra_http_headers=auth_headers()
                )
                page = context.new_page()
                errors: list[str] = []
                live_responses: list[float] = []  # wall-clock ms when each cc-live response ended
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))

                def finished(request, sink=live_responses) -> None:
                    if "_dash-update-component" in request.url and "cc-live.data" in (request.post_data or ""):
                        timing = request.timing
                        sink.append(timing["startTime"] + timing["responseEnd"])

                page.on("requestfinished", finished)
                run: dict[str, Any] = {}
                try:
                    page.goto(base + "/", wait_until="commit", timeout=60_000)
                    handle = page.wait_for_function(PAGE_READY_JS, polling="raf", timeout=60_000)
                    run["drawn_s"] = round(handle.json_value() / 1000, 3)
                    detail = page.evaluate(PAGE_DETAIL_JS)
                    run["dom_content_loaded_s"] = round(detail["dcl"] / 1000, 3) if detail["dcl"] else None
                    run["geometry_loaded_s"] = round(detail["geo_end"] / 1000, 3) if detail["geo_end"] else None
                    if live_responses:
                        run["first_live_response_s"] = round((min(live_responses) - detail["time_origin"]) / 1000, 3)
                    run["transfer_bytes"] = detail["transfer_bytes"]
                    run["requests"] = detail["requests"]
                    run["largest_resources"] = detail["largest"]
                    run["features"] = detail["features"]
                except Exception as exc:  # a load that never draws is a result, not a crash
                    run["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    with contextlib.suppress(Exception):
                        run["state"] = page.evaluate(
                            "() => { const s = window.citybrain && window.citybrain.state; return s ? {refreshes: "
                            "s.refreshes, incidents: s.incidentCount, traffic: Object.keys(s.registry.traffic).length,"
                            " parking: Object.keys(s.registry.parking).length, air: Object.keys("
                            "s.registry.air_quality).length} : null; }"
                        )
                run["page_errors"] = errors[:3]
                runs.append(run)
                log(f"  page load {len(runs)}: {run.get('drawn_s', run.get('error'))}")
                context.close()
        finally:
            browser.close()
    drawn = [r["drawn_s"] for r in runs if "drawn_s" in r]

    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "chromium": version,
        "runs": runs,
        "loads": len(runs),
        "drawn": len(drawn),
        "median_drawn_s": round(statistics.median(drawn), 3) if drawn else None,
        "min_drawn_s": min(drawn) if drawn else None,
        "max_drawn_s": max(drawn) if drawn else None,
        "median_dom_content_loaded_s": med("dom_content_loaded_s"),
        "median_geometry_loaded_s": med("geometry_loaded_s"),
        "median_first_live_response_s": med("first_live_response_s"),
        "median_transfer_bytes": med("transfer_bytes"),
    }


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def kb(n: int | float | None) -> str | None:
    return None if n is None else f"{n / KB:,.1f} kB"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "City Brain benchmark — command centre, Hangzhou, default data",
        f"machine: {m['cpus']} CPUs (usable {m['cpus_usable']}), Python {m['python']} ({m['python_impl']}), "
        f"{m['platform']}",
        f"         other processes: CPU {m.get('cpu_busy_before_pct')}% busy before the run, "
        f"{m.get('cpu_busy_after_pct')}% after; load average {m['loadavg_start']} → {m.get('loadavg_end', '—')}",
        f"         dash {m.get('dash', '?')}, chromium {results.get('page', {}).get('chromium', '—')}",
        f"run: {results['mode']} profile, {results['started_at']}, data dir "
        f"{'fresh temporary' if results['start']['fresh'] else 'reused ' + results['data_dir']}; "
        "SIMULATE_LIVE=1 SIMULATE_BACKFILL=0 REFRESH_SECONDS=10",
        f"code: {results.get('tree', 'unknown')}",
        "",
    ]
    s = results["start"]
    lines.append("1. Start (python app.py until GET /healthz = 200)")
    first = s["first_start_s"]
    rows = [
        [
            "first start, fresh data dir (prepare + serve)" if s["fresh"] else "start on existing data dir",
            f"{first:.1f} s",
            f"≤ {TARGETS['first_start_s']:.0f} s" if s["fresh"] else "",
            verdict(first <= TARGETS["first_start_s"]) if s["fresh"] else "",
        ],
    ]
    if s.get("prepare_s") is not None:
        rows.append(["  of which data preparation (app log)", f"{s['prepare_s']:.1f} s", "", ""])
    if s.get("gunicorn_start_s") is not None:
        rows.append(["gunicorn -w 2 start on the same data", f"{s['gunicorn_start_s']:.1f} s", "", ""])
    if s.get("settle_s") is not None:
        rows.append(["waited for the history backfill (--settle)", f"{s['settle_s']:.1f} s", "", ""])
    lines += table(["", "time", "target", ""], rows, "lrrl")
    lines.append("")

    g = results.get("geometry")
    if g:
        lines.append(f"2. Static geometry, GET /geo/{CITY}/<layer>.json (fetched once per page load)")
        rows = [
            [layer, v["features"], kb(v["raw_bytes"]), kb(v["gzip_bytes"]), v["served_encoding"]]
            for layer, v in g.items()
        ]
        rows.append(
            ["total", "", kb(sum(v["raw_bytes"] for v in g.values())), kb(sum(v["gzip_bytes"] for v in g.values())), ""]
        )
        lines += table(["layer", "features", "raw", "served gzip", "encoding"], rows, "lrrrl")
        lines.append("")

    p = results.get("payload")
    if p:
        live, peak = p["refresh_map"], p.get("refresh_map_largest_history")
        target = TARGETS["live_refresh_bytes"]
        lines.append(
            "3. refresh_map response = the live store of all four layers, POST /_dash-update-component "
            f"(target ≤ {kb(target)} uncompressed)"
        )
        headers = ["part", f"live now ({live['at_local']})", "bytes", "gzipped"]
        if peak:
            headers += [f"largest of {peak['samples']} history steps ({peak['at_local']})", "bytes", "gzipped"]
        rows = []
        for layer in LIVE_LAYERS:
            row = [layer, f"{live['layers'][layer]['items']} items", kb(live["layers"][layer]["bytes"]),
                   kb(live["layers"][layer]["gzip_bytes"])]  # fmt: skip
            if peak:
                row += [f"{peak['layers'][layer]['items']} items", kb(peak["layers"][layer]["bytes"]),
                        kb(peak["layers"][layer]["gzip_bytes"])]  # fmt: skip
            rows.append(row)
        row = ["whole response", verdict(live["bytes"] <= target), kb(live["bytes"]), kb(live["gzip_bytes"])]
        if peak:
            row += [verdict(peak["bytes"] <= target), kb(peak["bytes"]), kb(peak["gzip_bytes"])]
        rows.append(row)
        lines += table(headers, rows, "l" + "rrr" * (2 if peak else 1))
        pan = p["refresh_panels"]
        lines.append(f"  refresh_panels response (KPIs + alerts): {kb(pan['bytes'])}, {kb(pan['gzip_bytes'])} gzipped")
        lines.append(
            f"  on the wire (requests sent with Accept-Encoding: gzip): {live['wire_encoding']}, "
            f"{kb(live['wire_bytes'])} for the live refresh_map; 'gzipped' = what gzip -6 would give"
        )
        lines.append("")

    lat = results.get("latency")
    if lat:
        lines.append("4. Callback latency, sequential, one client (ms)")
        rows = []
        case_text = {
            "cold": "cold: history, new slider step",
            "warm": "warm: same inputs repeated",
            "live": "live: interval tick, both at once",
        }
        for name, cases in lat.items():
            for case, v in cases.items():
                target, ok = "", None
                if case == "warm":
                    target = f"p95 < {TARGETS['warm_callback_p95_ms']:.0f}"
                    ok = v.get("p95_ms") is not None and v["p95_ms"] < TARGETS["warm_callback_p95_ms"]
                rows.append(
                    [
                        name,
                        case_text[case],
                        v["n"],
                        v.get("p50_ms"),
                        v.get("p95_ms"),
                        v.get("max_ms"),
                        target,
                        verdict(ok) if target else "",
                    ]
                )
        lines += table(["callback", "case", "n", "p50", "p95", "max", "target", ""], rows, "llrrrrrl")
        recomputed = ", ".join(f"{name} {c['warm'].get('recomputed', 0)}/{c['warm']['n']}" for name, c in lat.items())
        lines.append(f"  warm repeats recomputed (> 4× p50; every live tick changes the cache keys): {recomputed}")
        lines.append("")

    tp = results.get("throughput")
    if tp:
        lines.append(
            f"5. Throughput, concurrency 4, {results['profile']['rps_seconds']:.1f} s each "
            "(http.client threads; req/s, p50/p95 ms)"
        )
        names = {
            "dash_refresh_map_warm": "POST /_dash-update-component (refresh_map warm)",
            "geo_roads": f"GET /geo/{CITY}/roads.json (gzip)",
            "healthz": "GET /healthz",
        }
        servers = [k for k in ("werkzeug", "gunicorn") if k in tp]
        headers = ["endpoint"]
        for server in servers:
            headers += [f"{server} req/s", "p50", "p95", "err"]
        rows = []
        for key, label in names.items():
            row: list[Any] = [label]
            for server in servers:
                v = tp[server].get(key, {})
                row += [v.get("rps"), v.get("p50_ms"), v.get("p95_ms"), v.get("errors")]
            rows.append(row)
        lines += table(headers, rows, "l" + "rrrr" * len(servers))
        lines.append("  werkzeug = python app.py (threaded dev server); gunicorn = gunicorn -w 2 app:server (sync)")
        counts = [v for server in servers for v in tp[server].values()]
        if counts and all(v["connections"] >= v["requests"] for v in counts):
            lines.append("  neither server kept connections alive (Connection: close): each request opened a new one")
        lines.append("")

    pg = results.get("page")
    if pg:
        lines.append("6. Page open to all four layers drawn, headless Chromium, fresh context each (s)")
        if pg.get("skipped"):
            lines.append(f"  skipped: {pg['skipped']}")
        else:
            ok = pg["median_drawn_s"] is not None and pg["median_drawn_s"] < TARGETS["page_drawn_s"]
            rows = [
                [
                    "navigation start → drawn (median)",
                    f"{pg['median_drawn_s']}" if pg["median_drawn_s"] is not None else None,
                    f"< {TARGETS['page_drawn_s']:.0f}",
                    verdict(ok),
                ],
                ["  min / max", f"{pg['min_drawn_s']} / {pg['max_drawn_s']}", "", ""],
                ["  DOMContentLoaded (median)", pg["median_dom_content_loaded_s"], "", ""],
                ["  geometry fetched (median)", pg["median_geometry_loaded_s"], "", ""],
                ["  first live response received (median)", pg["median_first_live_response_s"], "", ""],
                ["  transferred per load (median)", kb(pg["median_transfer_bytes"]), "", ""],
                ["  loads drawn", f"{pg['drawn']}/{pg['loads']}", "", ""],
            ]
            lines += table(["", "value", "target", ""], rows, "lrrl")
            largest = next((r["largest_resources"] for r in pg["runs"] if r.get("largest_resources")), [])
            if largest:
                names = ", ".join(f"{name.rsplit('/', 1)[-1]} {kb(size)}" for name, size in largest)
                lines.append(f"  largest downloads: {names}")
            for i, run in enumerate(pg["runs"], 1):
                if "error" in run:
                    lines.append(f"  load {i} failed: {run['error']} state={run.get('state')}")
        lines.append("")

    lines.append("Background history backfill (live-simulator thread) still running during:")
    for phase in results["phases"]:
        pend = phase["backfill_pending_before"], phase["backfill_pending_after"]
        state = (
            "unknown"
            if pend[0] is None
            else ("no" if not pend[0] and not pend[1] else f"yes ({len(pend[0])}→{len(pend[1] or [])} cities left)")
        )
        lines.append(f"  {phase['name']:<34} {phase['seconds']:6.1f} s   {state}")
    lines.append(f"total run time {results['total_s']:.0f} s")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def detail_main(argv: list[str] | None = None) -> int:
    """The detailed default-scale run (first start, cold/warm/live callbacks, werkzeug vs gunicorn)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (under 90 s on a fresh data dir)")
    parser.add_argument("--json", type=Path, default=PROJECT / "bench" / "out" / "detail.json", help="results file")
    parser.add_argument("--data-dir", type=Path, help="reuse this DATA_DIR (kept) instead of a fresh temporary one")
    parser.add_argument("--settle", action="store_true", help="wait for the simulator's history backfill first")
    args = parser.parse_args(argv)
    prof = QUICK if args.quick else FULL
    run_started = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="citybrain-bench-"))
    data_dir = args.data_dir.resolve() if args.data_dir else tmp / "data"
    sqlite_path = data_dir / "citybrain.sqlite"
    fresh = not sqlite_path.exists()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT", "HOST")}
    env |= {
        "DATA_DIR": str(data_dir),
        "SIMULATE_BACKFILL": "0",
        "SIMULATE_LIVE": "1",
        "REFRESH_SECONDS": "10",
        "PYTHONUNBUFFERED": "1",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    make_bench_user(env)
    import dash as dash_pkg  # a project dependency; only its version is reported

    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "profile": prof.__dict__,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "data_dir": str(data_dir),
        "tree": tree_state(),
        "targets": TARGETS,
        "machine": {
            "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "python_impl": sys.executable,
            "platform": platform.platform(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "cpu_busy_before_pct": cpu_busy(),
            "dash": dash_pkg.__version__,
        },
        "start": {"fresh": fresh},
        "phases": [],
    }
    servers: list[Server] = []

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        before = backfill_pending(sqlite_path)
        log(f"{name} ...")
        started = time.perf_counter()
        value = fn()
        results["phases"].append(
            {
                "name": name,
                "seconds": round(time.perf_counter() - started, 2),
                "backfill_pending_before": before,
                "backfill_pending_after": backfill_pending(sqlite_path),
            }
        )
        return value

    def on_term(_signum, _frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    exit_code = 0
    try:
        # 1. start the app (first start on a fresh data dir)
        port = free_port()
        app = Server("python app.py", [sys.executable, "app.py"], env | {"PORT": str(port)}, tmp / "app.log", port)
        servers.append(app)
        results["start"]["first_start_s"] = round(phase("start python app.py", lambda: app.start(timeout=300)), 2)
        ready = re.search(r"Data ready in ([0-9.]+)s", app.log_tail(100_000))
        results["start"]["prepare_s"] = float(ready.group(1)) if ready else None
        if args.settle:

            def settle() -> float:
                started = time.perf_counter()
                while (pending := backfill_pending(sqlite_path)) and time.perf_counter() - started < 600:
                    log(f"  waiting for the history backfill: {', '.join(pending)}")
                    time.sleep(5)
                return time.perf_counter() - started

            results["start"]["settle_s"] = round(phase("settle (wait for backfill)", settle), 1)

        client = Client(port)
        dash = Dash(client)
        cbs = Callbacks(dash)
        # 2. geometry sizes, 3. + 4. callback payloads and latency
        results["geometry"] = phase("static geometry sizes", lambda: measure_geometry(client))
        refresh_s = int(env["REFRESH_SECONDS"])
        results["latency"], results["payload"] = phase("callbacks", lambda: measure_callbacks(cbs, prof, refresh_s))
        # 6. the page in a browser (against the werkzeug app, as `python app.py` serves it)
        results["page"] = phase("page open in Chromium", lambda: measure_page(f"http://127.0.0.1:{port}", prof))
        # 5. throughput: werkzeug, then gunicorn on the same data directory (the simulator moves with it)
        warm_body = cbs.history(cbs.map_dep, cbs.plan["map_warm"])
        results["throughput"] = {
            "werkzeug": phase("throughput werkzeug", lambda: measure_throughput(port, warm_body, dash.url, prof))
        }
        client.close()
        app.stop()
        gport = free_port()
        gunicorn = Server(
            "gunicorn -w 2",
            # no control socket: its default path is shared by every gunicorn of this user
            [gunicorn_path(), "-w", "2", "-b", f"127.0.0.1:{gport}", "--no-control-socket", "app:server"],
            env,
            tmp / "gunicorn.log",
            gport,
        )
        servers.append(gunicorn)
        results["start"]["gunicorn_start_s"] = round(
            phase("start gunicorn -w 2", lambda: gunicorn.start(timeout=180)), 2
        )
        gdash = Dash(Client(gport))  # its own end_id, as a new page load would get
        gcbs = Callbacks(gdash)
        gbody = gcbs.history(gcbs.map_dep, gcbs.plan["map_warm"])
        results["throughput"]["gunicorn"] = phase(
            "throughput gunicorn", lambda: measure_throughput(gport, gbody, gdash.url, prof)
        )
        gdash.client.close()
    except Exception as exc:
        exit_code = 1
        log(f"FAILED: {type(exc).__name__}: {exc}")
        for server in servers:
            tail = server.log_tail(2000)
            if tail:
                log(f"--- last lines of {server.name} log ---\n{tail}")
        results["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    results["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["machine"]["cpu_busy_after_pct"] = cpu_busy()
    results["total_s"] = round(time.perf_counter() - run_started, 1)
    checks = {}
    if "first_start_s" in results["start"] and fresh:
        checks["first_start"] = results["start"]["first_start_s"] <= TARGETS["first_start_s"]
    if "payload" in results:
        checks["live_refresh_bytes"] = results["payload"]["refresh_map"]["bytes"] <= TARGETS["live_refresh_bytes"]
        if results["payload"].get("refresh_map_largest_history"):
            largest = results["payload"]["refresh_map_largest_history"]["bytes"]
            checks["largest_history_refresh_bytes"] = largest <= TARGETS["live_refresh_bytes"]
    for name, cases in results.get("latency", {}).items():
        checks[f"{name}_warm_p95"] = cases["warm"]["p95_ms"] < TARGETS["warm_callback_p95_ms"]
    page = results.get("page", {})
    if page.get("median_drawn_s") is not None:
        checks["page_drawn"] = page["median_drawn_s"] < TARGETS["page_drawn_s"]
    results["checks"] = checks

    if "start" in results and "first_start_s" in results["start"]:
        print(render(results), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {args.json}")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    """Side-by-side comparisons at default and Shanghai scale (bench/compare.py); --detail: the old run."""
    argv = sys.argv[1:] if argv is None else argv
    if "--detail" in argv:
        return detail_main([a for a in argv if a != "--detail"])
    import compare

    parser = argparse.ArgumentParser(description="City Brain benchmark: comparisons at default and Shanghai scale")
    parser.add_argument("--quick", action="store_true", help="fewer samples and shorter loads")
    parser.add_argument("--json", type=Path, default=PROJECT / "bench" / "results.json", help="results file")
    parser.add_argument("--scales", default="default,shanghai", help="comma-separated: default, shanghai")
    parser.add_argument("--data-dir-default", type=Path, help="reuse this DATA_DIR for the default scale")
    parser.add_argument("--data-dir-shanghai", type=Path, help="reuse this DATA_DIR for SIM_SCALE=shanghai")
    parser.add_argument("--database-url", help="DATABASE_URL for every server started (e.g. PostGIS)")
    parser.add_argument("--redis-url", help="REDIS_URL for every server started (shared cache)")
    parser.add_argument(
        "--stores",
        default="sqlite",
        help="comma-separated: sqlite (the embedded default), postgis (a throwaway PostgreSQL 15 + PostGIS "
        "cluster and redis-server started from the Debian packages, one database per scale)",
    )
    parser.add_argument("--detail", action="store_true", help="the detailed default-scale run instead")
    args = parser.parse_args(argv)
    compare.require_wrk()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="citybrain-compare-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT", "HOST", "SIM_SCALE")}
    env |= {"SIMULATE_LIVE": "1", "SIMULATE_BACKFILL": "0", "REFRESH_SECONDS": "10", "PYTHONUNBUFFERED": "1"}
    env |= {"PUBLIC_RATE_LIMIT": "off"}  # the load generator is one client: no 429s
    if args.database_url:
        env |= {"DATABASE_URL": args.database_url, "BENCH_KEEP_DATABASE_URL": "1"}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    import dash as dash_pkg

    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tree": tree_state(),
        "mode": "quick" if args.quick else "full",
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, dash {dash_pkg.__version__}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, CPU {cpu_busy()}% busy before",
        "targets": compare.TARGETS,
        "stores": {},
    }
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    exit_code = 0
    try:
        for store_name in [s.strip() for s in args.stores.split(",") if s.strip()]:
            with _store_servers(store_name, scales) as per_scale_env:
                backend = compare.backend(env | per_scale_env(scales[0]))
                run = results["stores"][store_name] = {"backend": backend, "scales": {}}
                for scale in scales:
                    given = getattr(args, f"data_dir_{scale}", None) if store_name == "sqlite" else None
                    data_dir = given.resolve() if given else tmp / f"data-{store_name}-{scale}"
                    scale_env = env | per_scale_env(scale)
                    try:
                        run["scales"][scale] = compare.run_scale(scale, scale_env, data_dir, tmp, args.quick)
                    except Exception as exc:  # a failed scale is reported; the others still run
                        exit_code = 1
                        log(f"[{store_name} {scale}] FAILED: {type(exc).__name__}: {exc}")
                        failure = {"error": f"{type(exc).__name__}: {exc}", "city": compare.SCALE_CITY[scale]}
                        run["scales"][scale] = failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["total_s"] = round(time.perf_counter() - started, 1)
    tables = []
    for run in results["stores"].values():
        ok = {k: v for k, v in run["scales"].items() if "error" not in v}
        if ok:
            tables.append(compare.render(results | {"backend": run["backend"], "scales": ok}))
    print("\n\n".join(tables), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.with_suffix(".txt").write_text("\n\n".join(tables) + "\n")
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {args.json}")
    return exit_code


@contextlib.contextmanager
def _store_servers(name: str, scales: list[str]) -> Iterator[Callable[[str], dict[str, str]]]:
    """Environment per scale for a store: nothing extra for sqlite (or --database-url/--redis-url as
    given); for postgis a throwaway cluster and redis-server (tests/servers.py), a database per scale."""
    if name == "sqlite":
        yield lambda scale: {}
        return
    if name != "postgis":
        raise SystemExit(f"--stores: unknown store {name!r} (sqlite, postgis)")
    sys.path.insert(0, str(PROJECT))
    from tests.servers import start_postgres, start_redis  # the same throwaway servers the tests use

    pg, redis_server = start_postgres(), start_redis()
    try:
        urls = {scale: pg.create_database(f"citybrain_bench_{scale}") for scale in scales}
        server = redis_server.url.rsplit("/", 1)[0]
        cache = {scale: f"{server}/{k}" for k, scale in enumerate(scales)}  # a Redis database each
        log(f"postgis: {pg.url()} · redis: {redis_server.url}")
        yield lambda scale: {"DATABASE_URL": urls[scale], "REDIS_URL": cache[scale], "BENCH_FRESH_DATABASE": "1"}
    finally:
        redis_server.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
