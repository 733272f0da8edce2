"""What an open page costs the browser while it idles in Live mode (issue 17), a measurement script.

    python bench/page_cost.py [--seconds 60] [--data-dir DIR] [--json bench/results.json]
                              [--app-dir DIR] [--key page_cost] [--soak-minutes 30]

Serves the command centre (`gunicorn -w 2 static_wsgi:server`, live simulator on, as bench/compare.py
does) and bench/minimal_app.py (the same three layers on a bare dash-leaflet map) on one data
directory, opens each in headless Debian Chromium (1600×1000) and, once everything is drawn and a
few seconds settled, measures `--seconds` of idling through the Chrome DevTools Protocol:

- main-thread busy %: the CPU time of the renderer's main thread running tasks (a timeline trace, the
  RunTask events' thread time) over the wall time. The wall-clock figure (Performance.getMetrics
  "TaskDuration") is kept too, but on a loaded machine a descheduled task counts as busy there;
- compositing CPU %: the compositor threads' CPU time (renderer and display; software compositing in
  headless Chromium), where CSS transform/opacity animations cost;
- long tasks (> 50 ms): from the same trace, by CPU time, how many, their total and the longest, and per
  live refresh of the map (window.citybrain.state.refreshes; the minimal page never refreshes); the
  browser's own PerformanceObserver "longtask" count (wall clock) is kept beside them;
- JS heap used and DOM nodes (after a forced garbage collection) at the start and at the end.

`--soak-minutes N` samples heap and nodes every minute for N minutes instead (the 30-minute soak of
the issue: reported, not part of CI). `--app-dir` serves another checkout (e.g. the commit before a
change) on the same data. The figures are printed as a table and merged into --json under `--key`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_READY_JS,
    PROJECT,
    auth_headers,
    checkout_server,
    cpu_busy,
    log,
    table,
    tree_state,
)
from compare import NO_BACKGROUND_JOBS, prepare

TARGETS = {"busy_pct": 5.0, "long_task_ms_per_refresh": 50.0}
SETTLE_S = 5.0
MINIMAL_READY_JS = """() => {
    const d = window.minimal && window.minimal.drawn;
    return !!(d && d.roads > 0 && d.parking > 0 && d.air_quality > 0) && performance.now();
}"""
# Registered before any page script: long tasks are not buffered for observers created later.
LONG_TASKS_JS = """
window.__longTasks = [];
try {
    new PerformanceObserver((list) => {
        for (const e of list.getEntries()) { window.__longTasks.push([e.startTime, e.duration]); }
    }).observe({type: "longtask", buffered: true});
} catch (e) { /* no long-task timing in this browser */ }
"""
REFRESHES_JS = "() => (window.citybrain && window.citybrain.state) ? window.citybrain.state.refreshes : null"


def metrics(cdp: Any, collect: bool = True) -> dict[str, float]:
    if collect:
        cdp.send("HeapProfiler.collectGarbage")
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline"]
LONG_TASK_US = 50_000


COMPOSITING = ("Compositor", "VizCompositorThread")  # the renderer's compositor, the GPU process's display


def trace_tasks(trace: bytes, since_us: float, until_us: float) -> tuple[list[tuple[float, float]], float]:
    """(wall µs, thread CPU µs) of each top-level task of the busiest renderer main thread, and the CPU
    seconds of the compositing threads (where transform/opacity animations run, in software here),
    for the tasks that started in [since_us, until_us) (the trace clock: CDP "timeTicks")."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {(e["pid"], e["tid"]): e.get("args", {}).get("name") for e in events if e.get("name") == "thread_name"}
    tasks: dict[tuple[int, int], list[tuple[float, float]]] = {}
    compositing = 0.0
    for e in events:
        if e.get("name") != "RunTask" or e.get("ph") != "X" or not since_us <= e.get("ts", -1) < until_us:
            continue
        thread = names.get((e["pid"], e["tid"]))
        cpu = e.get("tdur", e.get("dur", 0))
        if thread == "CrRendererMain":
            tasks.setdefault((e["pid"], e["tid"]), []).append((e.get("dur", 0), cpu))
        elif thread in COMPOSITING:
            compositing += cpu / 1e6
    return max(tasks.values(), key=lambda t: sum(c for _, c in t), default=[]), compositing


# Where the nodes are (a soak tells growth of what is drawn, e.g. more open incidents, from a leak: nodes
# counted by the browser but no longer in the document).
DOM_SPLIT_JS = """() => ({
    in_document: document.getElementsByTagName('*').length,
    in_map: (document.querySelector('.leaflet-map-pane') || document).getElementsByTagName('*').length,
    markers: document.querySelectorAll('.leaflet-marker-icon').length,
})"""


def measure(browser: Any, url: str, ready_js: str, seconds: float, soak_minutes: float) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, extra_http_headers=auth_headers())
    context.add_init_script(LONG_TASKS_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    try:
        page.goto(url, wait_until="commit", timeout=120_000)
        page.wait_for_function(ready_js, polling=500, timeout=180_000)
        page.wait_for_timeout(SETTLE_S * 1000)
        cdp = context.new_cdp_session(page)
        cdp.send("HeapProfiler.enable")
        cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
        if not soak_minutes:
            browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        start = metrics(cdp)
        t0 = page.evaluate("() => performance.now()")
        refreshes0 = page.evaluate(REFRESHES_JS)
        samples, tasks, compositing = [], [], 0.0
        if soak_minutes:
            for minute in range(1, int(soak_minutes) + 1):
                page.wait_for_timeout(60_000)
                m = metrics(cdp)
                samples.append(
                    {"minute": minute, "heap_mb": round(m["JSHeapUsedSize"] / 2**20, 2), "nodes": m["Nodes"]}
                    | page.evaluate(DOM_SPLIT_JS)
                )
                log(f"    soak {minute} min: {samples[-1]}")
        else:
            page.wait_for_timeout(seconds * 1000)
        end_busy = metrics(cdp, collect=False)  # before the forced collection, which is the bench's own work
        wall = end_busy["Timestamp"] - start["Timestamp"]
        refreshes = page.evaluate(REFRESHES_JS)
        if not soak_minutes:
            tasks, compositing = trace_tasks(
                browser.stop_tracing(), start["Timestamp"] * 1e6, end_busy["Timestamp"] * 1e6
            )
        end = metrics(cdp)
        observed = [d for s, d in page.evaluate("() => window.__longTasks") if s >= t0]
    finally:
        context.close()
    busy = end_busy["TaskDuration"] - start["TaskDuration"]
    n_refresh = (refreshes - refreshes0) if refreshes is not None and refreshes0 is not None else None
    cpu = sum(c for _, c in tasks) / 1e6 if not soak_minutes else None
    long_tasks = [c / 1000 for _, c in tasks if c > LONG_TASK_US]
    out: dict[str, Any] = {
        "seconds": round(wall, 1),
        "busy_s": round(cpu, 2) if cpu is not None else None,
        "busy_pct": round(100 * cpu / wall, 2) if cpu is not None else None,
        "compositing_cpu_pct": round(100 * compositing / wall, 2) if cpu is not None else None,
        "wall_busy_s": round(busy, 2),
        "wall_busy_pct": round(100 * busy / wall, 2),
        "observed_long_tasks": len(observed),
        "observed_long_task_ms": round(sum(observed)),
        "script_s": round(end_busy["ScriptDuration"] - start["ScriptDuration"], 2),
        "style_layout_s": round(
            end_busy["RecalcStyleDuration"]
            - start["RecalcStyleDuration"]
            + end_busy["LayoutDuration"]
            - start["LayoutDuration"],
            2,
        ),
        "refreshes": n_refresh,
        "cpu_ms_per_refresh": round(1000 * cpu / n_refresh) if cpu is not None and n_refresh else None,
        "long_tasks": len(long_tasks),
        "long_task_ms": round(sum(long_tasks)),
        "longest_task_ms": round(max(long_tasks, default=0)),
        "long_task_ms_per_refresh": round(sum(long_tasks) / n_refresh, 1) if n_refresh else None,
        "heap_mb": [round(start["JSHeapUsedSize"] / 2**20, 2), round(end["JSHeapUsedSize"] / 2**20, 2)],
        "dom_nodes": [int(start["Nodes"]), int(end["Nodes"])],
        "page_errors": errors,
    }
    if samples:
        out["soak"] = samples
    return out


def render(result: dict[str, Any]) -> str:
    rows = []
    for name, r in result["pages"].items():
        if "error" in r:
            rows.append([name, r["error"], "", "", "", "", "", "", "", ""])
            continue
        per = r["long_task_ms_per_refresh"]
        rows.append(
            [
                name,
                f"{r['busy_pct']:.1f} % ({r['busy_s']:.1f} s)" if r["busy_pct"] is not None else "—",
                f"{r['wall_busy_pct']:.1f} %",
                f"{r['compositing_cpu_pct']:.1f} %" if r["compositing_cpu_pct"] is not None else "—",
                r["refreshes"] if r["refreshes"] is not None else "—",
                r["cpu_ms_per_refresh"],
                f"{r['long_tasks']} / {r['long_task_ms']} ms / max {r['longest_task_ms']} ms",
                f"{per:.0f} ms" if per is not None else "—",
                "{} → {} MB".format(*r["heap_mb"]),
                "{} → {}".format(*r["dom_nodes"]),
            ]
        )
    head = ["page", "main thread CPU", "(wall)", "compositing CPU", "refreshes", "CPU ms/refresh",
            "long tasks (n / total / max)", "long tasks/refresh", "JS heap", "DOM nodes"]  # fmt: skip
    lines = [
        f"Page cost idling in Live mode, {result['seconds_each']} s each, headless Chromium 1600×1000 "
        f"({result['tree']}; targets: busy ≤ {TARGETS['busy_pct']:g} %, long tasks ≤ "
        f"{TARGETS['long_task_ms_per_refresh']:g} ms per refresh)",
        *table(head, rows, "lrrrrrrrrr"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--data-dir", type=Path, help="reused when it holds a store (kept); else a fresh temporary one")
    ap.add_argument("--app-dir", type=Path, default=PROJECT, help="the checkout to serve (default: this one)")
    ap.add_argument("--city", default="hangzhou")
    ap.add_argument("--json", type=Path, default=PROJECT / "bench" / "results.json")
    ap.add_argument("--key", default="page_cost", help="where in --json the figures go")
    ap.add_argument("--pages", default="command_centre,minimal")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="citybrain-page-cost-"))
    data_dir = args.data_dir or work / "data"
    env = os.environ | {"DATA_DIR": str(data_dir), "BENCH_CITY": args.city, "SIMULATE_BACKFILL": "0"}
    env.pop("SIM_SCALE", None)
    if (data_dir / "citybrain.sqlite").exists():
        token = subprocess.run([sys.executable, "-m", "cli.users", "token", "bench"], cwd=PROJECT, env=env,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        if token.returncode:
            raise SystemExit(f"no bench user in {data_dir}: {token.stderr[-500:]}")
        os.environ["BENCH_TOKEN"] = token.stdout.strip()
    else:
        log(f"preparing data in {data_dir} ...")
        prepare(env, data_dir)
    app_dir = args.app_dir.resolve()
    result: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "tree": tree_state() if app_dir == PROJECT else f"{app_dir} (another checkout)",
        "city": args.city,
        "seconds_each": args.seconds if not args.soak_minutes else args.soak_minutes * 60,
        "cpu_busy_before_pct": cpu_busy(),
        "targets": TARGETS,
        "pages": {},
    }
    specs = {
        "command_centre": ("static_wsgi:server", env | {"SIMULATE_LIVE": "1", "BENCH_STATIC_DIR": str(work)},
                           f"/?city={args.city}", PAGE_READY_JS),
        "minimal": ("minimal_app:server", env | NO_BACKGROUND_JOBS, "/", MINIMAL_READY_JS),
    }  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in args.pages.split(","):
                module, page_env, path, ready = specs[name]
                srv = checkout_server(name, module, page_env, app_dir, work)
                try:
                    srv.start(timeout=900)
                    log(f"{name}: measuring {result['seconds_each']:.0f} s idle ...")
                    result["pages"][name] = measure(
                        browser, f"http://127.0.0.1:{srv.port}{path}", ready, args.seconds, args.soak_minutes
                    )
                except Exception as exc:  # a page that fails is reported, the other still measured
                    result["pages"][name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
                finally:
                    srv.stop()
        finally:
            browser.close()
    print(render(result))
    stored = json.loads(args.json.read_text()) if args.json.exists() else {}
    stored[args.key] = result
    args.json.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n")  # as bench/run.py writes it
    log(f"merged into {args.json} under {args.key!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
