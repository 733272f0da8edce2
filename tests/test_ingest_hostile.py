"""Feeds that are careless or hostile (issue 14, findings 4 and 5): poison rows go to quarantine with
a reason and the good rows beside them are kept; malformed bodies are 400; nothing answers 500."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from data import store

KEY = {"X-API-Key": "test-key-1"}
_minutes = itertools.count()


@pytest.fixture(scope="module")
def segments(dash_app) -> list[str]:
    """Source ids (whole URNs) of Guangzhou's road segments."""
    return [str(i) for i in store.sensors(store.get_engine(), "traffic", "guangzhou")["source_id"].iloc[:400]]


def _good(segment: str) -> dict:
    """A valid traffic row in a bucket of its own (one fresh minute each), so it is never a duplicate."""
    return {"segment_id": segment, "speed_kmh": 31.5, "observed_at": int(time.time()) - 5 * 86400
            + 900 * next(_minutes)}  # fmt: skip


def _post(client, path: str, body: object, **headers: str):
    raw = json.dumps(body) if not isinstance(body, (bytes, str)) else body
    return client.post(path, data=raw, content_type="application/json", headers=KEY | headers)


def test_a_huge_id_is_refused_in_linear_time(client, segments):
    """Finding 4: `(\\d+)$` over 32,000 digits took 5 s and held every request."""
    good = _good(segments[0])
    started = time.perf_counter()
    answer = _post(client, "/api/v1/ingest/traffic", [{**good, "segment_id": "1" * 32_000 + "x"}, good])
    assert time.perf_counter() - started < 1.0
    body = answer.get_json()
    assert answer.status_code == 200 and body["accepted"] == 1
    assert "1 to 256 characters" in body["rejected"][0]["reason"]  # ids are kept whole, up to 256


POISON = [
    {"segment_id": "gz:\ud800", "speed_kmh": 30, "observed_at": 1},  # lone surrogate in a rejected row
    {"segment_id": "gz:1", "speed_kmh": 10**400, "observed_at": 1},  # 400 digits
    {"segment_id": ["gz", 1], "speed_kmh": 30, "observed_at": "now"},
    {"segment_id": "gz:1", "speed_kmh": {"a": [1]}, "observed_at": [1]},
    {"segment_id": "gz:1", "speed_kmh": 30, "observed_at": 10**300},
    {"note": json.loads("[" * 500 + "]" * 500)},
]


@pytest.mark.parametrize("poison", POISON)
def test_a_poison_row_goes_to_quarantine_and_the_good_rows_stay(client, segments, poison):
    """Finding 5: one such row failed the whole batch with a 500."""
    good = [_good(segments[1]), _good(segments[2])]
    answer = _post(client, "/api/v1/ingest/traffic", [good[0], poison, good[1]])
    body = answer.get_json()
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert body["accepted"] == 2 and [r["index"] for r in body["rejected"]] == [1]


NGSI_POISON = [
    {"id": "urn:x:1", "type": ["TrafficFlowObserved"]},
    {"id": "urn:x:2", "type": "Alert", "subCategory": ["carAccident"]},
    {"id": "urn:x:3", "type": "AirQualityObserved", "pm25": {"type": "Number", "value": 5, "metadata": [1]}},
    {"id": ["urn"], "type": "TrafficFlowObserved"},
    {"id": "urn:x:\ud800", "type": "Alert", "subCategory": "carAccident", "severity": 10**500},
]


def test_ngsi_poison_entities_are_quarantined_beside_good_ones(client, segments):
    good = {"id": "urn:ngsi-ld:TrafficFlowObserved:gz:1", "type": "TrafficFlowObserved",
            "refRoadSegment": segments[3], "averageVehicleSpeed": 40,
            "dateObserved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_good("")["observed_at"]))}  # fmt: skip
    answer = _post(client, "/api/v1/ngsi/notify", {"subscriptionId": "s", "data": [*NGSI_POISON, good]})
    body = answer.get_json()
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert body["accepted"] == 1 and len(body["rejected"]) == len(NGSI_POISON)
    with store.get_engine().connect() as conn:
        raws = conn.execute(text("SELECT raw FROM ingest_rejection ORDER BY id DESC LIMIT 5")).scalars().all()
    assert any("\\ud800" in raw for raw in raws) and all(raw.isascii() for raw in raws)  # stored escaped


@pytest.mark.parametrize(
    ("path", "raw"),
    [("/api/v1/ngsi/notify", b""), ("/api/v1/ngsi/notify", b"  "), ("/api/v1/ingest/traffic", b"[" * 50_000),
     ("/api/v1/ngsi/notify", b'{"data": [' + b"[" * 50_000 + b"]}"),
     ("/api/v1/ingest/traffic", b"[" + b"9" * 5000 + b"]")],
)  # fmt: skip
def test_malformed_bodies_are_400(client, path, raw):
    answer = client.post(path, data=raw, content_type="application/json", headers=KEY)
    assert answer.status_code == 400 and "error" in answer.get_json()


def test_a_non_ascii_api_key_is_refused_not_a_crash(client):
    answer = client.post("/api/v1/ingest/traffic", data="[]", content_type="application/json",
                         headers={"X-API-Key": "clé-ü"})  # fmt: skip
    assert answer.status_code == 403


# Lone surrogates too: Hypothesis leaves them out of text unless asked.
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=80),
    st.text(max_size=20).map(lambda t: t + "\ud800"),
)
HOSTILE_NUMBERS = st.one_of(
    st.integers(-(10**1000), 10**1000), st.floats(allow_nan=True, allow_infinity=True), st.just(2**63), st.just(-1)
)
HOSTILE = st.recursive(
    st.one_of(st.none(), st.booleans(), HOSTILE_TEXT, HOSTILE_NUMBERS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(HOSTILE_TEXT, inner, max_size=3)),
    max_leaves=8,
)


def hostile_rows(segments: list[str]):
    """Anything at all, or a traffic row whose known segment lets the hostile values reach the checks."""
    known = st.sampled_from(segments)
    return st.one_of(
        HOSTILE,
        st.fixed_dictionaries(
            {
                "segment_id": st.one_of(known, known, HOSTILE),
                "speed_kmh": st.one_of(HOSTILE, st.just(30)),
                "observed_at": st.one_of(HOSTILE, st.just(int(time.time()) - 3600)),
            }
        ),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), seed=st.integers(0, 1000))
def test_hostile_rows_never_cost_a_good_row(client, segments, data, seed):
    hostile = data.draw(st.lists(hostile_rows(segments), min_size=1, max_size=6))
    good = [_good(segments[(seed + k) % len(segments)]) for k in range(3)]
    rows = [*hostile[:3], good[0], *hostile[3:], good[1], good[2]]
    answer = _post(client, "/api/v1/ingest/traffic", rows)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    body = answer.get_json()
    good_at = {k for k, row in enumerate(rows) if any(row is g for g in good)}
    assert not good_at & {r["index"] for r in body["rejected"]}
    assert body["accepted"] + body["duplicates"] >= len(good)
