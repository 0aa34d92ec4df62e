"""Row caps on results written once in JSON or XML, against the line-based (TSV) path.

`graph.engine.run` counts rows in the engine's JSON/XML bytes as they stream (or streams them
in parts to a receiver that counts them, `graph.engine.rows`). These tests
build results whose literals hold every byte sequence that could be mistaken for a row start
(`,{"`, `[{"`, `{}`, `<result>`, quotes, backslashes) and check that count, truncation and
the rows themselves equal what the TSV path gives, for caps below, at and above the size.
JSON is counted by the C scanner where it was built and by byte searches otherwise: the
`counter` fixture runs each test with both.
"""

from __future__ import annotations

import json
import random

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.engine import rows
from graph.engine.rows import JsonScanner, MarkCounter, row_counter
from graph.engine.run import _serialize_capped, _serialize_rows, serialize_answer

EX = "http://example.org/"
NASTY = ['}},{', 'a,{', 'x[{', ',{"', '[{"}', ',{",', '<result>', '</result>', '"quoted"', 'back\\',
         'b\\"', '{"o":{"type":', '}},{"s":{"type":"uri"', 'line\nbreak', 'tab\tend']


def nasty_store(n: int, seed: int, odd: bool = False) -> ox.Store:
    """`n` subjects with a nasty literal each; some have a language-tagged second value.

    Pieces are joined with `z`, so a literal holds what looks like a row boundary only with a
    character after it, except with `odd`: then literals may also hold `{}` or end right after
    `}},{`, the two cases the JSON counter must notice and hand to the line-based path.
    """
    rng = random.Random(seed)
    store = ox.Store()
    for i in range(n):
        s = ox.NamedNode(f"{EX}s{i:04d}")
        text = "z".join(rng.choice(NASTY) for _ in range(rng.randint(1, 4))) + "z"
        if odd and rng.random() < 0.2:
            text += rng.choice(["{}", "}},{", "[{"])
        store.add(ox.Quad(s, ox.NamedNode(f"{EX}label"), ox.Literal(text)))
        if rng.random() < 0.3:
            store.add(ox.Quad(s, ox.NamedNode(f"{EX}other"), ox.Literal(text, language="en")))
    return store


def rows_of(body: bytes, key: str) -> list[tuple[str, ...]]:
    parsed = ox.parse_query_results(body, format=getattr(ox.QueryResultsFormat, key.upper()))
    return [tuple(str(s[v]) if s[v] is not None else "" for v in parsed.variables) for s in parsed]


def reference(store: ox.Store, query: str, max_rows: int | None) -> tuple[list[tuple[str, ...]], int, bool]:
    tsv, count, truncated = _serialize_capped(store.query(query), ox.QueryResultsFormat.TSV, 1, max_rows)
    return rows_of(tsv, "tsv"), count, truncated


QUERIES = [
    f"SELECT ?s ?o ?x WHERE {{ ?s <{EX}label> ?o OPTIONAL {{ ?s <{EX}other> ?x }} }} ORDER BY ?s",
    "SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o",
    # rows binding nothing (`{}` in JSON): the counted path must step aside, not miscount
    f"SELECT ?none WHERE {{ ?s <{EX}label> ?o OPTIONAL {{ ?s <{EX}missing> ?none }} }}",
]


@pytest.fixture(params=["scanner", "marks"])
def counter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which counter JSON gets: the C scanner, or the byte-search rule of a build without it."""
    if request.param == "marks":
        monkeypatch.setattr(rows, "NATIVE", False)
    return str(request.param)


def test_the_c_scanner_is_built() -> None:
    """`pip install` compiles it wherever a C compiler is (CI included): the fast path is on."""
    assert rows.NATIVE and isinstance(row_counter("json"), JsonScanner)
    assert isinstance(row_counter("xml"), MarkCounter)


@pytest.mark.parametrize("key", ["json", "xml"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("odd", [False, True])
def test_counted_output_equals_the_line_based_path(key: str, query: str, seed: int, odd: bool,
                                                   counter: str) -> None:
    store = nasty_store(120, seed, odd)
    total = len(reference(store, query, None)[0])
    # The counted path answers unless the counter cannot count this JSON (byte searches only).
    counted = _serialize_rows(store.query(query), key, None)
    countable = key == "xml" or counter == "scanner" or not (odd or "none" in query)
    assert (counted is not None) == countable
    for cap in (None, 0, 1, 7, total - 1, total, total + 1):
        body, _media, kind, count, truncated = serialize_answer(
            store.query(query), fmt=key, max_rows=cap, again=lambda: store.query(query))
        expected_rows, expected_count, expected_truncated = reference(store, query, cap)
        assert kind == "select"
        assert (count, truncated) == (expected_count, expected_truncated), (cap, key)
        got = rows_of(body, key)
        if "ORDER BY" in query:
            assert got == expected_rows
        else:
            assert sorted(got) == sorted(expected_rows)
        if key == "json":
            assert len(json.loads(body)["results"]["bindings"]) == count


def test_the_literals_really_hold_the_confusing_sequences() -> None:
    """Guard for the test above: the JSON written really contains what could fool a counter."""
    plain, odd = (store.query(QUERIES[0]).serialize(format=ox.QueryResultsFormat.JSON) or b""
                  for store in (nasty_store(120, 1), nasty_store(400, 1, odd=True)))
    for seq in (b"}},{z", b'}},{\\"s\\":{\\"type\\":', b"<result>", b"\\\\z"):
        assert seq in plain, seq
    for seq in (b'}},{"}', b'}},{",', b"{}"):
        assert seq in odd, seq


def test_a_capped_endless_result_stops_early() -> None:
    """A cap over a huge cross product answers without evaluating all of it."""
    store = nasty_store(400, 4)
    query = "SELECT ?a ?b ?c WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z }"  # ~400^3 rows
    body, _m, _k, count, truncated = serialize_answer(store.query(query), fmt="json", max_rows=50,
                                                      again=lambda: store.query(query))
    assert (count, truncated) == (50, True)
    assert len(json.loads(body)["results"]["bindings"]) == 50


def test_without_a_second_copy_the_line_based_path_is_used() -> None:
    store = nasty_store(30, 5)
    query = QUERIES[2]
    body, _m, _k, count, truncated = serialize_answer(store.query(query), fmt="json", max_rows=10)
    assert (count, truncated) == (10, True)
    assert len(json.loads(body)["results"]["bindings"]) == 10


@pytest.mark.parametrize("key", ["json", "xml"])
def test_rows_split_across_writes_are_counted_once(key: str, counter: str) -> None:
    """The engine may cut its output anywhere: every split gives the same count."""
    store = nasty_store(40, 6)
    fmt = getattr(ox.QueryResultsFormat, key.upper())
    body = store.query(QUERIES[0]).serialize(format=fmt) or b""
    expected = len(rows_of(body, key))
    for size in range(1, 9):
        counted = row_counter(key)
        for at in range(0, len(body), size):
            counted.feed(body[at:at + size])
        assert (counted.rows, counted.exact) == (expected, True), size


def test_odd_json_is_noticed_by_byte_searches_wherever_the_writes_split() -> None:
    store = nasty_store(400, 1, odd=True)
    body = store.query(QUERIES[0]).serialize(format=ox.QueryResultsFormat.JSON) or b""
    for size in range(1, 6):
        counted = MarkCounter("json")
        for at in range(0, len(body), size):
            counted.feed(body[at:at + size])
        assert not counted.exact, size


@pytest.mark.parametrize("query", QUERIES)
def test_the_scanner_counts_and_cuts_odd_json_wherever_the_writes_split(query: str) -> None:
    """What byte searches cannot count (rows binding nothing, literals ending in `}},{`), the
    scanner counts exactly, and its cuts are valid documents of the first rows."""
    store = nasty_store(300, 1, odd=True)
    body = store.query(query).serialize(format=ox.QueryResultsFormat.JSON) or b""
    bindings = json.loads(body)["results"]["bindings"]
    for size in (1, 2, 3, 5, 8, 13, 4096):
        counted = JsonScanner()
        for at in range(0, len(body), size):
            counted.feed(body[at:at + size])
        assert (counted.rows, counted.exact) == (len(bindings), True), size
    for keep in (0, 1, 2, 57, len(bindings) - 1):
        assert json.loads(JsonScanner().cut(body, keep))["results"]["bindings"] == bindings[:keep]


_TEXT = st.text(alphabet=st.sampled_from(list('{}[],:"\\ab\n\u00e9\u2028')), max_size=12)
_TERM = st.fixed_dictionaries({"type": st.sampled_from(["literal", "uri", "bnode"]), "value": _TEXT})
_ROW = st.dictionaries(st.sampled_from(["a", "b", "c"]), _TERM, max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ROW, max_size=30), st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_the_scanner_counts_any_json_answer_cut_anywhere(
        bindings: list[dict[str, dict[str, str]]], splits: list[int]) -> None:
    """Any SPARQL JSON answer laid out as the engine writes it (strings of braces, quotes,
    backslashes; rows binding nothing), fed in pieces cut anywhere, even inside an escape."""
    doc = {"head": {"vars": ["a", "b", "c"]}, "results": {"bindings": bindings}}
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    counted = JsonScanner()
    at = 0
    for end in sorted({min(s, len(body)) for s in splits} | {len(body)}):
        counted.feed(body[at:end])
        at = end
    assert counted.rows == len(bindings)
    for keep in {0, len(bindings) // 2, len(bindings) - 1} & set(range(len(bindings))):
        assert json.loads(JsonScanner().cut(body, keep))["results"]["bindings"] == bindings[:keep]
