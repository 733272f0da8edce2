"""Refresh-ahead (data/refresh_ahead.py): a slow recompute is never waited for by a request once values
are held; a fast one is done inline, as is everything without `ahead`."""

from __future__ import annotations

import threading
import time

import pytest

from data.refresh_ahead import RefreshAhead


def _slow(value: str, seconds: float, started: threading.Event | None = None, release: threading.Event | None = None):
    def compute() -> str:
        if started:
            started.set()
        if release:
            release.wait(5)
        time.sleep(seconds)
        return value

    return compute


def _wait_for(ahead: RefreshAhead, slot: str, token: str) -> None:
    for _ in range(200):
        if ahead.get(slot, token, lambda: pytest.fail("computed inline"))[0] == token:
            return
        time.sleep(0.01)
    pytest.fail(f"{token} never arrived")


def test_first_values_are_computed_inline_then_held():
    ahead = RefreshAhead(slow_seconds=0.05)
    assert ahead.get("a", "t1", _slow("v1", 0)) == ("t1", "v1")
    assert ahead.get("a", "t1", lambda: pytest.fail("recomputed")) == ("t1", "v1")


def test_after_a_slow_computation_the_held_values_answer_while_a_thread_computes():
    ahead = RefreshAhead(slow_seconds=0.05)
    assert ahead.get("a", "t1", _slow("v1", 0.1)) == ("t1", "v1")  # slow: 0.1 s > 0.05 s
    started, release = threading.Event(), threading.Event()
    begun = time.perf_counter()
    assert ahead.get("a", "t2", _slow("v2", 0, started, release)) == ("t1", "v1")
    assert started.wait(5) and time.perf_counter() - begun < 1
    # while it runs, another request neither waits nor starts a second computation
    assert ahead.get("a", "t3", lambda: pytest.fail("a second thread")) == ("t1", "v1")
    release.set()
    _wait_for(ahead, "a", "t2")
    assert ahead.get("a", "t2", lambda: pytest.fail("recomputed")) == ("t2", "v2")
    # once slow, always ahead in that slot: a fast step (a new stale mask) may be followed by a slow one
    assert ahead.get("a", "t4", _slow("v4", 0)) == ("t2", "v2")
    _wait_for(ahead, "a", "t4")


def test_fast_computations_and_ahead_false_stay_inline():
    ahead = RefreshAhead(slow_seconds=0.05)
    ahead.get("a", "t1", _slow("v1", 0))
    assert ahead.get("a", "t2", _slow("v2", 0)) == ("t2", "v2")
    assert ahead.get("a", "t3", _slow("v3", 0)) == ("t3", "v3")
    ahead.get("b", "t1", _slow("v1", 0.1))
    assert ahead.get("b", "t2", _slow("v2", 0), ahead=False) == ("t2", "v2")


def test_slots_are_separate():
    ahead = RefreshAhead(slow_seconds=0.05)
    ahead.get(("hangzhou", "traffic"), "t1", _slow("h", 0.1))
    assert ahead.get(("shanghai", "traffic"), "t1", _slow("s", 0)) == ("t1", "s")


def test_a_failed_inline_computation_raises_and_a_failed_thread_is_tried_again():
    ahead = RefreshAhead(slow_seconds=0.05)

    def broken() -> str:
        raise RuntimeError("store gone")

    with pytest.raises(RuntimeError):
        ahead.get("a", "t1", broken)
    ahead.get("a", "t1", _slow("v1", 0.1))
    assert ahead.get("a", "t2", broken) == ("t1", "v1")  # the thread fails (logged) ...
    for _ in range(200):
        if "a" not in ahead._pending:
            break
        time.sleep(0.01)
    assert ahead.get("a", "t2", _slow("v2", 0)) == ("t1", "v1")  # ... and the next request starts another
    _wait_for(ahead, "a", "t2")


def test_nowait_answers_what_is_ready_and_computes_the_rest_in_a_thread():
    ahead = RefreshAhead(slow_seconds=0)
    release = threading.Event()
    # nothing held: nothing to answer, one thread computes
    assert ahead.get_nowait("trends", 100, _slow("at 100", 0, release=release)) is None
    assert ahead.get_nowait("trends", 100, lambda: pytest.fail("a second thread")) is None
    release.set()
    for _ in range(200):
        if ahead.get_nowait("trends", 100, lambda: pytest.fail("recomputed")) is not None:
            break
        time.sleep(0.01)
    assert ahead.get_nowait("trends", 100, lambda: pytest.fail("recomputed")) == "at 100"
    # a close token may stand in while its own values are computed; a distant one may not
    near = lambda held: abs(held - 160) <= 60  # noqa: E731
    assert ahead.get_nowait("trends", 160, _slow("at 160", 0.05), accept=near) == "at 100"
    assert ahead.get_nowait("trends", 9_000, _slow("at 9000", 0), accept=lambda held: abs(held - 9_000) <= 60) is None


def test_a_request_for_the_values_under_way_waits_for_them_rather_than_computing_them_again():
    ahead = RefreshAhead(slow_seconds=0.0)
    calls, gate, got = [], threading.Event(), []

    def slow():
        calls.append("thread")
        gate.wait(10)
        return "v1"

    assert ahead.get_nowait("a", "t1", slow) is None  # nothing held: a thread computes t1
    waiter = threading.Thread(target=lambda: got.append(ahead.get("a", "t1", lambda: calls.append("inline"))))
    waiter.start()
    time.sleep(0.3)
    assert got == []  # it waits for the thread's values
    gate.set()
    waiter.join(10)
    assert got == [("t1", "v1")] and calls == ["thread"]
