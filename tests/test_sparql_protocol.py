"""SPARQL 1.1 Protocol over real HTTP: routes, query forms, the Accept matrix, the SD, the row cap.

Every result is parsed with a standard parser (json, xml.etree, csv, rdflib, pyoxigraph), and
the same question asked in every format must give the same answer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF

from tests.serverproc import LiveServer, start_server

SRX = "{http://www.w3.org/2005/sparql-results#}"
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
FIXTURES = Path(__file__).resolve().parent / "fixtures"

COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
LABELS = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
          "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s STR(?label) LANG(?label) LIMIT 7")
CONSTRUCT = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "CONSTRUCT { ?s rdfs:label ?label } WHERE { ?s rdfs:label ?label }\n"
             "ORDER BY ?s STR(?label) LANG(?label) LIMIT 12")
ASK_TRUE = "ASK { ?s ?p ?o }"
ASK_FALSE = "ASK { <urn:rabat-kg:test:nothing> ?p ?o }"

RESULT_TYPES = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
                "csv": "text/csv", "tsv": "text/tab-separated-values"}
GRAPH_TYPES = {"ttl": "text/turtle", "jsonld": "application/ld+json", "nt": "application/n-triples",
               "rdf": "application/rdf+xml"}
RDFLIB = {"ttl": "turtle", "jsonld": "json-ld", "nt": "nt", "rdf": "xml"}


def sparql(base_url: str, query: str, accept: str | None = None, **params: str) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(base_url + "/sparql", params={"query": query, **params}, headers=headers,
                        timeout=30)


def media(response: requests.Response) -> str:
    return response.headers["Content-Type"].split(";")[0].strip()


def rows_json(body: bytes) -> list[dict[str, str]]:
    doc = json.loads(body)
    return [{k: v["value"] for k, v in b.items()} for b in doc["results"]["bindings"]]


def rows_xml(body: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(body)
    out = []
    for result in root.iter(SRX + "result"):
        row = {}
        for binding in result.findall(SRX + "binding"):
            term = next(iter(binding))
            row[binding.get("name")] = term.text or ""
        out.append(row)
    return out


def rows_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def rows_tsv(body: bytes) -> list[dict[str, str]]:
    parsed = ox.parse_query_results(body, format=ox.QueryResultsFormat.TSV)
    names = [v.value for v in parsed.variables]
    return [{n: s[n].value for n in names if s[n] is not None} for s in parsed]


def parse_graph(body: bytes, key: str) -> Graph:
    return Graph().parse(data=body, format=RDFLIB[key])


# --- routes ----------------------------------------------------------------------------------


def test_get_post_form_and_post_direct_give_the_same_answer(base_url: str) -> None:
    get = sparql(base_url, LABELS)
    form = requests.post(base_url + "/sparql", data={"query": LABELS}, timeout=30)
    direct = requests.post(base_url + "/sparql", data=LABELS.encode("utf-8"), timeout=30,
                           headers={"Content-Type": "application/sparql-query; charset=utf-8"})
    assert get.status_code == form.status_code == direct.status_code == 200
    assert rows_json(get.content) == rows_json(form.content) == rows_json(direct.content)
    assert len(rows_json(get.content)) == 7


def test_non_ascii_query_text_reaches_the_engine_intact(base_url: str) -> None:
    query = 'SELECT ?x WHERE { BIND("Côte d\u2019Ivoire — 日本" AS ?x) }'
    for response in (sparql(base_url, query),
                     requests.post(base_url + "/sparql", data={"query": query}, timeout=30),
                     requests.post(base_url + "/sparql", data=query.encode(), timeout=30,
                                   headers={"Content-Type": "application/sparql-query"})):
        assert response.status_code == 200, response.text
        assert rows_json(response.content) == [{"x": "Côte d\u2019Ivoire — 日本"}]


def test_server_timing_says_how_long_the_engine_took(base_url: str) -> None:
    """W3C Server-Timing `engine;dur=` (ms): the engine's share of what the client waited."""
    started = time.perf_counter()
    # a text no earlier request sent: a repeat is answered from the cache (`cache;desc=hit`)
    response = sparql(base_url, f"SELECT ?s WHERE {{ ?s ?p ?o }} LIMIT 3 # {time.time_ns()}")
    waited_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    m = re.fullmatch(r"engine;dur=(\d+\.\d+)", response.headers["Server-Timing"])
    assert m, response.headers["Server-Timing"]
    assert 0 < float(m.group(1)) < waited_ms


def test_head_has_the_get_headers_and_no_body(base_url: str) -> None:
    get = sparql(base_url, ASK_TRUE)
    head = requests.head(base_url + "/sparql", params={"query": ASK_TRUE}, timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert media(head) == media(get)


@pytest.mark.parametrize("graph_uri", ["https://w3id.org/rabat-kg/graph", "https://w3id.org/rabat-kg/"])
def test_default_graph_uri_naming_the_served_graph_is_accepted(base_url: str, graph_uri: str) -> None:
    plain = sparql(base_url, COUNT)
    named = sparql(base_url, COUNT, **{"default-graph-uri": graph_uri})
    assert named.status_code == 200, named.text
    assert rows_json(named.content) == rows_json(plain.content)
    form = requests.post(base_url + "/sparql", data={"query": COUNT, "default-graph-uri": graph_uri},
                         timeout=30)
    assert form.status_code == 200


def test_default_graph_uri_may_name_the_dataset_of_the_service_description(base_url: str) -> None:
    graph = parse_graph(requests.get(base_url + "/sparql", timeout=30).content, "ttl")
    dataset = graph.value(URIRef(base_url + "/sparql"), SD.defaultDataset)
    assert isinstance(dataset, URIRef)
    response = sparql(base_url, COUNT, **{"default-graph-uri": str(dataset)})
    assert response.status_code == 200, response.text


def test_other_graphs_are_refused_and_never_fetched(base_url: str) -> None:
    other = sparql(base_url, COUNT, **{"default-graph-uri": "http://127.0.0.1:9/elsewhere"})
    assert other.status_code == 400
    assert other.json()["type"].endswith("/dataset-refused")
    named = sparql(base_url, COUNT, **{"named-graph-uri": "file:///etc/passwd"})
    assert named.status_code == 400
    assert "named" in named.json()["detail"]


# --- query forms and the Accept matrix --------------------------------------------------------


@pytest.mark.parametrize("key", list(RESULT_TYPES))
def test_select_in_every_result_format_parses_to_the_same_rows(base_url: str, key: str) -> None:
    reference = rows_json(sparql(base_url, LABELS).content)
    response = sparql(base_url, LABELS, accept=RESULT_TYPES[key])
    assert response.status_code == 200
    assert media(response) == RESULT_TYPES[key]
    parse = {"json": rows_json, "xml": rows_xml, "csv": rows_csv, "tsv": rows_tsv}[key]
    assert parse(response.content) == reference
    if key in ("json", "xml", "tsv"):
        fmt = {"json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML,
               "tsv": ox.QueryResultsFormat.TSV}[key]
        assert len(list(ox.parse_query_results(response.content, format=fmt))) == len(reference)


@pytest.mark.parametrize("key", list(RESULT_TYPES))
@pytest.mark.parametrize(("query", "expected"), [(ASK_TRUE, True), (ASK_FALSE, False)])
def test_ask_in_every_result_format(base_url: str, key: str, query: str, expected: bool) -> None:
    response = sparql(base_url, query, accept=RESULT_TYPES[key])
    assert response.status_code == 200
    assert media(response) == RESULT_TYPES[key]
    body = response.content
    if key == "json":
        assert json.loads(body)["boolean"] is expected
    elif key == "xml":
        assert ET.fromstring(body).find(SRX + "boolean").text == str(expected).lower()
    else:
        parsed = ox.parse_query_results(body, format=ox.QueryResultsFormat.TSV) if key == "tsv" else None
        text = body.decode().strip().lower()
        assert text.endswith(str(expected).lower())
        if parsed is not None:
            assert bool(parsed) is expected


@pytest.mark.parametrize("key", list(GRAPH_TYPES))
def test_construct_in_every_graph_format_parses_to_the_same_graph(base_url: str, key: str) -> None:
    reference = parse_graph(sparql(base_url, CONSTRUCT, accept="application/n-triples").content, "nt")
    assert len(reference) == 12
    response = sparql(base_url, CONSTRUCT, accept=GRAPH_TYPES[key])
    assert response.status_code == 200
    assert media(response) == GRAPH_TYPES[key]
    graph = parse_graph(response.content, key)
    assert set(graph) == set(reference)
    if key != "jsonld":
        oxfmt = {"ttl": ox.RdfFormat.TURTLE, "nt": ox.RdfFormat.N_TRIPLES, "rdf": ox.RdfFormat.RDF_XML}[key]
        assert len(list(ox.parse(response.content, format=oxfmt))) == 12


def test_describe_answers_turtle_about_the_resource(base_url: str) -> None:
    subject = rows_json(sparql(base_url, LABELS).content)[0]["s"]
    response = sparql(base_url, f"DESCRIBE <{subject}>")
    assert response.status_code == 200
    assert media(response) == "text/turtle"
    graph = parse_graph(response.content, "ttl")
    assert (URIRef(subject), None, None) in graph


def test_defaults_without_accept_are_json_and_turtle(base_url: str) -> None:
    select = requests.get(base_url + "/sparql", params={"query": ASK_TRUE}, headers={"Accept": None},
                          timeout=30)
    construct = requests.get(base_url + "/sparql", params={"query": CONSTRUCT},
                             headers={"Accept": None}, timeout=30)
    assert media(select) == "application/sparql-results+json"
    assert media(construct) == "text/turtle"


@pytest.mark.parametrize(("accept", "expected"), [
    ("*/*", "application/sparql-results+json"),
    ("text/*", "text/csv"),
    ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
    ("application/*;q=0.2, text/tab-separated-values", "text/tab-separated-values"),
    ("application/json", "application/sparql-results+json"),
    ("text/html;q=1, application/sparql-results+xml;q=0.1", "application/sparql-results+xml"),
    ("application/sparql-results+json;q=0, */*;q=0.5", "application/sparql-results+xml"),
])
def test_accept_q_values_and_wildcards_for_results(base_url: str, accept: str, expected: str) -> None:
    response = sparql(base_url, ASK_TRUE, accept=accept)
    assert response.status_code == 200, response.text
    assert media(response) == expected


@pytest.mark.parametrize(("accept", "expected"), [
    ("*/*", "text/turtle"),
    ("application/*", "application/ld+json"),
    ("text/plain", "application/n-triples"),
    ("application/rdf+xml;q=0.4, application/ld+json;q=0.6", "application/ld+json"),
    ("application/json", "application/ld+json"),
])
def test_accept_q_values_and_wildcards_for_graphs(base_url: str, accept: str, expected: str) -> None:
    response = sparql(base_url, CONSTRUCT, accept=accept)
    assert response.status_code == 200, response.text
    assert media(response) == expected


def test_nothing_acceptable_is_406_listing_the_offers(base_url: str) -> None:
    response = sparql(base_url, ASK_TRUE, accept="image/png")
    assert response.status_code == 406
    assert response.headers["Content-Type"].startswith("application/problem+json")
    offered = {o["mediaType"] for o in response.json()["offered"]}
    assert offered == set(RESULT_TYPES.values())
    graph = sparql(base_url, CONSTRUCT, accept="text/csv")
    assert graph.status_code == 406
    assert {o["mediaType"] for o in graph.json()["offered"]} == set(GRAPH_TYPES.values())


@pytest.mark.parametrize("key", list(RESULT_TYPES))
def test_format_parameter_overrides_accept_for_results(base_url: str, key: str) -> None:
    response = sparql(base_url, LABELS, accept="application/sparql-results+json", format=key)
    assert response.status_code == 200
    assert media(response) == RESULT_TYPES[key]


@pytest.mark.parametrize("key", list(GRAPH_TYPES))
def test_format_parameter_overrides_accept_for_graphs(base_url: str, key: str) -> None:
    response = sparql(base_url, CONSTRUCT, accept="text/turtle", format=key)
    assert response.status_code == 200
    assert media(response) == GRAPH_TYPES[key]
    assert len(parse_graph(response.content, key)) == 12


@pytest.mark.parametrize(("param", "value", "query", "expected"), [
    ("output", "xml", ASK_TRUE, "application/sparql-results+xml"),
    ("format", "text/csv", ASK_TRUE, "text/csv"),
    ("format", "turtle", CONSTRUCT, "text/turtle"),
    ("format", "json-ld", CONSTRUCT, "application/ld+json"),
    ("format", "xml", CONSTRUCT, "application/rdf+xml"),
])
def test_format_aliases(base_url: str, param: str, value: str, query: str, expected: str) -> None:
    response = sparql(base_url, query, **{param: value})
    assert response.status_code == 200, response.text
    assert media(response) == expected


def test_format_naming_a_format_of_the_other_form_is_406(base_url: str) -> None:
    assert sparql(base_url, ASK_TRUE, format="ttl").status_code == 406
    assert sparql(base_url, CONSTRUCT, format="csv").status_code == 406


def test_format_in_a_post_form_body(base_url: str) -> None:
    response = requests.post(base_url + "/sparql", data={"query": LABELS, "format": "csv"}, timeout=30)
    assert response.status_code == 200
    assert media(response) == "text/csv"
    assert len(rows_csv(response.content)) == 7


# --- Service Description ---------------------------------------------------------------------


@pytest.mark.parametrize("key", list(GRAPH_TYPES))
def test_service_description_in_every_rdf_format(base_url: str, key: str) -> None:
    response = requests.get(base_url + "/sparql", headers={"Accept": GRAPH_TYPES[key]}, timeout=30)
    assert response.status_code == 200
    assert media(response) == GRAPH_TYPES[key]
    graph = parse_graph(response.content, key)
    endpoint = URIRef(base_url + "/sparql")
    assert (endpoint, RDF.type, SD.Service) in graph
    assert (endpoint, SD.endpoint, endpoint) in graph
    assert (endpoint, SD.supportedLanguage, SD.SPARQL11Query) in graph


def test_service_description_content(base_url: str) -> None:
    response = requests.get(base_url + "/sparql", timeout=30)  # requests sends Accept: */*
    assert media(response) == "text/turtle"
    graph = parse_graph(response.content, "ttl")
    endpoint = URIRef(base_url + "/sparql")
    formats = {str(o) for o in graph.objects(endpoint, SD.resultFormat)}
    assert formats == {"http://www.w3.org/ns/formats/" + name for name in (
        "SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
        "Turtle", "JSON-LD", "N-Triples", "RDF_XML")}
    assert list(graph.objects(endpoint, SD.feature))
    dataset = graph.value(endpoint, SD.defaultDataset)
    assert dataset is not None
    assert (dataset, RDF.type, SD.Dataset) in graph
    triples = graph.value(dataset, VOID.triples)
    assert isinstance(triples, Literal)
    counted = int(rows_json(sparql(base_url, COUNT).content)[0]["n"])
    assert int(triples) == counted
    for prop in (VOID.classes, VOID.properties, VOID.distinctSubjects):
        assert int(graph.value(dataset, prop)) > 0
    assert any(str(o).endswith("/.well-known/void") for o in graph.objects(None, None)
               if isinstance(o, URIRef))
    limits = {str(p).rsplit("#", 1)[-1]: o for p, o in graph.predicate_objects(endpoint)
              if str(p).startswith("https://w3id.org/rabat-kg/service#")}
    assert int(limits["rowLimit"]) > 0
    assert float(limits["queryTimeoutSeconds"]) > 0


def test_browsers_get_the_editor_page(base_url: str) -> None:
    response = requests.get(base_url + "/sparql", timeout=30, headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert response.status_code == 200
    assert media(response) == "text/html"
    assert "vendor/yasgui/yasgui.min.js" in response.text
    assert 'id="kg-yasgui"' in response.text
    assert "<script>" not in response.text  # no inline script (CSP default-src 'self')
    assert response.headers["Vary"].count("Accept")


def test_editor_assets_and_vocabulary_are_served(base_url: str) -> None:
    for path in ("/static/vendor/yasgui/yasgui.min.js", "/static/vendor/yasgui/yasgui.min.css",
                 "/static/editor.js"):
        assert requests.get(base_url + path, timeout=30).status_code == 200, path
    vocabulary = requests.get(base_url + "/sparql/vocabulary.json", timeout=30)
    assert vocabulary.status_code == 200
    doc = vocabulary.json()
    assert doc["prefixes"]["kg"] == "https://w3id.org/rabat-kg/def/"
    used = rows_json(sparql(base_url, "SELECT DISTINCT ?c WHERE { ?x a ?c FILTER(isIRI(?c)) }").content)
    classes = {t["iri"] for t in doc["classes"]}
    assert {r["c"] for r in used} <= classes
    used_props = rows_json(sparql(base_url, "SELECT DISTINCT ?p WHERE { ?s ?p ?o }").content)
    assert {r["p"] for r in used_props} <= {t["iri"] for t in doc["properties"]}


# --- row cap ---------------------------------------------------------------------------------

ROW_CAP = 5


@pytest.fixture(scope="module")
def capped() -> Iterator[LiveServer]:
    """A server with a row cap of 5 on the fixture graph (plus the ontology)."""
    server = start_server(["--data", str(FIXTURES / "endpoint-small.ttl")],
                          env={"RABAT_KG_MAX_ROWS": str(ROW_CAP), "RABAT_KG_VALIDATE_ON_START": "false"})
    yield server
    server.stop()


ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
ALL_GRAPH = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"


def assert_truncated_headers(response: requests.Response) -> None:
    assert response.status_code == 200
    assert response.headers["Result-Truncated"] == "true"
    assert response.headers["Result-Limit"] == str(ROW_CAP)
    assert "result-truncated" in response.headers["Link"]


def test_under_the_cap_nothing_says_truncated(capped: LiveServer) -> None:
    response = sparql(capped.url, "SELECT * WHERE { ?s ?p ?o } LIMIT 3")
    assert "Result-Truncated" not in response.headers
    doc = response.json()
    assert "truncated" not in doc
    assert len(doc["results"]["bindings"]) == 3


def test_capped_json_says_so_in_header_and_body(capped: LiveServer) -> None:
    response = sparql(capped.url, ALL)
    assert_truncated_headers(response)
    doc = response.json()
    assert doc["truncated"] is True
    assert doc["rowLimit"] == ROW_CAP
    assert len(doc["results"]["bindings"]) == ROW_CAP
    assert doc["head"]["vars"] == ["s", "p", "o"]
    # A standard parser still reads it.
    assert len(list(ox.parse_query_results(response.content, format=ox.QueryResultsFormat.JSON))) == ROW_CAP


def test_capped_xml_carries_a_link_in_head(capped: LiveServer) -> None:
    response = sparql(capped.url, ALL, accept=RESULT_TYPES["xml"])
    assert_truncated_headers(response)
    root = ET.fromstring(response.content)
    links = [e.get("href") for e in root.find(SRX + "head").findall(SRX + "link")]
    assert any(href and "result-truncated" in href for href in links)
    assert len(rows_xml(response.content)) == ROW_CAP
    assert len(list(ox.parse_query_results(response.content, format=ox.QueryResultsFormat.XML))) == ROW_CAP


@pytest.mark.parametrize("key", ["csv", "tsv"])
def test_capped_csv_tsv_say_so_in_headers(capped: LiveServer, key: str) -> None:
    response = sparql(capped.url, ALL, accept=RESULT_TYPES[key])
    assert_truncated_headers(response)
    rows = rows_csv(response.content) if key == "csv" else rows_tsv(response.content)
    assert len(rows) == ROW_CAP


@pytest.mark.parametrize("key", list(GRAPH_TYPES))
def test_capped_graphs_say_so(capped: LiveServer, key: str) -> None:
    response = sparql(capped.url, ALL_GRAPH, accept=GRAPH_TYPES[key])
    assert_truncated_headers(response)
    assert len(parse_graph(response.content, key)) == ROW_CAP
    if key in ("ttl", "nt"):
        assert response.content.startswith(b"# Result truncated")
    if key == "rdf":
        assert b"<!-- Result truncated" in response.content


def test_capped_service_description_states_the_cap(capped: LiveServer) -> None:
    graph = parse_graph(requests.get(capped.url + "/sparql", timeout=30).content, "ttl")
    values = [int(o) for p, o in graph.predicate_objects(URIRef(capped.url + "/sparql"))
              if str(p).endswith("#rowLimit")]
    assert values == [ROW_CAP]
