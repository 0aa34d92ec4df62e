"""Third-party SPARQL clients against the real server: SPARQLWrapper, rdflib's SPARQLStore, roqet.

Answers are checked against an independent oracle: the bundled release loaded in-process
into a pyoxigraph store (the same files, no server involved).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from functools import cache

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, POST, TSV, TURTLE, XML, SPARQLWrapper

LABELS = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
          "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s STR(?label) LANG(?label) LIMIT 25")
CONSTRUCT = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "CONSTRUCT { ?s rdfs:label ?label } WHERE { ?s rdfs:label ?label }")
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


@cache
def oracle() -> ox.Store:
    """The bundled graph, straight from its files."""
    from graph.paths import bundled_sources
    from graph.release import make_release

    store = ox.Store()
    store.bulk_load(make_release(bundled_sources(), validate=False).ntriples,
                    format=ox.RdfFormat.N_TRIPLES)
    return store


def oracle_rows(query: str) -> list[tuple[str, ...]]:
    solutions = oracle().query(query)
    names = [v.value for v in solutions.variables]
    return [tuple(s[n].value for n in names) for s in solutions]


def oracle_graph(query: str) -> set[tuple[str, str, str]]:
    return {(t.subject.value, t.predicate.value, t.object.value) for t in oracle().query(query)}


def plain(graph: Graph) -> set[tuple[str, str, str]]:
    return {(str(s), str(p), str(o)) for s, p, o in graph}


# --- SPARQLWrapper ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", POST])
def test_sparqlwrapper_select_json(base_url: str, method: str) -> None:
    client = SPARQLWrapper(base_url + "/sparql")
    client.setQuery(LABELS)
    client.setReturnFormat(JSON)
    client.setMethod(method)
    doc = client.query().convert()
    rows = [(b["s"]["value"], b["label"]["value"]) for b in doc["results"]["bindings"]]
    assert rows == oracle_rows(LABELS)
    assert len(rows) == 25


@pytest.mark.parametrize("fmt", [XML, CSV, TSV])
def test_sparqlwrapper_select_other_formats(base_url: str, fmt: str) -> None:
    """SPARQLWrapper repeats the format as format=, output= and results= (with the media type too)."""
    client = SPARQLWrapper(base_url + "/sparql")
    client.setQuery(LABELS)
    client.setReturnFormat(fmt)
    converted = client.query().convert()
    if fmt == XML:  # a DOM document
        rows = []
        for result in converted.getElementsByTagName("result"):
            row = {}
            for binding in result.getElementsByTagName("binding"):
                term = next(n for n in binding.childNodes if n.nodeType == n.ELEMENT_NODE)
                row[binding.getAttribute("name")] = term.firstChild.data if term.firstChild else ""
            rows.append((row["s"], row["label"]))
    elif fmt == CSV:
        reader = csv.reader(io.StringIO(converted.decode("utf-8"), newline=""))
        rows = [tuple(r) for r in list(reader)[1:]]
    else:
        parsed = ox.parse_query_results(converted, format=ox.QueryResultsFormat.TSV)
        rows = [(s["s"].value, s["label"].value) for s in parsed]
    assert rows == oracle_rows(LABELS)


@pytest.mark.parametrize(("query", "expected"), [("ASK { ?s ?p ?o }", True),
                                                 ("ASK { <urn:rabat-kg:none> ?p ?o }", False)])
def test_sparqlwrapper_ask(base_url: str, query: str, expected: bool) -> None:
    client = SPARQLWrapper(base_url + "/sparql")
    client.setQuery(query)
    client.setReturnFormat(JSON)
    assert client.query().convert()["boolean"] is expected


@pytest.mark.parametrize("fmt", [TURTLE, XML, JSONLD])
def test_sparqlwrapper_construct(base_url: str, fmt: str) -> None:
    client = SPARQLWrapper(base_url + "/sparql")
    client.setQuery(CONSTRUCT)
    client.setReturnFormat(fmt)
    converted = client.query().convert()
    if isinstance(converted, Graph):
        graph = converted
    else:
        graph = Graph().parse(data=converted, format={TURTLE: "turtle", JSONLD: "json-ld"}[fmt])
    assert plain(graph) == oracle_graph(CONSTRUCT)
    assert len(graph) > 0


# --- rdflib SPARQLStore ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "POST_FORM"])
def test_rdflib_sparqlstore(base_url: str, method: str) -> None:
    graph = Graph(store=SPARQLStore(base_url + "/sparql", method=method))
    rows = [(str(r[0]), str(r[1])) for r in graph.query(LABELS)]
    assert rows == oracle_rows(LABELS)
    assert graph.query("ASK { ?s ?p ?o }").askAnswer is True
    constructed = graph.query(CONSTRUCT).graph
    assert plain(constructed) == oracle_graph(CONSTRUCT)
    (count,) = next(iter(graph.query(COUNT)))
    assert isinstance(count, Literal)
    assert int(count) == int(oracle_rows(COUNT)[0][0])


def test_rdflib_sparqlstore_graph_api(base_url: str) -> None:
    graph = Graph(store=SPARQLStore(base_url + "/sparql"))
    subject = URIRef(oracle_rows(LABELS)[0][0])
    described = set(graph.triples((subject, None, None)))
    expected = {t for t in oracle_graph(f"CONSTRUCT {{ <{subject}> ?p ?o }} WHERE {{ <{subject}> ?p ?o }}")}
    assert {(str(s), str(p), str(o)) for s, p, o in described} == expected
    assert len(graph) == int(oracle_rows(COUNT)[0][0])


# --- roqet (Debian rasqal-utils) -------------------------------------------------------------


@pytest.mark.skipif(shutil.which("roqet") is None, reason="roqet (rasqal-utils) is not installed")
@pytest.mark.parametrize("results", ["csv", "tsv", "xml"])
def test_roqet_select(base_url: str, results: str) -> None:
    """roqet -p sends the query by GET with Accept: application/sparql-results+xml.

    Rasqal's protocol client reads only variable-binding results (not ASK booleans, not graphs),
    so SELECT is what it can check.
    """
    query = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
             "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s STR(?label) LANG(?label) LIMIT 10")
    proc = subprocess.run(["roqet", "-q", "-i", "sparql11-query", "-p", base_url + "/sparql", "-r",
                           results, "-e", query], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    expected = oracle_rows(query)
    if results == "csv":
        lines = proc.stdout.strip().splitlines()
        assert lines[0] == "s,label"
        assert [tuple(line.split(",", 1)) for line in lines[1:]] == expected
    elif results == "tsv":
        parsed = ox.parse_query_results(proc.stdout.encode(), format=ox.QueryResultsFormat.TSV)
        assert [(s["s"].value, s["label"].value) for s in parsed] == expected
    else:
        parsed = ox.parse_query_results(proc.stdout.encode(), format=ox.QueryResultsFormat.XML)
        assert [(s["s"].value, s["label"].value) for s in parsed] == expected


@pytest.mark.skipif(shutil.which("roqet") is None, reason="roqet (rasqal-utils) is not installed")
def test_roqet_count_and_error(base_url: str) -> None:
    proc = subprocess.run(["roqet", "-q", "-i", "sparql11-query", "-p", base_url + "/sparql", "-r", "csv",
                           "-e", COUNT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[1] == oracle_rows(COUNT)[0][0]
    bad = subprocess.run(["roqet", "-p", base_url + "/sparql", "-e", "SELEC * WHERE {"],
                         capture_output=True, text=True, timeout=60)
    assert "400" in bad.stderr
