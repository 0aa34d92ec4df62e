"""Blueprint "sparql": the SPARQL 1.1 Protocol endpoint, its Service Description and editor.

`/sparql` takes one query by GET (`query=`), POST form or POST direct (UTF-8); any update, by
any route, is 403 and reaches no engine. Every query passes `graph.intake` before an engine sees
it, starts in the light lane (moved to the heavy lane if it runs long, graph/engine/base.py) and
comes back complete before a status is chosen, so a failure is never a truncated 200. Results
over the row cap (MAX_ROWS) are cut and say so, in headers and, where the format has room, in
the body (`mark_truncated`). Without a query, `GET /sparql` is the Service Description for RDF
clients and the query editor (YASGUI, bundled) for browsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, render_template, request, url_for
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH, XSD

from graph.dataset import DATASET, dataset_description
from graph.engine.base import Form, Lane
from graph.errors import KgError, NotAcceptable, QuerySyntaxError, UpdateRefused
from graph.formats import HTML, RDF_FORMATS, RESULT_FORMATS, Format, check_rdfxml, describe_formats
from graph.hints import unknown_terms
from graph.intake import CheckedQuery
from graph.namespaces import BASE, DATA_GRAPH, FORMATS, PREFIXES, PROBLEMS, SD, SERVICE, VOID
from graph.sparql_errors import PREDECLARED, explain_syntax_error, prepare_query
from server import http, i18n
from server.dataset import served_statistics
from server.negotiation import FORMAT_PARAMS, HTML_FORMAT, negotiate
from server.site import per_version
from server.state import get_backend

bp = Blueprint("sparql", __name__)

FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"
UPDATE_TYPE = "application/sparql-update"
# `lang` is the editor's UI language; YASGUI copies the page's own URL parameters into every
# query it sends, so it is tolerated (and ignored) wherever a query may come.
QUERY_PARAMS = frozenset({"query", "default-graph-uri", "named-graph-uri", *FORMAT_PARAMS, "lang"})
UPDATE_PARAMS = frozenset({"update", "using-graph-uri", "using-named-graph-uri"})
TRUNCATED_TYPE = PROBLEMS + "result-truncated"
# Names a client may give the one graph this endpoint serves, as `default-graph-uri`.
SERVED_GRAPHS = frozenset({DATA_GRAPH, BASE, str(DATASET)})
# sd:resultFormat values, in the W3C formats namespace.
FORMAT_IRIS = ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
               "Turtle", "JSON-LD", "N-Triples", "RDF_XML")
GRAPH_FORMS = ("construct", "describe")
# YASR's result table (its column-resizer) adds two fixed <style> elements at run time; the
# editor page allows exactly those by hash (sha256 of the CSS text in the bundled
# yasgui.min.js), no other inline style. The browser test fails if the bundle changes them.
EDITOR_STYLE_HASHES = ("'sha256-zCK2EVMoPc04mRF/g5CotUvxbJPWS+8V0b+s9ptqQIk='",
                       "'sha256-c0O6TmFAkgpNbHxKAa1BrveWHHopjEtC47i0PzMudxg='")
EDITOR_CSP = f"{http.CSP}; style-src 'self' {' '.join(EDITOR_STYLE_HASHES)}"
# The editor's autocompletion: what counts as a class, and as a property.
VOCABULARY_TERMS = {
    "classes": "{ ?t a owl:Class } UNION { ?t a rdfs:Class } UNION { ?x a ?t }",
    "properties": "{ ?t a owl:ObjectProperty } UNION { ?t a owl:DatatypeProperty } UNION "
                  "{ ?t a owl:AnnotationProperty } UNION { ?t a rdf:Property } UNION "
                  "{ SELECT DISTINCT ?t WHERE { ?s ?t ?o } }",
}
# The query a new editor tab starts with: what the graph holds, by class.
DEFAULT_QUERY = ("".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in ("rdf", "rdfs", "kg"))
                 + "\n# What the graph holds: things per class\n"
                 "SELECT ?class ?label (COUNT(?thing) AS ?things) WHERE {\n"
                 "  ?thing rdf:type ?class .\n"
                 "  OPTIONAL { ?class rdfs:label ?label FILTER(lang(?label) = \"en\") }\n"
                 "}\nGROUP BY ?class ?label\nORDER BY DESC(?things)\n")
# Bytes of characters XML 1.0 forbids (in UTF-8 they appear only as themselves).
_XML_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class BadProtocolRequest(KgError, type="bad-request", title="Bad SPARQL request"):
    """A request the SPARQL Protocol does not allow (two queries, unknown parameters, ...)."""


class UnsupportedBody(KgError, status=415, type="unsupported-media-type",
                      title="Unsupported request body type"):
    """A POST body that is neither a form nor a SPARQL query."""


class DatasetRefused(KgError, type="dataset-refused", title="Dataset not available"):
    """A dataset parameter naming a graph this endpoint does not serve (it never fetches any)."""


# --- reading a request ---------------------------------------------------------------------


def read_pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    """`application/x-www-form-urlencoded` pairs, decoded as strict UTF-8 (Werkzeug replaces bad
    bytes silently; a query must reach the engine exactly as sent), their names checked."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadProtocolRequest(f"the {where} is not UTF-8 (after percent-decoding)") from None
    check_names(pairs, where, QUERY_PARAMS)
    return pairs


def check_names(pairs: Iterable[tuple[str, str]], where: str, allowed: frozenset[str]) -> None:
    """Updates are 403; any other name not in `allowed` is 400 naming it."""
    names = {name for name, _ in pairs}
    if names & UPDATE_PARAMS:
        raise UpdateRefused(f"{', '.join(sorted(names & UPDATE_PARAMS))} in the {where}: this service "
                            "is read-only and accepts no SPARQL Update")
    if names - allowed:
        unknown = sorted(names - allowed)
        raise BadProtocolRequest(f"unknown parameter(s) in the {where}: {', '.join(unknown)}; "
                                 f"allowed: {', '.join(sorted(allowed))}", parameters=unknown)


def read_request() -> tuple[str | None, list[str]]:
    """The query and the format= / output= / results= values (URL first, then a form body) of
    a GET or POST by any of the three Protocol routes.

    Raises:
        UpdateRefused (403), UnsupportedBody (415), BadProtocolRequest, DatasetRefused (400).
    """
    url_pairs = read_pairs(request.query_string, "query string")
    queries = [v for k, v in url_pairs if k == "query"]
    body_pairs: list[tuple[str, str]] = []
    if request.method == "POST":
        mimetype = request.mimetype
        if mimetype == UPDATE_TYPE:
            raise UpdateRefused("application/sparql-update: this service is read-only and accepts "
                                "no SPARQL Update")
        if mimetype == FORM_TYPE:
            body_pairs = read_pairs(request.get_data(cache=True), "form body")
            body_queries = [v for k, v in body_pairs if k == "query"]
            if queries and body_queries:
                raise BadProtocolRequest("a query both in the URL and in the form body: send one")
            queries += body_queries
        elif mimetype == QUERY_TYPE:
            charset = (request.mimetype_params.get("charset") or "utf-8").lower()
            if charset not in ("utf-8", "utf8"):
                raise UnsupportedBody(f"charset {charset!r}: a SPARQL query body must be UTF-8")
            if queries:
                raise BadProtocolRequest("a query both in the URL and in the request body: send one")
            try:
                queries = [request.get_data(cache=True).decode("utf-8")]
            except UnicodeDecodeError:
                raise BadProtocolRequest("the request body is not UTF-8") from None
        else:
            raise UnsupportedBody(
                f"request body type {mimetype or 'none'!r} is not accepted; POST a query as "
                f"{QUERY_TYPE} or as a {FORM_TYPE} form with query=, or use GET",
                accepted=[QUERY_TYPE, FORM_TYPE])
    if len(queries) > 1:
        raise BadProtocolRequest(f"{len(queries)} queries in one request; send exactly one")
    if request.method == "POST" and not queries:
        raise BadProtocolRequest("no query: POST a query as the body or as query= in a form")
    # The dataset is the served graph: it may be named as the default graph, nothing else.
    pairs = url_pairs + body_pairs
    other = [v for k, v in pairs if k == "default-graph-uri" and v not in SERVED_GRAPHS]
    if other:
        raise DatasetRefused(
            f"default-graph-uri {other[0]!r}: this endpoint serves one graph, <{DATA_GRAPH}>, "
            "and never loads another; name that one or leave the parameter out")
    if any(k == "named-graph-uri" for k, _ in pairs):
        raise DatasetRefused(
            "named-graph-uri: the served dataset has no named graphs and this endpoint never "
            "loads graphs from elsewhere; leave the parameter out")
    formats = [v for part in (url_pairs, body_pairs) for name in FORMAT_PARAMS for k, v in part if k == name]
    return (queries[0] if queries else None), formats


# --- answering ----------------------------------------------------------------------------


def intake(text: str) -> CheckedQuery:
    """`graph.sparql_errors.prepare_query` with this server's limits."""
    return prepare_query(text, max_nesting=int(current_app.config["MAX_NESTING"]))


def offered_for(form: Form) -> tuple[Format, ...]:
    """Result formats for SELECT/ASK, graph formats for CONSTRUCT/DESCRIBE (default first)."""
    return RDF_FORMATS if form in GRAPH_FORMS else RESULT_FORMATS


def answer(query: CheckedQuery, *, lane: Lane = "user",
           format_param: str | Sequence[str] | None = None) -> Response:
    """Negotiate, answer 304 if the client is current, else run and respond with the complete
    result, its count, engine time and, when cut at the row cap, the truncation signals.

    Raises:
        NotAcceptable: an XML format asked for a result holding characters XML 1.0 forbids
            (control characters in literals); JSON, CSV and TSV can carry them.
    """
    fmt = negotiate(offered_for(query.form), format_param=format_param)
    early = http.not_modified(fmt.media_type)
    if early is not None:
        return early
    limit = int(current_app.config["MAX_ROWS"])
    try:
        result = get_backend().execute(query.text, fmt=fmt.key, lane=lane, max_rows=limit, form=query.form)
    except QuerySyntaxError as exc:
        raise explain_syntax_error(exc.detail, query.text, line=exc.line, column=exc.column) from None
    body = result.body
    if fmt.key in ("xml", "rdf") and _XML_FORBIDDEN.search(body):
        raise NotAcceptable(
            f"this result holds control characters that {fmt.label} (XML 1.0) cannot carry; "
            "ask for another format",
            offered=describe_formats(f for f in offered_for(query.form) if f.key != fmt.key))
    if fmt.key == "rdf":
        check_rdfxml(body)  # never a broken RDF/XML document: 406 naming the other formats
    response = Response(mimetype=fmt.media_type)
    response.headers.add("Result-Count", str(result.count))
    # W3C Server Timing: the engine's time (query and serialisation), to compare with end to end
    response.headers.add("Server-Timing", f"engine;dur={result.elapsed_ms:.2f}")
    if result.truncated:
        body = mark_truncated(body, fmt.key, limit)
        response.headers.add("Result-Truncated", "true")
        response.headers.add("Result-Limit", str(limit))
        response.headers.add("Link", f'<{TRUNCATED_TYPE}>; rel="describedby"')
    response.set_data(body)
    # An empty answer: kg: terms the ontology does not define (one message per term)
    hints = [hint.message() for hint in unknown_terms(query)] if not result.count else []
    if hints:
        response.headers.add("Query-Hint", " | ".join(hints))
    return response


def mark_truncated(body: bytes, key: str, limit: int) -> bytes:
    """Say in the body, where the format has room, that only the first `limit` items are here."""
    note = (f"Result truncated: only the first {limit} results are included (the row limit of "
            f"this endpoint); see {TRUNCATED_TYPE}")
    if key == "json":
        at = body.index(b"{") + 1
        member = b'"truncated":true,"rowLimit":' + str(limit).encode() + b","
        return body[:at] + member + body[at:]
    if key == "xml":
        link = f'<link href="{TRUNCATED_TYPE}"/><!-- {note} -->'.encode()
        marked, found = re.subn(rb"<head\s*/>", b"<head>" + link + b"</head>", body, count=1)
        return marked if found else body.replace(b"</head>", link + b"</head>", 1)
    if key in ("ttl", "nt"):
        return f"# {note}\n".encode() + body
    if key == "rdf":
        comment = f"<!-- {note} -->\n".encode()
        if body.startswith(b"<?xml"):
            at = body.index(b"?>") + 2
            return body[:at] + b"\n" + comment + body[at:].lstrip(b"\n")
        return comment + body
    return body  # csv, tsv, jsonld: the headers carry it


# --- the endpoint -------------------------------------------------------------------------


@bp.route("/sparql", methods=["GET", "POST"])
def endpoint() -> Response:
    """SPARQL 1.1 Protocol query operation; without a query, the SD or the editor."""
    query, formats = read_request()
    if query is None:
        return self_description()
    return answer(intake(query), format_param=formats)


def self_description() -> Response:
    """The query editor for browsers, the Service Description for everyone else (JSON-LD
    compacted with the graph's prefixes)."""
    fmt = negotiate([*RDF_FORMATS, HTML_FORMAT])
    if fmt is HTML_FORMAT:
        config = {"endpoint": url_for("sparql.endpoint"), "vocabulary": url_for("sparql.vocabulary"),
                  "queries": url_for("stored.list_queries"), "prefixes": PREFIXES}
        html = render_template("sparql/editor.html", editor_config=json.dumps(config),
                               default_query=DEFAULT_QUERY, data_version=http.data_version(),
                               predeclared=PREDECLARED)
        response = Response(html, mimetype=HTML)
        response.headers["Content-Security-Policy"] = EDITOR_CSP
        return i18n.mark_language(response)
    early = http.not_modified(fmt.media_type)
    if early is not None:
        return early
    # (kept by the answer cache, under a tag that holds the Host the SD names this endpoint by)
    body = service_description(request.host_url).serialize(format=fmt.rdflib, encoding="utf-8",
                                                           auto_compact=fmt.key == "jsonld")
    return Response(body, mimetype=fmt.media_type)


# --- Service Description --------------------------------------------------------------------


def service_description(base_url: str) -> Graph:
    """SPARQL 1.1 Service Description of this endpoint, with the dataset and the limits."""
    config = current_app.config
    g = Graph()
    for prefix in ("rdf", "rdfs", "xsd", "void", "dcterms", "dcat", "sh", "sd"):
        g.bind(prefix, PREFIXES[prefix])
    g.bind("formats", FORMATS)
    g.bind("svc", SERVICE)
    endpoint = URIRef(base_url + "sparql")
    g += [(endpoint, RDF.type, SD.Service), (endpoint, SD.endpoint, endpoint),
          (endpoint, SD.supportedLanguage, SD.SPARQL11Query),
          (endpoint, RDFS.label, Literal("Rabat Process knowledge graph: SPARQL endpoint", lang="en"))]
    g += [(endpoint, SD.resultFormat, FORMATS[name]) for name in FORMAT_IRIS]
    features = {
        "ReadOnly": "Read-only: any SPARQL Update, by any route (update=, an update in query=, "
                    "an application/sparql-update body), is refused with 403.",
        "NoFederation": "SERVICE, FROM and FROM NAMED are refused with 400: the endpoint never "
                        "fetches anything and never reads files.",
        "ProblemDetails": "Errors are application/problem+json (RFC 9457) with a type IRI; syntax "
                          "errors carry line, column and the query as sent.",
        "SignalledTruncation": "Results over the row limit are cut and say so: headers "
                               "Result-Truncated and Result-Limit on every format, and in the body "
                               "for SPARQL JSON (\"truncated\": true), SPARQL XML (<link>), "
                               "Turtle, N-Triples and RDF/XML (a comment). CSV, TSV and JSON-LD "
                               "carry it in the headers only.",
        "QueryTimeout": "A query past the time limit is stopped and answered 503 with Retry-After.",
        "StoredQueries": "Parameterised stored queries at /queries, described by /openapi.json.",
        "PredeclaredPrefixes": "The prefixes declared with sh:declare on this endpoint (kg:, rdfs:, "
                               "...) may be used without PREFIX lines; a query's own PREFIX wins.",
    }
    for name, comment in features.items():
        g += [(endpoint, SD.feature, SERVICE[name]), (SERVICE[name], RDF.type, SD.Feature),
              (SERVICE[name], RDFS.comment, Literal(comment, lang="en"))]
    for prefix, namespace in PREDECLARED.items():
        declaration = BNode(f"declare-{prefix}")  # named, so written in one order
        g += [(endpoint, SH.declare, declaration), (declaration, SH.prefix, Literal(prefix)),
              (declaration, SH.namespace, Literal(namespace, datatype=XSD.anyURI))]
    limits = [
        (SERVICE.rowLimit, Literal(int(config["MAX_ROWS"])),
         "Most rows (SELECT) or triples (CONSTRUCT, DESCRIBE) one answer holds."),
        (SERVICE.queryTimeoutSeconds, Literal(float(config["QUERY_TIMEOUT_S"]), datatype=XSD.decimal),
         "Wall-clock limit of one query, in seconds."),
        (SERVICE.maxRequestBodyBytes, Literal(int(config["MAX_BODY_BYTES"])),
         "Largest POST body accepted; larger is 413."),
        (SERVICE.maxQueryStringBytes, Literal(int(config["MAX_QUERY_STRING_BYTES"])),
         "Longest GET query string accepted; longer is 414 (use POST)."),
        (SERVICE.maxNesting, Literal(int(config["MAX_NESTING"])),
         "Deepest bracket nesting a query may have; deeper is 400."),
    ]
    for prop, value, comment in limits:
        g += [(endpoint, prop, value), (prop, RDF.type, RDF.Property),
              (prop, RDFS.comment, Literal(comment, lang="en"))]
    g.add((endpoint, RDFS.comment, Literal(
        "The dataset is fixed: the one graph this service serves, as the default graph. "
        f"default-graph-uri is accepted when it names that graph (<{DATA_GRAPH}> or the "
        "dataset IRI); named-graph-uri is refused with 400 since the dataset has no named graphs. "
        "Nothing is ever loaded from elsewhere.", lang="en")))
    void_doc = URIRef(base_url + ".well-known/void")
    # The sd:defaultDataset: the same VoID/DCAT description /.well-known/void serves.
    dataset = dataset_description(get_backend(), base_url, served_statistics())
    default_graph = BNode("default-graph")  # named, so written in one order
    g += dataset
    g += [(endpoint, RDFS.seeAlso, void_doc), (endpoint, RDFS.seeAlso, URIRef(base_url + "openapi.json")),
          (DATASET, RDF.type, SD.Dataset), (endpoint, SD.defaultDataset, DATASET),
          (DATASET, RDFS.seeAlso, void_doc), (DATASET, SD.defaultGraph, default_graph),
          (default_graph, RDF.type, SD.Graph)]
    g += [(default_graph, prop, count)
          for prop in (VOID.triples, VOID.classes, VOID.properties, VOID.distinctSubjects)
          for count in dataset.objects(DATASET, prop)]
    return g


# --- the editor's autocompletion ------------------------------------------------------------


@bp.get("/sparql/vocabulary.json")
def vocabulary() -> Response:
    """Classes and properties of the graph (with English labels) and its prefixes, for YASGUI."""
    check_names(request.args.items(multi=True), "query string", frozenset())
    return http.not_modified("application/json") or Response(
        json.dumps(per_version("sparql-vocabulary", build_vocabulary), ensure_ascii=False, sort_keys=True),
        mimetype="application/json")


def build_vocabulary() -> dict[str, object]:
    backend = get_backend()
    prologue = "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in ("rdf", "rdfs", "owl"))
    label = 'OPTIONAL { ?t rdfs:label ?l FILTER(langMatches(lang(?l), "en") || lang(?l) = "") }'
    doc: dict[str, object] = {"version": backend.version(), "prefixes": PREFIXES}
    for kind, patterns in VOCABULARY_TERMS.items():
        rows = backend.select(f"{prologue}SELECT ?t (SAMPLE(?l) AS ?label) WHERE {{ {patterns} "
                              f"FILTER(isIRI(?t)) {label} }} GROUP BY ?t ORDER BY ?t")
        doc[kind] = [{"iri": r["t"]["value"], **({"label": r["label"]["value"]} if "label" in r else {})}
                     for r in rows]
    return doc
