"""The live view each worker serves (data/live_now.py): computed once per refresh interval and feed
revision by one thread, the view held standing in meanwhile, never one older than LAG_INTERVALS."""

from __future__ import annotations

import threading
import time

from data import access, live_now, store
from data.config import load_settings
from data.rules.clock import local_label
from tests.test_background_jobs import _wait
from tests.written import written_text

CITY = "xiongan"  # the smallest city: its views compute quickly


def _bump(layer: str) -> int:
    with store.get_engine().begin() as conn:
        store.bump_feed(conn, CITY, layer, None)
    return access.revisions(CITY)[layer]


def test_a_new_revision_is_computed_by_one_thread_while_the_view_held_answers(dash_app, monkeypatch):
    live_now.clear()
    first = live_now.view(CITY)
    assert first.kpis and first.alerts is not None and first.at <= time.time()
    real, started, gate = access.current_values, threading.Event(), threading.Event()

    def held_back(*args):
        started.set()
        gate.wait(30)
        return real(*args)

    monkeypatch.setattr(access, "current_values", held_back)
    revision = _bump("traffic")
    asked = time.perf_counter()
    stood_in = live_now.view(CITY)
    assert time.perf_counter() - asked < 5  # the request did not wait for the computation
    assert started.wait(10)  # one thread computes the new revision's view
    assert stood_in.rev["traffic"] == revision - 1  # the held view answered, as it was
    gate.set()
    fresh = _wait(lambda: (v := live_now.view(CITY)).rev["traffic"] == revision and v, 15)
    assert fresh.values["traffic"]["n"] == first.values["traffic"]["n"]


def test_a_view_older_than_the_lag_allowed_is_not_served(dash_app):
    live_now.clear()
    live_now.view(CITY)
    refresh = load_settings().refresh_seconds
    later = time.time() + (live_now.LAG_INTERVALS + 1) * refresh
    computed = live_now.view(CITY, now=later)  # nothing held close enough: computed for that instant
    assert computed.at == int(later) // refresh * refresh


def test_the_watcher_computes_a_watched_city_after_a_write_with_no_request(dash_app):
    live_now.clear()
    live_now.view(CITY)  # a browser asked: the city is watched
    revision = _bump("parking")
    _wait(lambda: (v := live_now.held(CITY)) is not None and v.rev["parking"] == revision, 15)


def test_the_live_map_answer_names_the_instant_of_the_values_it_shows(dash_app):
    from pages import command_centre as cc

    live_now.clear()
    with dash_app.server.test_request_context():
        payload, label = cc.refresh_map(1, "live", 0, CITY)
    refresh = load_settings().refresh_seconds
    assert payload["at"] % refresh == 0 and time.time() - payload["at"] < (live_now.LAG_INTERVALS + 1) * refresh
    # the label says when the values are from, not when asked
    assert local_label(payload["at"]) in written_text(label)


def test_a_pages_first_values_do_not_keep_a_city_computed(dash_app):
    slot = live_now._slot("guangzhou")
    live_now.view("guangzhou", watch=False)  # a page opened (and maybe left at once)
    assert slot not in live_now._watcher._seen
    live_now.view("guangzhou")  # its first refresh
    assert slot in live_now._watcher._seen


def test_a_view_computed_in_the_background_is_held_with_its_kpis_and_alerts(dash_app, monkeypatch):
    live_now.clear()
    live_now.view(CITY)
    asked: list[str] = []
    real_kpis, real_alerts = access.kpis_from, access.alerts_from
    monkeypatch.setattr(access, "kpis_from", lambda *a: asked.append("kpis") or real_kpis(*a))
    monkeypatch.setattr(access, "alerts_from", lambda *a: asked.append("alerts") or real_alerts(*a))
    revision = _bump("air_quality")
    live_now.view(CITY)  # answered with the view held; a thread computes the new one
    fresh = _wait(lambda: (v := live_now.held(CITY)) is not None and v.rev["air_quality"] == revision and v, 15)
    assert {"kpis", "alerts"} <= set(asked)  # computed by that thread, before the view was held
    before = len(asked)
    _ = fresh.kpis, fresh.alerts  # the next page opened reads them without computing
    assert len(asked) == before


def test_a_pages_first_values_take_the_view_held_and_start_no_computation(dash_app, monkeypatch):
    live_now.clear()  # (no city is watched: tests/conftest.py unwatches before each test)
    first = live_now.view(CITY, watch=False)
    computed: list[int] = []
    real = access.current_values
    monkeypatch.setattr(access, "current_values", lambda *a: computed.append(1) or real(*a))
    _bump("parking")
    assert live_now.view(CITY, watch=False) is first  # held, close enough to stand in
    time.sleep(1.0)
    assert computed == [] and live_now.held(CITY) is first


def test_warming_computes_the_default_citys_view_with_its_panels_and_survives_a_failure(dash_app, monkeypatch):
    from data.geo.cities import get_city

    live_now.clear()
    live_now.warm()
    warmed = live_now.held(get_city(None).key)
    assert warmed is not None and {"kpis", "alerts"} <= set(warmed._parts)  # the panels are computed too

    def unreachable(*_args):
        raise OSError("store not reachable")

    monkeypatch.setattr(access, "current_values", unreachable)
    live_now.clear()
    live_now.warm(CITY)  # a warning, no exception: the first request computes the view
    assert live_now.held(CITY) is None
