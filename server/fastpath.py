"""The SPARQL Protocol's plainest request, answered without Flask's dispatch.

`GET /sparql?query=...`, with nothing else in the query string, no body and no conditional
header, is most of what an endpoint serves (scripts, SPARQLWrapper, curl). Flask's request and
response machinery (context, routing, hooks, the Response object) costs about as much CPU as
the rest of such a request. This middleware answers that request itself with the functions
the Flask view and hooks use (intake, the negotiation Flask made before for this Accept
header, the rate limit, `result_parts`, the ETag, gzip and the policies' headers), and hands
everything else, and every error, to Flask. Against the same server without it
(`bench/ab.py`, bench/RESULTS.md notes): 7k-triple throughput +31% to +58% by query, HTTP time
over the engine -0.2 to -0.3 ms at 7k and -0.2 to -0.6 ms at 701k. `tests/test_fastpath.py`
checks that both paths give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.exceptions import SecurityError
from werkzeug.utils import get_content_type
from werkzeug.wsgi import get_host

from graph.engine.base import Backend
from graph.errors import KgError, QuerySyntaxError
from graph.formats import Format
from graph.intake import CheckedQuery
from server import http, ratelimit
from server.negotiation import decided
from server.sparql import default_lane, intake, offered_for, parse_pairs, result_parts, with_query
from server.state import backend_of

StartResponse = Callable[..., Any]
# Request headers after which the answer is not the plain 200 (a 304 may be due, or a range).
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE",
                "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE")


# The request hooks whose work `SparqlFastPath` does itself (size limits: by declining long
# query strings and bodies; the rate limit: `ratelimit.spend`; the policies: `success_headers`).
_KNOWN_BEFORE = frozenset({http.check_request_size, ratelimit.check_budget})
_KNOWN_AFTER = frozenset({http.apply_policies})


@dataclass(frozen=True)
class Plain:
    """A plain GET /sparql, read: the query as checked (its text as sent), its format, the host."""

    checked: CheckedQuery
    fmt: Format
    host: str
    coding: str  # "gzip" or "", as `http.chosen_coding` decides it for this format


class SparqlFastPath:
    """WSGI middleware around the Flask app: plain GET /sparql here, the rest to Flask."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask = app.wsgi_app
        self.config = app.config  # read on each request, as the Flask path does

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        plan = self.plain(environ)
        if plan is None:
            return self.flask(environ, start_response)
        try:
            return self.answer(environ, start_response, plan)
        except Exception as exc:  # rendered by Flask's handlers, policies applied: same as there
            return self.flask_error(environ, start_response, exc)

    def plain(self, environ: dict[str, Any]) -> Plain | None:
        """What the answer needs if this request is the plain case, else None."""
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != "/sparql" \
                or environ.get("SCRIPT_NAME") or not self.hooks_known():
            return None
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        if any(name in environ for name in _CONDITIONAL):
            return None
        coding = http.plain_coding(environ.get("HTTP_ACCEPT_ENCODING", ""))
        if coding is None:  # q-values or `*`: Flask's parser decides
            return None
        config = self.config
        raw = environ.get("QUERY_STRING", "")
        if len(raw) > int(config["MAX_QUERY_STRING_BYTES"]):
            return None
        try:
            pairs = parse_pairs(raw.encode("latin-1"), "query string")
        except (KgError, UnicodeEncodeError):
            return None
        if len(pairs) != 1 or pairs[0][0] != "query":
            return None
        try:
            checked = intake(pairs[0][1], int(config["MAX_NESTING"]))
        except KgError:
            return None  # Flask says what is wrong, the same way
        fmt = decided(offered_for(checked.form), environ.get("HTTP_ACCEPT", ""))
        if fmt is None:  # an Accept header Flask has not negotiated yet: it does, once
            return None
        try:
            host = get_host(environ, config.get("TRUSTED_HOSTS"))
        except SecurityError:
            return None
        return Plain(checked, fmt, host, coding if http.compressible(fmt.media_type) else "")

    def hooks_known(self) -> bool:
        """Whether the app's request hooks are the ones this path does itself.

        A hook added later (to the app or the sparql blueprint) would be skipped here, so the
        fast path steps aside until someone teaches it that hook.
        """
        app = self.app
        if not set(app.before_request_funcs.get(None, ())) <= _KNOWN_BEFORE \
                or not set(app.after_request_funcs.get(None, ())) <= _KNOWN_AFTER:
            return False
        if app.url_value_preprocessors.get(None) or app.teardown_request_funcs.get(None):
            return False
        return not any(table.get("sparql") for table in (
            app.before_request_funcs, app.after_request_funcs, app.url_value_preprocessors,
            app.teardown_request_funcs))

    def answer(self, environ: dict[str, Any], start_response: StartResponse,
               plain: Plain) -> Iterable[bytes]:
        """The 200 the Flask view and hooks would give; errors are raised for Flask to render."""
        app, fmt, form = self.app, plain.fmt, plain.checked.form
        max_rows = int(self.config["MAX_ROWS"])
        buckets = app.extensions.get(ratelimit.EXTENSION)
        if buckets is not None:
            ratelimit.spend(buckets, environ.get("REMOTE_ADDR"))
        backend = backend_of(app)
        tag = self.etag(environ, backend, plain)
        try:
            result = backend.execute(plain.checked.text, fmt=fmt.key, lane=default_lane(form),
                                     max_rows=max_rows)
        except QuerySyntaxError as exc:
            raise with_query(exc, plain.checked.text) from None
        body, headers = result_parts(result, fmt, max_rows)
        packed = http.gzipped(body) if plain.coding == "gzip" else None
        if packed is not None:
            body = packed
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", [("Content-Type", get_content_type(fmt.media_type, "utf-8")),
                                  *headers, ("Content-Length", str(len(body))),
                                  *http.success_headers(fmt.media_type, tag,
                                                        http.cache_max_age(self.config))])
        return [body]

    def etag(self, environ: dict[str, Any], backend: Backend, plain: Plain) -> str | None:
        """As `http.etag_for` computes it for this request (none while the version is unknown)."""
        version = http.data_version(backend)
        if version is None:
            return None
        return http.etag_of(version, plain.host, "/sparql",
                            environ.get("QUERY_STRING", "").encode("latin-1"),
                            plain.fmt.media_type, None, plain.coding)

    def flask_error(self, environ: dict[str, Any], start_response: StartResponse,
                    exc: Exception) -> Iterable[bytes]:
        """The error response Flask would give for `exc` on this request."""
        app = self.app
        with app.request_context(environ):
            try:
                response = app.make_response(app.handle_user_exception(exc))
            except Exception as unexpected:
                response = app.make_response(app.handle_exception(unexpected))
            response = app.process_response(response)
            return response(environ, start_response)


def install(app: Flask) -> None:
    """Put the fast path in front of the app (when FAST_SPARQL is on)."""
    if app.config.get("FAST_SPARQL", True):
        app.wsgi_app = SparqlFastPath(app)  # type: ignore[method-assign]
