"""bench/page_cost.py reads a Chromium timeline trace: the page's main-thread CPU, long tasks, compositing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from page_cost import trace_tasks


def _thread(pid: int, tid: int, name: str) -> dict:
    return {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}


def _task(pid: int, tid: int, ts: float, dur: float, tdur: float) -> dict:
    return {"name": "RunTask", "ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur, "tdur": tdur}


def test_the_busiest_renderer_main_thread_within_the_window():
    events = [
        _thread(1, 1, "CrRendererMain"),  # an idle renderer (e.g. another frame)
        _thread(2, 2, "CrRendererMain"),  # the page
        _thread(2, 3, "Compositor"),
        _thread(3, 4, "VizCompositorThread"),
        _thread(4, 5, "CrBrowserMain"),
        _task(1, 1, 1_000, 500, 400),
        _task(2, 2, 1_000, 90_000, 60_000),  # a long task by CPU
        _task(2, 2, 200_000, 80_000, 20_000),  # long by the wall clock only: descheduled
        _task(2, 2, 5_000_000, 70_000, 70_000),  # after the window
        _task(2, 3, 2_000, 1_000, 1_000),
        _task(3, 4, 3_000, 3_000, 2_000),
        _task(4, 5, 3_000, 9_000, 9_000),  # the browser process: not the page's
        {"name": "FunctionCall", "ph": "X", "pid": 2, "tid": 2, "ts": 1_100, "dur": 80_000, "tdur": 50_000},
    ]
    tasks, compositing = trace_tasks(json.dumps({"traceEvents": events}).encode(), 0, 1_000_000)
    assert tasks == [(90_000, 60_000), (80_000, 20_000)]
    assert compositing == 0.003  # seconds: 1 ms renderer compositor + 2 ms display compositor


def test_an_empty_trace_has_no_tasks():
    assert trace_tasks(b"[]", 0, 1) == ([], 0.0)
