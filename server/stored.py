"""Blueprint "stored": the `queries/*.rq` files as an API, and its OpenAPI 3.1 description.

`GET /queries` lists them (JSON, or HTML for browsers); `GET /queries/{name}?param=...` runs one
with its parameters bound (a bad value is 400 before anything runs), answered like `/sparql` on the
light lane, or shows a browser its page (`server.stored_page`); `GET /queries/{name}.rq` is its
source, bound the same way; `GET /openapi.json` describes each as its own typed path, beside `/sparql`.
"""

from __future__ import annotations

import importlib.metadata
import json
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from graph import queries as q
from graph.errors import KgError, ParameterError
from graph.formats import HTML, PROBLEM_JSON, RDF_FORMATS, RESULT_FORMATS, Format
from graph.paths import QUERIES_DIR
from graph.queries import Param, StoredQuery, bind_query
from server import http
from server.i18n import mark_language
from server.negotiation import FORMAT_PARAMS, HTML_FORMAT, JSON_FORMAT, negotiate
from server.site import editor_link
from server.sparql import FORM_TYPE, QUERY_TYPE, TRUNCATED_TYPE, answer, check_names, intake, offered_for
from server.stored_page import PAGE_ROWS, query_page, request_values

bp = Blueprint("stored", __name__)

EXTENSION = "rabat_kg_stored_queries"


class UnknownQuery(KgError, status=404, type="not-found", title="No such stored query"):
    """No stored query has this name."""


@bp.record_once
def _load_queries(setup: BlueprintSetupState) -> None:
    """The stored queries are code, not data: read once, when the app is made."""
    setup.app.extensions[EXTENSION] = q.load_queries(Path(setup.app.config.get("QUERIES_DIR") or QUERIES_DIR))


def stored_queries() -> dict[str, StoredQuery]:
    """The app's stored queries, by name."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


# --- routes --------------------------------------------------------------------------------


@bp.get("/queries")
def list_queries() -> Response:
    """The stored queries: JSON (default) or the HTML list for browsers."""
    check_names(request.args.items(multi=True), "query string", frozenset({"lang", *FORMAT_PARAMS}))
    fmt = negotiate([JSON_FORMAT, HTML_FORMAT])
    queries = [describe(query) for query in stored_queries().values()]
    if fmt is HTML_FORMAT:
        html = render_template("stored/list.html", queries=queries, data_version=http.data_version())
        return mark_language(Response(html, mimetype=HTML))
    return http.not_modified(JSON_FORMAT.media_type) or Response(
        _json({"queries": queries, "openapi": url_for("stored.openapi")}), mimetype=JSON_FORMAT.media_type)


@bp.get("/queries/<name>")
def run_query(name: str) -> Response:
    """Run a stored query with its parameters bound; or its source for `<name>.rq`.

    Raises:
        UnknownQuery: 404. ParameterError: 400, before anything runs. NotAcceptable: 406.
    """
    stem = name.removesuffix(".rq")
    query = stored_queries().get(stem)
    if query is None:
        raise UnknownQuery(f"no stored query is called {stem!r}; the list is at /queries")
    if stem != name:  # the file, with the parameters given (if any) bound as the API binds them
        values = request_values(query)
        text = bind_query(query, values) if values else query.text
        return http.not_modified(QUERY_TYPE) or Response(text, mimetype=QUERY_TYPE)
    # HTML last: it wins only when preferred to every result format (browsers' Accept, or
    # ?format=html); `*/*` and programs keep the result formats as before.
    if negotiate([*offered_for(query.form), HTML_FORMAT]) is HTML_FORMAT:
        return query_page(query)
    return answer(intake(bind_query(query, request_values(query))), lane="light")


@bp.get("/openapi.json")
def openapi() -> Response:
    """OpenAPI 3.1 description of the endpoint and of each stored query."""
    check_names(request.args.items(multi=True), "query string", frozenset())
    return http.not_modified("application/json") or Response(_json(openapi_document()),
                                                             mimetype="application/json")


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# --- descriptions --------------------------------------------------------------------------


def describe(query: StoredQuery) -> dict[str, Any]:
    """A stored query as the JSON list shows it, with links to run it."""
    path = url_for("stored.run_query", name=query.name)
    pointer = path.replace("~", "~0").replace("/", "~1")  # a JSON Pointer token (RFC 6901)
    return {
        "name": query.name,
        "summary": query.summary,
        "description": query.description,
        "tags": list(query.tags),
        "form": query.form,
        "params": [describe_param(p, query.bases.get(p.name)) for p in query.params],
        "examples": [{"values": ex, "href": path + ("?" + urlencode(ex) if ex else "")}
                     for ex in query.examples],
        "formats": [f.key for f in offered_for(query.form)],
        "links": {"run": path, "sparql": path + ".rq", "editor": editor_link(editor_text(query)),
                  "openapi": url_for("stored.openapi") + "#/paths/" + pointer},
    }


def editor_text(query: StoredQuery) -> str:
    """What "open in the editor" opens: the query bound with its first example, or defaults."""
    for values in (*query.examples[:1], {}):
        with suppress(ParameterError):
            return bind_query(query, values)
    return query.text


def describe_param(param: Param, base: str | None) -> dict[str, Any]:
    """What the header declares (a default even when empty), and where a short form is resolved."""
    out = {k: v for k, v in asdict(param).items() if v or (k in ("required", "default") and v is not None)}
    return {**out, "base": base} if base else out


# JSON Schemas of the parameter types, from graph.queries' own rules (`anchored`), so OpenAPI
# publishes the rules the server applies; gYear and gYearMonth are their lexical forms.
TYPE_SCHEMAS: dict[str, dict[str, Any]] = {
    "iri": {"type": "string", "format": "iri", "maxLength": q.MAX_IRI,
            "pattern": q.anchored(q.LEXICAL_FORMS["iri"])},
    "string": {"type": "string", "maxLength": q.MAX_TEXT, "pattern": q.anchored(q.LEXICAL_FORMS["string"])},
    "integer": {"type": "integer", "minimum": -q.INTEGER_MAX, "maximum": q.INTEGER_MAX},
    "decimal": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "gYear": {"type": "string", "pattern": q.anchored(q.LEXICAL_FORMS["gYear"])},
    "gYearMonth": {"type": "string", "pattern": q.anchored(q.LEXICAL_FORMS["gYearMonth"])},
}


def param_schema(param: Param, base: str | None = None) -> dict[str, Any]:
    """JSON Schema of a stored-query parameter, from its declared type."""
    schema = dict(TYPE_SCHEMAS[param.type])
    if param.type == "iri" and base:  # or its short form
        short = {"type": "string", "maxLength": q.MAX_IRI, "pattern": q.anchored(q.SHORT_FORM),
                 "description": f"A name under {base}"}
        such = q.example_name(param, base)
        if such:
            short["examples"] = [such]
        schema = {"anyOf": [schema, short]}
    if param.enum:
        schema["enum"] = [coerce(param, v) for v in param.enum]
    if param.default is not None:
        schema["default"] = coerce(param, param.default)
    return schema


def coerce(param: Param, value: str) -> Any:
    """A header value as the JSON type of its schema (for defaults, enums and examples: checked when
    the file was loaded, but for an empty example value, which stands for the default)."""
    if value and param.type in ("integer", "decimal"):
        return int(value) if param.type == "integer" else float(value)
    return value == "true" if param.type == "boolean" else value


# Error responses: the component that describes each status.
ERRORS = {
    "400": ("BadRequest", "Syntax error, bad parameter, or a request the protocol forbids"),
    "403": ("Forbidden", "An update: this service is read-only"),
    "404": ("NotFound", "No such stored query"),
    "406": ("NotAcceptable", "No offered format matches Accept or format="),
    "413": ("TooLarge", "Request body over the limit"),
    "414": ("UriTooLong", "Query string over the limit; use POST"),
    "415": ("UnsupportedMediaType", "POST body neither a form nor application/sparql-query"),
    "503": ("Unavailable", "Timed out, over capacity or the store is down; retry later"),
}
RESULT_HEADERS = {
    "ETag": {"description": "Strong validator from the data version and the request",
             "schema": {"type": "string"}},
    "Result-Count": {"description": "Rows (SELECT), 1 (ASK) or triples in this answer",
                     "schema": {"type": "integer"}},
    "Result-Truncated": {"description": "`true` when the answer was cut at the row limit",
                         "schema": {"type": "string", "enum": ["true"]}},
    "Result-Limit": {"description": "The row limit, present when truncated",
                     "schema": {"type": "integer"}},
    "Server-Timing": {"description": "`engine;dur=MS`: milliseconds the query engine took "
                                     "(evaluation and serialisation), or `cache;desc=hit`: the "
                                     "answer was sent from the answer cache, W3C Server Timing",
                      "schema": {"type": "string"}},
}
NOT_MODIFIED = {"description": "Not modified (If-None-Match)"}
# What `describe` lists of each stored query, by JSON type.
LISTED = {"name": "string", "summary": "string", "description": "string", "tags": "array", "form": "string",
          "params": "array", "examples": "array", "formats": "array", "links": "object"}
TEXT = {"schema": {"type": "string"}}


def error_responses(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


def openapi_document() -> dict[str, Any]:
    config = current_app.config
    try:
        version = importlib.metadata.version("rabat-kg")
    except importlib.metadata.PackageNotFoundError:  # the app served from a source tree (WSGI)
        version = "0"
    paths: dict[str, Any] = {
        "/sparql": sparql_path(),
        "/queries": {"get": {
            "operationId": "listStoredQueries",
            "summary": "The stored queries, with their parameters and examples",
            "tags": ["stored queries"],
            "responses": {"200": {"description": "The list", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/StoredQueryList"}},
                HTML: TEXT}}, **error_responses("406")}}},
    }
    for query in stored_queries().values():
        paths[f"/queries/{query.name}"] = stored_path(query)
    paths["/queries/{name}.rq"] = {"get": {
        "operationId": "storedQuerySource",
        "summary": "The SPARQL text of a stored query (parameters given are bound)",
        "tags": ["stored queries"],
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": sorted(stored_queries())}}],
        "responses": {"200": {"description": "The query", "content": {QUERY_TYPE: TEXT}},
                      **error_responses("400", "404")}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rabat Process knowledge graph API",
            "version": version,
            "summary": "SPARQL 1.1 endpoint and stored queries over the Rabat Process knowledge graph",
            "description": (
                "Read-only. Results over the row limit "
                f"({config['MAX_ROWS']}) are cut and signalled: headers `Result-Truncated: true` and "
                "`Result-Limit` on every format; in the body for SPARQL JSON (`\"truncated\": true`), "
                "SPARQL XML (a `<link>` in `<head>`), Turtle, N-Triples and RDF/XML (a comment); CSV, "
                f"TSV and JSON-LD carry it in the headers only. See {TRUNCATED_TYPE}. Errors are "
                "`application/problem+json`. Queries longer than "
                f"{config['QUERY_TIMEOUT_S']} s are stopped (503 with Retry-After)."),
            "license": {"name": "MIT (code), CC BY 4.0 (data)", "identifier": "MIT"},
        },
        "tags": [{"name": "sparql", "description": "SPARQL 1.1 Protocol"},
                 {"name": "stored queries", "description": "Competency questions as API calls"}],
        "paths": paths,
        "components": components(),
    }


def result_content(formats: tuple[Format, ...]) -> dict[str, Any]:
    schemas = {"json": {"$ref": "#/components/schemas/SparqlJsonResults"},
               "jsonld": {"type": ["object", "array"]}}
    return {f.media_type: {"schema": schemas.get(f.key, {"type": "string"})} for f in formats}


def format_parameter(formats: tuple[Format, ...]) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False,
            "description": "Overrides the Accept header (also `output=`)",
            "schema": {"type": "string", "enum": [f.key for f in formats]}}


def stored_path(query: StoredQuery) -> dict[str, Any]:
    formats = offered_for(query.form)
    parameters = []
    for param in query.params:
        base = query.bases.get(param.name)
        item: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required,
                                "schema": param_schema(param, base)}
        if param.description or base:
            item["description"] = " ".join(filter(None, (
                param.description, base and f"The full IRI, or its name under {base}.")))
        examples = {f"example{i}": {"value": coerce(param, ex[param.name])}
                    for i, ex in enumerate(query.examples, 1) if param.name in ex}
        if examples:
            item["examples"] = examples
        parameters.append(item)
    parameters.append(format_parameter((*formats, HTML_FORMAT)))
    description = query.description or query.summary
    return {"get": {
        "operationId": "query_" + query.name.replace("-", "_"),
        "summary": query.summary,
        "description": f"{description}\n\nSPARQL ({query.form.upper()}): `/queries/{query.name}.rq`",
        "tags": ["stored queries", *query.tags],
        "parameters": parameters,
        "responses": {
            "200": {"description": f"The complete answer; `{HTML}` (browsers, `format=html`): a "
                                   f"page with a form and the first {PAGE_ROWS} rows",
                    "headers": RESULT_HEADERS, "content": {**result_content(formats), HTML: TEXT}},
            "304": NOT_MODIFIED,
            **error_responses("400", "404", "406", "414", "503"),
        },
    }}


def sparql_path() -> dict[str, Any]:
    every = (*RESULT_FORMATS, *RDF_FORMATS)
    iri = {"type": "string", "format": "iri"}
    parameters = [
        {"name": "default-graph-uri", "in": "query", "required": False,
         "description": "Accepted only when it names the served graph", "schema": iri},
        {"name": "named-graph-uri", "in": "query", "required": False,
         "description": "Refused (400): the dataset has no named graphs", "schema": iri},
        format_parameter(every),
    ]
    query = {"name": "query", "in": "query", "required": False, "schema": {"type": "string"},
             "example": "SELECT * WHERE { ?s ?p ?o } LIMIT 10"}
    ok = {"description": "SELECT/ASK results or CONSTRUCT/DESCRIBE graph, complete",
          "headers": RESULT_HEADERS, "content": result_content(every)}
    errors = error_responses("400", "403", "406", "413", "414", "415", "503")
    return {
        "get": {
            "operationId": "sparqlQueryGet",
            "summary": "SPARQL 1.1 query by GET; without `query`, the Service Description or editor",
            "tags": ["sparql"],
            "parameters": [query, *parameters],
            "responses": {"200": ok, "304": NOT_MODIFIED, **errors},
        },
        "post": {
            "operationId": "sparqlQueryPost",
            "summary": "SPARQL 1.1 query by POST (form or direct)",
            "tags": ["sparql"],
            "parameters": parameters,
            "requestBody": {"required": True, "content": {
                QUERY_TYPE: TEXT,
                FORM_TYPE: {"schema": {"type": "object", "required": ["query"], "properties": {
                    p["name"]: {"type": "string"} for p in (query, *parameters)}}}}},
            "responses": {"200": ok, **errors},
        },
    }


def components() -> dict[str, Any]:
    responses = {name: {"description": description, "content": {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}, "text/plain": TEXT}}
        for name, description in ERRORS.values()}
    responses["Unavailable"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                           "description": "Seconds to wait"}}
    term = {"type": "object", "required": ["type", "value"], "properties": {
        "type": {"type": "string", "enum": ["uri", "literal", "bnode", "triple"]},
        "value": {}, "xml:lang": {"type": "string"}, "datatype": {"type": "string"}}}
    return {
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
                        "properties": {
                            "type": {"type": "string", "format": "uri"},
                            "title": {"type": "string"},
                            "status": {"type": "integer"},
                            "detail": {"type": "string"},
                            "line": {"type": "integer", "description": "Syntax errors: 1-based line"},
                            "column": {"type": "integer",
                                       "description": "Syntax errors: 1-based column"},
                            "query": {"type": "string", "description": "Syntax errors: the query as sent"},
                        }},
            "SparqlJsonResults": {"type": "object", "required": ["head"], "properties": {
                "head": {"type": "object"},
                "results": {"type": "object", "properties": {"bindings": {
                    "type": "array", "items": {"type": "object", "additionalProperties": term}}}},
                "boolean": {"type": "boolean"},
                "truncated": {"type": "boolean", "description": "Present and true when cut at the "
                                                                "row limit"},
                "rowLimit": {"type": "integer"}}},
            "StoredQueryList": {"type": "object", "properties": {"queries": {"type": "array", "items": {
                "type": "object", "required": ["name", "summary", "params"],
                "properties": {key: {"type": kind} for key, kind in LISTED.items()}}}}},
        },
        "responses": responses,
    }
