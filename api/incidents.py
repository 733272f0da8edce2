"""Incident API for other systems: list incidents, act on one, export the audit log.

    GET  /api/v1/incidents?city=&status=&kind=&severity=&district=&max_age_s=&include_closed=1
    GET  /api/v1/incidents/<id>
    POST /api/v1/incidents/<id>/actions   {"action": ..., "version": n, "unit"|"resolution_code"|"note": ...}
    GET  /api/v1/units?city=&kind=
    GET  /api/v1/audit.csv?since=&until=  (supervisors)

The sign-in gate (auth) has already answered 401 to a request without a session or a valid
`Authorization: Bearer` token; roles are checked here and in data/workflow.py.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from api.errors import domain_error_response, error_response
from data import access, workflow
from data.geo.cities import UnknownCityError, get_city
from data.rules.clock import CST
from data.rules.workflow import STATES

blueprint = Blueprint("incidents_api", __name__, url_prefix="/api/v1")


MAX_ID = 2**63 - 1  # the store's integer; a larger id names no incident
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading apostrophe."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _valid_text(params: dict[str, str]) -> bool:
    try:
        "".join(params.values()).encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate: the store cannot write it
        return False


def _filters(rows: list[dict[str, Any]], args: Any, now: int) -> list[dict[str, Any]]:
    def many(name: str) -> set[str] | None:
        values = {v for raw in args.getlist(name) for v in raw.split(",") if v}
        return values or None

    statuses, kinds, districts, severities = many("status"), many("kind"), many("district"), many("severity")
    if statuses and not statuses <= set(STATES):
        raise ValueError(f"status must be among {', '.join(STATES)}")
    if severities and not severities <= {"1", "2", "3", "4"}:
        raise ValueError("severity must be 1..4")
    max_age = args.get("max_age_s", type=int)
    return [
        r
        for r in rows
        if (not statuses or r["status"] in statuses)
        and (not kinds or r["kind"] in kinds)
        and (not districts or r["district"] in districts)
        and (not severities or str(r["severity"]) in severities)
        and (max_age is None or now - r["reported_at"] <= max_age)
    ]


@blueprint.get("/incidents")
def list_incidents():
    now = int(time.time())
    try:
        city = get_city(request.args["city"]).key if request.args.get("city") else None
        rows = access.incident_queue(city, now, include_closed=request.args.get("include_closed") == "1")
        rows = _filters(rows, request.args, now)
    except (UnknownCityError, ValueError) as exc:
        return error_response(400, "bad_request", str(exc))
    limit = min(max(request.args.get("limit", 1000, type=int), 1), 10_000)
    shown = [r | {"sla_left_s": None if r["due_at"] is None else int(r["due_at"] - now)} for r in rows[:limit]]
    return jsonify({"at": now, "count": len(rows), "incidents": shown})


@blueprint.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int):
    user = g.get("user")
    if user is None or not user.can("operator"):  # as in the UI: the detail panel is for those who act
        return error_response(403, "forbidden", "an incident's notes and history are for operators")
    row = workflow.incident(incident_id) if incident_id <= MAX_ID else None
    if row is None:
        return error_response(404, "not_found", f"no incident {incident_id}")
    return jsonify(row | {"history": workflow.history(incident_id)})


@blueprint.post("/incidents/<int:incident_id>/actions")
def post_action(incident_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        return error_response(400, "bad_request", 'send JSON {"action": ..., "version": n, ...}')
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        return error_response(400, "bad_request", "version must be an integer")
    params = {k: body[k] for k in ("unit", "resolution_code", "note") if isinstance(body.get(k), str)}
    if not _valid_text(params):
        return error_response(400, "bad_request", "text must be valid Unicode")
    if incident_id > MAX_ID:
        return error_response(404, "not_found", "no such incident")
    try:
        incident = workflow.act(incident_id, body["action"], version, g.get("user"), params)
    except workflow.ActionError as exc:
        return domain_error_response(exc)
    return jsonify({"incident": incident})


@blueprint.get("/units")
def list_units():
    try:
        return jsonify(workflow.unit_choices(request.args.get("city", ""), request.args.get("kind", "")))
    except UnknownCityError as exc:
        return error_response(400, "bad_request", str(exc))


AUDIT_COLUMNS = ("id", "at", "actor", "entity", "entity_id", "action", "before", "after", "note")


@blueprint.get("/audit.csv")
def audit_csv():
    user = g.get("user")
    if user is None or not user.can("supervisor"):
        return error_response(403, "forbidden", "the audit log is for supervisors")
    now = int(time.time())
    since = request.args.get("since", now - 7 * 86400, type=int)
    until = request.args.get("until", now, type=int)
    if not (0 <= since <= MAX_ID and 0 <= until <= MAX_ID):
        return error_response(400, "bad_request", "since and until are epoch seconds")
    out = io.StringIO()
    writer = csv.DictWriter(out, AUDIT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for entry in reversed(access.audit_log(since, until)):
        cst = time.gmtime(entry["at"] + CST)  # China Standard Time, written with its offset
        writer.writerow({k: _cell(v) for k, v in entry.items()} | {"at": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", cst)})
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the Chinese correctly
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=audit-{since}-{until}.csv"},
    )
