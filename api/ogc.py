"""Open data API: OGC API - Features - Part 1: Core (OGC 17-069r4), read-only, at /api/ogc/.

Collections `traffic`, `parking`, `air-quality` and `incidents` of one city (`city`, default
hangzhou), as GeoJSON (default) or CSV (`f=csv`). Every field comes from `public.data`, which builds
features from explicit lists of public fields. Bad parameters get 400 and unknown collections or
features 404, each with a JSON body {"code", "description"}; nothing here answers 500 on user input.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from api import outage as http_outage
from data import access, store
from data.config import load_settings
from data.geo.cities import CITIES, DEFAULT_CITY, UnknownCityError
from public import data, security
from public.settings import load_public_settings

log = logging.getLogger(__name__)
blueprint = Blueprint("public_ogc", __name__, url_prefix="/api/ogc")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
COMMON_PARAMS = {"city", "f"}
ITEMS_PARAMS = COMMON_PARAMS | {"bbox", "bbox-crs", "datetime", "limit", "offset"}
FEED_STATE_MAX_AGE = 1.0  # seconds a worker may answer from revisions it read (other workers' writes)


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


@blueprint.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _json({"code": exc.code, "description": exc.description}, status=exc.status)


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
        return _json({"code": exc.name.replace(" ", ""), "description": exc.description or ""}, exc.code)
    if (unavailable := http_outage.answer(exc)) is not None:
        return unavailable  # the store is down: 503 with Retry-After, logged once per outage
    log.exception("open data API failed on %s", request.full_path)
    return _json({"code": "ServerError", "description": "The server could not answer; please retry later."}, 503)


def _json(body: Any, status: int = 200, mimetype: str = JSON) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status, mimetype=mimetype)


def answer_cached(view: Callable[..., Response]) -> Callable[..., Response]:
    """Keep a successful answer in the app cache (Redis when REDIS_URL is set) until the city's data
    changes (feed revisions) or the refresh interval turns ("now" moves), whichever comes first.

    Many readers ask the same questions; each answer is computed from the store once per change.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            city = data.city_key(request.args.get("city", DEFAULT_CITY))
        except UnknownCityError:
            return view(*args, **kwargs)  # the view words the error
        settings = load_settings()  # remembered per environment: cheap per request
        database_url, refresh_seconds = settings.database_url, settings.refresh_seconds
        # Revisions read up to a second ago in this process; a write made here shows at once.
        states = store.recent_feed_states(store.get_engine(database_url), city, FEED_STATE_MAX_AGE)
        revisions = sorted(states.items())
        quantum = int(time.time()) // refresh_seconds
        key = f"ogc:{_base_url()}:{request.full_path}:{revisions}:{quantum}"  # links name the base
        hit = access.cache.get(key)
        if hit is not None:
            body, mimetype, headers = hit
            return Response(body, status=200, mimetype=mimetype, headers=headers)
        response = view(*args, **kwargs)
        if response.status_code == 200 and not response.direct_passthrough:
            body = response.get_data()
            # The ETag the public gate would give this body (public.security), computed once, not per hit.
            response.headers["ETag"] = security.body_etag(body)
            keep = {k: v for k, v in response.headers.items() if k in ("Content-Disposition", "ETag")}
            access.cache.set(key, (body, response.mimetype, keep), timeout=120)
        return response

    return wrapper


# --- parameters ---------------------------------------------------------------------------------


def _check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(
            400,
            "InvalidParameterValue",
            f"Unknown query parameter(s): {', '.join(unknown)}. Allowed here: {', '.join(sorted(allowed))}.",
        )
    repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if repeated:
        raise ApiError(400, "InvalidParameterValue", f"Parameter given more than once: {', '.join(repeated)}.")


def _city() -> str:
    raw = request.args.get("city", DEFAULT_CITY)
    try:
        return data.city_key(raw)
    except UnknownCityError:
        raise ApiError(400, "InvalidParameterValue", f"Unknown city {raw!r}; one of: {', '.join(CITIES)}.") from None


def _format(allowed: tuple[str, ...]) -> str:
    f = request.args.get("f", allowed[0]).lower()
    aliases = {"geojson": "json", "application/geo+json": "json", "application/json": "json", "text/csv": "csv"}
    f = aliases.get(f, f)
    if f not in allowed:
        raise ApiError(400, "InvalidParameterValue", f"Unsupported format f={f!r}; one of: {', '.join(allowed)}.")
    return f


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise ApiError(400, "InvalidParameterValue", "bbox needs 4 numbers: minLon,minLat,maxLon,maxLat (CRS84).")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", f"bbox must be numbers, got {raw!r}.") from None
    if not all(math.isfinite(v) for v in values):
        raise ApiError(400, "InvalidParameterValue", "bbox values must be finite numbers.")
    minx, miny, maxx, maxy = values if len(values) == 4 else (values[0], values[1], values[3], values[4])
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise ApiError(400, "InvalidParameterValue", "bbox is outside lon -180..180, lat -90..90.")
    if miny > maxy:
        raise ApiError(400, "InvalidParameterValue", "bbox: minLat is greater than maxLat.")
    if minx > maxx:
        raise ApiError(400, "InvalidParameterValue", "bbox: minLon > maxLon (antimeridian crossing) is not supported.")
    return minx, miny, maxx, maxy


def _parse_instant(text: str, end_of_day: bool) -> tuple[float, bool]:
    """Seconds since the epoch of an RFC 3339 date-time (no offset: UTC), and whether it was a bare date."""
    text = text.strip()
    if len(text) == 10:  # a full-date
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(400, "InvalidParameterValue", f"Not a date: {text!r}.") from None
        return (day + timedelta(days=1)).timestamp() - 1 if end_of_day else day.timestamp(), True
    if "T" not in text.upper() or len(text) < 16:
        raise ApiError(400, "InvalidParameterValue", f"Not an RFC 3339 date-time: {text!r}.")
    try:
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", f"Not an RFC 3339 date-time: {text!r}.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp(), False


def parse_datetime(raw: str | None) -> data.Window:
    """An instant, a date (its whole UTC day), or an interval `a/b` with `..` or empty for an open end."""
    if raw is None:
        return data.Window()
    if raw.count("/") > 1:
        raise ApiError(400, "InvalidParameterValue", f"datetime has more than one '/': {raw!r}.")
    if "/" in raw:
        a, b = (part.strip() for part in raw.split("/"))
        start = None if a in ("", "..") else _parse_instant(a, end_of_day=False)[0]
        end = None if b in ("", "..") else _parse_instant(b, end_of_day=True)[0]
        if start is not None and end is not None and start > end:
            raise ApiError(400, "InvalidParameterValue", "datetime interval ends before it starts.")
        return data.Window(start=start, end=end, given=True)
    value, bare_date = _parse_instant(raw, end_of_day=False)
    if bare_date:
        return data.Window(start=value, end=value + 86399, given=True)
    return data.Window(start=value, instant=True, given=True)


def _int_param(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ApiError(400, "InvalidParameterValue", f"{name} must be at least {minimum}, got {value}.")
    return value


def _collection(collection_id: str) -> data.Collection:
    try:
        return data.COLLECTIONS[collection_id]
    except KeyError:
        raise ApiError(
            404, "NotFound", f"No collection {collection_id!r}; collections: {', '.join(data.COLLECTIONS)}."
        ) from None


# --- links ----------------------------------------------------------------------------------------


def _base_url() -> str:
    """PUBLIC_BASE_URL, else this request's host: then part of every cache key, so one request with a
    forged Host header only ever sees its own links."""
    return load_public_settings().public_base_url or request.url_root.rstrip("/")


def _url(path: str, **params: Any) -> str:
    query = {k: v for k, v in params.items() if v is not None}
    base = _base_url() + "/api/ogc/" + path.lstrip("/")
    return base + ("?" + urlencode(query) if query else "")


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


# --- resources ------------------------------------------------------------------------------------


@blueprint.get("/")
def landing() -> Response:
    _check_params(COMMON_PARAMS)
    city = _city()
    _format(("json",))
    return _json(
        {
            "title": "City Brain open data · 城市大脑开放数据",
            "description": (
                "Public aggregates of one city's traffic congestion, car park free spaces, air quality "
                "(HJ 633-2012) and incident notices, as OGC API - Features. Observations are SIMULATED "
                "(see the project README)."
            ),
            "city": city,
            "cities": list(CITIES),
            "links": [
                _link(_url("", city=city), "self", JSON, "This document"),
                _link(_url("api", city=city), "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
                _link(_url("conformance", city=city), "conformance", JSON, "Conformance classes"),
                _link(_url("collections", city=city), "data", JSON, "The collections"),
            ],
        }
    )


@blueprint.get("/conformance")
def conformance() -> Response:
    _check_params(COMMON_PARAMS)
    _city()
    _format(("json",))
    return _json({"conformsTo": CONFORMANCE})


def _collection_body(coll: data.Collection, city: str) -> dict[str, Any]:
    start, end = data.temporal_extent(coll, city)
    return {
        "id": coll.id,
        "title": f"{coll.title[0]} · {coll.title[1]}",
        "description": coll.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [list(data.city_bbox(city))], "crs": CRS84},
            "temporal": {"interval": [[start, end]], "trs": GREGORIAN},
        },
        "links": [
            _link(_url(f"collections/{coll.id}", city=city), "self", JSON, "This collection"),
            _link(_url(f"collections/{coll.id}/items", city=city), "items", GEOJSON, "Items as GeoJSON"),
            _link(_url(f"collections/{coll.id}/items", city=city, f="csv"), "items", "text/csv", "Items as CSV"),
        ],
    }


@blueprint.get("/collections")
@answer_cached
def collections() -> Response:
    _check_params(COMMON_PARAMS)
    city = _city()
    _format(("json",))
    return _json(
        {
            "links": [_link(_url("collections", city=city), "self", JSON, "The collections")],
            "collections": [_collection_body(c, city) for c in data.COLLECTIONS.values()],
        }
    )


@blueprint.get("/collections/<collection_id>")
@answer_cached
def collection(collection_id: str) -> Response:
    coll = _collection(collection_id)
    _check_params(COMMON_PARAMS)
    city = _city()
    _format(("json",))
    return _json(_collection_body(coll, city))


@blueprint.get("/collections/<collection_id>/items")
@answer_cached
def items(collection_id: str) -> Response:
    started = time.perf_counter()
    coll = _collection(collection_id)
    _check_params(ITEMS_PARAMS)
    city = _city()
    fmt = _format(("json", "csv"))
    crs = request.args.get("bbox-crs")
    if crs is not None and crs not in (CRS84, "CRS84", "OGC:CRS84"):
        raise ApiError(400, "InvalidParameterValue", f"Only bbox-crs={CRS84} is supported.")
    bbox = parse_bbox(request.args.get("bbox"))
    window = parse_datetime(request.args.get("datetime"))
    limit = min(_int_param("limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    offset = _int_param("offset", 0, 0)
    if coll.layer == "incidents":
        features, matched = data.incident_items(city, bbox, window, offset, limit)
    else:
        features, matched = data.observation_items(coll, city, bbox, window, offset, limit)
    if fmt == "csv":
        return _csv(coll, features)
    params = {
        "city": city,
        "bbox": request.args.get("bbox"),
        "bbox-crs": crs,
        "datetime": request.args.get("datetime"),
        "limit": limit,
    }
    path = f"collections/{coll.id}/items"
    links = [
        _link(_url(path, **params, offset=offset or None), "self", GEOJSON, "This page"),
        _link(_url(path, **params, offset=offset or None, f="csv"), "alternate", "text/csv", "This page as CSV"),
        _link(_url(f"collections/{coll.id}", city=city), "collection", JSON, "The collection"),
    ]
    if offset + len(features) < matched:
        links.append(_link(_url(path, **params, offset=offset + limit), "next", GEOJSON, "Next page"))
    if offset > 0:
        links.append(_link(_url(path, **params, offset=max(0, offset - limit) or None), "prev", GEOJSON, "Previous"))
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    response = _json(body, mimetype=GEOJSON)
    response.headers["Server-Timing"] = f"items;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


@blueprint.get("/collections/<collection_id>/items/<feature_id>")
@answer_cached
def item(collection_id: str, feature_id: str) -> Response:
    coll = _collection(collection_id)
    _check_params(COMMON_PARAMS)
    city = _city()
    fmt = _format(("json", "csv"))
    if coll.layer == "incidents":
        feature = data.incident_item(city, feature_id)
    else:
        feature = data.observation_item(coll, city, feature_id)
    if feature is None:
        raise ApiError(404, "NotFound", f"No feature {feature_id!r} in {coll.id} for {city}.")
    if fmt == "csv":
        return _csv(coll, [feature])
    feature = feature | {
        "links": [
            _link(_url(f"collections/{coll.id}/items/{feature_id}", city=city), "self", GEOJSON, "This feature"),
            _link(_url(f"collections/{coll.id}", city=city), "collection", JSON, "The collection"),
        ]
    }
    return _json(feature, mimetype=GEOJSON)


def _csv(coll: data.Collection, features: list[dict[str, Any]]) -> Response:
    forecast = bool(features) and features[0]["properties"].get("forecast") is True
    names = list(features[0]["properties"]) if forecast else data.PROPERTY_NAMES[coll.layer]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", *names, "lon", "lat", "wkt"])
    for f in features:
        geometry = f["geometry"]
        coords = geometry["coordinates"]
        if geometry["type"] == "Point":
            lon, lat = coords
            wkt = f"POINT ({lon} {lat})"
        else:
            lon, lat = coords[len(coords) // 2]
            wkt = "LINESTRING (" + ", ".join(f"{x} {y}" for x, y in coords) + ")"
        props = f["properties"]
        writer.writerow([f["id"], *("" if props.get(n) is None else props[n] for n in names), lon, lat, wkt])
    return Response(out.getvalue(), mimetype="text/csv")


@blueprint.route("/", methods=["POST", "PUT", "PATCH", "DELETE"])
@blueprint.route("/<path:_rest>", methods=["POST", "PUT", "PATCH", "DELETE"])
def read_only(_rest: str = "") -> Response:
    response = _json({"code": "MethodNotAllowed", "description": "This API is read-only: use GET."}, status=405)
    response.headers["Allow"] = "GET, HEAD"
    return response


@blueprint.get("/<path:_rest>")
def unknown(_rest: str) -> Response:
    raise ApiError(404, "NotFound", "No such resource; start at /api/ogc/.")


@blueprint.get("/api")
def openapi() -> Response:
    _check_params(COMMON_PARAMS)
    return _json(_openapi_document(_base_url() + "/api/ogc"), mimetype=OPENAPI)


def _openapi_document(server_url: str) -> dict[str, Any]:
    def param(name: str, description: str, schema: dict[str, Any], explode: bool | None = None) -> dict[str, Any]:
        p = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
        if explode is not None:
            p |= {"style": "form", "explode": explode}
        return p

    city = param("city", "One of the six cities.", {"type": "string", "enum": list(CITIES), "default": DEFAULT_CITY})
    fmt = param("f", "Output format.", {"type": "string", "enum": ["json", "csv"], "default": "json"})
    collection_id = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(data.COLLECTIONS)},
    }
    feature_id = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}
    ok = {"description": "OK"}
    errors = {"400": {"description": "Bad parameter (JSON message)"}, "404": {"description": "Not found (JSON)"}}
    items = [
        city,
        fmt,
        param(
            "bbox",
            "minLon,minLat,maxLon,maxLat in CRS84.",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            explode=False,
        ),
        param("bbox-crs", "Only CRS84.", {"type": "string", "format": "uri"}),
        param(
            "datetime",
            "RFC 3339 instant, date or interval (a/b, ../b, a/..). A future instant returns the forecast for it "
            "(sensor collections; `forecast: true`, the 80 % interval and the model), or nothing.",
            {"type": "string"},
        ),
        param("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
        param("offset", "Items to skip (the next links carry it).", {"type": "integer", "minimum": 0, "default": 0}),
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "City Brain open data (OGC API - Features)", "version": "1.0.0"},
        "servers": [{"url": server_url}],
        "paths": {
            "/": {"get": {"summary": "Landing page", "parameters": [city, fmt], "responses": {"200": ok}}},
            "/conformance": {"get": {"summary": "Conformance", "parameters": [city, fmt], "responses": {"200": ok}}},
            "/collections": {"get": {"summary": "Collections", "parameters": [city, fmt], "responses": {"200": ok}}},
            "/collections/{collectionId}": {
                "get": {
                    "summary": "A collection",
                    "parameters": [collection_id, city, fmt],
                    "responses": {"200": ok, **errors},
                }
            },
            "/collections/{collectionId}/items": {
                "get": {
                    "summary": "Features of a collection",
                    "parameters": [collection_id, *items],
                    "responses": {"200": ok, **errors},
                }
            },
            "/collections/{collectionId}/items/{featureId}": {
                "get": {
                    "summary": "One feature",
                    "parameters": [collection_id, feature_id, city, fmt],
                    "responses": {"200": ok, **errors},
                }
            },
        },
    }
