"""Backtest on a fixed stored history: each served model beats the better naive baseline on held-back
days it never saw, and the same check fails when the model is replaced by persistence.

The history is the simulator's (deterministic in city, sensor and time) for a fixed `now`, a
Thursday 15:00 CST, in a store of its own: Hangzhou's 7 days.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cli import forecast as cli
from data import store
from data.forecast import backtest as bt
from data.forecast import model as fm
from data.forecast import series

NOW = 1795676400  # Thursday 2026-11-26 15:00 CST
CITY = "hangzhou"
MUST_SERVE = ("parking", "traffic")  # on this history; air quality may lose to persistence


@pytest.fixture(scope="module", autouse=True)
def one_core():
    """Fits on one core, as the background job does (OpenMP threads on a shared machine only spin)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from data.sim import simulate  # the test builds the history; the forecast code never sees the simulator

    url = f"sqlite:///{tmp_path_factory.mktemp('forecast') / 'history.sqlite'}"
    engine = store.get_engine(url)
    simulate.prepare(engine, now=NOW, progress=lambda _m: None, first_city=CITY, full=False)
    return engine


@pytest.fixture(scope="module")
def panels(engine):
    out = {}
    for layer in series.LAYER_SPECS:
        oldest, newest = store.observation_bucket_range(engine, layer, CITY)
        out[layer] = series.load(engine, layer, CITY, oldest, newest)
    return out


def check_served_models_beat_baselines(scores: dict[str, bt.Score]) -> None:
    for layer in MUST_SERVE:
        assert scores[layer].served, scores[layer]
    for score in scores.values():
        if score.served:
            best = min(v for v in score.baselines.values() if not math.isnan(v))
            assert score.mae < best, score
            assert score.skill > 0 and score.fold_skill[0] > 0, score


class NoChange:
    """Persistence as a regressor: the forecast change from the origin's observation is always 0."""

    def fit(self, x, y):
        return self

    def predict(self, x):
        return np.zeros(len(x))


def test_served_models_beat_the_better_baseline_on_held_back_days(panels, monkeypatch):
    newest_target: list[int] = []
    fit = fm.fit

    def recording_fit(panel, rows, regressor=None):
        newest_target.append(int((rows.origin + rows.horizon).max()))
        return fit(panel, rows, regressor)

    monkeypatch.setattr(fm, "fit", recording_fit)
    scores = {layer: bt.backtest(panel).score for layer, panel in panels.items()}
    check_served_models_beat_baselines(scores)
    # every fit saw only targets observed by its fold's first held-back origin
    folds = [f for layer, p in panels.items() for f in bt.fold_origins(p, series.LAYER_SPECS[layer].horizons, 2)]
    assert len(newest_target) == len(folds)
    assert all(newest <= int(f[0]) for newest, f in zip(newest_target, folds, strict=True))
    for layer in MUST_SERVE:
        assert scores[layer].n > 10_000 and 0.6 < scores[layer].coverage < 0.95, scores[layer]
    aq = scores["air_quality"]
    assert 0 <= aq.hit_rate <= 1 and aq.n > 1000


def test_the_check_fails_when_the_model_is_persistence(panels, monkeypatch):
    monkeypatch.setattr(fm, "regressor_for", lambda layer: NoChange)
    scores = {layer: bt.backtest(panel).score for layer, panel in panels.items()}
    assert all(s.skill <= 1e-12 and not s.served for s in scores.values()), scores
    with pytest.raises(AssertionError):
        check_served_models_beat_baselines(scores)


def test_cli_prints_the_table(engine, monkeypatch, capsys):
    monkeypatch.setattr(store, "get_engine", lambda url=None: engine)
    assert cli.main(["backtest", "--city", CITY, "--layer", "air_quality"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:4] == ["layer", "city", "model", "MAE"]
    row = out[2].split()
    assert row[:3] == ["air_quality", CITY, "ridge-h-1"] and ("served" in out[2] or "baseline better" in out[2])
    with pytest.raises(SystemExit):
        cli.main(["backtest", "--city", "atlantis"])


# --- fitted, stored and served through the cached data layer ------------------------------------------


@pytest.fixture(scope="module")
def served(engine):
    """Parking and air quality fitted on the fixed history and stored, read through data/access.py."""
    from flask import Flask

    from data import access
    from data.config import load_settings
    from data.forecast import run

    fits = {layer: run.fit_layer(engine, CITY, layer, now=NOW) for layer in ("parking", "air_quality")}
    server = Flask("forecast-test")
    access.cache.init_app(server, config=access.cache_config(load_settings()))
    with pytest.MonkeyPatch.context() as patch, server.app_context():
        patch.setattr(access, "_engine", lambda: engine)
        yield fits, access


def test_a_fit_is_stored_with_version_time_and_its_forecasts_are_served(served, engine):
    from data.store import forecasts as fstore

    fits, access = served
    fit = fits["parking"]
    assert fit["served"] and fit["model"] == "hgb-1" and fit["fitted_at"] == NOW and fit["train_rows"] > 10_000
    newest = store.observation_bucket_range(engine, "parking", CITY)[1]
    assert fit["history_to"] == newest and newest - fit["history_from"] >= 6 * 86400
    lots = store.sensors(engine, "parking", CITY)
    for ahead in (1, 4):  # +15 and +60 minutes after the newest observation
        step = access.forecast_values(CITY, "parking", newest + ahead * store.BUCKET_SECONDS)
        assert step["served"] and step["model"] == "hgb-1" and step["origin"] == newest
        assert len(step["value"]) == len(lots) and step["n"] == len(lots)
        for value, low, high, capacity in zip(step["value"], step["low"], step["high"], lots["capacity"], strict=True):
            assert 0 <= low <= value <= high <= capacity
    assert access.forecast_horizon(CITY)["parking"] == newest + 4 * store.BUCKET_SECONDS
    # nothing beyond the horizon, and an unknown layer is refused
    beyond = access.forecast_values(CITY, "parking", newest + 5 * store.BUCKET_SECONDS)
    assert beyond["n"] == 0 and all(v is None for v in beyond["value"])
    with pytest.raises(ValueError):
        access.forecast_values(CITY, "incidents", newest)
    # the next-hour forecasts of a few lots are tracked
    tracked = fstore.tracked_sensors(engine, CITY, "parking")
    assert len(tracked) == 20 and tracked == sorted(lots["id"].head(20).tolist())


def test_a_layer_that_loses_to_its_baseline_serves_no_forecast(served, engine):
    fits, access = served
    aq = fits["air_quality"]
    newest = store.observation_bucket_range(engine, "air_quality", CITY)[1]
    step = access.forecast_values(CITY, "air_quality", newest + 3600)
    if aq["served"]:  # this history decides; either way what is served follows the verdict
        assert step["served"] and step["n"] == len(store.sensors(engine, "air_quality", CITY))
        assert all(p in (None, "pm25", "pm10", "o3", "no2", "so2", "co") for p in step["primary"])
    else:
        assert not step["served"] and step["reason"] == "baseline better" and step["n"] == 0
    quality = access.model_quality(NOW - 3600)
    assert {(f["city"], f["layer"]) for f in quality["latest"]} >= {(CITY, "parking"), (CITY, "air_quality")}


def test_the_job_skips_a_city_with_too_little_history_and_can_be_switched_off(engine, monkeypatch, caplog):
    from data.config import load_settings
    from data.jobs import forecasting

    monkeypatch.setattr(forecasting, "CITIES", {"beijing": None})  # 26 hours stored: not two days
    beats = []
    with caplog.at_level("INFO", logger=forecasting.__name__):
        assert forecasting.fit_all(engine, now=NOW, beat=lambda: beats.append(1)) == []
    assert len(beats) == 3 and caplog.text.count("too little history") == 3
    monkeypatch.setenv("FORECASTS", "0")
    assert forecasting.start(load_settings()) is False
