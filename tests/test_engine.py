"""The embedded backend with real executor processes on a built release.

Checks: answers identical to in-process evaluation, explicit row caps, syntax errors with
positions, a timeout that kills the executor (its process is gone afterwards), a memory bomb
that ends in QueryResourceLimit, lanes (a long query moves to the heavy lane or is refused),
reloads that swap releases and remove the old one's files, refused overlapping reloads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph import errors
from graph.engine.pool import EmbeddedBackend, PoolSettings
from graph.engine.run import run_on_store
from graph.release import BuiltRelease, Release, canonical_lines, write_release

EX = "http://example.org/"
# 2.4k^4 rows: never finishes in a test's lifetime, allocates nothing while counting.
ENDLESS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
TIMEOUT_S = 2.0


def make_release(n: int = 600, version: str | None = None) -> Release:
    """A small graph with literals in several languages, datatypes and blank nodes."""
    lines = []
    for i in range(n):
        s = f"<{EX}item/{i}>"
        lines += [f'{s} <{EX}label> "Item {i}"@en .', f'{s} <{EX}label> "Élément {i}"@fr .',
                  f'{s} <{EX}rank> "{i}"^^<http://www.w3.org/2001/XMLSchema#integer> .',
                  f"{s} <{EX}group> <{EX}group/{i % 7}> .", f"{s} <{EX}note> _:n{i} .",
                  f'_:n{i} <{EX}text> "line one\\nline \\"two\\"" .']
    lines.append(f'<{EX}item/0> <{EX}odd> "ends like a row }}}},{{" .')
    nt = "\n".join(lines).encode() + b"\n"
    canon = canonical_lines([nt])
    return Release(version=version or f"test{n}", ntriples=canon,
                   triple_count=canon.count(b"\n"), sources=())


def built(tmp: Path, n: int = 600, name: str = "data") -> BuiltRelease:
    source = tmp / f"{name}.nt"
    source.write_bytes(make_release(n).ntriples)
    return write_release([source], tmp / f"release-{name}", validate=False)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> BuiltRelease:
    return built(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def store(release: BuiltRelease) -> ox.Store:
    s = ox.Store()
    s.bulk_load(path=str(release.ntriples_file), format=ox.RdfFormat.N_TRIPLES)
    return s


# A time limit no honest query here comes near, even on a loaded machine; the tests about the
# limit itself use `short` (TIMEOUT_S) with queries that could never finish.
SETTINGS = PoolSettings(light=1, heavy=1, reserved=0, light_budget_s=0.3, timeout_s=60,
                        admission_wait_s=0.3, memory_mb=256, warm=1)


@pytest.fixture(params=["memory", "disk"])
def backend(release: BuiltRelease, request: pytest.FixtureRequest) -> Iterator[EmbeddedBackend]:
    """Executors holding the release in memory (small releases) or reading the on-disk store."""
    limit = SETTINGS.memory_store_max_triples if request.param == "memory" else 0
    b = EmbeddedBackend(release, replace(SETTINGS, memory_store_max_triples=limit), owned=False)
    assert b.current.idle[0].hello["store"] == request.param
    yield b
    b.close()


@pytest.fixture()
def short(release: BuiltRelease) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(release, replace(SETTINGS, timeout_s=TIMEOUT_S), owned=False)
    yield b
    b.close()


def process_gone(pid: int, wait_s: float = 5.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.02)
    return False


def idle_pid(backend: EmbeddedBackend) -> int:
    return backend.current.idle[-1].pid


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_select_matches_in_process_evaluation(backend: EmbeddedBackend, store: ox.Store,
                                              fmt: str) -> None:
    query = (f"SELECT ?s ?l ?r WHERE {{ ?s <{EX}label> ?l ; <{EX}rank> ?r . "
             "FILTER(?r < 40) } ORDER BY ?r ?l")
    expected = run_on_store(store, query, fmt=fmt, max_rows=None)
    got = backend.execute(query, fmt=fmt)
    assert got.body == expected.body
    assert (got.count, got.form, got.media_type) == (80, "select", expected.media_type)
    assert got.extra["version"] == backend.version()


@pytest.mark.parametrize("fmt", ["ttl", "nt", "jsonld", "rdf"])
def test_construct_in_every_rdf_format(backend: EmbeddedBackend, fmt: str) -> None:
    result = backend.execute(f"CONSTRUCT {{ ?s <{EX}label> ?l }} WHERE {{ ?s <{EX}label> ?l ; "
                             f"<{EX}rank> 3 }}", fmt=fmt, form="construct")
    graph = list(ox.parse(result.body, format={"ttl": ox.RdfFormat.TURTLE,
                                               "nt": ox.RdfFormat.N_TRIPLES,
                                               "jsonld": ox.RdfFormat.JSON_LD,
                                               "rdf": ox.RdfFormat.RDF_XML}[fmt]))
    assert len(graph) == result.count == 2
    assert result.form == "construct"


def test_describe_form_travels_with_the_query(backend: EmbeddedBackend) -> None:
    result = backend.execute(f"DESCRIBE <{EX}item/3>", fmt="nt", form="describe")
    assert result.form == "describe" and result.count == 6  # with the blank node note (CBD)


@pytest.mark.parametrize("fmt", ["json", "xml", "csv"])
def test_a_large_select_equals_in_process_at_every_cap(backend: EmbeddedBackend, store: ox.Store,
                                                       fmt: str) -> None:
    query = (f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(?p != <{EX}odd> && !isBlank(?s) "
             "&& !isBlank(?o)) } ORDER BY ?s ?p ?o")
    rows = 4 * 600
    for cap in (None, 1700, rows - 1, rows, rows + 1):
        expected = run_on_store(store, query, fmt=fmt, max_rows=cap)
        got = backend.execute(query, fmt=fmt, max_rows=cap)
        assert got.body == expected.body
        assert (got.count, got.truncated) == (expected.count, expected.truncated)
        assert got.count == min(rows, cap or rows)


def test_literals_that_look_like_row_boundaries(backend: EmbeddedBackend, store: ox.Store) -> None:
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o)) } ORDER BY ?s ?p ?o"
    for cap in (None, 2000):
        expected = run_on_store(store, query, fmt="json", max_rows=cap)
        got = backend.execute(query, fmt="json", max_rows=cap)
        assert got.body == expected.body
    assert backend.select("SELECT (1 AS ?x) WHERE {}")[0]["x"]["value"] == "1"


def test_row_cap_is_explicit_and_stops_a_huge_result_early(backend: EmbeddedBackend) -> None:
    capped = backend.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="csv", max_rows=25)
    assert (capped.count, capped.truncated) == (25, True)
    assert capped.body.count(b"\r\n") == 26  # header + 25 rows
    exact = backend.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="csv", max_rows=600)
    assert (exact.count, exact.truncated) == (600, False)
    # 3,600^3 rows: only the cap is produced (the whole would never fit in the time limit).
    huge = backend.execute("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }", fmt="json",
                           max_rows=1000)
    assert (huge.count, huge.truncated) == (1000, True)
    triples = backend.execute("CONSTRUCT { ?a ?b ?f } WHERE { ?a ?b ?c . ?d ?e ?f }", fmt="nt",
                              max_rows=10)
    assert (triples.count, triples.truncated) == (10, True)


def test_turtle_declares_only_the_prefixes_it_uses(release: BuiltRelease) -> None:
    settings = PoolSettings(warm=1, prefixes={"ex": EX, "unused": "http://unused.example/"})
    b = EmbeddedBackend(release, settings, owned=False)
    try:
        body = b.execute(f"CONSTRUCT WHERE {{ <{EX}item/1> <{EX}rank> ?r }}", fmt="ttl").body
    finally:
        b.close()
    assert b"@prefix ex:" in body and b"unused" not in body


def test_syntax_error_keeps_the_engines_line_and_column(backend: EmbeddedBackend) -> None:
    query = "SELECT * WHERE {\n  ?s ?p ?o .\n  FILTER(?o > ) }"
    with pytest.raises(errors.QuerySyntaxError) as local:
        run_on_store(ox.Store(), query, fmt="json", max_rows=None)
    with pytest.raises(errors.QuerySyntaxError) as info:
        backend.execute(query, fmt="json")
    assert info.value.line == 3 and isinstance(info.value.column, int)
    assert (info.value.detail, info.value.column) == (local.value.detail, local.value.column)
    assert backend.select("SELECT (1 AS ?x) WHERE {}")[0]["x"]["value"] == "1"


def test_timeout_kills_the_executor_and_a_fresh_one_takes_over(short: EmbeddedBackend) -> None:
    backend = short
    pid = idle_pid(backend)
    started = time.monotonic()
    with pytest.raises(errors.QueryTimeout) as info:
        backend.execute(ENDLESS, fmt="json", lane="heavy")
    assert time.monotonic() - started >= TIMEOUT_S
    assert info.value.status == 503 and info.value.extra["retry_after"] >= 1
    assert process_gone(pid), f"executor {pid} still exists after the timeout"
    assert backend.execute(f"ASK {{ <{EX}item/1> ?p ?o }}", fmt="json").count == 1


def test_memory_bomb_ends_in_resource_limit_and_the_pool_recovers(backend: EmbeddedBackend) -> None:
    pid = idle_pid(backend)
    with pytest.raises(errors.QueryResourceLimit):
        # Sorting needs every row in memory: far more than the 256 MB budget.
        backend.execute("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i",
                        fmt="json", lane="heavy")
    assert process_gone(pid)
    assert backend.execute(f"ASK {{ <{EX}item/1> ?p ?o }}", fmt="json").count == 1


def test_a_long_query_moves_to_the_heavy_lane_and_frees_the_light_one(
        short: EmbeddedBackend) -> None:
    backend = short
    outcome: list[str] = []

    def long_one() -> None:
        try:
            backend.execute(ENDLESS, fmt="json")
        except errors.KgError as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=long_one)
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while backend.lanes["heavy"]._value != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert backend.lanes["heavy"]._value == 0, "the long query never moved to the heavy lane"
    # The single light slot is free again: a cheap query runs meanwhile.
    rows = backend.select(f"SELECT ?l WHERE {{ <{EX}item/9> <{EX}label> ?l }}")
    assert len(rows) == 2
    # A second long query finds no heavy slot: refused, not queued behind the first.
    with pytest.raises(errors.Overloaded) as info:
        backend.execute(ENDLESS, fmt="json")
    assert info.value.status == 503 and "retry_after" in info.value.extra
    thread.join(TIMEOUT_S + 10)
    assert outcome == ["QueryTimeout"]


def test_reload_swaps_and_removes_the_old_release(tmp_path: Path) -> None:
    first = built(tmp_path, 100, "a")
    b = EmbeddedBackend(first, PoolSettings(warm=1, timeout_s=TIMEOUT_S))
    try:
        source = tmp_path / "b.nt"
        source.write_bytes(make_release(200).ntriples)
        outcome = b.reload([source], validate=False)
        assert outcome["ok"] and outcome["changed"] and outcome["previous"] == first.version
        assert b.version() == outcome["version"] != first.version
        assert not first.directory.exists(), "the old release's files stay behind"
        count = b.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"]
        assert int(count) == outcome["triples"] == b.release.triples
        again = b.reload([source], validate=False)
        assert again == {"ok": True, "changed": False, "version": b.version(),
                         "triples": b.release.triples}
        broken = tmp_path / "broken.nt"
        broken.write_text("<urn:a> <urn:b> .\n")
        refused = b.reload([broken], validate=False)
        assert not refused["ok"] and "broken.nt" in refused["detail"]
        assert b.version() == outcome["version"]
    finally:
        b.close()


def test_overlapping_reloads_are_refused_not_merged(tmp_path: Path) -> None:
    b = EmbeddedBackend(built(tmp_path, 50, "a"), PoolSettings(warm=1))
    try:
        source = tmp_path / "big.nt"
        source.write_bytes(make_release(20000).ntriples)
        outcomes: list[dict[str, object]] = []
        first = threading.Thread(target=lambda: outcomes.append(b.reload([source], validate=False)))
        b._reloading.acquire()
        try:
            first.start()
            first.join(30)
        finally:
            b._reloading.release()
        assert outcomes and not outcomes[0]["ok"]
        assert "another reload" in str(outcomes[0]["detail"])
    finally:
        b.close()


def test_executors_run_sandboxed(backend: EmbeddedBackend) -> None:
    hello = backend.current.idle[-1].hello
    assert hello["sandbox"]["seccomp"] is True
    assert hello["sandbox"]["landlock"] >= 1
    assert hello["sandbox"]["memory_limit_bytes"]
