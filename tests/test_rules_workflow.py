"""The incident state machine and SLA rules: every allowed and forbidden move, roles, deadlines."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from data.config import load_settings
from data.rules import sla
from data.rules import workflow as wf

NOW = 1_800_000_000
# The moves the issue asks for (from → action → to); everything else must be refused.
ALLOWED = {
    ("new", "acknowledge"): "acknowledged",
    ("acknowledged", "dispatch"): "dispatched",
    ("dispatched", "arrive"): "on_scene",
    ("acknowledged", "resolve"): "resolved",
    ("dispatched", "resolve"): "resolved",
    ("on_scene", "resolve"): "resolved",
    ("resolved", "close"): "closed",
    ("resolved", "reopen"): "acknowledged",
    ("closed", "reopen"): "acknowledged",
    **{(state, "note"): state for state in wf.STATES},
    **{(state, "take_over"): state for state in wf.OPEN_STATES},  # a simulated crew's incident, see test_take_over
}
PARAMS = {"unit": "HZ-TP-01", "resolution_code": "cleared", "note": "called the reporter"}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(wf.STATES, wf.ACTIONS)))
def test_every_move_for_an_admin(state, action):
    if (state, action) in ALLOWED:
        change = wf.plan(action, state, "admin", NOW, PARAMS)
        assert change.to_state == ALLOWED[(state, action)]
        assert change.from_state == state
    else:
        with pytest.raises(wf.WorkflowError) as err:
            wf.plan(action, state, "admin", NOW, PARAMS)
        assert err.value.code == "invalid_transition"


def test_state_follows_from_timestamps_of_each_move():
    times: dict = {}
    path = [("acknowledge", "acknowledged"), ("dispatch", "dispatched"), ("arrive", "on_scene"),
            ("resolve", "resolved"), ("close", "closed")]  # fmt: skip
    for step, (action, expected) in enumerate(path, start=1):
        state = wf.status_at(times, NOW + step * 10)
        change = wf.plan(action, state, "operator", NOW + step * 10, PARAMS)
        times.update(change.values)
        assert wf.status_at(times, NOW + step * 10) == expected
        assert wf.status_at(times, NOW + step * 10 - 1) != expected  # history: not yet at that moment
    assert times["unit"] == "HZ-TP-01" and times["resolution_code"] == "cleared"
    reopened = wf.plan("reopen", "closed", "supervisor", NOW + 100)
    times.update(reopened.values)
    assert wf.status_at(times, NOW + 100) == "acknowledged"
    assert times["unit"] is None and times["resolution_code"] is None


@pytest.mark.parametrize("action", [a for a in wf.ACTIONS])
def test_viewer_may_do_nothing(action):
    state = next(s for (s, a) in ALLOWED if a == action)
    with pytest.raises(wf.WorkflowError) as err:
        wf.plan(action, state, "viewer", NOW, PARAMS)
    assert err.value.code == "forbidden"


def test_no_role_and_unknown_role_are_refused():
    for role in (None, "", "root"):
        with pytest.raises(wf.WorkflowError) as err:
            wf.plan("acknowledge", "new", role, NOW)
        assert err.value.code == "forbidden"


def test_reopening_a_closed_incident_needs_a_supervisor():
    assert wf.plan("reopen", "resolved", "operator", NOW).to_state == "acknowledged"
    with pytest.raises(wf.WorkflowError) as err:
        wf.plan("reopen", "closed", "operator", NOW)
    assert err.value.code == "forbidden"
    assert wf.plan("reopen", "closed", "supervisor", NOW).to_state == "acknowledged"


@pytest.mark.parametrize(("action", "state", "missing"), [("dispatch", "acknowledged", "unit"),
                         ("resolve", "on_scene", "resolution_code"), ("note", "new", "note")])  # fmt: skip
def test_required_fields(action, state, missing):
    with pytest.raises(wf.WorkflowError) as err:
        wf.plan(action, state, "operator", NOW, {k: v for k, v in PARAMS.items() if k != missing})
    assert err.value.code == "missing_field" and missing in str(err.value)


def test_unknown_resolution_code_and_action():
    with pytest.raises(wf.WorkflowError):
        wf.plan("resolve", "on_scene", "operator", NOW, {"resolution_code": "made_up"})
    with pytest.raises(wf.WorkflowError):
        wf.plan("teleport", "new", "admin", NOW)


def test_role_order():
    assert wf.role_at_least("admin", "supervisor") and wf.role_at_least("operator", "viewer")
    assert not wf.role_at_least("operator", "supervisor") and not wf.role_at_least(None, "viewer")


# --- SLA ------------------------------------------------------------------------------------------


def test_default_targets_come_from_the_report():
    table = sla.SlaTable({})
    assert table.targets("traffic_accident", 4) == sla.Targets(60, 180)  # 60 s answer, 3 min contact
    assert table.targets("traffic_accident", 3) == sla.Targets(60, 180)
    assert table.targets("illegal_parking", 1).dispatch_s == 1800


def test_overrides_by_kind_and_severity(tmp_path, monkeypatch):
    doc = {"default": {"ack_s": 90}, "severity": {"2": {"dispatch_s": 900}},
           "kinds": {"gas_sensor": {"ack_s": 30, "severity": {"4": {"dispatch_s": 120}}}}}  # fmt: skip
    path = tmp_path / "sla.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("SLA_FILE", str(path))
    table = sla.current(load_settings().sla_file)
    assert table.targets("illegal_parking", 1) == sla.Targets(90, 1800)
    assert table.targets("illegal_parking", 2) == sla.Targets(90, 900)
    assert table.targets("gas_sensor", 4) == sla.Targets(30, 120)
    assert table.targets("gas_sensor", 3) == sla.Targets(30, 180)
    ack, dispatch = table.arrays(np.array(["gas_sensor", "illegal_parking"]), np.array([4, 2]))
    assert ack.tolist() == [30, 90] and dispatch.tolist() == [120, 900]


@pytest.mark.parametrize("bad", [[], {"default": {"ack_s": -1}}, {"kinds": {"x": {"dispatch_s": "soon"}}},
                                 {"severity": {"4": {"ack_s": True}}}])  # fmt: skip
def test_bad_sla_files_are_refused_with_where(bad):
    with pytest.raises(sla.SlaConfigError):
        sla.parse(bad)


def test_breach_is_late_or_overdue():
    reported = np.array([0.0, 0.0, 0.0, 0.0])
    done = np.array([59.0, 61.0, np.nan, np.nan])
    target = np.array([60.0, 60.0, 60.0, 600.0])
    assert sla.breached(reported, done, target, at=100).tolist() == [False, True, True, False]


def test_alert_lines_read_right_for_one_and_for_many():
    from components.alerts import SINGULAR_EN, TEMPLATES, alert_rows

    assert set(SINGULAR_EN) == set(TEMPLATES)  # every alert has its singular
    one, many = (
        alert_rows([{"key": "sla_dispatch_breach", "count": n, "detail": None, "level": "bad"}])[0] for n in (1, 3)
    )
    assert one[1:] == ["1 incident not dispatched within its SLA", "1 起事件超时未派遣"]
    assert many[1:] == ["3 incidents not dispatched within their SLA", "3 起事件超时未派遣"]
    stale = alert_rows([{"key": "stale_sensors", "count": 1, "detail": "parking", "level": "warn"}])[0]
    assert stale[1] == "1 parking sensor without recent data"
