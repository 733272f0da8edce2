"""The open data API (OGC API - Features, Part 1 Core): read through OWSLib's client against the
served app, semantics of bbox/datetime/limit/paging in-process, and bad parameters (400/404 JSON,
never 500)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.rules import aqi as aqi_rules

COLLECTIONS = ("traffic", "parking", "air-quality", "incidents")
_ips = itertools.count(1)


def _ip() -> str:
    n = next(_ips)
    return f"10.1.{n // 250 % 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def api(dash_app):
    """GET in-process, each request from another client address (the rate limit is tested elsewhere)."""
    client = dash_app.server.test_client()

    def get(path: str, **kwargs):
        return client.get(path, environ_base={"REMOTE_ADDR": _ip()}, **kwargs)

    return get


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# --- through OWSLib, against the served app ---------------------------------------------------------


@pytest.fixture(scope="module")
def features(served_app):
    owslib = pytest.importorskip("owslib.ogcapi.features")
    return owslib.Features(f"{served_app}/api/ogc/?city=hangzhou", timeout=60)


def test_owslib_reads_landing_conformance_and_collections(features):
    rels = {link["rel"] for link in features.links}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conforms = features.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms
    assert sorted(features.feature_collections()) == sorted(COLLECTIONS)
    traffic = features.collection("traffic")
    assert traffic["itemType"] == "feature"
    (minx, miny, maxx, maxy) = traffic["extent"]["spatial"]["bbox"][0]
    assert 118 < minx < maxx < 122 and 29 < miny < maxy < 31  # Hangzhou, WGS84
    start, end = traffic["extent"]["temporal"]["interval"][0]
    assert start < end
    assert features.api()["openapi"].startswith("3.0")


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_owslib_reads_items_and_one_item(features, collection):
    page = features.collection_items(collection, limit=5)
    assert page["type"] == "FeatureCollection"
    assert page["numberReturned"] == len(page["features"]) == 5
    assert page["numberMatched"] >= 5
    assert page["timeStamp"].endswith("Z")
    assert any(link["rel"] == "next" for link in page["links"])
    first = page["features"][0]
    one = features.collection_item(collection, first["id"])
    assert one["id"] == first["id"] and one["geometry"] == first["geometry"]


def test_owslib_bbox_datetime_and_paging(features):
    now = time.time()
    window = f"{_iso(now - 3 * 3600)}/{_iso(now)}"
    bbox = [120.0, 30.1, 120.3, 30.4]
    seen: list[str] = []
    offset, matched = 0, None
    while True:
        page = features.collection_items("air-quality", bbox=bbox, datetime_=window, limit=17, offset=offset)
        matched = page["numberMatched"]
        seen += [f["id"] for f in page["features"]]
        for f in page["features"]:
            lon, lat = f["geometry"]["coordinates"]
            assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
            assert now - 4 * 3600 <= time.mktime(time.strptime(f["properties"]["time_start"], "%Y-%m-%dT%H:%M:%SZ"))
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        offset = int(parse_qs(urlsplit(nxt[0]["href"]).query)["offset"][0])
    assert matched == len(seen) == len(set(seen)) > 17  # every page once, nothing twice


# --- semantics, in-process --------------------------------------------------------------------------


def test_limit_default_cap_and_next_links(api):
    default = api("/api/ogc/collections/traffic/items").get_json()
    assert default["numberReturned"] == 100
    capped = api("/api/ogc/collections/traffic/items?limit=20000&datetime=../..")
    body = capped.get_json()
    assert capped.status_code == 200 and body["numberReturned"] == 10_000 < body["numberMatched"]
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    query = parse_qs(urlsplit(nxt).query)
    assert query["limit"] == ["10000"] and query["offset"] == ["10000"] and query["city"] == ["hangzhou"]


def test_default_is_now_and_an_instant_is_one_bucket(api):
    now = api("/api/ogc/collections/traffic/items?limit=10000").get_json()
    buckets = {f["properties"]["time_start"] for f in now["features"]}
    assert len(buckets) == 1 and now["numberMatched"] >= 2000  # every segment, the current 15 minutes
    two_hours_ago = time.time() - 7200
    then = api(f"/api/ogc/collections/parking/items?datetime={_iso(two_hours_ago)}&limit=1000").get_json()
    starts = {f["properties"]["time_start"] for f in then["features"]}
    assert starts == {_iso(two_hours_ago // 900 * 900)} and then["numberMatched"] == 500
    future = api(f"/api/ogc/collections/traffic/items?datetime={_iso(time.time() + 86400)}").get_json()
    assert future["numberMatched"] == 0 and future["features"] == []


def test_interval_and_bbox_filter(api):
    now = time.time()
    url = f"/api/ogc/collections/traffic/items?datetime={_iso(now - 3600)}/..&bbox=120.1,30.2,120.2,30.3&limit=10000"
    body = api(url).get_json()
    buckets = {f["properties"]["time_start"] for f in body["features"]}
    assert 4 <= len(buckets) <= 5 and body["numberMatched"] == len(body["features"]) > 0
    segments = {f["properties"]["segment_id"] for f in body["features"]}
    everything = api("/api/ogc/collections/traffic/items?limit=1").get_json()["numberMatched"]
    assert len(segments) < everything  # the box took a part of the network


def test_air_quality_items_let_anyone_check_the_aqi(api):
    body = api("/api/ogc/collections/air-quality/items?datetime=../..&limit=500").get_json()
    assert body["numberReturned"] == 500
    levels = set()
    for f in body["features"]:
        p = f["properties"]
        conc = {k: p[k] for k in aqi_rules.POLLUTANTS}
        assert all(isinstance(v, float) for v in conc.values())
        result = aqi_rules.hourly_aqi(conc)  # recomputed from the published numbers only
        assert p["aqi"] == result.aqi == max(p[f"iaqi_{k}"] for k in aqi_rules.POLLUTANTS)
        assert {k: p[f"iaqi_{k}"] for k in aqi_rules.POLLUTANTS} == result.iaqi
        assert (p["primary_pollutant"] or "") == ",".join(result.primary)
        assert p["level"] == result.level.level and p["category_zh"] == result.level.name_zh
        assert p["health_advice_en"] == result.level.advice_en and p["standard"] == "HJ 633-2012"
        assert p["co"] < 10 and p["pm25"] >= 1  # co in mg/m³, the others in µg/m³
        levels.add(p["level"])
    assert levels


def test_incident_notices_are_rounded_and_opaque(api):
    body = api("/api/ogc/collections/incidents/items?limit=200").get_json()
    assert body["numberMatched"] > 0
    for f in body["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert round(lon, 3) == lon and round(lat, 3) == lat
        p = f["properties"]
        assert p["status"] in {"new", "dispatched", "on_scene"}  # open now
        assert p["location_precision_m"] == 100 and p["simulated"] is True
        reported, digest = f["id"].split("-")
        assert reported.isdigit() and len(digest) == 16 and p["notice_id"] == f["id"]
    week = api("/api/ogc/collections/incidents/items?datetime=../..&limit=1").get_json()
    assert week["numberMatched"] > body["numberMatched"]  # an interval: every notice reported in it


def test_csv_output(api):
    response = api("/api/ogc/collections/air-quality/items?f=csv&limit=20")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 20
    assert {"id", "station_code", "pm25", "iaqi_pm25", "aqi", "level", "lon", "lat", "wkt"} <= set(rows[0])
    assert rows[0]["wkt"].startswith("POINT (")
    lines = api("/api/ogc/collections/traffic/items?f=csv&limit=3").get_data(as_text=True).splitlines()
    assert len(lines) == 4 and "LINESTRING (" in lines[1]


def test_every_city_is_served(api):
    for city in ("beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou", "xiongan"):
        body = api(f"/api/ogc/collections/parking/items?city={city}&limit=1").get_json()
        assert body["numberMatched"] == 500, city
        assert f"city={city}" in next(link["href"] for link in body["links"] if link["rel"] == "next")


# --- bad parameters ---------------------------------------------------------------------------------

BAD = [
    ("/api/ogc/collections/traffic/items?bbox=1,2,3", 400),
    ("/api/ogc/collections/traffic/items?bbox=a,b,c,d", 400),
    ("/api/ogc/collections/traffic/items?bbox=120,31,121,30", 400),
    ("/api/ogc/collections/traffic/items?bbox=120,30,121,95", 400),
    ("/api/ogc/collections/traffic/items?bbox=nan,30,121,31", 400),
    ("/api/ogc/collections/traffic/items?bbox=", 400),
    ("/api/ogc/collections/traffic/items?limit=-1", 400),
    ("/api/ogc/collections/traffic/items?limit=0", 400),
    ("/api/ogc/collections/traffic/items?limit=ten", 400),
    ("/api/ogc/collections/traffic/items?limit=1.5", 400),
    ("/api/ogc/collections/traffic/items?offset=-3", 400),
    ("/api/ogc/collections/traffic/items?datetime=yesterday", 400),
    ("/api/ogc/collections/traffic/items?datetime=2026-13-45T00:00:00Z", 400),
    ("/api/ogc/collections/traffic/items?datetime=2026-11-25T10:00:00Z/2026-11-25T09:00:00Z", 400),
    ("/api/ogc/collections/traffic/items?datetime=a/b/c", 400),
    ("/api/ogc/collections/traffic/items?datetime=", 400),
    ("/api/ogc/collections/traffic/items?city=atlantis", 400),
    ("/api/ogc/collections/traffic/items?f=xml", 400),
    ("/api/ogc/collections/traffic/items?bbox-crs=EPSG:3857&bbox=1,2,3,4", 400),
    ("/api/ogc/collections/traffic/items?sortby=speed", 400),
    ("/api/ogc/collections/traffic/items?limit=1&limit=2", 400),
    ("/api/ogc/collections?city=atlantis", 400),
    ("/api/ogc/collections/unicorns", 404),
    ("/api/ogc/collections/unicorns/items", 404),
    ("/api/ogc/collections/traffic/items/nope", 404),
    ("/api/ogc/collections/traffic/items/123-20991231T0000Z", 404),
    ("/api/ogc/collections/traffic/items/999999999-20261125T0000Z", 404),
    ("/api/ogc/collections/traffic/items/4000001-20261125T0007Z", 404),
    ("/api/ogc/collections/incidents/items/1-0000000000000000", 404),
    ("/api/ogc/collections/incidents/items/99999999999-abc", 404),
    ("/api/ogc/nothing/here", 404),
]


@pytest.mark.parametrize(("url", "status"), BAD)
def test_bad_parameters_get_a_json_message(api, url, status):
    response = api(url)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] and body["description"]


def test_writes_are_refused(dash_app):
    client = dash_app.server.test_client()
    response = client.post("/api/ogc/collections/traffic/items", json={}, environ_base={"REMOTE_ADDR": _ip()})
    assert response.status_code == 405 and response.get_json()["code"] == "MethodNotAllowed"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    param=st.sampled_from(["bbox", "datetime", "limit", "offset", "city", "f"]),
    value=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=40
    )
    | st.from_regex(r"-?\d{1,6}(\.\d+)?(,-?\d{1,3}(\.\d+)?){0,5}", fullmatch=True)
    | st.from_regex(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?Z?)?(/(\.\.|\d{4}-\d{2}-\d{2}))?", fullmatch=True),
    collection=st.sampled_from([*COLLECTIONS, "x"]),
)
def test_any_parameter_value_gets_an_answer_never_a_500(api, param, value, collection):
    response = api(f"/api/ogc/collections/{collection}/items", query_string={"limit": "3"} | {param: value})
    assert response.status_code in (200, 400, 404), (param, value, response.status_code)
    if response.status_code != 200:
        assert json.loads(response.get_data(as_text=True))["description"]


def test_cached_answers_follow_new_data_at_once(api, dash_app):
    """Answers are cached per feed revision: a write shows in the very next answer, not after a timeout.
    The notices open at a fixed instant half an hour ago: "open now" changes by itself as simulated
    incidents close (CI once saw one close while the new one arrived), and the simulator's next
    incidents are reported after that instant."""
    at = int(time.time()) - 1800
    path = f"/api/ogc/collections/incidents/items?city=xiongan&limit=1&datetime={_iso(at)}"
    before = api(path).get_json()["numberMatched"]
    assert api(path).get_json()["numberMatched"] == before  # the cached answer
    row = {"ref": f"ogc-cache-{time.time_ns()}", "kind": "traffic_accident", "severity": 2, "lon": 115.95,
           "lat": 39.05, "reported_at": at - 60, "city": "xiongan"}  # fmt: skip
    sent = dash_app.server.test_client().post(
        "/api/v1/ingest/incidents", json=[row], headers={"X-API-Key": "test-key-1"}
    )
    assert sent.status_code == 200 and sent.get_json()["accepted"] == 1, sent.get_json()
    assert api(path).get_json()["numberMatched"] == before + 1


def test_kept_answers_carry_the_etag_of_their_body(api):
    """The ETag is computed when an answer is kept, not on every hit; it is still the body's hash,
    the same on a miss and a hit, and revalidation still answers 304."""
    import hashlib

    path = f"/api/ogc/collections/parking/items?city=shenzhen&limit=7&offset={time.time_ns() % 1000}"
    first, second = api(path), api(path)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    expected = f'"{hashlib.sha1(second.get_data()).hexdigest()[:24]}"'
    assert first.headers["ETag"] == second.headers["ETag"] == expected
    assert api(path, headers={"If-None-Match": expected}).status_code == 304
    zipped = api(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] == expected[:-1] + '-gz"'
    assert api(path, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}).status_code == 304
