"""HTTP routes of the data layer: static geometry by URL (cacheable) and the health check."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from functools import lru_cache

from flask import Blueprint, Response, abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import error_response
from data import access
from data.config import load_settings
from data.feeds import ingest
from data.geo.cities import UnknownCityError

blueprint = Blueprint("data_http", __name__)


@blueprint.get("/geo/<city>/<layer>.json")
def geometry(city: str, layer: str) -> Response:
    return _geometry_response(access.geometry_json, city, layer, "application/geo+json")


@blueprint.get("/geo/<city>/<layer>.pbf")
def geometry_geobuf(city: str, layer: str) -> Response:
    """The same features as geobuf (dash-leaflet GeoJSON format="geobuf"): encoded once, cached, ETag'd."""
    return _geometry_response(access.geometry_geobuf, city, layer, "application/x-protobuf")


def _geometry_response(load, city: str, layer: str, mimetype: str) -> Response:
    """One layer's geometry, gzipped when the client accepts it, with an ETag (304 when unchanged)."""
    try:
        body = load(city, layer)
    except (UnknownCityError, KeyError):
        abort(404)
    etag, compressed = _compressed(body)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = Response(compressed, mimetype=mimetype, headers={"Content-Encoding": "gzip"})
    else:
        response = Response(body, mimetype=mimetype)
    response.vary.add("Accept-Encoding")
    response.set_etag(etag)
    # The URL carries the data version (?v=), so a versioned URL never changes content.
    response.cache_control.public = True
    response.cache_control.max_age = 86400 if request.args.get("v") else 60
    return response


@lru_cache(maxsize=64)
def _compressed(body: str | bytes) -> tuple[str, bytes]:
    raw = body.encode() if isinstance(body, str) else body
    return hashlib.sha1(raw).hexdigest()[:20], gzip.compress(raw, compresslevel=6)


@blueprint.get("/healthz")
def healthz() -> Response:
    report = access.health()
    response = jsonify(report)
    # Degraded (Redis skipped, live data late) still serves: only an unreachable store takes it out.
    response.status_code = 503 if report["status"] == "error" else 200
    response.cache_control.no_store = True
    return response


# --- ingest -------------------------------------------------------------------------------------


def _ingest_guard() -> Response | None:
    """401 without a key, 403 with a wrong one, 413 over INGEST_MAX_BYTES; None when the request may go on."""
    settings = load_settings()
    key = request.headers.get("X-API-Key", "")
    if not key:
        return error_response(401, "unauthorized", "X-API-Key header required")
    given = key.encode("utf-8", "surrogateescape")  # compare_digest refuses non-ASCII str
    if not any(hmac.compare_digest(given, allowed.encode()) for allowed in settings.ingest_api_keys):
        return error_response(403, "forbidden", "API key not accepted")
    if (request.content_length or 0) > settings.ingest_max_bytes:
        return error_response(413, "too_large", f"body over INGEST_MAX_BYTES ({settings.ingest_max_bytes} bytes)")
    return None


def _body() -> bytes:
    limit = load_settings().ingest_max_bytes
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


@blueprint.post("/api/v1/ingest/<layer>")
def ingest_layer(layer: str) -> Response:
    if denied := _ingest_guard():
        return denied
    layer = layer.replace("-", "_")
    if layer not in ingest.LAYERS:
        return error_response(404, "unknown_layer", f"unknown layer: one of {', '.join(ingest.LAYERS)}")
    try:
        rows = ingest.parse_body(_body(), request.content_type or "application/json")
        result = ingest.ingest_rows(layer, rows, "csv" if "csv" in (request.content_type or "") else "json")
    except ingest.BadPayload as exc:
        return error_response(400, "bad_request", str(exc))
    except RequestEntityTooLarge:
        return error_response(413, "too_large", "body too large")
    return jsonify(result.as_dict())


@blueprint.post("/api/v1/ngsi/notify")
def ngsi_notify() -> Response:
    if denied := _ingest_guard():
        return denied
    try:
        body = _body()
        if not body.strip():
            raise ingest.BadPayload("empty body: expected an NGSI-v2 notification")
        payload = ingest.parse_body(b"[" + body + b"]", "application/json")[0]
    except ingest.BadPayload as exc:
        return error_response(400, "bad_request", str(exc).replace("column", "column (of the body, +1)"))
    except RequestEntityTooLarge:
        return error_response(413, "too_large", "body too large")
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        return error_response(
            400, "bad_request", 'expected an NGSI-v2 notification: {"subscriptionId": ..., "data": [entities]}'
        )
    return jsonify(ingest.ingest_ngsi(payload["data"]).as_dict())
