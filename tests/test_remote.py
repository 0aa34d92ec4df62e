"""RemoteBackend and load_into_store against a real Virtuoso started by the tests.

Answers must equal the embedded engine's (modulo blank node labels), never include
Virtuoso's own system graphs, respect the row cap, and failures must map to 400/502/504 with
service coming back as soon as the store does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pyoxigraph as ox
import pytest
import requests
from requests.auth import HTTPDigestAuth

from graph import errors
from graph.engine.inline import InlineBackend
from graph.engine.remote import DATA_GRAPH, RemoteBackend, fix_results_xml, load_into_store
from tests.serverproc import free_port
from tests.test_engine import EX, make_release
from tests.virtuoso import DBA_PASSWORD, DBA_USER, VirtuosoServer

pytestmark = pytest.mark.virtuoso

TEST_GRAPH = "https://w3id.org/rabat-kg/graph/test-remote"


def load(server: VirtuosoServer, release: Any, graph: str = TEST_GRAPH, **kw: Any) -> int:
    return load_into_store(server.sparql_url, release, graph, update_url=server.update_url,
                           auth=HTTPDigestAuth(DBA_USER, DBA_PASSWORD), **kw)


@pytest.fixture(scope="module")
def loaded(virtuoso_server: VirtuosoServer) -> Iterator[tuple[RemoteBackend, InlineBackend]]:
    release = make_release(300)
    assert load(virtuoso_server, release, chunk_triples=250) == release.triple_count
    remote = RemoteBackend(virtuoso_server.sparql_url, timeout=5, graph=TEST_GRAPH)
    yield remote, InlineBackend(release.ntriples, release.version)
    remote.close()


def normalised(body: bytes) -> list[tuple[tuple[str, str, str], ...]]:
    """SPARQL JSON rows as comparable tuples; blank node labels blanked out."""
    rows = []
    for binding in json.loads(body)["results"]["bindings"]:
        row = []
        for var in sorted(binding):
            term = binding[var]
            value = "_" if term["type"] == "bnode" else term["value"]
            row.append((var, value, term.get("datatype") or term.get("xml:lang") or ""))
        rows.append(tuple(row))
    return rows


QUERIES = [
    f"SELECT ?s ?l WHERE {{ ?s <{EX}label> ?l . FILTER(LANG(?l) = 'fr') }} ORDER BY ?s",
    f"SELECT ?g (COUNT(?s) AS ?n) WHERE {{ ?s <{EX}group> ?g }} GROUP BY ?g ORDER BY ?g",
    f"SELECT ?s ?r WHERE {{ ?s <{EX}rank> ?r . FILTER(?r > 290) }} ORDER BY ?r",
    f"SELECT ?t WHERE {{ <{EX}item/7> <{EX}note> ?n . ?n <{EX}text> ?t }}",
    f"SELECT ?s ?n WHERE {{ ?s <{EX}note> ?n }} ORDER BY ?s LIMIT 5",
]


@pytest.mark.parametrize("query", QUERIES)
def test_select_answers_equal_the_embedded_engine(
        loaded: tuple[RemoteBackend, InlineBackend], query: str) -> None:
    remote, inline = loaded
    got = remote.execute(query, fmt="json")
    want = inline.execute(query, fmt="json")
    assert normalised(got.body) == normalised(want.body)
    assert got.count == want.count > 0


def test_only_the_loaded_graph_is_visible(loaded: tuple[RemoteBackend, InlineBackend],
                                          virtuoso_server: VirtuosoServer) -> None:
    remote, inline = loaded
    n = int(remote.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"])
    assert n == int(inline.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"])
    # Control: Virtuoso's own default graph is the union with its system graphs.
    raw = requests.get(virtuoso_server.sparql_url,
                       params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"},
                       headers={"Accept": "application/sparql-results+json"}, timeout=10)
    assert int(raw.json()["results"]["bindings"][0]["n"]["value"]) > n


@pytest.mark.parametrize("fmt,parse", [
    ("json", ox.QueryResultsFormat.JSON), ("xml", ox.QueryResultsFormat.XML),
    ("csv", None), ("tsv", ox.QueryResultsFormat.TSV)])
def test_every_results_format_parses(loaded: tuple[RemoteBackend, InlineBackend], fmt: str,
                                     parse: Any) -> None:
    remote, _ = loaded
    result = remote.execute(f"SELECT ?s ?n WHERE {{ ?s <{EX}note> ?n }} LIMIT 7", fmt=fmt)
    if parse is not None:
        assert len(list(ox.parse_query_results(result.body, format=parse))) == 7
    else:
        assert result.body.count(b"\r\n") == 8
    assert result.body.count(b"nodeID") == 0


@pytest.mark.parametrize("fmt,parse", [
    ("ttl", ox.RdfFormat.TURTLE), ("nt", ox.RdfFormat.N_TRIPLES),
    ("jsonld", ox.RdfFormat.JSON_LD), ("rdf", ox.RdfFormat.RDF_XML)])
def test_construct_in_every_rdf_format(loaded: tuple[RemoteBackend, InlineBackend], fmt: str,
                                       parse: Any) -> None:
    remote, inline = loaded
    query = f"CONSTRUCT {{ ?s <{EX}label> ?l }} WHERE {{ ?s <{EX}label> ?l ; <{EX}rank> ?r . " \
            "FILTER(?r < 10) }"
    got = remote.execute(query, fmt=fmt)
    want = inline.execute(query, fmt="nt")
    assert got.form == "construct"
    assert {str(q.triple) for q in ox.parse(got.body, format=parse)} == \
           {str(q.triple) for q in ox.parse(want.body, format=ox.RdfFormat.N_TRIPLES)}


def test_ask_both_ways(loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    remote, _ = loaded
    yes = remote.execute(f"ASK {{ <{EX}item/3> ?p ?o }}", fmt="json")
    no = remote.execute(f"ASK {{ <{EX}item/999999> ?p ?o }}", fmt="json")
    assert (yes.form, json.loads(yes.body)["boolean"], json.loads(no.body)["boolean"]) == \
           ("ask", True, False)


def test_row_cap_is_explicit(loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    remote, _ = loaded
    result = remote.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="json", max_rows=20)
    assert (result.count, result.truncated) == (20, True)
    assert len(json.loads(result.body)["results"]["bindings"]) == 20
    full = remote.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="json", max_rows=300)
    assert (full.count, full.truncated) == (300, False)


def test_blank_nodes_survive_chunked_loading(loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    """Each note is a blank node with two triples; chunking must not split one in two."""
    remote, _ = loaded
    rows = remote.select(f"SELECT (COUNT(DISTINCT ?n) AS ?c) WHERE {{ ?s <{EX}note> ?n . "
                         f"?n <{EX}text> ?t }}")
    assert int(rows[0]["c"]["value"]) == 300


def test_version_is_the_loaded_release(loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    remote, inline = loaded
    assert remote.version() == inline.version()


def test_store_syntax_error_is_a_400(loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    remote, _ = loaded
    with pytest.raises(errors.QuerySyntaxError) as info:
        remote.execute("SELECT * WHERE {\n ?s ?p }", fmt="json")
    assert info.value.status == 400 and "Virtuoso" in info.value.detail


def test_graph_store_protocol_load_equals_update_load(
        loaded: tuple[RemoteBackend, InlineBackend], virtuoso_server: VirtuosoServer) -> None:
    graph = "https://w3id.org/rabat-kg/graph/test-gsp"
    release = make_release(300)
    assert load(virtuoso_server, release, graph, gsp_url=virtuoso_server.gsp_url,
                gsp_chunk_triples=500) == release.triple_count
    via_gsp = RemoteBackend(virtuoso_server.sparql_url, graph=graph)
    via_update, _ = loaded
    query = f"SELECT ?s ?t WHERE {{ ?s <{EX}note> ?n . ?n <{EX}text> ?t }} ORDER BY ?s"
    assert normalised(via_gsp.execute(query, fmt="json").body) == \
        normalised(via_update.execute(query, fmt="json").body)


def test_update_requests_too_big_for_the_store_are_split(
        virtuoso_server: VirtuosoServer) -> None:
    """Virtuoso refuses one INSERT of 4,800 triples (its SQL text cap); the load halves it."""
    graph = "https://w3id.org/rabat-kg/graph/test-split"
    release = make_release(800)
    assert load(virtuoso_server, release, graph, chunk_triples=100_000) == release.triple_count


def test_reload_replaces_the_graph_and_its_version(virtuoso_server: VirtuosoServer) -> None:
    graph = "https://w3id.org/rabat-kg/graph/test-replace"
    remote = RemoteBackend(virtuoso_server.sparql_url, graph=graph, version_ttl_s=0)
    first, second = make_release(20, "first"), make_release(10, "second")
    load(virtuoso_server, first, graph)
    assert remote.version() == "first"
    load(virtuoso_server, second, graph)
    assert remote.version() == "second"
    n = remote.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"]
    assert int(n) == second.triple_count
    assert remote.execute(f"ASK {{ <{EX}item/15> ?p ?o }}", fmt="json").body.count(b"false") == 1


def test_anonymous_endpoint_stays_read_only(virtuoso_server: VirtuosoServer) -> None:
    with pytest.raises(errors.KgError):
        load_into_store(virtuoso_server.sparql_url, make_release(5), DATA_GRAPH + "/anon")


def test_unreachable_store_is_502_with_a_clear_message() -> None:
    remote = RemoteBackend(f"http://127.0.0.1:{free_port()}/sparql", timeout=2)
    with pytest.raises(errors.BackendUnavailable) as info:
        remote.execute("ASK {}", fmt="json")
    assert info.value.status == 502 and "cannot be reached" in info.value.detail


def test_slow_store_is_504_and_service_comes_back(loaded: tuple[RemoteBackend, InlineBackend],
                                                 virtuoso_server: VirtuosoServer) -> None:
    remote = RemoteBackend(virtuoso_server.sparql_url, timeout=1.5, graph=TEST_GRAPH)
    virtuoso_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(errors.BackendTimeout) as info:
            remote.execute("ASK { ?s ?p ?o }", fmt="json")
        assert info.value.status == 504
        assert time.monotonic() - started < 4
    finally:
        virtuoso_server.resume()
    assert json.loads(remote.execute("ASK { ?s ?p ?o }", fmt="json").body)["boolean"] is True


def test_a_query_over_the_limit_is_stopped_not_served_partially(
        loaded: tuple[RemoteBackend, InlineBackend]) -> None:
    remote, _ = loaded
    remote.execute("ASK {}", fmt="json")  # learn that the store is Virtuoso
    started = time.monotonic()
    with pytest.raises(errors.BackendTimeout):
        remote.execute("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
                       fmt="json")
    assert time.monotonic() - started < 9
    # The store is free again right after.
    assert remote.execute("ASK { ?s ?p ?o }", fmt="json").count == 1


def test_virtuoso_blank_node_labels_are_rewritten_injectively() -> None:
    body = (b'<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head><variable name="b"/>'
            b'</head><results><result><binding name="b"><bnode>nodeID://b1</bnode></binding>'
            b'</result><result><binding name="b"><bnode>nodeID://b1</bnode></binding></result>'
            b'<result><binding name="b"><bnode>nodeID://b2</bnode></binding></result>'
            b'<result><binding name="b"><bnode>ok_label</bnode></binding></result>'
            b"</results></sparql>")
    rows = list(ox.parse_query_results(fix_results_xml(body), format=ox.QueryResultsFormat.XML))
    labels = [r["b"].value for r in rows]
    assert labels[0] == labels[1] != labels[2] and labels[3] == "ok_label"
