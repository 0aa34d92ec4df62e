"""HTTP policies for every route, as app-wide hooks, so pages, dumps and the API behave as
`/sparql` does: 414/413 before any view reads an oversized request; CORS for any origin, without
credentials; security headers; a strong ETag from the data version and the request, never the
body, so a view can answer 304, or send the answer it gave before (`server.answer_cache`),
before it runs its query (`not_modified`); `Cache-Control` public on successes and `no-store`
on errors; deterministic gzip (equal answers, equal bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import logging

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestURITooLarge

from server.answer_cache import AnswerCache
from server.state import get_state

log = logging.getLogger("rabat_kg.http")

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
COMPRESS_MIN_BYTES = 1024
# Response headers a cross-origin script may read (beyond the CORS-safelisted ones).
EXPOSE_HEADERS = ("ETag, Link, Location, Retry-After, Result-Truncated, Result-Limit, Result-Count, "
                  "Server-Timing, Content-Language, Content-Length, Vary, Query-Hint")
# What a 304 made from a full answer keeps of its headers (names or name prefixes).
_KEPT_ON_304 = ("etag", "cache-control", "vary", "content-language", "content-location", "link",
                "access-control-", "content-security", "x-", "referrer")
# Headers that describe one request's handling, not the answer: never replayed from the cache.
_PER_REQUEST = frozenset({"server-timing", "date"})
CACHE_HIT_TIMING = "cache;desc=hit"
ANSWERS = "rabat_kg_answers"  # app.extensions key of the AnswerCache
_COMPRESSIBLE = ("text/", "application/json", "application/problem+json", "application/ld+json",
                 "application/sparql-results+json", "application/sparql-results+xml",
                 "application/rdf+xml", "application/n-triples", "application/xml",
                 "application/sparql-query", "application/javascript", "image/svg+xml")


def init_app(app: Flask) -> None:
    """Register the request and response hooks on the whole app."""
    app.before_request(check_request_size)
    app.after_request(apply_policies)
    cache_mb = float(app.config.get("ANSWER_CACHE_MB", 0) or 0)
    if cache_mb > 0:
        app.extensions[ANSWERS] = AnswerCache(int(cache_mb * 1024 * 1024),
                                              float(app.config.get("CACHE_MAX_AGE", 300)))


def check_request_size() -> None:
    """414/413 before anything reads the request. waitress reads a chunked body whole and
    gives it a Content-Length, so every body has a length here."""
    limit = int(current_app.config["MAX_QUERY_STRING_BYTES"])
    if len(request.query_string) > limit:
        raise RequestURITooLarge(
            f"the query string is {len(request.query_string)} bytes, over the limit of {limit}; "
            "send long queries by POST (application/sparql-query or a form body)")
    body_limit = int(current_app.config["MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > body_limit:
        raise RequestEntityTooLarge(
            f"the request body is {request.content_length} bytes, over the limit of {body_limit}")


def compressible(media_type: str) -> bool:
    """True for textual media types worth compressing."""
    return media_type.startswith(_COMPRESSIBLE)


def data_version() -> str | None:
    """The served release's version, or None if the backend cannot tell right now."""
    try:
        return get_state().backend.version()
    except Exception:  # a remote store may be down; then there is simply no ETag
        log.debug("no data version for the ETag", exc_info=True)
        return None


def accepts_gzip() -> bool:
    """True if the request's Accept-Encoding takes gzip (most requests send none)."""
    return "HTTP_ACCEPT_ENCODING" in request.environ and request.accept_encodings["gzip"] > 0


def etag_for(media_type: str, language: str | None = None, version: str | None = None) -> str | None:
    """The strong ETag (quoted) of the current GET/HEAD request's representation, from its
    inputs only: the same data version, path, arguments and negotiated representation give
    the same bytes, so the tag is known before the body exists. (Scheme and Host: the service
    description and the VoID name this server by them.)"""
    version = version or data_version()
    if version is None:
        return None
    coding = "gzip" if compressible(media_type) and accepts_gzip() else ""
    parts = (version, "GET", request.scheme, request.host, request.path, request.query_string,
             media_type.split(";")[0].strip().lower(), language or "", coding)
    digest = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(media_type: str, language: str | None = None) -> Response | None:
    """A 304 if the client already holds this representation, the answer if the cache holds
    it; else None (and remember the tag).

    Views call it after negotiation and before running a query, so a revalidation or a repeat
    costs no query. The ETag is kept in `g` and set on the response by `apply_policies`, which
    keeps the finished answer in the cache.
    """
    if request.method not in ("GET", "HEAD") or (version := data_version()) is None:
        return None
    tag = etag_for(media_type, language, version)
    if tag is None:
        return None
    g.kg_etag, g.kg_version = tag, version
    g.kg_media_type = media_type
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag})
    cache: AnswerCache | None = current_app.extensions.get(ANSWERS)
    answer = cache.get(version, tag) if cache is not None else None
    if answer is None:
        return None
    g.kg_cache_hit = True
    return Response(answer.body, headers=[*answer.headers, ("Server-Timing", CACHE_HIT_TIMING)])


def provisional() -> None:
    """Mark this request's answer as one that will change within the release (a page showing
    a report still being computed): sent without an ETag, `no-cache`, never kept."""
    g.kg_provisional = True


def apply_policies(response: Response) -> Response:
    """The response hook: CORS, security, caching, ETag/304 and gzip, in that order; then a
    GET's finished answer goes into the cache."""
    if g.get("kg_cache_hit"):
        return response  # sent as it was when kept, policies and all
    headers = response.headers
    headers.pop("Access-Control-Allow-Credentials", None)  # any origin may read, never with credentials
    if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.environ:
        headers.update(_PREFLIGHT)
        if response.status_code == 200:
            response.status_code = 204
            response.set_data(b"")
            headers.pop("Content-Type", None)
    # One look at the names the view set: each Werkzeug lookup by name scans them all.
    present = {name.lower() for name, _ in headers.items()}
    headers.extend([(name, value) for name, value in _ALWAYS + _UNLESS_SET if name.lower() not in present])
    for name, value in _ALWAYS:
        if name.lower() in present:
            headers[name] = value
    if request.method in ("GET", "HEAD"):
        add_vary(response, "Accept")
    if response.status_code >= 400:
        headers["Cache-Control"] = "no-store"
        headers.pop("ETag", None)
        return compress(response)
    if request.method not in ("GET", "HEAD"):
        if "cache-control" not in present:
            headers["Cache-Control"] = "no-store"
        return compress(response)
    if g.get("kg_provisional"):
        headers["Cache-Control"] = "no-cache"
        headers.pop("ETag", None)
        return compress(response)
    if response.status_code in (200, 304) and "cache-control" not in present:
        headers["Cache-Control"] = f"public, max-age={int(current_app.config.get('CACHE_MAX_AGE', 300))}"
    if response.status_code == 200 and not response.is_streamed and not response.direct_passthrough:
        response = conditional(response)
    if response.status_code == 304:
        response.headers.pop("Content-Type", None)
        if compressible(getattr(g, "kg_media_type", "") or "text/"):
            add_vary(response, "Accept-Encoding")
        return response
    response = compress(response)
    keep(response)
    return response


def keep(response: Response) -> None:
    """Put a GET's finished 200 answer in the cache, under the tag its view checked."""
    cache: AnswerCache | None = current_app.extensions.get(ANSWERS)
    if (cache is None or request.method != "GET" or response.status_code != 200 or "kg_etag" not in g
            or response.is_streamed or response.direct_passthrough):
        return
    cache.put(g.kg_version, g.kg_etag,
              [(name, value) for name, value in response.headers if name.lower() not in _PER_REQUEST],
              response.get_data())


def add_vary(response: Response, name: str) -> None:
    """Add `name` to the Vary header unless it is there (as Werkzeug's `response.vary.add`,
    which parses and rewrites the header on each call)."""
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = name
    elif name.lower() not in (v.strip().lower() for v in current.split(",")):
        response.headers["Vary"] = f"{current}, {name}"


def conditional(response: Response) -> Response:
    """Set the strong ETag (from `g` or computed now) and turn a matching request into 304."""
    language = response.headers.get("Content-Language")
    tag = getattr(g, "kg_etag", None) or etag_for(response.mimetype or "", language)
    if tag is None:
        return response
    response.headers["ETag"] = tag  # already quoted, as `Response.set_etag` would write it
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(tag.strip('"')):
        g.kg_media_type = response.mimetype
        return Response(status=304, headers=[(name, value) for name, value in response.headers
                                             if name.lower().startswith(_KEPT_ON_304)])
    return response


def compress(response: Response) -> Response:
    """gzip the body when accepted, compressible and over COMPRESS_MIN_BYTES; deterministically
    (no timestamp), so equal answers stay equal under one ETag."""
    if response.is_streamed or response.direct_passthrough:
        return response
    if not compressible(response.mimetype or ""):
        return response
    add_vary(response, "Accept-Encoding")
    if "Content-Encoding" in response.headers:
        return response
    body = response.get_data()
    if len(body) > COMPRESS_MIN_BYTES and accepts_gzip():
        response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
    return response


# Every response: CORS for any origin (no credentials), then the security headers.
_ALWAYS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
           ("X-Content-Type-Options", "nosniff"))
_UNLESS_SET = (("Content-Security-Policy", CSP), ("Referrer-Policy", "strict-origin-when-cross-origin"),
               ("X-Frame-Options", "DENY"))
# A CORS preflight's answer (cached by the browser for a day).
_PREFLIGHT = (("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
              ("Access-Control-Allow-Headers", "Accept, Accept-Language, Content-Type, If-None-Match"),
              ("Access-Control-Max-Age", "86400"))

