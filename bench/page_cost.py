"""What an open page costs the browser while it idles in Live mode (issue 17), a measurement script.

    python bench/page_cost.py [--seconds 60] [--data-dir DIR] [--json bench/results.json]
                              [--app-dir DIR] [--key page_cost] [--soak-minutes 30]

Serves the command centre (`gunicorn -w 2 static_wsgi:server`, live simulator on, as bench/compare.py
does) and bench/minimal_app.py (the same three layers on a bare dash-leaflet map) on one data
directory, opens each in headless Debian Chromium (1600×1000) and, once everything is drawn and a
few seconds settled, measures `--seconds` of idling through the Chrome DevTools Protocol:

- main-thread busy %: the growth of Performance.getMetrics "TaskDuration" (time the renderer's main
  thread spent running tasks) over the wall time;
- long tasks (PerformanceObserver "longtask", > 50 ms): how many, their total and the longest, and per
  live refresh of the map (window.citybrain.state.refreshes; the minimal page never refreshes);
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

from compare import NO_BACKGROUND_JOBS, prepare
from run import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_READY_JS,
    PROJECT,
    Server,
    auth_headers,
    cpu_busy,
    free_port,
    gunicorn_path,
    log,
    table,
    tree_state,
)

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


def server(name: str, module: str, env: dict[str, str], app_dir: Path, log_dir: Path) -> Server:
    port = free_port()
    cmd = [gunicorn_path(), "-c", str(app_dir / "gunicorn.conf.py"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    cmd += ["--no-control-socket", "--timeout", "300", "--chdir", str(app_dir / "bench"), module]
    srv = Server(name, cmd, env, log_dir / f"{name}.log", port)
    return srv


def metrics(cdp: Any, collect: bool = True) -> dict[str, float]:
    if collect:
        cdp.send("HeapProfiler.collectGarbage")
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


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
        start, started = metrics(cdp), time.perf_counter()
        t0 = page.evaluate("() => performance.now()")
        refreshes0 = page.evaluate(REFRESHES_JS)
        samples = []
        if soak_minutes:
            for minute in range(1, int(soak_minutes) + 1):
                page.wait_for_timeout(60_000)
                m = metrics(cdp)
                samples.append(
                    {"minute": minute, "heap_mb": round(m["JSHeapUsedSize"] / 2**20, 2), "nodes": m["Nodes"]}
                )
                log(f"    soak {minute} min: {samples[-1]}")
        else:
            page.wait_for_timeout(seconds * 1000)
        wall = time.perf_counter() - started
        end_busy = metrics(cdp, collect=False)  # before the forced collection, which is the bench's own work
        end = metrics(cdp)
        refreshes = page.evaluate(REFRESHES_JS)
        long_tasks = [d for s, d in page.evaluate("() => window.__longTasks") if s >= t0]
    finally:
        context.close()
    busy = end_busy["TaskDuration"] - start["TaskDuration"]
    n_refresh = (refreshes - refreshes0) if refreshes is not None and refreshes0 is not None else None
    out: dict[str, Any] = {
        "seconds": round(wall, 1),
        "busy_s": round(busy, 2),
        "busy_pct": round(100 * busy / wall, 2),
        "script_s": round(end_busy["ScriptDuration"] - start["ScriptDuration"], 2),
        "style_layout_s": round(
            end_busy["RecalcStyleDuration"]
            - start["RecalcStyleDuration"]
            + end_busy["LayoutDuration"]
            - start["LayoutDuration"],
            2,
        ),
        "refreshes": n_refresh,
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
            rows.append([name, r["error"], "", "", "", "", ""])
            continue
        per = r["long_task_ms_per_refresh"]
        rows.append(
            [
                name,
                f"{r['busy_pct']:.1f} % ({r['busy_s']:.1f} s)",
                r["refreshes"] if r["refreshes"] is not None else "—",
                f"{r['long_tasks']} / {r['long_task_ms']} ms / max {r['longest_task_ms']} ms",
                f"{per:.0f} ms" if per is not None else "—",
                "{} → {} MB".format(*r["heap_mb"]),
                "{} → {}".format(*r["dom_nodes"]),
            ]
        )
    head = ["page", "main thread busy", "refreshes", "long tasks (n / total / max)", "long tasks/refresh", "JS heap",
            "DOM nodes"]  # fmt: skip
    lines = [
        f"Page cost idling in Live mode, {result['seconds_each']} s each, headless Chromium 1600×1000 "
        f"({result['tree']}; targets: busy ≤ {TARGETS['busy_pct']:g} %, long tasks ≤ "
        f"{TARGETS['long_task_ms_per_refresh']:g} ms per refresh)",
        *table(head, rows, "lrrrrrr"),
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
                srv = server(name, module, page_env, app_dir, work)
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
    args.json.write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n")
    log(f"merged into {args.json} under {args.key!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
