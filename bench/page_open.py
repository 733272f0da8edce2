"""Page open → all layers drawn: the command centre vs the minimal dash-leaflet page, back to back.

    python bench/page_open.py --data-dir DIR [--loads 5] [--forecasts 0|1] [--wait S] [--trace FILE]
                              [--before-app-dir DIR --before-data-dir DIR]

The same method as bench/compare.py (c): gunicorn -w 2 for both apps on one prepared data directory
(prepare it first, e.g. with bench/run.py), loads alternating between the two pages in fresh headless
Chromium contexts, navigation start → drawn. The product runs as in production (live simulator, alert
rules and, unless --forecasts 0, the forecast fit); the minimal app runs nothing in the background.
--wait waits that long after the product answers before the first load (the first forecast fit runs
right after start-up). --trace writes, for one extra load of the command centre, the requests it made
(path, bytes, start and end in ms) and the Dash callbacks in the order they answered, as JSON.
--profile writes a CPU profile of one more load (Chromium's sampling profiler, navigation → drawn) as a
.cpuprofile (Chromium DevTools opens it) and prints where the main thread spent its time: self time by
script and by function, top 25 each.
--before-app-dir serves another checkout (e.g. the commit before a change) on its own copy of the data
(--before-data-dir) at the same time, and its loads alternate with the others: on a shared machine
whose load changes by the minute, both ratios come from the same minutes.
Prints one JSON object: medians and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_READY_JS,
    auth_headers,
    checkout_server,
    feature_counts,
    log,
    make_bench_user,
)
from compare import NO_BACKGROUND_JOBS, gunicorn, measure_pages, minimal_ready_js


@contextlib.contextmanager
def fresh_page() -> Iterator[tuple[Any, Any]]:
    """A page in a fresh headless Chromium (1600x900, signed in) and a DevTools session on it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 900}, extra_http_headers=auth_headers())
            page = context.new_page()
            yield page, context.new_cdp_session(page)
            context.close()
        finally:
            browser.close()


def trace_load(url: str) -> dict[str, Any]:
    """One load of the command centre with every request's size and timing and the callbacks' order."""
    requests: list[dict[str, Any]] = []
    with fresh_page() as (page, cdp):
        cdp.send("Performance.enable")

        def finished(request) -> None:
            timing = request.timing
            body = request.post_data or ""
            output = ""
            if "_dash-update-component" in request.url:
                output = json.loads(body).get("output", "")[:120]
            sizes = request.sizes()
            requests.append({
                "path": request.url.split("//", 1)[1].split("/", 1)[1].split("?")[0][:80],
                "output": output,
                "start_ms": round(timing["startTime"], 1),
                "wait_ms": round(timing["responseStart"] - timing["requestStart"], 1),
                "end_ms": round(timing["startTime"] + timing["responseEnd"], 1),
                "body_bytes": sizes["responseBodySize"],
            })  # fmt: skip

        page.on("requestfinished", finished)
        page.goto(url, wait_until="commit", timeout=120_000)
        handle = page.wait_for_function(PAGE_READY_JS, polling="raf", timeout=180_000)
        drawn_ms = handle.json_value()
        origin = page.evaluate("performance.timeOrigin")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        page.wait_for_timeout(500)
    for r in requests:
        r["start_ms"] = round(r["start_ms"] - origin, 1)
        r["end_ms"] = round(r["end_ms"] - origin, 1)
    requests.sort(key=lambda r: r["start_ms"])
    keep = ("ScriptDuration", "TaskDuration", "LayoutDuration", "RecalcStyleDuration", "JSHeapUsedSize", "Nodes")
    return {
        "drawn_ms": round(drawn_ms, 1),
        "metrics": {k: round(metrics[k], 3) for k in keep if k in metrics},
        "requests": requests,
    }


def profile_load(url: str, out: Path) -> dict[str, Any]:
    """One load of the command centre under the CPU profiler: self time per script and per function."""
    with fresh_page() as (page, cdp):
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        page.goto(url, wait_until="commit", timeout=120_000)
        drawn_ms = page.wait_for_function(PAGE_READY_JS, polling="raf", timeout=180_000).json_value()
        profile = cdp.send("Profiler.stop")["profile"]
    out.write_text(json.dumps(profile))
    return {"drawn_ms": round(drawn_ms, 1)} | summarise_profile(profile)


def summarise_profile(profile: dict[str, Any], top: int = 25) -> dict[str, Any]:
    """Self time (ms) per script URL and per function, from a Profiler.stop profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_us: dict[int, float] = {}
    for node_id, delta in zip(profile.get("samples", []), [*deltas[1:], 0], strict=True):
        self_us[node_id] = self_us.get(node_id, 0) + delta
    by_script: dict[str, float] = {}
    by_function: dict[str, float] = {}
    for node_id, us in self_us.items():
        frame = nodes[node_id]["callFrame"]
        script = frame["url"].split("?")[0].rsplit("/", 2)[-1] or frame["functionName"] or "(native)"
        name = f"{frame['functionName'] or '(anonymous)'} {script}:{frame['lineNumber'] + 1}"
        by_script[script] = by_script.get(script, 0) + us / 1000
        by_function[name] = by_function.get(name, 0) + us / 1000

    def ranked(d: dict[str, float]) -> list[tuple[str, float]]:
        return [(k, round(v, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    total = sum(self_us.values()) / 1000
    return {"total_ms": round(total, 1), "by_script": ranked(by_script), "by_function": ranked(by_function)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--forecasts", choices=("0", "1"), default="1")
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--trace", type=Path)
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--city", default="hangzhou")
    ap.add_argument("--before-app-dir", type=Path)
    ap.add_argument("--before-data-dir", type=Path)
    args = ap.parse_args(argv)
    env = dict(os.environ) | {"DATA_DIR": str(args.data_dir), "BENCH_CITY": args.city, "FORECASTS": args.forecasts}
    env |= {"SIMULATE_LIVE": "1", "SIMULATE_BACKFILL": "0", "REFRESH_SECONDS": "10"}
    make_bench_user(env)
    env["BENCH_TOKEN"] = os.environ["BENCH_TOKEN"]
    if args.before_data_dir:  # a fresh copy: the same data, and the bench token just made (one for both)
        shutil.rmtree(args.before_data_dir, ignore_errors=True)
        shutil.copytree(args.data_dir, args.before_data_dir)
    work = Path(tempfile.mkdtemp(prefix="citybrain-page-open-"))
    static = work / "static"
    static.mkdir()
    product = gunicorn("product", "static_wsgi:server", env | {"BENCH_STATIC_DIR": str(static)}, work)
    minimal = gunicorn("minimal", "minimal_app:server", env | NO_BACKGROUND_JOBS, work)
    before = None
    if args.before_app_dir:
        before_env = env | {"DATA_DIR": str(args.before_data_dir or args.data_dir), "BENCH_STATIC_DIR": str(static)}
        before = checkout_server("before", "static_wsgi:server", before_env, args.before_app_dir.resolve(), work)
    out: dict[str, Any] = {"forecasts": args.forecasts, "wait_s": args.wait, "logs": str(work)}
    try:
        minimal.start(timeout=300)
        if before:
            out["before_start_s"] = round(before.start(timeout=600), 1)
        out["product_start_s"] = round(product.start(timeout=600), 1)
        if args.wait:
            time.sleep(args.wait)
        counts = feature_counts(env)
        pages = {
            "app": (f"http://127.0.0.1:{product.port}/?city={args.city}", PAGE_READY_JS),
            "minimal": (f"http://127.0.0.1:{minimal.port}/", minimal_ready_js(counts)),
        }
        if before:
            pages["before"] = (f"http://127.0.0.1:{before.port}/?city={args.city}", PAGE_READY_JS)
        result = measure_pages(pages, args.loads)
        for name in pages:
            out[name] = [r.get("drawn_s", r.get("error")) for r in result[name]["runs"]]
            out[f"{name}_median_s"] = result[name]["median_drawn_s"]
            out[f"{name}_bytes"] = result[name]["median_transfer_bytes"]
        for name in ("app", "before"):
            if out.get(f"{name}_median_s") and out["minimal_median_s"]:
                out[f"{name}_ratio"] = round(out[f"{name}_median_s"] / out["minimal_median_s"], 2)
        if args.trace:
            args.trace.write_text(json.dumps(trace_load(pages["app"][0]), indent=1))
            log(f"trace written to {args.trace}")
        if args.profile:
            out["profile"] = profile_load(pages["app"][0], args.profile)
            log(f"CPU profile written to {args.profile}")
    finally:
        for srv in (product, minimal, before):
            if srv:
                srv.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
