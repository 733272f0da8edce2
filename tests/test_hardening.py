"""Issue 14's medium and low findings against the served app: Host links, body limit, limits on
sign-in and anonymous callbacks, the roster, CSV formulas, the detail policy, sessions, caching,
malformed requests, HSTS and public prefix boundaries, and the order of the workflow's refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from werkzeug.test import Client

from data import store, users
from public import security
from public.settings import load_public_settings
from tests.conftest import PASSWORD, PROJECT, own_address, signed_in_client
from tests.test_incidents import act, new_incident


def _gate(dash_app) -> security.PublicGate:
    gate = dash_app.server.wsgi_app
    return gate if isinstance(gate, security.PublicGate) else gate.app


def test_a_forged_host_never_reaches_another_clients_links(anon_client):
    """Finding 3: links came from the Host of whoever filled the cache."""
    path = "/api/ogc/collections/parking/items?city=hangzhou&limit=2"
    poisoned = anon_client.get(path, headers={"Host": "evil.example"}).get_json()
    assert all("evil.example" in link["href"] for link in poisoned["links"])
    honest = own_address(anon_client).get(path).get_json()
    assert honest["links"] and not any("evil.example" in link["href"] for link in honest["links"])


def test_public_base_url_names_every_link(dash_app, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://maps.example.cn")
    answer = dash_app.server.test_client().get("/api/ogc/collections?city=hangzhou", headers={"Host": "evil.example"})
    hrefs = [link["href"] for link in answer.get_json()["links"]]
    assert hrefs and all(h.startswith("https://maps.example.cn/api/ogc") for h in hrefs)


@pytest.mark.parametrize("path", ["/_dash-update-component", "/embed/_dash-update-component", "/login"])
def test_bodies_over_the_limit_are_refused_before_they_are_read(dash_app, path):
    """Finding 6: a 150 MB anonymous body was read into memory."""

    class Endless:
        read_calls = 0

        def read(self, *_args):
            self.read_calls += 1
            return b"x" * 65536

    stream = Endless()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(150 * 2**20),
               "CONTENT_TYPE": "application/json", "wsgi.input": stream, "REMOTE_ADDR": "10.9.9.9"}  # fmt: skip
    answer = Client(dash_app.server.wsgi_app).open(environ_base=environ, path=path, method="POST")
    assert answer.status_code == 413 and stream.read_calls == 0
    big = b"[" + b" " * 1_100_000 + b"]"
    key = {"X-API-Key": "test-key-1"}
    ingest = dash_app.server.test_client().post("/api/v1/ingest/traffic", data=big, headers=key)
    assert ingest.status_code == 413  # INGEST_MAX_BYTES (200,000 in the tests) still answers for ingest


def test_sign_in_is_limited_per_address(anon_client):
    """Finding 7 and 12: /login had no limit (≈110 ms of hashing each) and no per-address throttle."""
    attempts = [{"name": f"nobody{k}", "password": "x"} for k in range(11)]  # no name reaches its own lock
    answers = [anon_client.post("/login", data=form).status_code for form in attempts]
    assert answers[:10] == [401] * 10 and answers[10] == 429
    assert own_address(anon_client).post("/login", data={"name": "viewer", "password": PASSWORD}).status_code == 302


def test_anonymous_callbacks_are_limited_per_address(anon_client):
    body = {"output": "pov-url.search", "outputs": {"id": "pov-url", "property": "search"},
            "inputs": [{"id": "pov-agency", "property": "value", "value": "miit"}], "changedPropIds": []}  # fmt: skip
    statuses = [anon_client.post("/_dash-update-component", json=body).status_code for _ in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429


def test_failing_on_purpose_does_not_lock_the_owner_out(dash_app):
    users.add_user("target.admin", "admin", PASSWORD)
    attacker = own_address(dash_app.server.test_client())
    for _ in range(users.MAX_FAILURES + 1):
        attacker.post("/login", data={"name": "target.admin", "password": "guess"})
    owner = own_address(dash_app.server.test_client())
    assert owner.post("/login", data={"name": "target.admin", "password": PASSWORD}).status_code == 302


def test_dispatch_takes_only_units_of_the_citys_roster(dash_app, client):
    """Finding 9."""
    incident_id = new_incident(client)
    assert act(client, incident_id, "acknowledge", 1).status_code == 200
    answer = act(client, incident_id, "dispatch", 2, unit="<b>anyone</b>")
    assert answer.status_code == 422 and answer.get_json()["error"] == "unknown_unit"
    assert act(client, incident_id, "dispatch", 2, unit="HZ-TP-03").status_code == 200


def test_audit_csv_cells_cannot_run_as_formulas(dash_app, client):
    """Finding 10."""
    incident_id = new_incident(client)
    for note in ('=HYPERLINK("http://evil.example")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert act(client, incident_id, "note", None, note=note).status_code == 200
    csv_text = signed_in_client(dash_app, "supervisor").get("/api/v1/audit.csv").get_data(as_text=True)
    rows = [line for line in csv_text.splitlines() if f",incident,{incident_id},note," in line]
    assert rows and "'=HYPERLINK" in csv_text and "'+1" in csv_text and "'@SUM" in csv_text
    assert not any(",=HYPERLINK" in line or ',"=HYPERLINK' in line for line in rows)


def test_viewers_see_neither_notes_nor_history_in_the_api_or_the_ui(dash_app, client):
    """Finding 11: the policy is that an incident's detail is for those who act on it."""
    incident_id = new_incident(client)
    viewer = signed_in_client(dash_app, "viewer")
    answer = viewer.get(f"/api/v1/incidents/{incident_id}")
    assert answer.status_code == 403 and answer.get_json()["error"] == "forbidden"
    assert "history" in client.get(f"/api/v1/incidents/{incident_id}").get_json()
    deps = viewer.get("/_dash-dependencies").get_json()
    detail = next(d for d in deps if d["output"].startswith("..inc-detail.children"))
    pairs = [p.rsplit(".", 1) for p in detail["output"][2:-2].split("...")]
    body = {"output": detail["output"], "outputs": [{"id": i, "property": p} for i, p in pairs],
            "inputs": [{**i, "value": None} for i in detail["inputs"]],
            "state": [{**s, "value": None} for s in detail["state"]], "changedPropIds": []}  # fmt: skip
    assert viewer.post("/_dash-update-component", json=body).status_code == 403


def test_a_new_password_ends_sessions_and_tokens(dash_app):
    users.add_user("rotating", "operator", PASSWORD)
    signed = signed_in_client(dash_app, "rotating")
    token = users.new_token("rotating")
    bearer = {"Authorization": f"Bearer {token}"}
    assert signed.get("/incidents").status_code == 200
    assert signed.get("/api/v1/incidents", headers=bearer).status_code == 200
    users.add_user("rotating", "operator", "a brand new password")
    assert signed.get("/incidents").status_code == 302
    assert dash_app.server.test_client().get("/api/v1/incidents", headers=bearer).status_code == 401


def test_signing_in_again_ends_the_old_session(dash_app):
    first = signed_in_client(dash_app, "operator")
    old_cookie = first.get_cookie("citybrain_session").value
    assert first.post("/login", data={"name": "viewer", "password": PASSWORD}).status_code == 302
    replay = dash_app.server.test_client()
    replay.set_cookie("citybrain_session", old_cookie)
    assert replay.get("/incidents").status_code == 302


def test_a_session_in_use_slides_until_session_max_days_and_an_idle_one_ends(dash_app, monkeypatch):
    """A wall screen polls all day: its session lives on past SESSION_HOURS (12) while in use, up to
    SESSION_MAX_DAYS (7) after sign-in; a browser left idle still ends after SESSION_HOURS."""
    users.add_user("wall", "operator", PASSWORD)
    started = time.time()
    in_use, idle = signed_in_client(dash_app, "wall"), signed_in_client(dash_app, "wall")
    hour = 3600
    for hours in range(11, 7 * 24, 11):  # a request every 11 hours: each one within the idle limit
        monkeypatch.setattr(time, "time", lambda h=hours: started + h * hour)
        assert in_use.get("/incidents").status_code == 200, f"ended after {hours} h"
        if hours == 22:
            assert idle.get("/incidents").status_code == 302  # no request for 22 h: ended at 12
    monkeypatch.setattr(time, "time", lambda: started + 7 * 24 * hour + 60)
    assert in_use.get("/incidents").status_code == 302  # SESSION_MAX_DAYS after sign-in, in use or not


def test_tokens_expire_and_are_revoked_one_by_one(dash_app, monkeypatch):
    users.add_user("scripted", "operator", PASSWORD)
    keep, drop = users.new_token("scripted"), users.new_token("scripted")
    prefix = users._token_hash(drop)[:10]
    done = subprocess.run([sys.executable, "-m", "cli.users", "revoke-token", prefix], cwd=PROJECT, text=True,
                          capture_output=True, env=os.environ.copy(), timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert users.user_for_token(drop) is None and users.user_for_token(keep) is not None
    with store.get_engine().begin() as conn:
        conn.execute(text("UPDATE api_token SET created_at = created_at - 91 * 86400 WHERE user_name = 'scripted'"))
    assert users.user_for_token(keep) is None  # TOKEN_DAYS (90) after it was made


def test_sign_out_is_a_post_and_sign_in_refuses_other_sites(dash_app):
    signed = signed_in_client(dash_app, "operator")
    signed.get("/logout")  # what a cross-site link or image does: no longer signs anyone out
    assert signed.get("/incidents").status_code == 200
    assert signed.post("/logout").status_code == 302 and signed.get("/incidents").status_code == 302
    csrf = own_address(dash_app.server.test_client()).post(
        "/login", data={"name": "viewer", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert csrf.status_code == 403 and csrf.headers.get("Set-Cookie") is None
    same = own_address(dash_app.server.test_client()).post(
        "/login", data={"name": "viewer", "password": PASSWORD}, headers={"Origin": "http://localhost"}
    )
    assert same.status_code == 302


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/", "no-store"), ("/_dash-layout", "no-store"), ("/api/v1/incidents", "no-store"),
     ("/api/v1/audit.csv", "no-store"), ("/geo/hangzhou/roads.json?v=1", "private, max-age=86400")],
)  # fmt: skip
def test_signed_in_answers_are_not_kept_by_shared_caches(dash_app, path, expected):
    """Finding 13."""
    answer = signed_in_client(dash_app, "supervisor").get(path)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == expected


def test_callback_answers_are_not_stored(client):
    from tests.conftest import refresh_map_body

    answer = client.post("/_dash-update-component", json=refresh_map_body("hangzhou"))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/incidents/99999999999999999999", "/api/v1/audit.csv?since=99999999999999999999", "/%0a", "/x%0d%0ay"],
)
def test_malformed_requests_are_4xx_without_a_traceback(dash_app, path, caplog):
    """Finding 14."""
    for client in (own_address(dash_app.server.test_client()), signed_in_client(dash_app, "supervisor")):
        answer = client.get(path)
        assert answer.status_code < 500, (path, answer.status_code)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_note_with_a_lone_surrogate_is_a_bad_request(client, caplog):
    incident_id = new_incident(client)
    answer = client.post(f"/api/v1/incidents/{incident_id}/actions", data='{"action": "note", "note": "\\ud800"}',
                         content_type="application/json")  # fmt: skip
    assert answer.status_code == 400
    assert act(client, 2**70, "note", None, note="x").status_code == 404
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_hsts_is_sent_when_set(dash_app, monkeypatch):
    """Finding 15."""
    monkeypatch.setenv("HSTS_SECONDS", "31536000")
    gate = Client(security.PublicGate(_gate(dash_app).app, load_public_settings()))
    answer = gate.get("/login", environ_base={"REMOTE_ADDR": "10.9.0.1"})
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in Client(_gate(dash_app)).get("/login").headers  # off by default


@pytest.mark.parametrize("path", ["/embedx", "/api/ogcx", "/healthzz", "/loginx", "/api/v1/ingestx"])
def test_public_prefixes_end_at_a_path_segment(anon_client, path):
    assert anon_client.get(path).status_code in (302, 401)


def test_a_viewer_acting_on_a_simulated_crews_incident_is_refused_for_the_role(dash_app):
    """The issue's workflow points: the role first (403), and an unknown action is a bad request."""
    with store.get_engine().connect() as conn:
        sim = conn.execute(text("SELECT id, version FROM incident WHERE crew = 'simulated' LIMIT 1")).one()
    viewer = signed_in_client(dash_app, "viewer")
    answer = act(viewer, sim.id, "acknowledge", sim.version)
    assert answer.status_code == 403 and answer.get_json()["error"] == "forbidden"
    unknown = act(signed_in_client(dash_app, "operator"), sim.id, "teleport", sim.version)
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "unknown_action"
