"""Practice on simulated incidents: an operator takes over a simulated crew's open incident (audited);
the crew's pre-drawn future steps are dropped, so the simulator no longer moves it; other rules stay."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from sqlalchemy import text

from data import store, workflow
from data.geo.cities import CITIES
from data.geo.geography import district_lookup
from data.rules import workflow as rules
from tests.conftest import signed_in_client
from tests.test_incidents import act


def test_take_over_values_drop_only_the_steps_not_reached():
    row = {"acknowledged_at": 100, "dispatched_at": 200, "on_scene_at": 300, "resolved_at": 400, "closed_at": 400}
    assert rules.take_over_values(row, 250) == {
        "crew": "operator", "on_scene_at": None, "resolved_at": None, "closed_at": None, "resolution_code": None,
    }  # fmt: skip
    assert rules.take_over_values(row, 50)["dispatched_at"] is None and "unit" in rules.take_over_values(row, 50)
    assert rules.take_over_values({"acknowledged_at": float("nan")}, 50) == {"crew": "operator"}  # NaN: not set
    assert rules.plan("take_over", "dispatched", "operator", 1).to_state == "dispatched"
    with pytest.raises(rules.WorkflowError):
        rules.plan("take_over", "resolved", "operator", 1)  # nothing left to practise on
    with pytest.raises(rules.WorkflowError):
        rules.plan("take_over", "new", "viewer", 1)


def _simulated_open(now: int, reached: str) -> dict:
    """A new simulated Hangzhou incident, open at `now`, whose crew has reached `reached` with steps to come.

    Written here, not picked from the simulator's rows: how many crews are at a given step at the moment
    the test runs depends on the time of day (at 22:42 Beijing time CI found none acknowledged)."""
    steps = ("reported_at", "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")
    done = {"new": 1, "acknowledged": 2, "dispatched": 3}[reached]
    times = {step: now - 60 * (done - i) if i < done else now + 600 * (i - done + 1) for i, step in enumerate(steps)}
    ref = f"sim-test-take-over-{uuid.uuid4().hex}"
    columns = ("ref", "city", "kind", "severity", "lon", "lat", "district", "source", "simulated", *steps, "closed_at")
    district = district_lookup(CITIES["hangzhou"])(np.array([120.16]), np.array([30.27]))[0]
    values = (ref, "hangzhou", "accident", 2, 120.16, 30.27, district, "simulator", True, *times.values())
    store.insert_incidents_once(store.get_engine(), "hangzhou", columns, [(*values, times["resolved_at"])])
    with store.get_engine().connect() as conn:
        incident_id = conn.execute(text("SELECT id FROM incident WHERE ref = :ref"), {"ref": ref}).scalar_one()
    row = workflow.incident(incident_id, now)
    assert (row["status"], row["crew"]) == (reached, "simulated"), row
    return row


def test_an_operator_takes_over_and_the_crew_stops(dash_app, client):
    now = int(time.time())
    row = _simulated_open(now, "acknowledged")
    assert row["dispatched_at"] > now and row["closed_at"] > now  # the crew's future, pre-drawn
    viewer = signed_in_client(dash_app, "viewer")
    assert act(viewer, row["id"], "take_over", row["version"]).status_code == 403
    assert act(client, row["id"], "take_over", row["version"] - 1).status_code == 409  # stale view
    answer = act(client, row["id"], "take_over", row["version"])
    assert answer.status_code == 200, answer.get_json()
    taken = answer.get_json()["incident"]
    assert taken["crew"] == "operator" and taken["status"] == "acknowledged" and taken["simulated"] is True
    assert taken["dispatched_at"] is None and taken["resolved_at"] is None and taken["closed_at"] is None
    assert taken["acknowledged_at"] == row["acknowledged_at"]  # what happened stays
    later = workflow.incident(row["id"], now + 7 * 86400)
    assert later["status"] == "acknowledged"  # a week on, nobody but operators has moved it
    entry = workflow.history(row["id"])[-1]
    assert (entry["action"], entry["actor"]) == ("take_over", "operator")
    again = act(client, row["id"], "take_over", taken["version"])
    assert again.status_code == 409 and again.get_json()["error"] == "not_simulated"
    # From here the ordinary workflow, with its ordinary rules.
    assert act(client, row["id"], "resolve", taken["version"]).status_code == 422  # needs a resolution code
    unit = workflow.units("hangzhou")[0].code
    assert act(client, row["id"], "dispatch", taken["version"], unit=unit).status_code == 200
    assert workflow.incident(row["id"])["status"] == "dispatched"


def test_a_simulated_incident_offers_take_over_and_notes_only(dash_app):
    from data.users import User

    now = int(time.time())
    row = _simulated_open(now, "acknowledged")
    operator, viewer = User("operator", "operator"), User("viewer", "viewer")
    assert workflow.allowed_actions(row, operator, now) == {"take_over", "note"}
    assert workflow.allowed_actions(row, viewer, now) == set()
    assert act_refused(row, "resolve") == "simulated_crew"
    taken = workflow.act(row["id"], "take_over", row["version"], operator, now=now)
    assert workflow.allowed_actions(taken, operator, now) == {"dispatch", "resolve", "note"}


def act_refused(row: dict, action: str) -> str:
    from data.users import User

    with pytest.raises(workflow.ActionError) as refused:
        workflow.act(row["id"], action, row["version"], User("operator", "operator"))
    return refused.value.code


def test_take_over_through_the_incidents_page_callback(dash_app, client):
    from pages.incidents import ACTIONS

    row = _simulated_open(int(time.time()), "acknowledged")
    body = {
        "output": "",
        "outputs": [{"id": "inc-act-msg", "property": "children"}, {"id": "inc-act-done", "property": "data"},
                    {"id": "inc-act-text", "property": "value"}],
        "inputs": [{"id": f"inc-act-{a}", "property": "n_clicks", "value": int(a == "take_over")} for a in ACTIONS],
        "state": [{"id": "inc-selected", "property": "data", "value": {"id": row["id"], "version": row["version"]}},
                  {"id": "inc-act-unit", "property": "value", "value": None},
                  {"id": "inc-act-code", "property": "value", "value": None},
                  {"id": "inc-act-text", "property": "value", "value": ""}],
        "changedPropIds": ["inc-act-take_over.n_clicks"],
    }  # fmt: skip
    deps = client.get("/_dash-dependencies").get_json()
    body["output"] = next(d["output"] for d in deps if d["output"].startswith("..inc-act-msg"))
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert "Take over (practice)" in answer.get_data(as_text=True)
    assert workflow.incident(row["id"])["crew"] == "operator"
    assert signed_in_client(dash_app, "viewer").post("/_dash-update-component", json=body).status_code == 403
