"""HTTP routes of the data layer: static geometry by URL (cacheable) and the health check."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache

from flask import Blueprint, Response, abort, jsonify, request

from data import access
from data.cities import UnknownCityError

blueprint = Blueprint("data_http", __name__)


@blueprint.get("/geo/<city>/<layer>.json")
def geometry(city: str, layer: str) -> Response:
    try:
        body = access.geometry_json(city, layer)
    except (UnknownCityError, KeyError):
        abort(404)
    etag, compressed = _compressed(body)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = Response(compressed, mimetype="application/geo+json", headers={"Content-Encoding": "gzip"})
    else:
        response = Response(body, mimetype="application/geo+json")
    response.vary.add("Accept-Encoding")
    response.set_etag(etag)
    # The URL carries the data version (?v=), so a versioned URL never changes content.
    response.cache_control.public = True
    response.cache_control.max_age = 86400 if request.args.get("v") else 60
    return response


@lru_cache(maxsize=64)
def _compressed(body: str) -> tuple[str, bytes]:
    raw = body.encode()
    return hashlib.sha1(raw).hexdigest()[:20], gzip.compress(raw, compresslevel=6)


@blueprint.get("/healthz")
def healthz() -> Response:
    report = access.health()
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    response.cache_control.no_store = True
    return response
