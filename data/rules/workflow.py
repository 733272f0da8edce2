"""The incident workflow as a plain state machine: which action moves which state, and who may act.

new → acknowledged → dispatched → on_scene → resolved → closed, with reopen back to acknowledged.
An incident's state at any moment follows from its timestamps (`status_at`), so the store keeps
timestamps, not a status column, and history mode shows incidents as they stood then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATES = ("new", "acknowledged", "dispatched", "on_scene", "resolved", "closed")
OPEN_STATES = STATES[:4]  # someone still has to act in the field
ROLES = ("viewer", "operator", "supervisor", "admin")

# The timestamp whose presence means the incident has reached that state (none for "new").
STATE_TIMESTAMP = {
    "acknowledged": "acknowledged_at",
    "dispatched": "dispatched_at",
    "on_scene": "on_scene_at",
    "resolved": "resolved_at",
    "closed": "closed_at",
}

RESOLUTION_CODES = ("cleared", "towed", "repaired", "referred", "no_action_needed", "false_alarm", "duplicate")


@dataclass(frozen=True)
class Action:
    name: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: the state does not change (a note)
    role: str  # the lowest role allowed
    requires: tuple[str, ...] = ()
    supervisor_from: tuple[str, ...] = ()  # from these states, the action needs a supervisor


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("acknowledge", ("new",), "acknowledged", "operator"),
        Action("dispatch", ("acknowledged",), "dispatched", "operator", requires=("unit",)),
        Action("arrive", ("dispatched",), "on_scene", "operator"),
        Action("resolve", ("acknowledged", "dispatched", "on_scene"), "resolved", "operator", ("resolution_code",)),
        Action("close", ("resolved",), "closed", "operator"),
        Action("reopen", ("resolved", "closed"), "acknowledged", "operator", supervisor_from=("closed",)),
        Action("note", STATES, None, "operator", requires=("note",)),
        # An operator takes a simulated crew's open incident (practice): its state stays, its crew changes.
        Action("take_over", OPEN_STATES, None, "operator"),
    )
}
CREW_ACTIONS = ("note", "take_over")  # what an incident a simulated crew handles accepts


class WorkflowError(Exception):
    """An action that cannot be applied; `code` is one of forbidden, invalid_transition, missing_field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def role_at_least(role: str | None, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def status_at(times: Mapping[str, Any], at: int) -> str:
    """The state reached by `at`: the latest state whose timestamp is set and not after `at`."""
    for state in reversed(STATES[1:]):
        value = times.get(STATE_TIMESTAMP[state])
        if value is not None and value == value and value <= at:  # value == value: not NaN
            return state
    return "new"


@dataclass(frozen=True)
class Change:
    """What an allowed action does to the record: columns to set (None clears) and the new state."""

    action: str
    from_state: str
    to_state: str
    values: dict[str, Any] = field(default_factory=dict)


def take_over_values(row: Mapping[str, Any], now: int) -> dict[str, Any]:
    """A simulated incident comes with its crew's future pre-drawn (dispatch, arrival, resolution,
    close): taking it over drops the steps not reached by `now`, so only operators move it on."""
    future = {col: None for col in STATE_TIMESTAMP.values() if (v := row.get(col)) is not None and v == v and v > now}
    if "resolved_at" in future:
        future["resolution_code"] = None
    if "dispatched_at" in future:
        future["unit"] = None
    return {"crew": "operator", **future}


def plan(action: str, state: str, role: str | None, now: int, params: Mapping[str, Any] | None = None) -> Change:
    """Check an action against the state machine and the role; return the change to store."""
    params = params or {}
    spec = ACTIONS.get(action)
    if spec is None:
        raise WorkflowError("invalid_transition", f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    needed = "supervisor" if state in spec.supervisor_from else spec.role
    if not role_at_least(role, needed):
        raise WorkflowError("forbidden", f"{action} from {state} needs the {needed} role")
    if state not in spec.from_states:
        raise WorkflowError("invalid_transition", f"cannot {action} an incident that is {state}")
    for name in spec.requires:
        if not str(params.get(name) or "").strip():
            raise WorkflowError("missing_field", f"{action} needs {name}")
    if action == "resolve" and params["resolution_code"] not in RESOLUTION_CODES:
        raise WorkflowError("missing_field", f"unknown resolution code; use one of {', '.join(RESOLUTION_CODES)}")
    values: dict[str, Any] = {}
    if spec.to_state is not None and action != "reopen":
        values[STATE_TIMESTAMP[spec.to_state]] = now
    if action == "dispatch":
        values["unit"] = str(params["unit"]).strip()[:80]
    elif action == "resolve":
        values["resolution_code"] = params["resolution_code"]
    elif action == "reopen":
        # Back to acknowledged: the field work starts again; the audit log keeps what was before.
        values |= dict.fromkeys(("dispatched_at", "on_scene_at", "resolved_at", "closed_at"))
        values |= {"unit": None, "resolution_code": None}
    return Change(action, state, spec.to_state or state, values)
