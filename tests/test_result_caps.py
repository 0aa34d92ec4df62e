"""The one row-cap mechanism (graph/engine/run.py): lines of TSV or N-Triples, cut at the cap.

Literals are full of what looks like row boundaries in JSON, XML and TSV (braces, tags,
escaped newlines and tabs); for caps below, at and above the size, every format must hold
exactly the first rows of the uncapped answer, and say whether it was cut.
"""

from __future__ import annotations

import json
import random

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.engine.run import capped_lines, serialize_answer

EX = "http://example.org/"
NASTY = ['}},{', 'a,{', 'x[{', ',{"', '[{"}', ',{",', '<result>', '</result>', '"quoted"', 'back\\',
         'b\\"', '{"o":{"type":', '}},{"s":{"type":"uri"', 'line\nbreak', 'tab\tend', '{}', '\r\n']


def nasty_store(n: int, seed: int) -> ox.Store:
    """`n` subjects with a nasty literal each; some have a language-tagged second value."""
    rng = random.Random(seed)
    store = ox.Store()
    for i in range(n):
        s = ox.NamedNode(f"{EX}s{i:04d}")
        text = "z".join(rng.choice(NASTY) for _ in range(rng.randint(1, 4)))
        store.add(ox.Quad(s, ox.NamedNode(f"{EX}label"), ox.Literal(text)))
        if rng.random() < 0.3:
            store.add(ox.Quad(s, ox.NamedNode(f"{EX}other"), ox.Literal(text, language="en")))
    return store


def rows_of(body: bytes, key: str) -> list[tuple[str, ...]]:
    parsed = ox.parse_query_results(body, format=getattr(ox.QueryResultsFormat, key.upper()))
    return [tuple(str(s[v]) if s[v] is not None else "" for v in parsed.variables) for s in parsed]


QUERIES = [
    f"SELECT ?s ?o ?x WHERE {{ ?s <{EX}label> ?o OPTIONAL {{ ?s <{EX}other> ?x }} }} ORDER BY ?s",
    "SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o",
    # rows binding nothing (`{}` in JSON)
    f"SELECT ?none WHERE {{ ?s <{EX}label> ?o OPTIONAL {{ ?s <{EX}missing> ?none }} }}",
]


@pytest.mark.parametrize("key", ["json", "xml", "csv", "tsv"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_capped_answers_are_the_first_rows_in_every_format(key: str, query: str, seed: int) -> None:
    store = nasty_store(120, seed)
    full = rows_of(serialize_answer(store.query(query), fmt="tsv", max_rows=None)[0], "tsv")
    for cap in (None, 0, 1, 7, len(full) - 1, len(full), len(full) + 1):
        body, _media, kind, count, truncated = serialize_answer(store.query(query), fmt=key,
                                                                max_rows=cap)
        expected = full if cap is None else full[:cap]
        assert kind == "select"
        assert (count, truncated) == (len(expected), cap is not None and cap < len(full)), cap
        if key != "csv":  # CSV drops datatypes and languages: compare the row count only
            got = rows_of(body, key)
            assert got == expected if "ORDER BY" in query else sorted(got) == sorted(expected)
        if key == "json":
            assert len(json.loads(body)["results"]["bindings"]) == count


@pytest.mark.parametrize("fmt", ["nt", "ttl", "jsonld", "rdf"])
def test_capped_graphs_keep_the_first_triples(fmt: str) -> None:
    store = nasty_store(60, 3)
    query = f"CONSTRUCT {{ ?s <{EX}label> ?o }} WHERE {{ ?s <{EX}label> ?o }}"
    full = serialize_answer(store.query(query), fmt="nt", max_rows=None)[0].splitlines()
    body, _m, kind, count, truncated = serialize_answer(store.query(query), fmt=fmt, max_rows=10)
    assert (kind, count, truncated) == ("construct", 10, True)
    parsed = list(ox.parse(body, format={"nt": ox.RdfFormat.N_TRIPLES, "ttl": ox.RdfFormat.TURTLE,
                                         "jsonld": ox.RdfFormat.JSON_LD,
                                         "rdf": ox.RdfFormat.RDF_XML}[fmt]))
    assert len(parsed) == 10
    assert {str(q.triple) + " ." for q in parsed} <= {line.decode() for line in full}


def test_a_capped_endless_result_stops_early() -> None:
    """A cap over a huge cross product answers without evaluating all of it (400^3 rows)."""
    store = nasty_store(400, 4)
    query = "SELECT ?a ?b ?c WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z }"
    body, _m, _k, count, truncated = serialize_answer(store.query(query), fmt="json", max_rows=50)
    assert (count, truncated) == (50, True)
    assert len(json.loads(body)["results"]["bindings"]) == 50


_TEXT = st.text(alphabet=st.sampled_from(list('{}[],:"\\ab\n\r\t\u00e9\u2028<>&')), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, max_size=40), st.integers(min_value=0, max_value=45))
def test_any_literals_any_cap(texts: list[str], cap: int) -> None:
    """Whatever the literals hold, the TSV lines are rows: the cap keeps exactly `cap` of them."""
    store = ox.Store()
    for i, text in enumerate(texts):
        store.add(ox.Quad(ox.NamedNode(f"{EX}s{i:03d}"), ox.NamedNode(f"{EX}p"), ox.Literal(text)))
    query = "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?s"
    data, count, truncated = capped_lines(store.query(query), ox.QueryResultsFormat.TSV, 1, cap)
    assert (count, truncated) == (min(cap, len(texts)), cap < len(texts))
    got = rows_of(data, "tsv")
    assert [row[1] for row in got] == [str(ox.Literal(t)) for t in texts][:cap]
