"""HTTP policies for every route: intake limits, CORS, security headers, caching, compression.

They are app-wide hooks, not endpoint code, so the entity pages, dumps and API get the same
behaviour as `/sparql`:

- intake: a query string over MAX_QUERY_STRING_BYTES is 414 (use POST), a body over
  MAX_BODY_BYTES is 413, both before any view or parser reads the request;
- CORS: `Access-Control-Allow-Origin: *` everywhere (the service is read-only and uses no
  credentials), and the OPTIONS preflight answered for GET, POST and OPTIONS;
- security headers on every response (CSP, nosniff, Referrer-Policy, frame denial);
- caching: a strong ETag on GET/HEAD 200s derived from the data version and the request
  (method, path, query string, media type, language, content coding), never from the body,
  so a view can answer 304 before it runs its query (`not_modified`); `Cache-Control`
  `public, max-age=CACHE_MAX_AGE` on successes and `no-store` on errors;
- gzip when the client accepts it and the body is over COMPRESS_MIN_BYTES, deterministic
  (no timestamp) so equal requests get byte-identical bodies under one ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestURITooLarge

from graph.engine.base import Backend

log = logging.getLogger("rabat_kg.http")

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
COMPRESS_MIN_BYTES = 1024
PREFLIGHT_MAX_AGE = 86400
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Accept, Accept-Language, Content-Type, If-None-Match"
# Response headers a cross-origin script may read (beyond the CORS-safelisted ones).
EXPOSE_HEADERS = ("ETag, Link, Location, Retry-After, Result-Truncated, Result-Limit, Result-Count, "
                  "Server-Timing, Content-Language, Content-Length, Vary, Query-Hint")
_COMPRESSIBLE = ("text/", "application/json", "application/problem+json", "application/ld+json",
                 "application/sparql-results+json", "application/sparql-results+xml",
                 "application/rdf+xml", "application/n-triples", "application/xml",
                 "application/sparql-query", "application/javascript", "image/svg+xml")


def init_app(app: Flask) -> None:
    """Register the request and response hooks on the whole app."""
    app.before_request(check_request_size)
    app.after_request(apply_policies)


def check_request_size() -> None:
    """414/413 before anything reads the request.

    Raises:
        RequestURITooLarge: query string over MAX_QUERY_STRING_BYTES (the message says to POST).
        RequestEntityTooLarge: a declared body over MAX_BODY_BYTES.
    """
    from flask import current_app

    limit = int(current_app.config["MAX_QUERY_STRING_BYTES"])
    if len(request.query_string) > limit:
        raise RequestURITooLarge(
            f"the query string is {len(request.query_string)} bytes, over the limit of {limit}; "
            "send long queries by POST (application/sparql-query or a form body)")
    body_limit = int(current_app.config["MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > body_limit:
        raise RequestEntityTooLarge(
            f"the request body is {request.content_length} bytes, over the limit of {body_limit}")
    environ = request.environ
    if request.content_length is None and environ.get("wsgi.input_terminated"):
        # A chunked body has no length to check, and Werkzeug does not cap a terminated
        # stream: read at most one byte over the limit, then hand the views a sized body.
        data = environ["wsgi.input"].read(body_limit + 1)
        if len(data) > body_limit:
            raise RequestEntityTooLarge(f"the request body is over the limit of {body_limit} bytes")
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))


def compressible(media_type: str) -> bool:
    """True for textual media types worth compressing."""
    return media_type.startswith(_COMPRESSIBLE)


def plain_coding(accept_encoding: str) -> str | None:
    """The coding `chosen_coding` picks for a compressible body, from the Accept-Encoding
    header alone when that needs no parsing: "" (no gzip named), "gzip" (a plain list naming
    it), None (q-values, `*` or an unusual spelling: ask `chosen_coding`)."""
    value = accept_encoding.lower()
    if "gzip" not in value and "*" not in value:
        return ""
    if ";" in value or "*" in value:
        return None
    return "gzip" if "gzip" in {token.strip() for token in value.split(",")} else None


def chosen_coding(media_type: str) -> str:
    """The content coding this request gets for a body of `media_type`: "gzip" or ""."""
    if not compressible(media_type):
        return ""
    # Most clients send no Accept-Encoding, "identity" or a plain list: parse only the others.
    plain = plain_coding(request.environ.get("HTTP_ACCEPT_ENCODING", ""))
    if plain is not None:
        return plain
    return "gzip" if request.accept_encodings["gzip"] > 0 else ""


def data_version(backend: Backend | None = None) -> str | None:
    """The served release's version (of `backend`, default the current app's), or None if
    the backend cannot tell right now."""
    try:
        if backend is None:
            from server.state import get_backend

            backend = get_backend()
        return backend.version()
    except Exception:  # a remote store may be down; then there is simply no ETag
        log.debug("no data version for the ETag", exc_info=True)
        return None


def etag_for(media_type: str, language: str | None = None) -> str | None:
    """The strong ETag of the current GET/HEAD request's representation, from its inputs only.

    Two requests with the same data version, path, arguments and negotiated representation
    get the same bytes, so the tag can be computed before the body exists.
    """
    version = data_version()
    if version is None:
        return None
    return etag_of(version, request.host, request.path, request.query_string, media_type,
                   language, chosen_coding(media_type))


def etag_of(version: str, host: str, path: str, query_string: bytes, media_type: str,
            language: str | None, coding: str) -> str:
    """The strong ETag (quoted) of a GET/HEAD representation with these inputs."""
    # The query string as sent (no parsing: this runs on every request); repr() keeps the
    # parts apart (quotes and escapes) like JSON would, at a fraction of its cost.
    parts = (version, "GET", host, path, query_string,
             media_type.split(";")[0].strip().lower(), language or "", coding)
    digest = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(media_type: str, language: str | None = None) -> Response | None:
    """A 304 if the client already holds this representation; else None (and remember the tag).

    Views call it after negotiation and before running a query, so a revalidation costs no
    query. The ETag is kept in `g` and set on the response by `apply_policies`.
    """
    if request.method not in ("GET", "HEAD"):
        return None
    tag = etag_for(media_type, language)
    if tag is None:
        return None
    g.kg_etag = tag
    g.kg_media_type = media_type
    if request.if_none_match and request.if_none_match.contains_weak(tag.strip('"')):
        response = Response(status=304)
        response.set_etag(tag.strip('"'))
        return response
    return None


class HeaderEdit:
    """A response's headers, edited with the names present looked up once.

    Werkzeug's `Headers` lower-cases and scans every name on each lookup or assignment; the
    response hook makes a dozen of them on every response, so it keeps a set of the names
    instead and only appends, except where a header really is replaced.
    """

    def __init__(self, response: Response) -> None:
        self.headers = response.headers
        self.present = {name.lower() for name, _value in self.headers.items()}

    def has(self, name: str) -> bool:
        return name.lower() in self.present

    def set(self, name: str, value: str) -> None:
        if name.lower() in self.present:
            self.headers[name] = value
        else:
            self.headers.add(name, value)
            self.present.add(name.lower())

    def default(self, name: str, value: str) -> None:
        if name.lower() not in self.present:
            self.headers.add(name, value)
            self.present.add(name.lower())

    def pop(self, name: str) -> None:
        if name.lower() in self.present:
            del self.headers[name]
            self.present.discard(name.lower())

    def vary(self, name: str) -> None:
        """Add `name` to Vary unless it is there."""
        current = self.headers.get("Vary", "") if "vary" in self.present else ""
        if name.lower() not in {part.strip().lower() for part in current.split(",")}:
            self.set("Vary", f"{current}, {name}" if current.strip() else name)


def apply_policies(response: Response) -> Response:
    """The response hook: CORS, security, caching, ETag/304 and gzip, in that order."""
    edit = HeaderEdit(response)
    method = request.method
    set_cors(response, edit)
    for name, value in _ALWAYS:
        edit.set(name, value)
    for name, value in _UNLESS_SET:
        edit.default(name, value)
    if method in ("GET", "HEAD"):
        edit.vary("Accept")
    status = response.status_code
    if status >= 400:
        edit.set("Cache-Control", "no-store")
        edit.pop("ETag")
        return compress(response, edit)
    if method not in ("GET", "HEAD"):
        edit.default("Cache-Control", "no-store")
        return compress(response, edit)
    if status in (200, 304):
        edit.default("Cache-Control", f"public, max-age={cache_max_age()}")
    if status == 200 and not response.is_streamed and not response.direct_passthrough:
        response = conditional(response, edit)
    if response.status_code == 304:
        response.headers.pop("Content-Type", None)
        if compressible(getattr(g, "kg_media_type", "") or "text/"):
            HeaderEdit(response).vary("Accept-Encoding")
        return response
    return compress(response, edit)


def success_headers(media_type: str, etag: str | None, max_age: int) -> list[tuple[str, str]]:
    """What `apply_policies` adds to a 200 answer to a GET with no Content-Language (but
    Content-Encoding, see `gzipped`): the SPARQL fast path (server/fastpath.py) sends these
    itself, and tests/test_fastpath.py checks both paths answer the same."""
    headers = [*_ALWAYS, *_UNLESS_SET,
               ("Vary", "Accept, Accept-Encoding" if compressible(media_type) else "Accept"),
               ("Cache-Control", f"public, max-age={max_age}")]
    if etag is not None:
        headers.append(("ETag", etag))
    return headers


def cache_max_age(config: Mapping[str, Any] | None = None) -> int:
    """Seconds a success may be cached, from `config` (default: the current app's)."""
    if config is None:
        from flask import current_app

        config = current_app.config
    return int(config.get("CACHE_MAX_AGE", 300))


def conditional(response: Response, edit: HeaderEdit) -> Response:
    """Set the strong ETag (from `g` or computed now) and turn a matching request into 304."""
    if edit.has("ETag"):
        value, _weak = response.get_etag()
    else:
        language = response.headers.get("Content-Language") if edit.has("Content-Language") else None
        tag = getattr(g, "kg_etag", None) or etag_for(response.mimetype or "", language)
        if tag is None:
            return response
        edit.set("ETag", tag)  # already quoted, as `Response.set_etag` would write it
        value = tag.strip('"')
    if value and "HTTP_IF_NONE_MATCH" in request.environ \
            and request.if_none_match.contains_weak(value):
        g.kg_media_type = response.mimetype
        not_mod = Response(status=304)
        for name in ("ETag", "Cache-Control", "Vary", "Content-Language", "Content-Location", "Link"):
            if name in response.headers:
                not_mod.headers[name] = response.headers[name]
        for name, val in response.headers.items():
            if name.lower().startswith(("access-control-", "content-security", "x-", "referrer")):
                not_mod.headers[name] = val
        return not_mod
    return response


def compress(response: Response, edit: HeaderEdit) -> Response:
    """gzip the body when accepted, compressible and over COMPRESS_MIN_BYTES."""
    if response.is_streamed or response.direct_passthrough:
        return response
    media = response.mimetype or ""
    if not compressible(media):
        return response
    edit.vary("Accept-Encoding")
    if edit.has("Content-Encoding"):
        return response
    if chosen_coding(media) != "gzip":
        return response
    packed = gzipped(response.get_data())
    if packed is None:
        return response
    response.set_data(packed)
    edit.set("Content-Encoding", "gzip")
    return response


def gzipped(body: bytes) -> bytes | None:
    """`body` gzip-compressed, deterministically (no timestamp: equal answers stay equal under
    one ETag); None when it is too small to gain (COMPRESS_MIN_BYTES or less)."""
    if len(body) <= COMPRESS_MIN_BYTES:
        return None
    return gzip.compress(body, compresslevel=6, mtime=0)


# Every response: CORS for any origin (no credentials), then the security headers.
_ALWAYS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
           ("X-Content-Type-Options", "nosniff"))
_UNLESS_SET = (("Content-Security-Policy", CSP), ("Referrer-Policy", "strict-origin-when-cross-origin"),
               ("X-Frame-Options", "DENY"))


def set_cors(response: Response, edit: HeaderEdit) -> None:
    """Open read access for any origin, never with credentials; answer preflights."""
    edit.pop("Access-Control-Allow-Credentials")
    if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.environ:
        edit.set("Access-Control-Allow-Methods", ALLOW_METHODS)
        edit.set("Access-Control-Allow-Headers", ALLOW_HEADERS)
        edit.set("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE))
        if response.status_code == 200:
            response.status_code = 204
            response.set_data(b"")
            edit.pop("Content-Type")
