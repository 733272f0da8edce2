"""What the benchmark scripts share (bench/run.py, bench/compare.py, bench/page_cost.py): the project's
path, HTTP client and server processes, Dash callback requests, statistics and the table printer.
Kept apart so that the scripts import it and never each other."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
from data.rules.clock import CST  # noqa: E402 - after the project is on the path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Bucket / history geometry of the app (data/store/__init__.py, data/sim/simulate.py, access.history_window); only
# used to read the simulator's progress from the SQLite file and to pick slider steps.
BUCKET_S = 15 * 60
HISTORY_S = 7 * 86400


def step_time(step: int, now: float) -> int:
    """The instant the app shows for history slider `step` (access.resolve_at)."""
    last = int(now // BUCKET_S * BUCKET_S)
    return last - HISTORY_S + step * BUCKET_S + BUCKET_S - 1


def local_label(at: int) -> str:
    return time.strftime("%a %H:%M", time.gmtime(at + CST))


def plan_steps(last_step: int, now: float, n: int = 20) -> dict[str, Any]:
    """Slider steps for cold and warm calls. No two calls share a step, and refresh_panels' cold
    steps avoid each other's and refresh_map's "same time yesterday" (step - 96), so every cold call
    is the first one for its instant.

    refresh_map's cold steps span 25 hours at 75-minute spacing ending at the latest weekday 18:15
    (local bucket start), which puts two of them on the rush-hour peaks of open incidents, 18:15 and
    08:15, the live store's largest: those two go first, the rest in an order whose every prefix
    spreads over the day."""
    stride = 5
    end = last_step
    for candidate in range(last_step, n * stride - 1, -1):
        local = time.gmtime(step_time(candidate, now) - (BUCKET_S - 1) + CST)
        if local.tm_wday < 5 and (local.tm_hour, local.tm_min) == (18, 15):
            end = candidate
            break
    peaks = [0, 10 * 60 // (stride * 15)]  # 18:15 and ten hours earlier, 08:15
    spread = peaks + sorted((k for k in range(n) if k not in peaks), key=lambda k: (k * 7) % n)
    map_cold = [end - stride * k for k in spread]
    used = set(map_cold)
    map_warm = next(st for st in range(last_step - 1, 0, -1) if st not in used)
    used.add(map_warm)
    panels: list[int] = []
    for st in range(last_step - 2, 96, -13):
        if len(panels) > n:
            break
        if st not in used and st - 96 not in used:
            panels.append(st)
            used.update((st, st - 96))
    return {"map_cold": map_cold, "map_warm": map_warm, "panels_cold": panels[:n], "panels_warm": panels[n]}


PAGE_READY_JS = """() => {
    const cb = window.citybrain, s = cb && cb.state;
    if (!s || s.refreshes < 1 || !(s.incidentCount > 0)) { return false; }
    for (const k of ["traffic", "parking", "air_quality"]) {
        // (car parks zoomed out are drawn as cluster icons, not features: at Shanghai scale, all of them)
        const drawn = s.registry[k] && Object.keys(s.registry[k]).length > 0;
        if (!drawn && !(k === "parking" && document.querySelector(".cb-cluster"))) { return false; }
    }
    return performance.now();
}"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes  # decoded (gunzipped) when the server compressed it
    seconds: float  # request sent → whole body read (not decoded)
    reconnected: bool = False
    wire_bytes: int = 0  # body bytes as sent on the wire


def auth_headers() -> dict[str, str]:
    """The operator pages and callbacks need a signed-in user: the bench signs its requests."""
    token = os.environ.get("BENCH_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def make_bench_user(env: dict[str, str]) -> None:
    """An operator account with a bearer token in the bench's store; the token goes to BENCH_TOKEN."""

    def users(*args: str, stdin: str = "") -> str:
        done = subprocess.run([sys.executable, "-m", "cli.users", *args], cwd=PROJECT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"cli.users {args[0]} failed: {done.stderr[-1000:]}")
        return done.stdout.strip()

    users("add", "bench", "--role", "operator", stdin="bench-" + os.urandom(12).hex() + "\n")
    os.environ["BENCH_TOKEN"] = users("token", "bench")


class Client:
    """One http.client connection, kept alive when the server allows it (reopened when it closes)."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port = port
        self.timeout = timeout
        self.auth = auth_headers()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connects = 0

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        decode: bool = True,
    ) -> Reply:
        started = time.perf_counter()
        for attempt in (1, 2):
            fresh = self.conn.sock is None
            try:
                self.conn.request(method, path, body=body, headers=self.auth | (headers or {}))
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError):
                self.conn.close()
                if attempt == 2 or fresh:
                    raise
                continue  # a kept-alive connection the server had dropped: retry once on a new one
            if fresh:
                self.connects += 1
            elapsed = time.perf_counter() - started
            if response.will_close:
                self.conn.close()
            head = {k.lower(): v for k, v in response.getheaders()}
            wire = len(data)
            if decode and head.get("content-encoding") == "gzip":
                data = gzip.decompress(data)
            return Reply(response.status, head, data, elapsed, fresh, wire)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- servers -------------------------------------------------------------------------------------


class Server:
    """A server subprocess in its own process group (so gunicorn's workers stop with it)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.name, self.cmd, self.env, self.log_path, self.port = name, cmd, env, log_path, port
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float) -> float:
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, cwd=PROJECT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client = Client(self.port, timeout=5)
                reply = client.request("GET", "/healthz")
                client.close()
                if reply.status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def backfill_pending(sqlite_path: Path) -> list[str] | None:
    """Cities whose older history the live simulator has not backfilled yet (None: unknown)."""
    if not sqlite_path.exists():
        return None
    start = int((time.time() - HISTORY_S) // BUCKET_S * BUCKET_S)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute("SELECT key, value FROM meta WHERE key LIKE 'sim_oldest:%'").fetchall()
    except sqlite3.Error:
        return None
    return sorted(key.split(":", 1)[1] for key, value in rows if int(value) > start)


# --- Dash callbacks ------------------------------------------------------------------------------


def _split_prop(s: str) -> dict[str, str]:
    component, prop = s.rsplit(".", 1)
    return {"id": component, "property": prop}


class Dash:
    """Builds /_dash-update-component requests the way dash-renderer 4.4.1 does (callbacks.ts)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        index = client.request("GET", "/")
        match = re.search(rb'<script id="_dash-config" type="application/json">(.*?)</script>', index.body, re.S)
        config = json.loads(match.group(1)) if match else {}
        self.url = "/_dash-update-component"
        if config.get("end_id"):  # the renderer echoes the page's signed end_id on every callback
            self.url += "?endId=" + config["end_id"]
        self.deps = json.loads(client.request("GET", "/_dash-dependencies").body)
        # as Chromium's fetch sends it (minus br, which the standard library cannot decode)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip"}
        self.layout = self._page_layout()

    def dep(self, output_part: str) -> dict[str, Any]:
        found = [d for d in self.deps if output_part in d["output"]]
        if len(found) != 1:
            raise LookupError(f"callback with output {output_part!r}: {len(found)} found")
        return found[0]

    def body(self, dep: dict[str, Any], values: dict[str, Any], changed: Iterable[str] = ()) -> bytes:
        """`values` maps "id.prop" to the value in the browser's layout; a missing key is undefined."""
        output = dep["output"]
        multi = output.startswith("..")
        outputs = [_split_prop(p) for p in output[2:-2].split("...")] if multi else [_split_prop(output)]

        def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            filled = []
            for item in items:
                entry = {"id": item["id"], "property": item["property"]}
                key = f"{item['id']}.{item['property']}"
                if key in values:
                    entry["value"] = values[key]
                filled.append(entry)
            return filled

        changed = list(changed)
        payload: dict[str, Any] = {
            "output": output,
            "outputs": outputs if multi else outputs[0],
            "inputs": fill(dep["inputs"]),
            "changedPropIds": changed,
            "parsedChangedPropsIds": changed,
        }
        if dep["state"]:
            payload["state"] = fill(dep["state"])
        return json.dumps(payload, separators=(",", ":")).encode()

    def post(self, body: bytes) -> Reply:
        reply = self.client.request("POST", self.url, body, self.headers)
        if reply.status != 200:
            raise RuntimeError(f"callback answered {reply.status}: {reply.body[:500]!r}")
        return reply

    def _page_layout(self) -> dict[str, Any]:
        """The command centre's layout as the pages callback sends it to the browser for "/"."""
        dep = self.dep("_pages_content.children")
        body = self.body(
            dep,
            {"_pages_location.pathname": "/", "_pages_location.search": ""},
            ["_pages_location.pathname", "_pages_location.search"],
        )
        return json.loads(self.post(body).body)["response"]["_pages_content"]["children"]

    def prop(self, component_id: str, prop: str) -> Any:
        def walk(node: Any) -> Any:
            if isinstance(node, list):
                for child in node:
                    found = walk(child)
                    if found is not None:
                        return found
            elif isinstance(node, dict) and "props" in node:
                props = node["props"]
                if props.get("id") == component_id:
                    return props
                for value in props.values():
                    found = walk(value)
                    if found is not None:
                        return found
            return None

        props = walk(self.layout)
        if props is None:
            raise LookupError(f"{component_id} not in the page layout")
        return props.get(prop)


@dataclass
class Callbacks:
    """Bodies of the two command-centre callbacks for the situations a browser produces."""

    dash: Dash
    map_dep: dict[str, Any] = field(init=False)
    panels_dep: dict[str, Any] = field(init=False)
    city: str = field(init=False)
    last_step: int = field(init=False)
    plan: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.map_dep = self.dash.dep("cc-live.data")
        self.panels_dep = self.dash.dep("cc-kpi-data.data")
        self.city = self.dash.prop("cc-city-key", "data")
        self.last_step = int(self.dash.prop("cc-slider", "value"))  # now: the steps past it are forecasts
        self.plan = plan_steps(self.last_step, time.time())

    def live_tick(self, dep: dict[str, Any], n: int) -> bytes:
        values = {
            "cc-refresh.n_intervals": n,
            "cc-mode.value": "live",
            "cc-slider.value": self.last_step,
            "cc-city-key.data": self.city,
        }
        return self.dash.body(dep, values, ["cc-refresh.n_intervals"])

    def history(self, dep: dict[str, Any], step: int) -> bytes:
        """The operator moved the slider to `step` in history mode (the interval is disabled there)."""
        values = {"cc-mode.value": "history", "cc-slider.value": step, "cc-city-key.data": self.city}
        return self.dash.body(dep, values, ["cc-slider.value"])


# --- statistics ----------------------------------------------------------------------------------


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return {"n": 0}
    p95 = statistics.quantiles(ms, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


# --- report --------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    cells = [[("—" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    align = align or "l" + "r" * (len(headers) - 1)

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=True))

    return ["  " + fmt(headers), "  " + "  ".join("-" * w for w in widths), *("  " + fmt(r) for r in cells)]


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over `seconds` (from /proc/stat); before and after our servers run it
    is the load other processes put on the machine, which the numbers here are sensitive to."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(100 * (1 - (idle1 - idle0) / max(1, total1 - total0)), 1)


def tree_state() -> str:
    """The commit measured and how many files differ from it (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or '?'}" + (f" + {len(changed)} changed/untracked paths" if changed else " (clean)")


def gunicorn_path() -> str:
    beside = Path(sys.executable).parent / "gunicorn"
    return str(beside) if beside.exists() else (shutil.which("gunicorn") or "gunicorn")


def checkout_server(name: str, module: str, env: dict[str, str], app_dir: Path, log_dir: Path) -> Server:
    """gunicorn -w 2 serving `module` from bench/ of the checkout at `app_dir` (not started yet)."""
    port = free_port()
    cmd = [gunicorn_path(), "-c", str(app_dir / "gunicorn.conf.py"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    cmd += ["--no-control-socket", "--timeout", "300", "--chdir", str(app_dir / "bench"), module]
    return Server(name, cmd, env, log_dir / f"{name}.log", port)


def feature_counts(env: dict[str, str]) -> dict[str, int]:
    """The bench city's sensors per layer (what a page must draw), read in a child with `env`."""
    code = (
        "import json; from data import store; from data.geo.cities import get_city; import os; "
        "e = store.get_engine(); c = os.environ['BENCH_CITY']; "
        "n = lambda layer: len(store.sensors(e, layer, c)); "
        "print(json.dumps({'roads': n('traffic'), 'parking': n('parking'), 'air_quality': n('air_quality')}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])
