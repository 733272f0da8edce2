"""PostgreSQL stopped under a small bounded load: the API answers 503 JSON with Retry-After (not an
HTML 500), a page shows the "database unavailable" panel, the outage is a couple of log lines (a
60 s outage once logged 1.34 M lines of tracebacks), and the app serves again within a second of
the database's return."""

from __future__ import annotations

import json
import time

from tests.conftest import SESSION_DIR, running_app
from tests.faults import load, operator_token, request, small_store

KEY = {"X-API-Key": "test-key-1", "Content-Type": "application/json"}


def test_postgres_down_answers_503_and_logs_the_outage_once(fault_pg):
    url = small_store(fault_pg, "faults_pg")
    auth = operator_token(url)
    row = {"station": "HZ-AQ-01", "pm25": 35.0, "pm10": 50.0, "observed_at": int(time.time()) - 3 * 86400}
    calls = [
        ("/api/v1/incidents?city=hangzhou", None, auth),
        ("/api/v1/ingest/air-quality", json.dumps([row]).encode(), KEY),
        ("/api/ogc/collections/parking/items?city=hangzhou&limit=20", None, {}),
    ]
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": str(SESSION_DIR / "fault-pg"),
        "SIMULATE_LIVE": "1",  # the jobs meet the outage too: their failures count as the same outage
        "SIMULATE_BACKFILL": "0",
        "ALERT_RULES": "1",
        "REFRESH_SECONDS": "1",
    }
    log_path = SESSION_DIR / "fault-pg.log"
    with running_app(env, log_path, 120) as base:
        baseline = load(base, calls, 1.5, 60)
        assert baseline.errors == [], baseline.refusals[:5]
        logged_before = len(log_path.read_text().splitlines())
        fault_pg.pause()
        try:
            down = load(base, calls, 3.0, 300)
            page = request(base + "/", headers={"Accept": "text/html"} | auth)
            layout = request(base + "/_dash-layout", headers=auth)
        finally:
            fault_pg.resume()
        back = time.monotonic()
        while request(base + calls[0][0], headers=auth)[0] != 200 and time.monotonic() - back < 10:
            time.sleep(0.05)
        recovered_s = time.monotonic() - back
        time.sleep(1.5)  # the jobs tick again (and would log)
        outage_log = log_path.read_text().splitlines()[logged_before:]
    assert len(down.results) > 30
    assert {status for _, status, _ in down.results} <= {200, 503}, down.refusals[:5]
    assert all(kind.startswith("application/json") and retry for _, _, kind, retry in down.refusals), {
        r for r in down.refusals if not (r[2].startswith("application/json") and r[3])
    }
    # Every route refused (what was cached a moment before may still answer for a while).
    assert {path for path, *_ in down.refusals} == {path for path, *_ in calls}, down.refusals[:5]
    assert len(down.refusals) > 0.5 * len(down.results), (len(down.refusals), len(down.results))
    status, headers, body = page
    assert status == 503 and headers["Retry-After"] and "数据库暂时不可用" in body.decode()
    assert "Database unavailable" in body.decode()
    assert layout[0] == 503 and "db-unavailable" in layout[2].decode()
    assert recovered_s < 1.0, (recovered_s, outage_log[-5:])
    assert not any("Traceback" in line for line in outage_log), outage_log[:20]
    database_lines = [line for line in outage_log if "citybrain.database" in line]
    assert len(database_lines) == 2 and "unavailable" in database_lines[0] and "again" in database_lines[1]
    others = [line for line in outage_log if '" 503 ' not in line and '" 200 ' not in line]
    assert len(others) <= 6, others
