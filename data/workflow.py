"""Operator actions on incidents: the state machine applied to the store, with versions and audit.

Pages and the HTTP API call `act`; it checks the role and the move (data/rules/workflow.py),
writes with an optimistic version check and appends to the audit log in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from data import store
from data.config import load_settings
from data.errors import DomainError
from data.geo.cities import get_city
from data.rules import workflow as rules
from data.store import operations as ops_store
from data.users import User

# Simulated unit roster per city (the report names the agencies, not their units): unit prefix,
# agency (en, zh), how many, and the incident kinds it handles.
UNIT_TYPES: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    ("TP", "Traffic police", "交警", 12, ("traffic_accident", "abnormal_congestion", "vehicle_breakdown")),
    ("CM", "City management", "城管", 8, ("illegal_parking", "parking_full", "road_obstruction")),
    ("RM", "Road maintenance", "路政", 6, ("road_obstruction", "manhole_cover", "vehicle_breakdown")),
    ("EP", "Environmental inspection", "环境监察", 4, ("pollution_exceedance",)),
    ("GS", "Gas emergency", "燃气抢修", 3, ("gas_sensor",)),
    ("IT", "Sensor maintenance", "设备运维", 3, ("sensor_offline",)),
)


UNIT_PREFIX = {"hangzhou": "HZ", "shanghai": "SH", "beijing": "BJ", "guangzhou": "GZ", "shenzhen": "SZ",
               "xiongan": "XA"}  # fmt: skip


@dataclass(frozen=True)
class Unit:
    code: str
    agency_en: str
    agency_zh: str
    kinds: tuple[str, ...]


def units(city: str) -> list[Unit]:
    key = get_city(city).key
    prefix = UNIT_PREFIX.get(key, key[:2].upper())
    return [
        Unit(f"{prefix}-{code}-{n:02d}", en, zh, kinds)
        for code, en, zh, count, kinds in UNIT_TYPES
        for n in range(1, count + 1)
    ]


def unit_choices(city: str, kind: str, at: int | None = None) -> list[dict[str, Any]]:
    """Units for an incident of `kind`: suited ones first, each marked busy if on an open incident."""
    at = int(at or time.time())
    engine = store.get_engine(load_settings().database_url)
    open_rows = ops_store.incident_rows(engine, get_city(city).key, at, at)
    busy = set(open_rows.loc[open_rows["resolved_at"].isna() & open_rows["unit"].notna(), "unit"])
    found = units(city)
    found.sort(key=lambda u: (kind not in u.kinds, u.code in busy, u.code))
    return [{"code": u.code, "en": u.agency_en, "zh": u.agency_zh, "suited": kind in u.kinds, "busy": u.code in busy}
            for u in found]  # fmt: skip


class ActionError(DomainError):
    """An incident action refused (kind: invalid, forbidden, not_found, conflict or unprocessable)."""


def state_of(row: dict[str, Any], at: int | None = None) -> str:
    return rules.status_at(row, int(at or time.time()))


def act(incident_id: int, action: str, version: int | None, user: User | None, params: dict[str, Any] | None = None,
        now: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Apply one action as `user`; returns the stored incident after it. Raises ActionError."""
    now = int(now or time.time())
    params = params or {}
    engine = store.get_engine(load_settings().database_url)
    row = ops_store.get_incident(engine, incident_id)
    if row is None:
        raise ActionError("not_found", "not_found", f"no incident {incident_id}")
    state = rules.status_at(row, now)
    spec = rules.ACTIONS.get(action)
    if spec is None:  # a request naming no action is malformed, whatever the incident's state
        raise ActionError("invalid", "unknown_action", f"unknown action; one of {', '.join(rules.ACTIONS)}")
    if not rules.role_at_least(user.role if user else None, spec.role):
        raise ActionError("forbidden", "forbidden", f"{action} needs the {spec.role} role", _public(row, now))
    if action == "dispatch" and str(params.get("unit") or "").strip() not in {u.code for u in units(row["city"])}:
        raise ActionError(
            "unprocessable", "unknown_unit", f"no unit {str(params.get('unit'))[:40]!r} on {row['city']}'s roster"
        )
    if row["crew"] != "operator" and action not in rules.CREW_ACTIONS:
        raise ActionError(
            "conflict", "simulated_crew", "a simulated crew handles this incident: take it over first, or add a note"
        )
    if row["crew"] == "operator" and action == "take_over":
        raise ActionError("conflict", "not_simulated", "operators already handle this incident", _public(row, now))
    # Order of refusals: the role first, then a stale version (the caller's view is out of date,
    # whatever else is wrong with the request), then the move itself.
    try:
        change, refused = rules.plan(action, state, user.role if user else None, now, params), None
    except rules.WorkflowError as exc:
        if exc.code == "forbidden":
            raise ActionError("forbidden", exc.code, str(exc), _public(row, now)) from None
        change, refused = None, exc
    if action != "note" and (version is None or int(version) != row["version"]):
        raise ActionError("conflict", "stale_version", _stale_message(row, now), _public(row, now))
    if refused is not None or change is None:
        kind = "conflict" if refused.code == "invalid_transition" else "unprocessable"
        raise ActionError(kind, refused.code, str(refused), _public(row, now))
    if action == "take_over":
        change = replace(change, values=rules.take_over_values(row, now))
    try:
        stored = ops_store.apply_incident_change(
            engine, incident_id, version, change.values, user.name, action, now, change.from_state, change.to_state,
            note=str(params.get("note") or "")[:2000],
        )  # fmt: skip
    except ops_store.StaleVersion as exc:
        raise ActionError(
            "conflict", "stale_version", _stale_message(exc.current, now), _public(exc.current, now)
        ) from None
    return _public(stored, now)


def _stale_message(row: dict[str, Any] | None, now: int) -> str:
    if row is None:
        return "the incident changed"
    return (
        f"Incident {row['id']} was changed by someone else (now version {row['version']}, "
        f"{rules.status_at(row, now)}); review it and try again."
    )


def _public(row: dict[str, Any] | None, now: int) -> dict[str, Any] | None:
    """The incident as the API and pages show it: stored columns plus its current status."""
    if row is None:
        return None
    return {k: (bool(v) if k == "simulated" else v) for k, v in row.items()} | {"status": rules.status_at(row, now)}


def history(incident_id: int) -> list[dict[str, Any]]:
    """The audit entries of one incident, oldest first."""
    engine = store.get_engine(load_settings().database_url)
    frame = ops_store.audit_entries(engine, None, None, "incident", str(incident_id))
    return frame.sort_values("id").to_dict("records") if len(frame) else []


def incident(incident_id: int, at: int | None = None) -> dict[str, Any] | None:
    """One incident with its current status, or None."""
    engine = store.get_engine(load_settings().database_url)
    return _public(ops_store.get_incident(engine, incident_id), int(at or time.time()))


def allowed_actions(row: dict[str, Any], user: User | None, at: int | None = None) -> set[str]:
    """The actions `user` may take on the incident now (what the page enables; `act` checks again)."""
    state = rules.status_at(row, int(at or time.time()))
    found = set()
    for name, spec in rules.ACTIONS.items():
        if (row.get("crew") == "operator") == (name == "take_over") and name != "note":
            continue  # a simulated crew's incident: notes or take over; an operator's: all but take over
        needed = "supervisor" if state in spec.supervisor_from else spec.role
        if state in spec.from_states and user is not None and user.can(needed):
            found.add(name)
    return found
