"""Incident handling end to end: accounts, the role gate on every route and callback, the workflow
through the API, concurrent updates, the audit log, SLA breaches, alert rules and their de-duplication."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from data import access, store, users, workflow
from data.jobs import alerting
from data.rules.thresholds import Thresholds
from data.store import operations as ops_store
from tests.conftest import PASSWORD, PROJECT, signed_in_client

KEY = {"X-API-Key": "test-key-1"}
_refs = iter(range(10**6))


def new_incident(client, severity: int = 3, kind: str = "traffic_accident", age_s: int = 5) -> int:
    """A reported incident from a feed (it waits for operators); returns its id."""
    ref = f"test-{os.getpid()}-{next(_refs)}"
    row = {"ref": ref, "kind": kind, "severity": severity, "lon": 120.16, "lat": 30.27,
           "reported_at": int(time.time()) - age_s}  # fmt: skip
    answer = client.post("/api/v1/ingest/incidents", json=[row], headers=KEY)
    assert answer.status_code == 200 and answer.get_json()["accepted"] == 1, answer.get_json()
    with store.get_engine().connect() as conn:
        return conn.execute(text("SELECT id FROM incident WHERE ref = :r"), {"r": ref}).scalar_one()


def act(client, incident_id: int, action: str, version: int | None, **extra):
    return client.post(f"/api/v1/incidents/{incident_id}/actions", json={"action": action, "version": version, **extra})


# --- accounts ----------------------------------------------------------------------------------------


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.users", *args], cwd=PROJECT, input=stdin, text=True,
                          capture_output=True, env=os.environ.copy(), timeout=60)  # fmt: skip


def test_users_cli_adds_a_user_and_prints_a_working_token(prepared, anon_client):
    done = _cli("add", "dispatcher.li", "--role", "operator", stdin="a long password\n")
    assert done.returncode == 0, done.stderr
    row = ops_store.get_user(store.get_engine(), "dispatcher.li")
    assert row["role"] == "operator" and row["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert "a long password" not in row["password_hash"]
    token = _cli("token", "dispatcher.li").stdout.strip()
    assert token.startswith("cb_") and len(token) > 30
    answer = anon_client.get("/api/v1/incidents?city=hangzhou", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "incidents" in answer.get_json()
    bad = anon_client.get("/api/v1/incidents", headers={"Authorization": "Bearer cb_forged"})
    assert bad.status_code == 401 and "Bearer" in bad.headers["WWW-Authenticate"]
    assert _cli("add", "x", "--role", "operator", stdin="longenough\n").returncode == 2  # name too short
    assert _cli("add", "shorty", "--role", "operator", stdin="short\n").returncode == 2
    assert _cli("add", "someone", "--role", "root", stdin="longenough\n").returncode != 0
    assert _cli("disable", "dispatcher.li").returncode == 0
    revoked = anon_client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401  # disabling revokes the user's tokens


def test_token_use_is_marked_once_a_minute_not_on_every_request(prepared):
    engine = store.get_engine()
    users.add_user("token.user", "viewer", PASSWORD)
    token_hash, now = "ab" * 32, 1_800_000_000
    ops_store.add_token(engine, "token.user", token_hash, "tests", now)

    def last_used() -> int | None:
        with engine.connect() as conn:
            query = text("SELECT last_used_at FROM api_token WHERE token_hash = :h")
            return conn.execute(query, {"h": token_hash}).scalar_one()

    assert ops_store.user_for_token(engine, token_hash, now)["name"] == "token.user"
    assert last_used() == now  # first use marked
    assert ops_store.user_for_token(engine, token_hash, now + 59)["role"] == "viewer"
    assert last_used() == now  # within the minute: a read only
    ops_store.user_for_token(engine, token_hash, now + 60)
    assert last_used() == now + 60
    assert ops_store.user_for_token(engine, "cd" * 32, now) is None


def test_failed_logins_lock_the_name(prepared, anon_client):
    users.add_user("locked.out", "operator", PASSWORD)
    for _ in range(users.MAX_FAILURES):
        assert anon_client.post("/login", data={"name": "locked.out", "password": "guess"}).status_code == 401
    locked = anon_client.post("/login", data={"name": "locked.out", "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.get_data(as_text=True)
    assert anon_client.post("/login", data={"name": "viewer", "password": PASSWORD}).status_code == 302  # others fine


def test_sessions_expire(dash_app):
    client = signed_in_client(dash_app, "operator")
    assert client.get("/incidents").status_code == 200
    with client.session_transaction() as session:
        session["expires"] = time.time() - 1
    answer = client.get("/incidents")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_login_redirects_only_to_local_pages(anon_client):
    answer = anon_client.post("/login", data={"name": "viewer", "password": PASSWORD, "next": "https://evil.example/"})
    assert answer.headers["Location"] == "/"


def test_first_run_says_how_to_create_the_first_admin(tmp_path):
    env = os.environ | {"DATA_DIR": str(tmp_path), "SIMULATE_LIVE": "0"}
    code = ("import app, logging; c = app.server.test_client(); "
            "print('FIRST' if 'python -m cli.users setup-link' in c.get('/login').get_data(as_text=True) "
            "else 'MISSING')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert "FIRST" in done.stdout, done.stderr[-2000:]
    assert "python -m cli.users add admin --role admin" in done.stderr  # said on the console too


# --- the gate -------------------------------------------------------------------------------------------

PRIVATE_PAGES = ["/", "/incidents", "/handover", "/audit", "/data-quality", "/?city=shanghai"]
PUBLIC_PAGES = ["/pilots", "/pilots/cities", "/share", "/healthz", "/api/ogc/", "/login", "/embed/map?city=hangzhou"]


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_private_pages_ask_for_sign_in(anon_client, path):
    answer = anon_client.get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_parts_answer_without_sign_in(anon_client, path):
    assert anon_client.get(path).status_code == 200, path


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/geo/hangzhou/roads.json", "/api/v1/audit.csv",
                                  "/api/v1/units?city=hangzhou&kind=fire"])  # fmt: skip
def test_private_routes_answer_401_without_a_session(anon_client, path):
    answer = anon_client.get(path)
    assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(("role", "path", "status"), [("viewer", "/handover", 403), ("operator", "/audit", 403),
    ("supervisor", "/audit", 200), ("viewer", "/incidents", 200), ("operator", "/handover", 200)])  # fmt: skip
def test_pages_check_the_role(dash_app, role, path, status):
    assert signed_in_client(dash_app, role).get(path).status_code == status


def _outputs(spec: str) -> list | dict:
    """The `outputs` Dash's renderer sends: a list for a multi-output callback, else the one output."""
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    pairs = [p.rsplit(".", 1) for p in parts]
    outputs = [{"id": json.loads(i) if i.startswith("{") else i, "property": prop} for i, prop in pairs]
    return outputs if spec.startswith("..") else outputs[0]


def _call(client, dep: dict, pathname: str = "/"):
    # A wildcard (ALL) input is sent as the list of its matches: none here.
    inputs = [[] if '["ALL"]' in str(i["id"]) else
              {"id": i["id"], "property": i["property"], "value": pathname if i["property"] == "pathname" else None}
              for i in dep["inputs"]]  # fmt: skip
    body = {"output": dep["output"], "outputs": _outputs(dep["output"]), "inputs": inputs,
            "state": [{"id": s["id"], "property": s["property"], "value": None} for s in dep["state"]],
            "changedPropIds": []}  # fmt: skip
    return client.post("/_dash-update-component", json=body)


def test_every_server_callback_checks_the_role(dash_app, anon_client):
    deps = [d for d in anon_client.get("/_dash-dependencies").get_json() if not d.get("clientside_function")]
    viewer, operator = signed_in_client(dash_app, "viewer"), signed_in_client(dash_app, "operator")
    public_prefixes = ("pov-", "pcity-", "pcb-", "prec-", "ptech-", "sh-", "rg-", "app-")
    checked = {"public": 0, "private": 0, "operator": 0, "supervisor": 0}
    for dep in deps:
        outputs = _outputs(dep["output"])
        outputs = outputs if isinstance(outputs, list) else [outputs]
        names = [o["id"]["type"] if isinstance(o["id"], dict) else o["id"] for o in outputs]
        if "_pages_content" in names:
            continue  # the page renderer: checked per page below
        anon = _call(anon_client, dep).status_code
        if all(n.startswith(public_prefixes) for n in names):
            assert anon not in (401, 403), dep["output"]
            checked["public"] += 1
            continue
        assert anon == 401, dep["output"]
        checked["private"] += 1
        if any(n.startswith("inc-act") for n in names):
            assert _call(viewer, dep).status_code == 403, dep["output"]
            assert _call(operator, dep).status_code not in (401, 403), dep["output"]
            checked["operator"] += 1
        if any(n.startswith(("aud-", "ho-")) for n in names):
            assert _call(viewer, dep).status_code == 403, dep["output"]
            checked["supervisor"] += 1
    assert checked["public"] >= 5 and checked["private"] >= 10 and checked["operator"] >= 2, checked
    page = next(d for d in deps if "_pages_content" in d["output"])
    for path, status in (("/", 401), ("/incidents", 401), ("/audit", 401), ("/pilots", 200), ("/share", 200)):
        assert _call(anon_client, page, path).status_code == status, path
    assert _call(operator, page, "/audit").status_code == 403


# --- the workflow through the API ----------------------------------------------------------------------


def test_an_incident_goes_from_new_to_closed_with_history(dash_app, client):
    incident_id = new_incident(client)
    steps = [("acknowledge", {}, "acknowledged"), ("dispatch", {"unit": "HZ-TP-03"}, "dispatched"),
             ("arrive", {}, "on_scene"), ("resolve", {"resolution_code": "cleared"}, "resolved"),
             ("close", {}, "closed")]  # fmt: skip
    version = 1
    for action, extra, state in steps:
        answer = act(client, incident_id, action, version, **extra)
        assert answer.status_code == 200, answer.get_json()
        incident = answer.get_json()["incident"]
        assert incident["status"] == state and incident["version"] == version + 1
        version = incident["version"]
    detail = client.get(f"/api/v1/incidents/{incident_id}").get_json()
    assert detail["unit"] == "HZ-TP-03" and detail["resolution_code"] == "cleared"
    history = detail["history"]
    assert [h["action"] for h in history] == [s[0] for s in steps]
    assert all(h["actor"] == "operator" for h in history)
    assert json.loads(history[1]["before"])["status"] == "acknowledged"
    after = json.loads(history[1]["after"])
    assert after["status"] == "dispatched" and after["version"] == 3 and after["unit"] == "HZ-TP-03"
    assert abs(after["dispatched_at"] - time.time()) < 60
    assert act(client, incident_id, "note", None, note="reporter thanked us").status_code == 200
    reopened = act(client, incident_id, "reopen", version)
    assert reopened.status_code == 403  # a closed incident is reopened by a supervisor
    supervisor = signed_in_client(dash_app, "supervisor")
    assert act(supervisor, incident_id, "reopen", version).get_json()["incident"]["status"] == "acknowledged"
    csv_text = supervisor.get("/api/v1/audit.csv").get_data(as_text=True)
    assert f",incident,{incident_id},reopen," in csv_text and "reporter thanked us" in csv_text


def test_refusals_say_why(dash_app, client):
    incident_id = new_incident(client)
    viewer = signed_in_client(dash_app, "viewer")
    assert act(viewer, incident_id, "acknowledge", 1).status_code == 403
    assert act(client, incident_id, "dispatch", 1, unit="HZ-TP-01").status_code == 409  # must acknowledge first
    assert act(client, incident_id, "acknowledge", 1).status_code == 200
    missing = act(client, incident_id, "dispatch", 2)
    assert missing.status_code == 422 and "unit" in missing.get_json()["message"]
    assert act(client, incident_id, "fly", 2).status_code == 400  # a bad request, not a refused move
    assert client.post(f"/api/v1/incidents/{incident_id}/actions", data="nope").status_code == 400
    assert act(client, incident_id, "acknowledge", "2").status_code == 400
    assert act(client, 10**9, "acknowledge", 1).status_code == 404
    assert (
        act(signed_in_client(dash_app, "operator").__class__(dash_app.server), incident_id, "close", 2).status_code
        == 401
    )


def test_simulated_crews_incidents_take_notes_only(client):
    with store.get_engine().connect() as conn:
        sim = conn.execute(text("SELECT id, version FROM incident WHERE crew = 'simulated' LIMIT 1")).one()
    answer = act(client, sim.id, "acknowledge", sim.version)
    assert answer.status_code == 409 and answer.get_json()["error"] == "simulated_crew"
    assert act(client, sim.id, "note", None, note="watching").status_code == 200


def test_two_operators_at_once_one_wins_the_other_sees_the_new_state(dash_app, client):
    incident_id = new_incident(client)
    other = signed_in_client(dash_app, "admin")
    assert act(client, incident_id, "acknowledge", 1).status_code == 200
    late = act(other, incident_id, "acknowledge", 1)
    body = late.get_json()
    assert late.status_code == 409 and body["error"] == "stale_version"
    assert body["incident"]["status"] == "acknowledged" and body["incident"]["version"] == 2
    assert "changed by someone else" in body["message"]
    # Many at once on the same version: exactly one write lands, nothing is overwritten silently.
    results: list[int] = []
    clients = [signed_in_client(dash_app, "operator") for _ in range(6)]

    def go(c, unit):
        results.append(act(c, incident_id, "dispatch", 2, unit=unit).status_code)

    threads = [threading.Thread(target=go, args=(c, f"HZ-TP-{k:02d}")) for k, c in enumerate(clients, 1)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    assert sorted(results) == [200] + [409] * 5
    row = ops_store.get_incident(store.get_engine(), incident_id)
    dispatches = [h for h in workflow.history(incident_id) if h["action"] == "dispatch"]
    assert row["version"] == 3 and len(dispatches) == 1 and json.loads(dispatches[0]["after"])["unit"] == row["unit"]


def test_audit_log_is_append_only(prepared):
    engine = store.get_engine()
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_incident_list_filters(client):
    incident_id = new_incident(client, severity=4, kind="gas_sensor")
    listed = client.get("/api/v1/incidents?city=hangzhou&kind=gas_sensor&severity=4&status=new").get_json()
    assert incident_id in [r["id"] for r in listed["incidents"]]
    assert all(r["kind"] == "gas_sensor" and r["severity"] == 4 for r in listed["incidents"])
    assert client.get("/api/v1/incidents?status=sleeping").status_code == 400
    assert client.get("/api/v1/incidents?city=atlantis").status_code == 400


# --- SLA ------------------------------------------------------------------------------------------------


def test_an_unacknowledged_urgent_incident_breaches_and_raises_an_alert(dash_app, client):
    incident_id = new_incident(client, severity=4, age_s=90)
    with dash_app.server.app_context():
        now = int(time.time())
        row = next(r for r in access.incident_queue("hangzhou", now) if r["id"] == incident_id)
        assert row["ack_breach"] and row["due_at"] < now
        alerts = {a.key: a.count for a in access.alerts("hangzhou", now)}
        assert alerts.get("sla_ack_breach", 0) >= 1
        perf = access.incident_performance("hangzhou", now - 3600, now)
        operators = next(r for r in perf["crew"] if r["group"] == "operator")
        assert operators["breaches"] >= 1 and operators["ack_sla_pct"] < 100
    fresh = new_incident(client, severity=4, age_s=1)
    assert act(client, fresh, "acknowledge", 1).status_code == 200
    with dash_app.server.app_context():
        row = next(r for r in access.incident_queue("hangzhou", int(time.time())) if r["id"] == fresh)
        assert not row["ack_breach"] and row["due_at"] == row["reported_at"] + 180  # next: dispatch in 3 min


# --- alert rules ---------------------------------------------------------------------------------------


def test_rule_functions():
    assert alerting.aqi_findings([1, 2, 3], [150, 250, 320], 200) == [(2, 3, 250.0), (3, 4, 320.0)]
    assert alerting.sustained_congestion([1, 2, 3], [True, True, False], [2.5, 2.5, 3.0], [2.1, 1.8, 3.0], 2.0) == [
        (1, 2.5)
    ]
    assert alerting.full_lots([1, 2], [100, 99], 100) == [(1, 100.0)]
    assert alerting.silent_objects("traffic", [5, 6, 7], [0, 2], 20) == ["traffic:5", "traffic:7"]
    assert alerting.silent_objects("traffic", list(range(50)), list(range(30)), 20) == ["feed:traffic"]


def test_rules_open_one_incident_per_rule_and_object(dash_app):
    at = int(time.time())
    low = Thresholds(aqi=-1, congestion_index=0.5, parking_full_pct=0, silent_group=10**6)
    with dash_app.server.app_context():
        found = alerting.findings("xiongan", at, low)
        assert {f.rule for f in found} >= {"aqi_high", "parking_full"}
        opened = alerting.evaluate("xiongan", at, low)
        assert opened == len({(f.rule, f.object_key) for f in found})
        assert alerting.evaluate("xiongan", at + 60, low) == 0  # de-duplicated while open
        engine = store.get_engine()
        keys = ops_store.open_alert_keys(engine, "xiongan")
        assert len(keys) == opened
        # Once its incident is closed, the same condition may open a new one.
        with engine.connect() as conn:
            one = conn.execute(text("SELECT id FROM incident WHERE city='xiongan' AND alert_key IS NOT NULL")).first()
        operator = users.User("operator", "operator")
        workflow.act(one.id, "acknowledge", 1, operator)
        workflow.act(one.id, "resolve", 2, operator, {"resolution_code": "no_action_needed"})
        workflow.act(one.id, "close", 3, operator)
        assert alerting.evaluate("xiongan", at + 120, low) == 1
    with engine.begin() as conn:  # the database refuses a second open incident for a key, even in a race
        sql = "SELECT * FROM incident WHERE alert_key IS NOT NULL AND closed_at IS NULL"
        dup = dict(conn.execute(text(sql)).mappings().first())  # (read whole: no statement left open)
    dup |= {"id": None, "ref": "race"}
    with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as conn:
        conn.execute(store.incident.insert().values(**{k: v for k, v in dup.items() if k != "id"}))


def test_handover_lists_the_shift(dash_app, client):
    incident_id = new_incident(client)
    with dash_app.server.app_context():
        start, end = access.shift_bounds(int(time.time()))
        report = access.handover("hangzhou", start, end)
    assert incident_id in [r["id"] for r in report["opened"]] and incident_id in [r["id"] for r in report["still_open"]]
    assert end - start == 8 * 3600
    page = client.post("/_dash-update-component", json={
        "output": "ho-report.children", "outputs": {"id": "ho-report", "property": "children"},
        "inputs": [{"id": "ho-city", "property": "value", "value": "hangzhou"},
                   {"id": "ho-shift", "property": "value", "value": start}],
        "changedPropIds": ["ho-shift.value"]})  # fmt: skip
    assert page.status_code == 200 and str(incident_id) in page.get_data(as_text=True)


def test_a_long_shift_is_one_component_with_every_row_written():
    """A shift of a few thousand operator incidents froze /handover for minutes in Chromium: ~20 Dash
    components a row, each walked by dash-renderer on every store update. Its lists are written HTML now."""
    from plotly.utils import PlotlyJSONEncoder

    from components.incident_ui import handover_table
    from data.rules.tables import RULE_TABLES as rules
    from tests.written import written_elements, written_text

    kind, status = next(iter(rules.incident_kinds)), next(iter(rules.statuses))
    rows = [
        {"id": 10_000 + k, "kind": kind, "severity": 1 + k % 4, "district": "西湖区", "status": status,
         "reported_at": 1_796_600_000 + k, "unit": None, "breached": k % 3 == 0}
        for k in range(3000)
    ]  # fmt: skip
    section = handover_table(("Still open — hand over", "仍未结案 — 请交接"), rows, "ho-open", rules)
    assert json.dumps(section.to_plotly_json(), cls=PlotlyJSONEncoder).count('"namespace"') == 1
    assert len(written_elements(section, "tr")) == 3001  # the head and every row
    assert len(written_elements(section, "td", "breach")) == 1000
    text_ = written_text(section)
    assert "12999" in text_ and "(3000)" in text_ and "仍未结案" in text_ and "西湖区" in text_


def test_old_stores_are_upgraded_in_place(tmp_path):
    engine = store.get_engine(f"sqlite:///{tmp_path / 'v1.sqlite'}")
    with engine.begin() as conn:  # the version-1 incident table, with a simulated row
        conn.execute(text("CREATE TABLE incident (id INTEGER PRIMARY KEY, ref VARCHAR(64) UNIQUE NOT NULL, "
                          "city VARCHAR(16) NOT NULL, kind VARCHAR(32) NOT NULL, severity INTEGER NOT NULL, "
                          "lon FLOAT NOT NULL, lat FLOAT NOT NULL, district TEXT NOT NULL, reported_at INTEGER NOT "
                          "NULL, dispatched_at INTEGER, on_scene_at INTEGER, resolved_at INTEGER, source "
                          "VARCHAR(32) NOT NULL, simulated BOOLEAN NOT NULL)"))  # fmt: skip
        conn.execute(text("INSERT INTO incident VALUES (1, 'r1', 'hangzhou', 'traffic_accident', 2, 120.1, 30.2, "
                          "'', 100, 160, 400, 900, 'simulator', 1)"))  # fmt: skip
    store.create_schema(engine)
    row = ops_store.get_incident(engine, 1)
    assert row["crew"] == "simulated" and row["version"] == 1
    assert row["acknowledged_at"] == 160 and row["closed_at"] == 900


# --- the same record-keeping on PostgreSQL -----------------------------------------------------------


def test_workflow_versions_audit_and_dedup_on_both_backends(backend):
    """Versioned writes, the append-only audit log and the one-open-alert guard, on SQLite and PostGIS."""
    engine, now = backend.engine, int(time.time())
    key = f"test:{backend.name}:{time.time_ns()}"
    row = {"ref": key, "city": "hangzhou", "kind": "parking_full", "severity": 2, "lon": 120.16, "lat": 30.27,
           "district": "", "reported_at": now, "source": "rule:test", "simulated": False, "crew": "operator",
           "alert_key": key}  # fmt: skip
    assert ops_store.open_alert_incidents(engine, "hangzhou", [row], "rules", now) == 1
    assert ops_store.open_alert_incidents(engine, "hangzhou", [row | {"ref": key + "-2"}], "rules", now) == 0
    with engine.connect() as conn:
        incident_id = conn.execute(text("SELECT id FROM incident WHERE ref = :r"), {"r": key}).scalar_one()
    operator = users.User("operator", "operator")
    assert workflow.act(incident_id, "acknowledge", 1, operator, now=now)["status"] == "acknowledged"
    results: list[str] = []

    def go(unit: str) -> None:
        try:
            workflow.act(incident_id, "dispatch", 2, operator, {"unit": unit}, now=now)
            results.append("ok")
        except workflow.ActionError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=go, args=(f"HZ-CM-0{k}",)) for k in range(1, 6)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    assert sorted(results) == ["ok"] + ["stale_version"] * 4
    assert [h["action"] for h in workflow.history(incident_id)] == ["open", "acknowledge", "dispatch"]
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_sensor_outages_never_reach_the_public(dash_app, anon_client):
    """A silent sensor says where the city cannot see: operators get an incident, the public nothing."""
    now = int(time.time())
    row = {"ref": f"outage-{time.time_ns()}", "city": "hangzhou", "kind": "sensor_offline", "severity": 3,
           "lon": 120.16, "lat": 30.27, "district": "", "reported_at": now, "source": "rule:sensor_silent",
           "simulated": False, "crew": "operator", "alert_key": f"sensor_silent:feed:test-{now}"}  # fmt: skip
    assert ops_store.open_alert_incidents(store.get_engine(), "hangzhou", [row], "rules", now) == 1
    with dash_app.server.app_context():
        assert any(r["kind"] == "sensor_offline" for r in access.incident_queue("hangzhou", now, crew="operator"))
    items = "/api/ogc/collections/incidents/items?city=hangzhou"
    for k, path in enumerate((f"{items}&limit=10000", f"{items}&datetime=../..&limit=10000")):
        # each from its own address: 10,000 items cost 100 of a client's 120 a minute (OGC_ITEMS_PER_COST)
        body = anon_client.get(path, environ_base={"REMOTE_ADDR": f"10.9.9.{k + 1}"}).get_data(as_text=True)
        assert "sensor_offline" not in body and '"features"' in body


def test_bulk_acknowledge_through_the_page_callback(dash_app, client):
    first, second = new_incident(client), new_incident(client)
    assert act(client, second, "acknowledge", 1).status_code == 200  # already done: reported, not redone
    body = {
        "output": "",  # Dash's own spelling of the outputs, read from the dependencies below
        "outputs": [{"id": "inc-act-bulk-msg", "property": "children"}, {"id": "inc-act-done", "property": "data"}],
        "inputs": [{"id": "inc-act-bulk", "property": "n_clicks", "value": 1}],
        "state": [{"id": "inc-grid", "property": "selectedRows",
                   "value": [{"id": first, "version": 1}, {"id": second, "version": 1}]}],
        "changedPropIds": ["inc-act-bulk.n_clicks"],
    }  # fmt: skip
    deps = client.get("/_dash-dependencies").get_json()
    body["output"] = next(d["output"] for d in deps if d["output"].startswith("..inc-act-bulk-msg"))
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    text_out = answer.get_data(as_text=True)
    assert "Acknowledged 1 of 2" in text_out and f"{second}: stale_version" in text_out
    assert workflow.incident(first)["status"] == "acknowledged"
    viewer = signed_in_client(dash_app, "viewer")
    assert viewer.post("/_dash-update-component", json=body).status_code == 403


def test_signing_out_ends_the_session_on_the_server(dash_app):
    """A copy of the cookie taken before signing out no longer opens anything."""
    signed = signed_in_client(dash_app, "operator")
    cookie = signed.get_cookie("citybrain_session").value
    assert signed.get("/incidents").status_code == 200
    assert signed.post("/logout").status_code == 302
    replay = dash_app.server.test_client()
    replay.set_cookie("citybrain_session", cookie)
    assert replay.get("/incidents").status_code == 302
    users.add_user("shift.b", "operator", PASSWORD)
    other = dash_app.server.test_client()
    assert other.post("/login", data={"name": "shift.b", "password": PASSWORD}).status_code == 302
    assert other.get("/incidents").status_code == 200
    ops_store.set_disabled(store.get_engine(), "shift.b", True, "tests", int(time.time()))
    assert other.get("/incidents").status_code == 302  # disabling a user ends their sessions
