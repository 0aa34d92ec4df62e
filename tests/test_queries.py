"""Every stored query runs on the bundled graph with its example bindings and gives its expected result.

Expected results sit in `tests/expected/<query-name>.{csv,srj,ttl}`: CSV for SELECT, SPARQL JSON
(`.srj`) for ASK and for SELECTs whose language tags or datatypes matter, Turtle for CONSTRUCT
(compared as graphs). A SELECT with ORDER BY is compared row by row in order, others as multisets.

To write an expected file for a new or changed query, for review before committing:

    python -m tests.test_queries list-reference-countries
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import graph_diff, isomorphic

from graph.engine.inline import InlineBackend
from graph.paths import QUERIES_DIR, bundled_sources
from graph.queries import StoredQuery, bind_query, load_queries
from graph.release import make_release

EXPECTED = Path(__file__).resolve().parent / "expected"
SUFFIXES = (".csv", ".srj", ".ttl")
QUERIES = load_queries(QUERIES_DIR)
# Queries whose right answer on the bundled graph is no row at all (a gap list that the data has
# closed), each with one triple set it must find: so an empty answer still proves something.
EMPTY_BY_DESIGN = {
    "list-entities-without-french-label": (
        b'<https://w3id.org/rabat-kg/id/organisation/atlantis> '
        b'<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/rabat-kg/def/Organisation> .\n'
        b'<https://w3id.org/rabat-kg/id/organisation/atlantis> <http://www.w3.org/2000/01/rdf-schema#label> '
        b'"Atlantis Office"@en .\n',
        "https://w3id.org/rabat-kg/id/organisation/atlantis"),
}


@pytest.fixture(scope="module")
def backend() -> InlineBackend:
    release = make_release(bundled_sources())
    return InlineBackend(release.ntriples, release.version)


def expected_file(name: str) -> Path | None:
    found = [EXPECTED / f"{name}{s}" for s in SUFFIXES if (EXPECTED / f"{name}{s}").exists()]
    return found[0] if len(found) == 1 else None


def run(backend: InlineBackend, query: StoredQuery, suffix: str) -> bytes:
    """The query's answer with its first example's bindings, in the expected file's format."""
    values = query.examples[0] if query.examples else {}
    fmt = {".csv": "csv", ".srj": "json", ".ttl": "ttl"}[suffix]
    return backend.execute(bind_query(query, values), fmt=fmt, max_rows=None).body


def _ordered(query: StoredQuery) -> bool:
    return bool(re.search(r"\bORDER\s+BY\b", query.text, re.IGNORECASE))


def test_there_are_enough_queries() -> None:
    assert len(QUERIES) >= 12


def test_every_query_has_one_expected_file_and_every_file_a_query() -> None:
    for name in QUERIES:
        found = [s for s in SUFFIXES if (EXPECTED / f"{name}{s}").exists()]
        assert len(found) == 1, f"{name}: expected files {found or 'missing'}"
    stems = {p.stem for p in EXPECTED.iterdir() if p.suffix in SUFFIXES}
    assert stems <= set(QUERIES), f"expected files without a query: {sorted(stems - set(QUERIES))}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_header(name: str) -> None:
    query = QUERIES[name]
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", name), "names are verb-object in kebab case"
    assert query.summary
    for example in query.examples:
        bind_query(query, example)  # every example binds (types, enums, names)
    required = [p.name for p in query.params if p.required]
    assert not required or query.examples, f"{name}: required parameters need an example"
    for param in query.params:
        assert re.search(rf"\?{param.name}\b", query.text.split("WHERE", 1)[-1]), \
            f"{name}: parameter {param.name} binds no variable of the query"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_matches_its_expected_result(name: str, backend: InlineBackend) -> None:
    query = QUERIES[name]
    path = expected_file(name)
    assert path is not None, f"{name}: no expected file"
    body = run(backend, query, path.suffix)
    if path.suffix == ".ttl":
        got = Graph().parse(data=body, format="turtle")
        want = Graph().parse(path, format="turtle")
        if not isomorphic(got, want):
            _, only_got, only_want = graph_diff(got, want)
            pytest.fail(f"only in result:\n{only_got.serialize(format='nt')}\n"
                        f"only expected:\n{only_want.serialize(format='nt')}")
        assert len(got) > 0
        return
    if path.suffix == ".srj":
        got_doc, want_doc = json.loads(body), json.loads(path.read_text(encoding="utf-8"))
        if "boolean" in want_doc:
            assert got_doc.get("boolean") == want_doc["boolean"]
            return
        assert got_doc["head"]["vars"] == want_doc["head"]["vars"]
        got_rows = got_doc["results"]["bindings"]
        want_rows = want_doc["results"]["bindings"]
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    else:
        got_rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        want_rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert got_rows[0] == want_rows[0], "columns differ"
        got_rows, want_rows = got_rows[1:], want_rows[1:]
        key = lambda r: "\x00".join(r)  # noqa: E731
    if name not in EMPTY_BY_DESIGN:
        assert want_rows, f"{path.name}: an expected result with no rows proves nothing"
    if not _ordered(query):
        got_rows, want_rows = sorted(got_rows, key=key), sorted(want_rows, key=key)
    assert got_rows == want_rows


@pytest.mark.parametrize("name", sorted(EMPTY_BY_DESIGN))
def test_query_expected_empty_finds_what_it_looks_for(name: str) -> None:
    """Its answer is empty on the bundled graph, and not because it can find nothing."""
    extra, found = EMPTY_BY_DESIGN[name]
    release = make_release(bundled_sources(), validate=False)
    backend = InlineBackend(release.ntriples + extra, release.version + "-with-gap")
    body = run(backend, QUERIES[name], ".csv").decode("utf-8")
    assert found in body, body


def write_expected(name: str) -> Path:
    """Write (or rewrite) the expected file of one query, keeping its current format."""
    query = QUERIES[name]
    path = expected_file(name)
    if path is None:
        path = EXPECTED / (f"{name}.ttl" if query.form in ("construct", "describe")
                           else f"{name}.srj" if query.form == "ask" else f"{name}.csv")
    release = make_release(bundled_sources())
    body = run(InlineBackend(release.ntriples, release.version), query, path.suffix)
    if path.suffix == ".srj":
        body = (json.dumps(json.loads(body), indent=1, ensure_ascii=False) + "\n").encode()
    EXPECTED.mkdir(exist_ok=True)
    path.write_bytes(body)
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(write_expected(arg))
