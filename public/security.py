"""One WSGI middleware in front of everything: security headers on every response, a body limit,
and for the public routes (`/embed/…`, `/api/ogc/…`) no cookies, ETag/Cache-Control and gzip.

- Operator pages: CSP with `frame-ancestors 'self'` and `X-Frame-Options: SAMEORIGIN`.
- Embed pages: CSP with `frame-ancestors` = EMBED_ALLOWED_ORIGINS (default `*`), no X-Frame-Options.
- Both: `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and `script-src 'self'` plus the
  sha256 of each inline <script> of the HTML actually served (Dash's renderer bootstrap), so no
  'unsafe-inline' script is ever allowed.
- Bodies over MAX_BODY_BYTES are refused (413) before anything reads them (ingest: INGEST_MAX_BYTES);
  signed-in answers are `Cache-Control: no-store`; HSTS_SECONDS adds Strict-Transport-Security.
- Rate limits are Flask-Limiter's (public.limits). Behind a reverse proxy set PUBLIC_TRUSTED_PROXIES
  so the client IP is read from X-Forwarded-For (ProxyFix, in front of this gate and the limiter).
- PUBLIC_HOSTS: host names (e.g. the public maps domain) on which only the public routes exist.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES, parse_accept_header, parse_etags, unquote_etag
from werkzeug.middleware.proxy_fix import ProxyFix

from data.config import load_settings
from public.settings import PublicSettings

log = logging.getLogger(__name__)

EMBED_PREFIX = "/embed"
API_PREFIX = "/api/ogc"
INGEST_PREFIXES = ("/api/v1/ingest/", "/api/v1/ngsi/")  # INGEST_MAX_BYTES, checked by those routes
# Operator responses that may be kept by a browser; everything else signed-in is `no-store`.
OPERATOR_STATIC = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
# Static files of the embed app: cheap, fingerprinted or versioned; not counted against the budget.
UNCOUNTED = ("/embed/_dash-component-suites/", "/embed/assets/", "/embed/icons/", "/embed/_favicon.ico")
COMPRESSIBLE = re.compile(
    r"^(text/|application/(json|geo\+json|javascript|vnd\.oai\.openapi\+json)|image/(svg|x-icon|vnd\.microsoft\.icon))"
)
MIN_COMPRESS = 512
_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)


def classify(path: str) -> str:
    if path == EMBED_PREFIX or path.startswith(EMBED_PREFIX + "/"):
        return "embed"
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "api"
    return "operator"


# --- headers ------------------------------------------------------------------------------------


@lru_cache(maxsize=16)  # the same few pages (embed, operator index) are served again and again
def _inline_script_hashes(body: bytes) -> tuple[str, ...]:
    hashes = []
    for match in _SCRIPT.finditer(body):
        attrs = match.group("attrs").lower()
        if b"src=" in attrs or b"application/json" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(match.group("body")).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return tuple(sorted(set(hashes)))


def tile_source(url: str | None) -> str:
    """The CSP source of an XYZ tile URL: `https://{s}.tile.example.org/{z}/{x}/{y}.png` → `https://*.tile.example.org`."""
    if not url or "//" not in url:
        return ""
    scheme, rest = url.split("//", 1)
    if scheme not in ("http:", "https:"):
        return ""
    netloc = rest.split("/", 1)[0].replace("{s}", "*")
    if re.search(r"[{}\s;,'\"]", netloc):
        return scheme
    return f"{scheme}//{netloc}"


def content_security_policy(kind: str, body: bytes, is_html: bool, settings: PublicSettings) -> str:
    if kind == "api":
        return "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    scripts = " ".join(["'self'", *(_inline_script_hashes(body) if is_html else [])])
    tiles = tile_source(settings.tile_url)
    ancestors = " ".join(settings.embed_allowed_origins) if kind == "embed" else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",  # Leaflet and React set inline styles
            f"img-src 'self' data: blob: {tiles}".strip(),
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-src 'self'" if kind == "operator" else "frame-src 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def _cache_control(path: str, method: str, status: int, settings: PublicSettings) -> str:
    if method not in ("GET", "HEAD") or status >= 400:
        return "no-store"
    if path.startswith(("/embed/assets/", "/embed/icons/", "/embed/_favicon.ico")):
        return "public, max-age=3600"
    if path.startswith("/embed/"):
        return "public, max-age=60"  # pages, layout, dependencies
    if "/items" in path:
        return f"public, max-age={settings.refresh_seconds}"
    return "public, max-age=60"


def body_etag(body: bytes) -> str:
    """The ETag of a public answer without one: its content hash. Views that keep an answer may set it
    ahead (api.ogc), so the gate need not hash the same body on every request."""
    return f'"{hashlib.sha1(body).hexdigest()[:24]}"'


def _accepts_gzip(environ: dict[str, Any]) -> bool:
    return parse_accept_header(environ.get("HTTP_ACCEPT_ENCODING", ""))["gzip"] > 0  # `*` counts too


class _GzipCache:
    """The last compressed bodies by content hash, so popular responses are compressed once."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes, self.size = max_bytes, 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str, body: bytes) -> bytes:
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return self._items[digest]
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        with self._lock:
            self._items[digest] = compressed
            self.size += len(compressed)
            while self.size > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)
        return compressed


# --- the middleware -------------------------------------------------------------------------------


class PublicGate:
    def __init__(self, app: Callable, settings: PublicSettings) -> None:
        self.app, self.settings = app, settings
        self.gzip_cache = _GzipCache()
        core = load_settings()
        self.max_body_bytes, self.hsts_seconds = core.max_body_bytes, core.hsts_seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        kind = classify(path)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if refused := self._body_refused(environ, path):
            return self._reply(start_response, *refused)
        host = (environ.get("HTTP_HOST") or "").split(":")[0].lower()
        if kind == "operator" and self.settings.public_hosts and host in self.settings.public_hosts:
            return self._reply(
                start_response, 404, {"code": "NotFound", "description": "Only /embed/ and /api/ogc/ are public."}
            )

        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        result = self.app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        body = b"".join(chunks)
        headers = Headers(captured["headers"])
        status = int(captured["status"].split(" ", 1)[0])
        self._secure(kind, headers, body)  # before compression: it hashes the inline scripts of the HTML
        if kind != "operator":
            status, body = self._public(environ, path, method, status, headers, body)
        else:
            _operator_cache_control(path, headers)
        if status == 304:
            headers.remove("Content-Length")
        elif method != "HEAD":
            headers["Content-Length"] = str(len(body))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, '')}", headers.to_wsgi_list())
        return [body]

    def _public(
        self, environ: dict[str, Any], path: str, method: str, status: int, headers: Headers, body: bytes
    ) -> tuple[int, bytes]:
        headers.remove("Set-Cookie")  # public responses never set cookies
        if kind_is_api(path):
            headers["Access-Control-Allow-Origin"] = "*"
        if "Cache-Control" not in headers or (status == 200 and "no-cache" in headers.get("Cache-Control", "")):
            headers["Cache-Control"] = _cache_control(path, method, status, self.settings)
        if status != 200 or headers.get("Content-Encoding") or method == "HEAD":  # HEAD: no body to tag
            return status, body
        zipped = (
            _accepts_gzip(environ)
            and len(body) >= MIN_COMPRESS
            and bool(COMPRESSIBLE.match(headers.get("Content-Type", "")))
        )
        if method not in ("GET", "HEAD"):  # Dash callbacks: compressed, never cached
            if zipped:
                body = gzip.compress(body, compresslevel=6, mtime=0)
                headers["Content-Encoding"] = "gzip"
                headers["Vary"] = "Accept-Encoding"
            return status, body
        etag = headers.get("ETag") or body_etag(body)
        vary = headers.get("Vary", "")
        if "accept-encoding" not in vary.lower():
            headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
        if zipped:
            etag = etag[:-1] + '-gz"' if etag.endswith('"') and not etag.endswith('-gz"') else etag
        headers["ETag"] = etag
        wanted = parse_etags(environ.get("HTTP_IF_NONE_MATCH"))
        if wanted.contains_weak(unquote_etag(etag)[0]) or wanted.star_tag:
            for name in ("Content-Type", "Content-Length", "Content-Encoding"):
                headers.remove(name)
            return 304, b""
        if zipped and method == "GET":
            body = self.gzip_cache.get(hashlib.sha1(body).hexdigest(), body)
            headers["Content-Encoding"] = "gzip"
        return status, body

    def _secure(self, kind: str, headers: Headers, body: bytes) -> None:
        is_html = headers.get("Content-Type", "").startswith("text/html")
        headers["Content-Security-Policy"] = content_security_policy(kind, body, is_html, self.settings)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"
        if kind == "operator":
            headers["X-Frame-Options"] = "SAMEORIGIN"
        else:
            headers.remove("X-Frame-Options")
        if self.hsts_seconds:
            headers["Strict-Transport-Security"] = f"max-age={self.hsts_seconds}; includeSubDomains"

    def _body_refused(self, environ: dict[str, Any], path: str) -> tuple[int, dict[str, Any]] | None:
        """413 for a declared body over MAX_BODY_BYTES, 411 for an undeclared one, before anything reads it."""
        if path.startswith(INGEST_PREFIXES):
            return None
        raw = environ.get("CONTENT_LENGTH") or ""
        if not raw:
            if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                return 411, {"code": "LengthRequired", "description": "Send Content-Length."}
            return None
        if not raw.isdigit() or len(raw) > 15:
            return 400, {"code": "BadRequest", "description": "Content-Length is not a number."}
        if int(raw) > self.max_body_bytes:
            description = f"The body is over {self.max_body_bytes} bytes (MAX_BODY_BYTES)."
            return 413, {"code": "PayloadTooLarge", "description": description}
        return None

    def _reply(
        self, start_response: Callable, status: int, body: dict[str, Any], extra: list[tuple[str, str]] | None = None
    ) -> list[bytes]:
        raw = json.dumps(body).encode()
        headers = Headers([("Content-Type", "application/json"), ("Cache-Control", "no-store"), *(extra or [])])
        self._secure("api", headers, raw)
        headers["Content-Length"] = str(len(raw))
        start_response(f"{status} {HTTP_STATUS_CODES[status]}", headers.to_wsgi_list())
        return [raw]


def _operator_cache_control(path: str, headers: Headers) -> None:
    """Signed-in answers (pages, layout, callbacks, /api/v1, the CSV) are never stored by a cache;
    /geo/ needs a session, so a shared cache must not keep it either."""
    if path.startswith("/geo/"):
        headers["Cache-Control"] = headers.get("Cache-Control", "no-store").replace("public", "private")
    elif not path.startswith(OPERATOR_STATIC):
        headers["Cache-Control"] = "no-store"


def kind_is_api(path: str) -> bool:
    return classify(path) == "api"


def install(wsgi_app: Callable, settings: PublicSettings) -> Callable:
    """The gate around `wsgi_app`, behind ProxyFix when PUBLIC_TRUSTED_PROXIES says proxies are in front."""
    gated = PublicGate(wsgi_app, settings)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        return ProxyFix(gated, x_for=n, x_proto=n, x_host=n, x_port=n)
    return gated
