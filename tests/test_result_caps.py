"""Row caps on results written once in JSON or XML, against the line-based (TSV) path.

`graph.engine.run` counts rows in the engine's JSON/XML bytes as they stream (or streams them
in parts to a receiver that counts them, `graph.engine.rows`). These tests
build results whose literals hold every byte sequence that could be mistaken for a row start
(`,{"`, `[{"`, `{}`, `<result>`, quotes, backslashes) and check that count, truncation and
the rows themselves equal what the TSV path gives, for caps below, at and above the size.
"""

from __future__ import annotations

import json
import random

import pyoxigraph as ox
import pytest

from graph.engine import run
from graph.engine.rows import RowCounter, RowParts
from graph.engine.run import _serialize_capped, _serialize_rows, run_on_store, serialize_answer

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


@pytest.mark.parametrize("key", ["json", "xml"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("odd", [False, True])
def test_counted_output_equals_the_line_based_path(key: str, query: str, seed: int, odd: bool) -> None:
    store = nasty_store(120, seed, odd)
    total = len(reference(store, query, None)[0])
    # The counted path answers unless the JSON holds what it cannot count.
    counted = _serialize_rows(store.query(query), key, None)
    assert (counted is not None) == (key == "xml" or not (odd or "none" in query))
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
def test_rows_split_across_writes_are_counted_once(key: str) -> None:
    """The engine may cut its output anywhere: every split gives the same count."""
    store = nasty_store(40, 6)
    fmt = getattr(ox.QueryResultsFormat, key.upper())
    body = store.query(QUERIES[0]).serialize(format=fmt) or b""
    expected = len(rows_of(body, key))
    for size in range(1, 9):
        counter = RowCounter(key)
        for at in range(0, len(body), size):
            counter.feed(body[at:at + size])
        assert (counter.rows, counter.exact) == (expected, True), size


def test_odd_json_is_noticed_wherever_the_writes_split() -> None:
    store = nasty_store(400, 1, odd=True)
    body = store.query(QUERIES[0]).serialize(format=ox.QueryResultsFormat.JSON) or b""
    for size in range(1, 6):
        counter = RowCounter("json")
        for at in range(0, len(body), size):
            counter.feed(body[at:at + size])
        assert not counter.exact, size


class ListChannel:
    """The receiving end of a streamed answer, in this process: counts parts as they come."""

    def __init__(self, parts: RowParts) -> None:
        self.parts = parts
        self.sent = 0
        self.stop = False

    def send(self, part: bytes) -> None:
        self.sent += 1
        if not self.parts.take(part):
            self.stop = True

    def stopped(self) -> bool:
        return self.stop


@pytest.mark.parametrize("key", ["json", "xml"])
@pytest.mark.parametrize("seed", [1, 2])
def test_streamed_parts_counted_by_the_receiver_equal_the_line_based_path(
        key: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """An executor streams parts; the worker counts and cuts them: same rows as TSV."""
    monkeypatch.setattr(run, "PART_BYTES", 700)  # many parts from a small result
    store = nasty_store(300, seed)
    query = QUERIES[0]
    total = len(reference(store, query, None)[0])
    for cap in (None, 0, 1, 57, total - 1, total, total + 1):
        parts = RowParts(key, cap)
        channel = ListChannel(parts)
        result = run_on_store(store, query, fmt=key, max_rows=cap, stream=channel)
        assert not result.counted and channel.sent > (3 if cap is None else 0)
        parts.take(result.body)
        finished = parts.finish()
        assert finished is not None
        body, count, truncated = finished
        expected_rows, expected_count, expected_truncated = reference(store, query, cap)
        assert (count, truncated) == (expected_count, expected_truncated), (cap, key)
        assert rows_of(body, key) == expected_rows


def test_a_streamed_answer_stops_once_the_receiver_has_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "PART_BYTES", 4096)
    store = nasty_store(400, 4)
    query = "SELECT ?a ?b ?c WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z }"  # ~400^3 rows
    parts = RowParts("json", 50)
    channel = ListChannel(parts)
    result = run_on_store(store, query, fmt="json", max_rows=50, stream=channel)
    assert channel.stop and channel.sent < 10
    parts.take(result.body)
    body, count, truncated = parts.finish() or (b"", -1, False)
    assert (count, truncated) == (50, True)
    assert len(json.loads(body)["results"]["bindings"]) == 50


def test_odd_streamed_json_is_handed_back_uncounted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "PART_BYTES", 1024)
    store = nasty_store(400, 1, odd=True)
    parts = RowParts("json", 10_000)
    channel = ListChannel(parts)
    result = run_on_store(store, QUERIES[0], fmt="json", max_rows=10_000, stream=channel)
    parts.take(result.body)
    assert channel.stop and parts.finish() is None  # the receiver asks again, the line way
