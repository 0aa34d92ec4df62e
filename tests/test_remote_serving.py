"""The remote store (`serve --store`), checked where it differs from the embedded engine.

One server on the embedded engine and one on a Virtuoso the tests start (loaded with
`rabat-kg load`) get the same requests; their answers must say the same: equal solutions,
isomorphic graphs, the same stored-query rows, the same pages found, the same errors. The
rest of the HTTP suite runs on the embedded engine only (RABAT_KG_BACKENDS adds Virtuoso).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from rdflib import Graph
from rdflib.compare import isomorphic

from tests.conftest import load_store
from tests.serverproc import LiveServer, start_server

pytestmark = pytest.mark.virtuoso

JSON = "application/sparql-results+json"
KG = "PREFIX kg: <https://w3id.org/rabat-kg/def/>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"


@pytest.fixture(scope="module")
def servers(virtuoso_server: object) -> Iterator[tuple[LiveServer, LiveServer]]:
    embedded = start_server()
    url = virtuoso_server.sparql_url  # type: ignore[attr-defined]
    load_store(url, virtuoso_server.load_env())  # type: ignore[attr-defined]
    remote = start_server(["--store", url])
    yield embedded, remote
    embedded.stop()
    remote.stop()


def rows(response: requests.Response) -> Counter[tuple[tuple[str, str], ...]]:
    assert response.status_code == 200, response.text[:500]
    doc = response.json()
    if "boolean" in doc:
        return Counter({(("boolean", str(doc["boolean"])),): 1})
    return Counter(tuple(sorted((k, v["value"]) for k, v in b.items()
                                if v["type"] != "bnode")) for b in doc["results"]["bindings"])


def graph(response: requests.Response, fmt: str = "turtle") -> Graph:
    assert response.status_code == 200, response.text[:500]
    return Graph().parse(data=response.content, format=fmt)


QUERIES = [
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    KG + "SELECT ?c ?l WHERE { ?c a kg:Country ; rdfs:label ?l FILTER(LANG(?l) = 'fr') }",
    KG + "SELECT ?a ?d WHERE { ?a a kg:NationalMeasure . OPTIONAL { ?a kg:date ?d } }",
    KG + "SELECT ?type (COUNT(?s) AS ?n) WHERE { ?s a ?type } GROUP BY ?type",
    KG + "ASK { <https://w3id.org/rabat-kg/id/country/togo> a kg:Country }",
    'SELECT ?s WHERE { ?s ?p ?o FILTER(CONTAINS(LCASE(STR(?o)), "reintegration")) }',
]


@pytest.mark.parametrize("query", QUERIES)
def test_select_and_ask_answer_the_same(servers: tuple[LiveServer, LiveServer], query: str) -> None:
    answers = [rows(requests.post(s.url + "/sparql", data={"query": query}, timeout=60,
                                  headers={"Accept": JSON})) for s in servers]
    assert answers[0] == answers[1]
    assert answers[0], "the query found nothing: it proves nothing"


@pytest.mark.parametrize("path", ["country/togo", "domain/5", "action/20", "country/cameroon",
                                  "organisation/ofii"])
@pytest.mark.parametrize("suffix,fmt", [(".ttl", "turtle"), (".nt", "nt"), (".jsonld", "json-ld")])
def test_entity_documents_are_the_same_graph(servers: tuple[LiveServer, LiveServer], path: str,
                                             suffix: str, fmt: str) -> None:
    graphs = [graph(requests.get(f"{s.url}/doc/{path}{suffix}", timeout=60), fmt) for s in servers]
    assert len(graphs[0]) > 3
    assert isomorphic(graphs[0], graphs[1])


def test_every_stored_query_gives_the_same_rows(servers: tuple[LiveServer, LiveServer]) -> None:
    listing = requests.get(servers[0].url + "/queries", headers={"Accept": "application/json"},
                           timeout=60).json()["queries"]
    assert len(listing) >= 12
    for entry in listing:
        name = entry["name"]
        answers = []
        for s in servers:
            r = requests.get(f"{s.url}/queries/{name}", headers={
                "Accept": f"{JSON}, text/turtle;q=0.9"}, timeout=60)
            answers.append(rows(r) if r.headers["Content-Type"].startswith(JSON)
                           else graph(r))
        if isinstance(answers[0], Graph):
            assert isomorphic(answers[0], answers[1]), name
        else:
            assert answers[0] == answers[1], name


@pytest.mark.parametrize("path,needle", [
    ("/", "Togo"), ("/doc/country/togo", "Togo"), ("/doc/country/togo?lang=fr", "Togo"),
    ("/search?q=togo", "/id/country/togo"), ("/search?q=" + quote("cote d'ivoire"), "Côte"),
    ("/ontology", "Country"), ("/queries/list-reference-countries", "Cameroon")])
def test_pages_show_the_same_things(servers: tuple[LiveServer, LiveServer], path: str,
                                    needle: str) -> None:
    for s in servers:
        r = requests.get(s.url + path, headers={"Accept": "text/html"}, timeout=60)
        assert r.status_code == 200, (s.backend, path, r.text[:300])
        assert needle in r.text, (s.url, path)


def test_the_dump_is_the_same_graph(servers: tuple[LiveServer, LiveServer]) -> None:
    graphs = [graph(requests.get(s.url + "/dump.nt", timeout=120), "nt") for s in servers]
    assert isomorphic(graphs[0], graphs[1])


@pytest.mark.parametrize("query,status,kind", [
    ("SELECT * WHERE { ?s ?p }", 400, "query-syntax"),
    ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", 403, "update-refused"),
    ("SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", 400, "query-refused"),
])
def test_errors_are_the_same(servers: tuple[LiveServer, LiveServer], query: str, status: int,
                             kind: str) -> None:
    for s in servers:
        r = requests.post(s.url + "/sparql", data={"query": query}, timeout=60)
        assert r.status_code == status, (s.url, r.text[:300])
        assert r.json()["type"].endswith("/" + kind)


@pytest.mark.parametrize("text", ["togo", "cote d'ivoire", "réintégration", "OFII", "oeuvre"])
def test_search_finds_the_same_hits_in_the_same_order(servers: tuple[LiveServer, LiveServer],
                                                      text: str) -> None:
    answers = []
    for s in servers:
        r = requests.get(s.url + "/search", params={"q": text}, timeout=60,
                         headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text[:300]
        answers.append(r.json())
    assert answers[0] == answers[1]
