"""Blueprint "stored": the `queries/*.rq` files as an API, and its OpenAPI 3.1 description.

- `GET /queries`: the list (JSON for programs, HTML for browsers) with each query's
  parameters (type, default, enumeration), examples and links;
- `GET /queries/{name}?param=...&format=...`: the query with its parameters bound through a
  VALUES block (`graph.queries.bind_query`; a bad value is 400 before anything runs), then
  answered like `/sparql` (same negotiation, row cap, ETag) on the backend's light lane; a
  browser (HTML preferred to every result format) gets the page of `server.stored_page`;
- `GET /queries/{name}.rq`: the file as `application/sparql-query`, with any parameters given
  bound the same way (so the editor opens exactly what the API runs);
- `GET /openapi.json`: every stored query as its own typed path, next to `/sparql`.
"""

from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for

from graph.errors import KgError, ParameterError
from graph.formats import HTML, PROBLEM_JSON, RDF_FORMATS, RESULT_FORMATS, Format
from graph.queries import (
    INTEGER_MAX,
    IRI_FORM,
    LEXICAL_FORMS,
    MAX_IRI,
    MAX_TEXT,
    SHORT_FORM,
    TEXT_FORM,
    Param,
    StoredQuery,
    anchored,
    bind_query,
    example_name,
    load_queries,
)
from server import http
from server.negotiation import FORMAT_PARAMS, HTML_FORMAT, negotiate
from server.params import request_values
from server.sparql import (
    FORM_TYPE,
    GRAPH_FORMS,
    QUERY_TYPE,
    TRUNCATED_TYPE,
    answer,
    check_names,
    intake,
)
from server.stored_page import PAGE_ROWS, query_page

bp = Blueprint("stored", __name__)

JSON_FORMAT = Format("json", "application/json", ".json", "json", "", "JSON")
EXTENSION = "rabat_kg_stored_queries"
_load_lock = threading.Lock()


class UnknownQuery(KgError):
    """No stored query has this name."""

    status = 404
    type = "not-found"
    title = "No such stored query"


def stored_queries() -> dict[str, StoredQuery]:
    """The stored queries, read once per app (they are code, not data)."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        with _load_lock:
            found = current_app.extensions.get(EXTENSION)
            if found is None:
                directory = current_app.config.get("QUERIES_DIR")
                found = load_queries(Path(directory)) if directory else load_queries()
                current_app.extensions[EXTENSION] = found
    return found  # type: ignore[no-any-return]


def get_query(name: str) -> StoredQuery:
    """Raises UnknownQuery for a name no file has."""
    query = stored_queries().get(name)
    if query is None:
        raise UnknownQuery(f"no stored query is called {name!r}; the list is at /queries")
    return query


# --- routes --------------------------------------------------------------------------------


@bp.get("/queries")
def list_queries() -> Response:
    """The stored queries: JSON (default) or the HTML list for browsers."""
    check_names(request.args.items(multi=True), "query string", frozenset({"lang", *FORMAT_PARAMS}))
    fmt = negotiate([JSON_FORMAT, HTML_FORMAT])
    queries = [describe(q) for q in stored_queries().values()]
    if fmt.media_type == HTML:
        from server.i18n import mark_language

        html = render_template("stored/list.html", queries=queries, data_version=http.data_version())
        return mark_language(Response(html, mimetype=HTML))
    early = http.not_modified(JSON_FORMAT.media_type)
    if early is not None:
        return early
    return current_app.response_class(
        _json({"queries": queries, "openapi": url_for("stored.openapi")}),
        mimetype=JSON_FORMAT.media_type)


@bp.get("/queries/<name>")
def run_query(name: str) -> Response:
    """Run a stored query with its parameters bound; or its source for `<name>.rq`.

    Raises:
        UnknownQuery: 404. ParameterError: 400, before anything runs. NotAcceptable: 406.
    """
    if name.endswith(".rq"):
        return source(get_query(name[:-3]))
    query = get_query(name)
    # HTML last: it wins only when preferred to every result format (browsers' Accept, or
    # ?format=html); `*/*` and programs keep the result formats as before.
    if negotiate([*formats_of(query), HTML_FORMAT]) is HTML_FORMAT:
        return query_page(query, formats_of(query))
    text = bind_query(query, request_values(query))
    checked = intake(text)
    return answer(checked.text, checked.form, lane="light")


def source(query: StoredQuery) -> Response:
    """The `.rq` file, with the parameters given (if any) bound as the API would bind them."""
    values = request_values(query)
    text = bind_query(query, values) if values else query.text
    early = http.not_modified(QUERY_TYPE)
    if early is not None:
        return early
    return Response(text, mimetype=QUERY_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    """OpenAPI 3.1 description of the endpoint and of each stored query."""
    check_names(request.args.items(multi=True), "query string", frozenset())
    early = http.not_modified("application/json")
    if early is not None:
        return early
    return Response(_json(openapi_document()), mimetype="application/json")


def _json(doc: Any) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# --- descriptions --------------------------------------------------------------------------


def describe(query: StoredQuery) -> dict[str, Any]:
    """A stored query as the JSON list shows it, with links to run it."""
    path = url_for("stored.run_query", name=query.name)
    examples = [{"values": ex, "href": path + ("?" + urlencode(ex) if ex else "")}
                for ex in query.examples]
    return {
        "name": query.name,
        "summary": query.summary,
        "description": query.description,
        "tags": list(query.tags),
        "form": query.form,
        "params": [describe_param(p, query.bases.get(p.name)) for p in query.params],
        "examples": examples,
        "formats": [f.key for f in formats_of(query)],
        "links": {"run": path, "sparql": path + ".rq",
                  "editor": url_for("sparql.endpoint") + "#" + urlencode({"query": editor_text(query)},
                                                                          quote_via=quote),
                  "openapi": url_for("stored.openapi") + "#/paths/" + json_pointer(path)},
    }


def editor_text(query: StoredQuery) -> str:
    """What "open in the editor" opens: the query bound with its first example, or defaults."""
    for values in (*query.examples[:1], {}):
        try:
            return bind_query(query, values)
        except ParameterError:
            continue
    return query.text


def describe_param(param: Param, base: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "type": param.type, "required": param.required}
    if param.default is not None:
        out["default"] = param.default
    if param.enum:
        out["enum"] = list(param.enum)
    if param.description:
        out["description"] = param.description
    if base:
        out["base"] = base  # a short form (a name under it) is accepted too
    return out


def formats_of(query: StoredQuery) -> tuple[Format, ...]:
    return RDF_FORMATS if query.form in GRAPH_FORMS else RESULT_FORMATS


def json_pointer(path: str) -> str:
    """A JSON Pointer token for an OpenAPI path key."""
    return path.replace("~", "~0").replace("/", "~1")


def param_schema(param: Param, base: str | None = None) -> dict[str, Any]:
    """JSON Schema of a stored-query parameter, from its declared type."""
    schema: dict[str, Any]
    if param.type == "iri":
        schema = {"type": "string", "format": "iri", "maxLength": MAX_IRI,
                  "pattern": anchored(IRI_FORM)}
        if base:  # or its short form
            short = {"type": "string", "maxLength": MAX_IRI, "pattern": anchored(SHORT_FORM),
                     "description": f"A name under {base}"}
            such = example_name(param, base)
            if such:
                short["examples"] = [such]
            schema = {"anyOf": [schema, short]}
    elif param.type == "string":
        schema = {"type": "string", "maxLength": MAX_TEXT, "pattern": anchored(TEXT_FORM)}
    elif param.type == "integer":
        schema = {"type": "integer", "minimum": -INTEGER_MAX, "maximum": INTEGER_MAX}
    elif param.type == "decimal":
        schema = {"type": "number"}
    elif param.type == "boolean":
        schema = {"type": "boolean"}
    elif param.type == "date":
        schema = {"type": "string", "format": "date"}
    else:
        schema = {"type": "string", "pattern": anchored(LEXICAL_FORMS[param.type])}
    if param.enum:
        schema["enum"] = [coerce(param, v) for v in param.enum]
    if param.default is not None:
        schema["default"] = coerce(param, param.default)
    return schema


def coerce(param: Param, value: str) -> Any:
    """A header value as the JSON type of its schema (for defaults, enums and examples)."""
    try:
        if param.type == "integer":
            return int(value)
        if param.type == "decimal":
            return float(value)
    except ValueError:
        return value
    if param.type == "boolean":
        return value == "true"
    return value


def openapi_document() -> dict[str, Any]:
    config = current_app.config
    try:
        version = importlib.metadata.version("rabat-kg")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    paths: dict[str, Any] = {
        "/sparql": sparql_path(),
        "/queries": {"get": {
            "operationId": "listStoredQueries",
            "summary": "The stored queries, with their parameters and examples",
            "tags": ["stored queries"],
            "responses": {"200": {"description": "The list", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/StoredQueryList"}},
                HTML: {"schema": {"type": "string"}}}},
                "406": {"$ref": "#/components/responses/NotAcceptable"}}}},
    }
    for query in stored_queries().values():
        paths[f"/queries/{query.name}"] = stored_path(query)
    paths["/queries/{name}.rq"] = {"get": {
        "operationId": "storedQuerySource",
        "summary": "The SPARQL text of a stored query (parameters given are bound)",
        "tags": ["stored queries"],
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": sorted(stored_queries())}}],
        "responses": {"200": {"description": "The query", "content": {
            QUERY_TYPE: {"schema": {"type": "string"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"}}}}
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
    content: dict[str, Any] = {}
    for fmt in formats:
        if fmt.key == "json":
            schema: dict[str, Any] = {"$ref": "#/components/schemas/SparqlJsonResults"}
        elif fmt.key == "jsonld":
            schema = {"type": ["object", "array"]}
        else:
            schema = {"type": "string"}
        content[fmt.media_type] = {"schema": schema}
    return content


def result_headers() -> dict[str, Any]:
    return {
        "ETag": {"description": "Strong validator from the data version and the request",
                 "schema": {"type": "string"}},
        "Result-Count": {"description": "Rows (SELECT), 1 (ASK) or triples in this answer",
                         "schema": {"type": "integer"}},
        "Result-Truncated": {"description": "`true` when the answer was cut at the row limit",
                             "schema": {"type": "string", "enum": ["true"]}},
        "Result-Limit": {"description": "The row limit, present when truncated",
                         "schema": {"type": "integer"}},
        "Server-Timing": {"description": "`engine;dur=MS`: milliseconds the query engine took "
                                         "(evaluation and serialisation), W3C Server Timing",
                          "schema": {"type": "string"}},
    }


def format_parameter(formats: tuple[Format, ...]) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False,
            "description": "Overrides the Accept header (also `output=`)",
            "schema": {"type": "string", "enum": [f.key for f in formats]}}


def error_responses(*codes: str) -> dict[str, Any]:
    names = {"400": "BadRequest", "403": "Forbidden", "404": "NotFound", "406": "NotAcceptable",
             "413": "TooLarge", "414": "UriTooLong", "415": "UnsupportedMediaType",
             "503": "Unavailable"}
    return {code: {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def stored_path(query: StoredQuery) -> dict[str, Any]:
    formats = formats_of(query)
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
                    "headers": result_headers(),
                    "content": {**result_content(formats), HTML: {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified (If-None-Match)"},
            **error_responses("400", "404", "406", "414", "503"),
        },
    }}


def sparql_path() -> dict[str, Any]:
    every = (*RESULT_FORMATS, *RDF_FORMATS)
    dataset = [
        {"name": "default-graph-uri", "in": "query", "required": False,
         "description": "Accepted only when it names the served graph", "schema": {"type": "string",
                                                                                   "format": "iri"}},
        {"name": "named-graph-uri", "in": "query", "required": False,
         "description": "Refused (400): the dataset has no named graphs",
         "schema": {"type": "string", "format": "iri"}},
    ]
    ok = {"description": "SELECT/ASK results or CONSTRUCT/DESCRIBE graph, complete",
          "headers": result_headers(), "content": result_content(every)}
    errors = error_responses("400", "403", "406", "413", "414", "415", "503")
    return {
        "get": {
            "operationId": "sparqlQueryGet",
            "summary": "SPARQL 1.1 query by GET; without `query`, the Service Description or editor",
            "tags": ["sparql"],
            "parameters": [{"name": "query", "in": "query", "required": False,
                            "schema": {"type": "string"},
                            "example": "SELECT * WHERE { ?s ?p ?o } LIMIT 10"},
                           *dataset, format_parameter(every)],
            "responses": {"200": ok, "304": {"description": "Not modified (If-None-Match)"},
                          **errors},
        },
        "post": {
            "operationId": "sparqlQueryPost",
            "summary": "SPARQL 1.1 query by POST (form or direct)",
            "tags": ["sparql"],
            "parameters": [*dataset, format_parameter(every)],
            "requestBody": {"required": True, "content": {
                QUERY_TYPE: {"schema": {"type": "string"}},
                FORM_TYPE: {"schema": {"type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string"},
                    "default-graph-uri": {"type": "string"},
                    "named-graph-uri": {"type": "string"},
                    "format": {"type": "string"}}}}}},
            "responses": {"200": ok, **errors},
        },
    }


def components() -> dict[str, Any]:
    def problem(description: str) -> dict[str, Any]:
        return {"description": description, "content": {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}},
            "text/plain": {"schema": {"type": "string"}}}}

    unavailable = problem("Timed out, over capacity or the store is down; retry later")
    unavailable["headers"] = {"Retry-After": {"schema": {"type": "integer"},
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
                "type": "object", "required": ["name", "summary", "params"], "properties": {
                    "name": {"type": "string"}, "summary": {"type": "string"},
                    "description": {"type": "string"}, "tags": {"type": "array"},
                    "form": {"type": "string"}, "params": {"type": "array"},
                    "examples": {"type": "array"}, "formats": {"type": "array"},
                    "links": {"type": "object"}}}}}},
        },
        "responses": {
            "BadRequest": problem("Syntax error, bad parameter, or a request the protocol forbids"),
            "Forbidden": problem("An update: this service is read-only"),
            "NotFound": problem("No such stored query"),
            "NotAcceptable": problem("No offered format matches Accept or format="),
            "TooLarge": problem("Request body over the limit"),
            "UriTooLong": problem("Query string over the limit; use POST"),
            "UnsupportedMediaType": problem("POST body neither a form nor application/sparql-query"),
            "Unavailable": unavailable,
        },
    }
