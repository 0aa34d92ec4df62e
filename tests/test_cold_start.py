"""Probe 19: a fresh server gets 8 different queries at once, then one more; all 9 succeed.

rdflib's parser breaks for good when the first queries after start arrive concurrently
(rdflib #1282, pyparsing #89): every later query fails too. Whatever engine and parser the
server uses, the first burst after start must be answered correctly, and so must the query
after it. Each answer is compared with the same query run in this process on the same
files, so "succeed" means the right rows, not just a 200.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from rdflib import Graph

from graph.paths import bundled_sources
from graph.release import make_release
from tests.serverproc import LiveServer, start_server

KG = "PREFIX kg: <https://w3id.org/rabat-kg/def/>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
# Eight different queries: every form, several result formats, joins, aggregates, paths.
BURST: list[tuple[str, str]] = [
    ("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "application/sparql-results+json"),
    (KG + "SELECT ?c ?l WHERE { ?c a kg:Country ; rdfs:label ?l FILTER(lang(?l) = 'en') } ORDER BY ?c",
     "application/sparql-results+json"),
    (KG + "SELECT ?class (COUNT(?x) AS ?n) WHERE { ?x a ?class } GROUP BY ?class ORDER BY ?class",
     "text/csv"),
    (KG + "ASK { ?c a kg:Country }", "application/sparql-results+json"),
    (KG + "SELECT ?a ?c WHERE { ?a kg:country ?c . OPTIONAL { ?a kg:startDate ?d } } ORDER BY ?a ?c",
     "text/tab-separated-values"),
    (KG + "CONSTRUCT { ?c rdfs:label ?l } WHERE { ?c a kg:Country ; rdfs:label ?l }", "text/turtle"),
    ("SELECT DISTINCT ?p WHERE { ?s ?p ?o } ORDER BY ?p", "application/sparql-results+xml"),
    (KG + "SELECT ?x ?y WHERE { ?x rdfs:subClassOf+ ?y } ORDER BY ?x ?y", "application/sparql-results+json"),
]
AFTER = (KG + "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s rdfs:label ?l }",
         "application/sparql-results+json")


@pytest.fixture(scope="module")
def store() -> ox.Store:
    """The bundled graph in this process, to know what each answer must be."""
    release = make_release(bundled_sources(), validate=False)
    s = ox.Store()
    s.load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
    return s


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server([], log_dir=tmp_path)
    yield server
    server.stop()


def expected(store: ox.Store, query: str) -> object:
    """The answer in a comparable shape: rows as sorted tuples, a boolean, or a graph."""
    result = store.query(query)
    if isinstance(result, ox.QueryBoolean):
        return bool(result)
    if isinstance(result, ox.QuerySolutions):
        names = [v.value for v in result.variables]
        return sorted(tuple("" if row[n] is None else row[n].value for n in names) for row in result)
    graph = Graph()
    graph.parse(data=ox.serialize(result, format=ox.RdfFormat.N_TRIPLES).decode(), format="nt")
    return graph


def actual(response: requests.Response, accept: str) -> object:
    if accept == "text/turtle":
        return Graph().parse(data=response.text, format="turtle")
    if accept == "application/sparql-results+json":
        doc = response.json()
        if "boolean" in doc:
            return bool(doc["boolean"])
        names = doc["head"]["vars"]
        return sorted(tuple(b.get(n, {}).get("value", "") for n in names)
                      for b in doc["results"]["bindings"])
    if accept == "text/csv":  # lossy by design: plain values, header first
        rows = list(csv.reader(io.StringIO(response.text, newline="")))[1:]
        return sorted(tuple(row) for row in rows)
    fmt = {"text/tab-separated-values": ox.QueryResultsFormat.TSV,
           "application/sparql-results+xml": ox.QueryResultsFormat.XML}[accept]
    solutions = ox.parse_query_results(response.content, format=fmt)
    names = [v.value for v in solutions.variables]
    return sorted(tuple("" if row[n] is None else row[n].value for n in names) for row in solutions)


def same(left: object, right: object) -> bool:
    if isinstance(left, Graph) and isinstance(right, Graph):
        from rdflib.compare import isomorphic

        return isomorphic(left, right)
    return left == right


@pytest.mark.parametrize("round_", [1, 2])
def test_probe_19_first_burst_after_start_all_succeed(fresh_server: LiveServer, store: ox.Store,
                                                      round_: int) -> None:
    assert len({q for q, _ in BURST}) == 8
    barrier = threading.Barrier(len(BURST))
    answers: dict[int, requests.Response | Exception] = {}

    def fire(i: int, query: str, accept: str) -> None:
        barrier.wait(10)
        try:
            answers[i] = requests.get(fresh_server.url + "/sparql", params={"query": query},
                                      headers={"Accept": accept}, timeout=30)
        except requests.RequestException as exc:
            answers[i] = exc

    threads = [threading.Thread(target=fire, args=(i, q, a)) for i, (q, a) in enumerate(BURST)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    failures = []
    for i, (query, accept) in enumerate(BURST):
        response = answers.get(i)
        if not isinstance(response, requests.Response) or response.status_code != 200:
            text = response.text[:300] if isinstance(response, requests.Response) else response
            failures.append(f"query {i}: {getattr(response, 'status_code', '')} {text}")
        elif not same(actual(response, accept), expected(store, query)):
            failures.append(f"query {i}: wrong answer {response.text[:300]}")
    last = requests.get(fresh_server.url + "/sparql", params={"query": AFTER[0]},
                        headers={"Accept": AFTER[1]}, timeout=30)
    assert failures == [], "\n".join(failures)
    assert last.status_code == 200, last.text[:300]
    assert actual(last, AFTER[1]) == expected(store, AFTER[0])
    assert elapsed < 30, elapsed
    assert fresh_server.proc.poll() is None
