"""Headers, rate limiting, caching and compression of the public routes, and the settings behind them."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import itertools
import re

import pytest
from werkzeug.test import Client

from data.config import parse_origins, parse_rate_limit
from public import security
from public.settings import load_public_settings

_ips = itertools.count(1)


def _ip() -> str:
    n = next(_ips)
    return f"10.3.{n // 250 % 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def client(dash_app):
    """Signed in, so the operator pages answer; public routes behave the same either way."""
    from tests.conftest import signed_in_client

    return signed_in_client(dash_app, "viewer")


def get(client, path: str, ip: str | None = None, **kwargs):
    return client.get(path, environ_base={"REMOTE_ADDR": ip or _ip()}, **kwargs)


def _gate(dash_app) -> security.PublicGate:
    gate = dash_app.server.wsgi_app
    return gate.app if not isinstance(gate, security.PublicGate) else gate  # behind ProxyFix when configured


def _csp(response) -> dict[str, str]:
    parts = [p.strip() for p in response.headers["Content-Security-Policy"].split(";")]
    return {p.split(" ", 1)[0]: p.split(" ", 1)[1] if " " in p else "" for p in parts}


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/share", "/_dash-layout", "/healthz", "/geo/hangzhou/parking.json"])
def test_operator_routes_cannot_be_framed_elsewhere(client, path):
    response = get(client, path)
    assert response.status_code == 200
    csp = _csp(response)
    assert csp["frame-ancestors"] == "'self'" and response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "path", ["/embed/map?city=hangzhou", "/embed/traffic?lang=en", "/embed/_dash-layout", "/embed/assets/embed.js"]
)
def test_embeds_may_be_framed_and_set_no_cookies(client, path):
    response = get(client, path)
    assert response.status_code == 200
    assert _csp(response)["frame-ancestors"] == "*"  # EMBED_ALLOWED_ORIGINS default
    assert "X-Frame-Options" not in response.headers and "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_csp_allows_exactly_the_inline_scripts_served(client):
    for path in ("/embed/map?city=hangzhou", "/"):
        response = get(client, path)
        html = response.get_data()
        inline = [
            m.group(2)
            for m in re.finditer(rb"<script([^>]*)>(.*?)</script>", html, re.S)
            if b"src=" not in m.group(1) and b"application/json" not in m.group(1)
        ]
        assert inline, path  # Dash's renderer bootstrap at least
        script_src = _csp(response)["script-src"]
        for body in inline:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            assert f"'sha256-{digest}'" in script_src, path


def test_api_answers_are_json_with_a_strict_policy_and_cors(client):
    response = get(client, "/api/ogc/collections?city=hangzhou")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert _csp(response)["default-src"] == "'none'" and _csp(response)["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_embed_origins_come_from_the_setting(dash_app):
    inner = _gate(dash_app).app
    settings = dataclasses.replace(
        load_public_settings(), embed_allowed_origins=parse_origins("https://news.example.cn https://*.gov.cn")
    )
    response = Client(security.PublicGate(inner, settings)).get("/embed/map", environ_base={"REMOTE_ADDR": _ip()})
    assert _csp(response)["frame-ancestors"] == "https://news.example.cn https://*.gov.cn"
    operator = Client(security.PublicGate(inner, settings)).get("/share")
    assert _csp(operator)["frame-ancestors"] == "'self'"


def test_tile_server_is_allowed_as_an_image_source():
    assert security.tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert security.tile_source("http://tiles.local:8080/{z}/{x}/{y}.png") == "http://tiles.local:8080"
    assert security.tile_source("javascript:alert(1)") == ""
    assert security.tile_source("https://{a}b.example/{z}") == "https:"


def test_settings_are_validated():
    assert parse_rate_limit("120/minute") == (120, 60)
    assert parse_rate_limit("10/second") == (10, 1)
    assert parse_rate_limit("1000/hours") == (1000, 3600)
    assert parse_rate_limit("50/5minute") == (50, 300)
    assert parse_rate_limit("off") is None
    for bad in ("lots", "120", "-1/minute", "0/minute", "120/fortnight"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)
    assert parse_origins("") == ("*",)
    assert parse_origins("'self', https://a.example") == ("'self'", "https://a.example")
    for bad in ("https://a.example; script-src *", "news.example.cn", "'unsafe-inline'", "https://a.example/path"):
        with pytest.raises(ValueError):
            parse_origins(bad)


# --- rate limiting --------------------------------------------------------------------------------


def test_default_limit_is_120_a_minute_per_client(client):
    ip = _ip()
    answers = [get(client, "/api/ogc/conformance", ip=ip) for _ in range(121)]
    assert all(r.status_code == 200 for r in answers[:120])
    over = answers[120]
    assert over.status_code == 429 and over.get_json()["code"] == "TooManyRequests"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["Cache-Control"] == "no-store"
    assert get(client, "/embed/_dash-layout", ip=ip).status_code == 429  # one budget for all public routes
    assert get(client, "/api/ogc/conformance").status_code == 200  # another client is not affected
    assert get(client, "/", ip=ip).status_code == 200  # operator routes are not limited
    assert get(client, "/embed/assets/embed.js", ip=ip).status_code == 200  # static files are not counted


def test_an_items_page_costs_by_the_items_it_asks_for(client):
    """Finding 7 (issue 14): 10,000 items at a time stayed under 120 requests a minute."""
    ip = _ip()
    assert get(client, "/api/ogc/collections/traffic/items?city=hangzhou&limit=10000", ip=ip).status_code == 200
    answers = [get(client, "/api/ogc/conformance", ip=ip).status_code for _ in range(21)]
    assert answers[:20] == [200] * 20 and answers[20] == 429  # the 10,000 items cost 100 of the 120


def tiny_limited_app(core, public):
    """A Flask app with one public route under the project's limiter (a gunicorn worker, in short)."""
    from flask import Flask

    from public import limits

    app = Flask("tiny")
    app.add_url_rule("/api/ogc/conformance", "conformance", lambda: "ok")
    limits.install([app], public, core)
    return app.test_client()


def test_the_limiter_keeps_limiting_in_process_when_redis_is_down():
    from data.config import load_settings

    core = dataclasses.replace(load_settings(), redis_url="redis://127.0.0.1:9/0")  # nothing listens on port 9
    worker = tiny_limited_app(core, dataclasses.replace(load_public_settings(), rate_limit=(2, 60)))
    answers = [worker.get("/api/ogc/conformance", environ_base={"REMOTE_ADDR": "192.0.2.9"}) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].get_json()["code"] == "TooManyRequests" and 1 <= int(answers[2].headers["Retry-After"]) <= 60


def test_client_address_comes_from_trusted_proxies_only(dash_app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    gate = _gate(dash_app)
    direct = Client(gate)
    spoofed = [
        direct.get(
            "/api/ogc/conformance",
            headers={"X-Forwarded-For": f"203.0.113.{k % 250}"},
            environ_base={"REMOTE_ADDR": "192.0.2.77"},
        ).status_code
        for k in range(121)
    ]
    assert spoofed[:120] == [200] * 120 and spoofed[120] == 429  # X-Forwarded-For is ignored without proxies
    proxied = Client(ProxyFix(gate, x_for=1))  # what PUBLIC_TRUSTED_PROXIES=1 puts in front
    statuses = {
        proxied.get("/api/ogc/conformance", headers={"X-Forwarded-For": f"198.51.100.{k}"}).status_code
        for k in range(1, 122)
    }
    assert statuses == {200}  # 121 clients behind one proxy


def test_public_hosts_see_only_public_routes(dash_app):
    inner = _gate(dash_app).app
    settings = dataclasses.replace(load_public_settings(), public_hosts=frozenset({"maps.example.cn"}))
    gate = Client(security.PublicGate(inner, settings))

    def status(path: str, host: str) -> int:
        return gate.get(path, base_url=f"http://{host}", environ_base={"REMOTE_ADDR": _ip()}).status_code

    for path in ("/", "/_dash-layout", "/healthz", "/share", "/geo/hangzhou/roads.json"):
        assert status(path, "maps.example.cn:443") == 404, path
    assert status("/api/ogc/conformance", "maps.example.cn") == 200
    assert status("/embed/_dash-layout", "maps.example.cn") == 200
    assert status("/", "ops.internal") == 302  # reaches the app, which asks for sign-in


# --- caching and compression ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/ogc/collections?city=hangzhou",
        "/api/ogc/collections/parking/items?city=hangzhou&limit=50",
        "/embed/map?city=hangzhou",
        "/embed/_dash-dependencies",
        "/embed/geo/hangzhou/roads.json",
    ],
)
def test_public_answers_are_cacheable_and_compressed(client, path):
    first = get(client, path, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200
    assert first.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in first.headers["Vary"]
    gzip.decompress(first.get_data())
    assert "public" in first.headers["Cache-Control"] and "max-age=" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = get(client, path, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    plain = get(client, path)
    assert "Content-Encoding" not in plain.headers and plain.headers["ETag"] != etag


def test_callbacks_are_compressed_but_never_cached(client):
    body = {
        "output": "..em-root.children...em-config.data...em-interval.disabled..",
        "outputs": [
            {"id": "em-root", "property": "children"},
            {"id": "em-config", "property": "data"},
            {"id": "em-interval", "property": "disabled"},
        ],
        "inputs": [
            {"id": "em-url", "property": "pathname", "value": "/embed/map"},
            {"id": "em-url", "property": "search", "value": "?city=hangzhou"},
        ],
        "changedPropIds": ["em-url.pathname"],
        "state": [],
    }
    response = client.post(
        "/embed/_dash-update-component",
        json=body,
        headers={"Accept-Encoding": "gzip"},
        environ_base={"REMOTE_ADDR": _ip()},
    )
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers
