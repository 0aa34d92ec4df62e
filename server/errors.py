"""Error responses: problem+json for programs, plain text or HTML for people.

Every expected failure is a `graph.errors.KgError` (or a Werkzeug HTTP error) and gets its
own status with an RFC 9457 problem document whose `type` is a stable IRI under
https://w3id.org/rabat-kg/problems/; syntax errors add `line`, `column` and the query as
sent. The body is plain text when the client prefers text/plain and an HTML page only when it
prefers HTML (a browser). Anything else is a bug: logged with its traceback, answered 500
without details.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from graph.errors import KgError
from graph.formats import HTML, PROBLEM_JSON
from graph.namespaces import PROBLEMS

log = logging.getLogger("rabat_kg.errors")

# Problem types for the HTTP errors Werkzeug raises (routing, methods, sizes, media types).
HTTP_TYPES = {400: "bad-request", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
              406: "not-acceptable", 408: "request-timeout", 409: "conflict", 411: "length-required",
              413: "request-too-large", 414: "uri-too-long", 415: "unsupported-media-type",
              429: "too-many-requests", 431: "headers-too-large", 500: "internal-error",
              501: "not-implemented", 502: "bad-gateway", 503: "service-unavailable",
              504: "gateway-timeout"}
DEFAULT_RETRY_AFTER_S = 2
_BODY_TYPES = [PROBLEM_JSON, "application/json", "text/plain", HTML]


def init_app(app: Flask) -> None:
    """Map our errors, HTTP errors and everything else to problem responses."""
    app.register_error_handler(KgError, handle_kg_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)


def handle_kg_error(exc: KgError) -> Response:
    extra = dict(exc.extra)
    retry_after = extra.pop("retry_after", DEFAULT_RETRY_AFTER_S if exc.status in (429, 503) else None)
    response = problem(exc.status, exc.type, exc.title, exc.detail, **extra)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(float(str(retry_after)))))
    return response


def handle_http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 500:
        return handle_unexpected(exc)
    response = problem(status, HTTP_TYPES.get(status, "http-error"), exc.name, exc.description or exc.name)
    # Keep the headers Werkzeug sets for this error (Allow on 405, WWW-Authenticate, ...).
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def handle_unexpected(exc: Exception) -> Response:
    """A real bug: log it with its traceback, tell the client nothing about the internals."""
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return problem(500, "internal-error", "Internal server error",
                   "the server failed to answer this request; the error has been logged")


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    """A problem response in the representation the client prefers."""
    doc: dict[str, Any] = {"type": PROBLEMS + slug, "title": title, "status": status,
                           "detail": detail}
    doc.update({k: v for k, v in extra.items() if v is not None and k not in doc})
    choice = request.accept_mimetypes.best_match(_BODY_TYPES) or PROBLEM_JSON
    if choice == "text/plain":
        return Response(plain_text(doc), status=status, mimetype="text/plain")
    if choice == HTML:
        return Response(html_page(doc), status=status, mimetype=HTML)
    body = json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    return Response(body, status=status, mimetype=PROBLEM_JSON)


def plain_text(doc: dict[str, Any]) -> str:
    """`400 SPARQL syntax error`, the detail, then the other members as `key: value` lines."""
    lines = [f"{doc['status']} {doc['title']}", "", str(doc["detail"])]
    if doc.get("line") is not None:
        lines.append(f"at line {doc['line']}, column {doc.get('column')}")
    for key, value in doc.items():
        if key not in ("type", "title", "status", "detail", "line", "column", "query"):
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}")
    if doc.get("query"):
        lines += ["", "query as sent:", str(doc["query"])]
    lines.append(f"type: {doc['type']}")
    return "\n".join(lines) + "\n"


def html_page(doc: dict[str, Any]) -> str:
    """The site's error page; a bare escaped page if the site template cannot render."""
    try:
        return render_template("sparql/problem.html", problem=doc)
    except Exception:
        log.warning("the error page template failed; answering a bare page", exc_info=True)
        return ("<!doctype html><meta charset=utf-8><title>{s} {t}</title><h1>{s} {t}</h1>"
                "<p>{d}</p>").format(s=doc["status"], t=escape(doc["title"]), d=escape(doc["detail"]))
