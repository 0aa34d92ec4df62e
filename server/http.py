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
    """The response hook: CORS, security, caching, ETag/304 and gzip; then a GET's finished
    answer goes into the cache.

    The view's headers are read once and the policies' go in with one `extend`: each Werkzeug
    lookup by name scans every header, and this runs on every response.
    """
    if g.get("kg_cache_hit"):
        return response  # sent as it was when kept, policies and all
    headers = response.headers
    method = request.method
    if method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.environ:
        headers.update(_PREFLIGHT)
        if response.status_code == 200:
            response.status_code = 204
            response.set_data(b"")
            headers.pop("Content-Type", None)
    # CORS and security headers: those the view did not set are added, the _ALWAYS ones replace.
    view_set = {name.lower(): value for name, value in headers.items()}
    added = [(name, value) for name, value in _ALWAYS + _UNLESS_SET if name.lower() not in view_set]

    def put(name: str, value: str) -> None:
        if name.lower() in view_set:
            headers[name] = value
        else:
            added.append((name, value))

    for name, value in _ALWAYS:
        if name.lower() in view_set:
            headers[name] = value
    if "access-control-allow-credentials" in view_set:  # any origin may read, never with credentials
        del headers["Access-Control-Allow-Credentials"]
    # Caching: which copies may be kept, and the ETag a GET's answer is validated by.
    status, readable = response.status_code, method in ("GET", "HEAD")
    provisional = readable and status < 400 and g.get("kg_provisional")
    tag = None
    if status >= 400 or provisional:  # no shared copies, no validator
        put("Cache-Control", "no-store" if status >= 400 else "no-cache")
        if "etag" in view_set:
            del headers["ETag"]
    elif not readable:
        if "cache-control" not in view_set:
            added.append(("Cache-Control", "no-store"))
    else:
        if status in (200, 304) and "cache-control" not in view_set:
            added.append(("Cache-Control",
                          f"public, max-age={int(current_app.config.get('CACHE_MAX_AGE', 300))}"))
        if status == 200 and not response.is_streamed and not response.direct_passthrough:
            tag = g.get("kg_etag") or etag_for(response.mimetype or "", view_set.get("content-language"))
            if tag is not None:
                put("ETag", tag)  # already quoted, as `Response.set_etag` would write it
    # Vary on what the answer was negotiated by, then everything added goes in at once.
    if status == 304:
        zippable = compressible(g.get("kg_media_type") or "text/")
    else:
        zippable = (not response.is_streamed and not response.direct_passthrough
                    and compressible(response.mimetype or ""))
    vary = vary_with(view_set.get("vary"), (["Accept"] if readable else []) +
                     (["Accept-Encoding"] if zippable else []))
    if vary is not None:
        put("Vary", vary)
    headers.extend(added)
    # 304 if the client holds this representation; else gzip if asked for, and keep it.
    if tag is not None and "HTTP_IF_NONE_MATCH" in request.environ \
            and request.if_none_match.contains_weak(tag.strip('"')):
        response = Response(status=304, headers=[(name, value) for name, value in headers
                                                 if name.lower().startswith(_KEPT_ON_304)])
        status = 304
    if status == 304:
        response.headers.pop("Content-Type", None)
        return response
    if zippable and "content-encoding" not in view_set:
        body = response.get_data()
        if len(body) > COMPRESS_MIN_BYTES and accepts_gzip():
            # deterministic (no timestamp): equal answers stay equal under one ETag
            response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
            headers.add("Content-Encoding", "gzip")
    if tag is not None:
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
    value = vary_with(response.headers.get("Vary"), [name])
    if value is not None:
        response.headers["Vary"] = value


def vary_with(current: str | None, names: list[str]) -> str | None:
    """The Vary value `current` with the `names` it lacks added; None if it lacks none."""
    if not current:
        return ", ".join(names) or None
    present = {v.strip().lower() for v in current.split(",")}
    missing = [name for name in names if name.lower() not in present]
    return ", ".join([current, *missing]) if missing else None


# Every response: CORS for any origin (no credentials), then the security headers.
_ALWAYS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
           ("X-Content-Type-Options", "nosniff"))
_UNLESS_SET = (("Content-Security-Policy", CSP), ("Referrer-Policy", "strict-origin-when-cross-origin"),
               ("X-Frame-Options", "DENY"))
# A CORS preflight's answer (cached by the browser for a day).
_PREFLIGHT = (("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
              ("Access-Control-Allow-Headers", "Accept, Accept-Language, Content-Type, If-None-Match"),
              ("Access-Control-Max-Age", "86400"))

