"""The zygote and the pooled backend with real processes and sockets.

A zygote is started on a small generated release; executors are real forks of it. The
checks: answers identical to in-process evaluation, explicit row caps, syntax errors with
positions, a timeout that kills the executor (its process is gone afterwards), a memory bomb
that ends in QueryResourceLimit, admission control per lane, recycling, and recovery.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph import errors
from graph.engine.pool import PooledBackend, PoolSettings
from graph.engine.run import run_on_store
from graph.engine.zygote import Settings, ZygoteProcess, request
from graph.release import Release, canonical_ntriples

EX = "http://example.org/"
HEAVY_CROSS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def make_release(n: int = 600, version: str | None = None) -> Release:
    """A small graph with literals in several languages, datatypes and blank nodes."""
    lines = []
    for i in range(n):
        s = f"<{EX}item/{i}>"
        lines += [f'{s} <{EX}label> "Item {i}"@en .', f'{s} <{EX}label> "Élément {i}"@fr .',
                  f'{s} <{EX}rank> "{i}"^^<http://www.w3.org/2001/XMLSchema#integer> .',
                  f"{s} <{EX}group> <{EX}group/{i % 7}> .", f"{s} <{EX}note> _:n{i} .",
                  f'_:n{i} <{EX}text> "line one\\nline \\"two\\"" .']
    # A literal the JSON row counter cannot trust (it ends like a row boundary).
    lines.append(f'<{EX}item/0> <{EX}odd> "ends like a row }}}},{{" .')
    nt = "\n".join(lines).encode() + b"\n"
    triples = [q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES)]
    canon = canonical_ntriples(triples)
    return Release(version=version or f"test{n}", ntriples=canon,
                   triple_count=canon.count(b"\n"), sources=())


@pytest.fixture(scope="module")
def release() -> Release:
    return make_release()


@pytest.fixture(scope="module")
def zygote(release: Release) -> Iterator[ZygoteProcess]:
    z = ZygoteProcess.start(release, Settings(memory_mb=256))
    yield z
    z.stop()


@pytest.fixture()
def backend(zygote: ZygoteProcess) -> Iterator[PooledBackend]:
    b = PooledBackend(zygote.run_dir, PoolSettings(heavy=1, light=1, timeout_s=2.0,
                                                   admission_wait_s=0.3))
    yield b
    b.close()


def process_gone(pid: int, wait_s: float = 3.0) -> bool:
    """True once `pid` no longer exists (killed and reaped by the zygote)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.02)
    return False


def test_zygote_is_single_threaded_after_loading(zygote: ZygoteProcess) -> None:
    """Forking is only safe if the load left no engine threads behind."""
    status = request(zygote.run_dir, {"op": "status"})
    tasks = os.listdir(f"/proc/{status['pid']}/task")
    assert tasks == [str(status["pid"])]


def test_run_dir_and_socket_are_private(zygote: ZygoteProcess) -> None:
    assert (zygote.run_dir.stat().st_mode & 0o777) == 0o700
    assert (zygote.socket_path.stat().st_mode & 0o077) == 0


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_select_matches_in_process_evaluation(backend: PooledBackend, release: Release,
                                              fmt: str) -> None:
    store = ox.Store()
    store.bulk_load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
    query = (f"SELECT ?s ?l ?r WHERE {{ ?s <{EX}label> ?l ; <{EX}rank> ?r . "
             "FILTER(?r < 40) } ORDER BY ?r ?l")
    expected = run_on_store(store, query, fmt=fmt, max_rows=None)
    got = backend.execute(query, fmt=fmt, lane="light")
    assert got.body == expected.body
    assert (got.count, got.form, got.media_type) == (80, "select", expected.media_type)
    assert got.extra["version"] == release.version
    assert not got.extra["shared"]  # a small answer comes in its frame


@pytest.mark.parametrize("fmt", ["ttl", "nt", "jsonld", "rdf"])
def test_construct_in_every_rdf_format(backend: PooledBackend, fmt: str) -> None:
    result = backend.execute(f"CONSTRUCT {{ ?s <{EX}label> ?l }} WHERE {{ ?s <{EX}label> ?l ; "
                             f"<{EX}rank> 3 }}", fmt=fmt)
    graph = list(ox.parse(result.body, format={"ttl": ox.RdfFormat.TURTLE,
                                               "nt": ox.RdfFormat.N_TRIPLES,
                                               "jsonld": ox.RdfFormat.JSON_LD,
                                               "rdf": ox.RdfFormat.RDF_XML}[fmt]))
    assert len(graph) == result.count == 2
    assert result.form == "construct"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_large_select_equals_in_process(backend: PooledBackend, release: Release,
                                          fmt: str) -> None:
    """The executor counts and cuts a large SELECT as it is written, and sends it whole."""
    store = ox.Store()
    store.bulk_load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
    # (no blank nodes: their labels differ from one store to another)
    query = (f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(?p != <{EX}odd> && !isBlank(?s) "
             "&& !isBlank(?o)) } ORDER BY ?s ?p ?o")
    rows = 4 * 600  # label x2, rank, group
    for cap in (None, 1700, rows - 1, rows, rows + 1):  # 1700: cut in a later part
        expected = run_on_store(store, query, fmt=fmt, max_rows=cap)
        got = backend.execute(query, fmt=fmt, max_rows=cap)
        assert len(got.body) > 256 * 1024 and got.extra["shared"]  # through the answer buffer
        assert got.body == expected.body
        assert (got.count, got.truncated) == (expected.count, expected.truncated)
        assert got.count == min(rows, cap or rows)


def test_a_select_holding_odd_json_equals_in_process(backend: PooledBackend,
                                                     release: Release) -> None:
    """Literals that byte searches could not count (graph.engine.rows) come out the same."""
    store = ox.Store()
    store.bulk_load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o)) } ORDER BY ?s ?p ?o"
    for cap in (None, 2000):
        expected = run_on_store(store, query, fmt="json", max_rows=cap)
        got = backend.execute(query, fmt="json", max_rows=cap)
        assert got.body == expected.body
        assert (got.count, got.truncated) == (expected.count, expected.truncated)
    # and the executor is in step for the next query
    assert backend.select("SELECT (1 AS ?x) WHERE {}")[0]["x"]["value"] == "1"


def test_ask_and_select_rows(backend: PooledBackend, release: Release) -> None:
    ask = backend.execute(f"ASK {{ <{EX}item/5> ?p ?o }}", fmt="json", lane="light")
    assert (ask.form, ask.body.count(b"true")) == ("ask", 1)
    rows = backend.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert int(rows[0]["n"]["value"]) == release.triple_count


def test_row_cap_is_explicit_and_stops_a_huge_result_early(backend: PooledBackend) -> None:
    capped = backend.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="csv", max_rows=25)
    assert (capped.count, capped.truncated) == (25, True)
    assert capped.body.count(b"\r\n") == 26  # header + 25 rows
    exact = backend.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="csv", max_rows=600)
    assert (exact.count, exact.truncated) == (600, False)
    # 3,600^3 rows: only the cap is ever produced, well inside the 2 s limit.
    started = time.monotonic()
    huge = backend.execute("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }", fmt="json",
                           max_rows=1000)
    assert (huge.count, huge.truncated) == (1000, True)
    assert time.monotonic() - started < 1.5
    triples = backend.execute("CONSTRUCT { ?a ?b ?f } WHERE { ?a ?b ?c . ?d ?e ?f }", fmt="nt",
                              max_rows=10)
    assert (triples.count, triples.truncated) == (10, True)


def test_syntax_error_keeps_the_engines_line_and_column(backend: PooledBackend) -> None:
    query = "SELECT * WHERE {\n  ?s ?p ?o .\n  FILTER(?o > ) }"
    with pytest.raises(errors.QuerySyntaxError) as local:
        run_on_store(ox.Store(), query, fmt="json", max_rows=None)
    with pytest.raises(errors.QuerySyntaxError) as info:
        backend.execute(query, fmt="json")
    assert info.value.line == 3 and isinstance(info.value.column, int)
    assert (info.value.detail, info.value.column) == (local.value.detail, local.value.column)
    # The executor survives a syntax error and keeps answering.
    assert backend.select("SELECT (1 AS ?x) WHERE {}")[0]["x"]["value"] == "1"


def test_timeout_kills_the_executor_and_frees_the_cpu(backend: PooledBackend,
                                                      zygote: ZygoteProcess) -> None:
    backend.warm_up()
    pid = backend.lanes["heavy"].idle[0].pid
    started = time.monotonic()
    with pytest.raises(errors.QueryTimeout) as info:
        backend.execute(HEAVY_CROSS, fmt="json")
    elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 4.0
    assert info.value.status == 503 and info.value.extra["retry_after"] >= 1
    assert process_gone(pid), f"executor {pid} still exists after the timeout"
    assert pid not in request(zygote.run_dir, {"op": "status"})["executors"]
    # A fresh executor takes over the lane.
    assert backend.execute(f"ASK {{ <{EX}item/1> ?p ?o }}", fmt="json").count == 1


def test_an_answer_cut_by_the_time_limit_is_a_timeout(backend: PooledBackend) -> None:
    """Rows that trickle out of a cross product (the first 64 KB of JSON after about 0.9 s
    here, all 830 KB after 44 s in one process), then the 2 s limit strikes. No part of it
    may come back, the executor is killed, and the next query is in step."""
    backend.warm_up()
    pid = backend.lanes["heavy"].idle[0].pid
    query = (f"SELECT ?a ?d ?g WHERE {{ ?a <{EX}rank> ?r1 . ?d <{EX}rank> ?r2 . "
             f"?g <{EX}rank> ?r3 FILTER(?r1 + ?r2 + ?r3 < 30) }}")
    started = time.monotonic()
    with pytest.raises(errors.QueryTimeout):
        backend.execute(query, fmt="json", max_rows=None)
    assert 1.9 < time.monotonic() - started < 4.0
    assert process_gone(pid)
    assert backend.execute(f"ASK {{ <{EX}item/1> ?p ?o }}", fmt="json").count == 1


def test_memory_bomb_ends_in_resource_limit_and_the_pool_recovers(backend: PooledBackend) -> None:
    backend.warm_up()
    pid = backend.lanes["heavy"].idle[0].pid
    started = time.monotonic()
    with pytest.raises(errors.QueryResourceLimit):
        # Sorting needs every row in memory: far more than the 256 MB budget.
        backend.execute("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i",
                        fmt="json")
    assert time.monotonic() - started < 2.0, "the memory cap should stop it before the timeout"
    assert process_gone(pid)
    assert backend.execute(f"ASK {{ <{EX}item/1> ?p ?o }}", fmt="json").count == 1


def test_heavy_lane_full_is_refused_quickly_while_light_stays_fast(
        backend: PooledBackend) -> None:
    backend.warm_up()
    outcome: dict[str, object] = {}

    def heavy() -> None:
        try:
            backend.execute(HEAVY_CROSS, fmt="json")
        except errors.KgError as exc:
            outcome["first"] = type(exc).__name__

    thread = threading.Thread(target=heavy)
    thread.start()
    time.sleep(0.3)  # the one heavy executor is busy now
    started = time.monotonic()
    with pytest.raises(errors.Overloaded) as info:
        backend.execute(HEAVY_CROSS, fmt="json")
    assert time.monotonic() - started < 1.0
    assert info.value.status == 503 and "retry_after" in info.value.extra
    started = time.monotonic()
    rows = backend.select(f"SELECT ?l WHERE {{ <{EX}item/9> <{EX}label> ?l }}")
    assert len(rows) == 2
    assert time.monotonic() - started < 0.5
    thread.join(10)
    assert outcome["first"] == "QueryTimeout"


def test_executors_are_recycled_after_max_uses(zygote: ZygoteProcess) -> None:
    b = PooledBackend(zygote.run_dir, PoolSettings(heavy=1, light=1, max_uses=3))
    try:
        pids = {b.execute("ASK {}", fmt="json", lane="light").extra["executor"]
                for _ in range(7)}
        assert len(pids) == 3  # uses 1-3, 4-6, 7
    finally:
        b.close()


def test_version_change_retires_old_executors(zygote: ZygoteProcess) -> None:
    """Only the zygote rewrites current.json; here a copy of the run dir plays that part."""
    b = PooledBackend(zygote.run_dir, PoolSettings(heavy=1, light=1))
    try:
        first = b.execute("ASK {}", fmt="json").extra["executor"]
        assert b.execute("ASK {}", fmt="json").extra["executor"] == first  # reused
        current = zygote.run_dir / "current.json"
        saved = current.read_text()
        try:
            import json

            from graph.engine.zygote import write_json

            write_json(current, json.loads(saved) | {"version": "other"})
            assert b.version() == "other"
            # The idle executor has the old version: it is closed, a new one is forked.
            assert b.execute("ASK {}", fmt="json").extra["executor"] != first
        finally:
            current.write_text(saved)
    finally:
        b.close()


def test_engine_down_is_backend_unavailable_then_recovers(release: Release,
                                                          tmp_path: Path) -> None:
    z = ZygoteProcess.start(release, Settings(memory_mb=256))
    b = PooledBackend(z.run_dir, PoolSettings(heavy=1, light=1))
    try:
        b.warm_up()
        z.proc.kill()
        z.proc.wait()
        with pytest.raises(errors.BackendUnavailable):
            b.execute("ASK {}", fmt="json")  # its executors died with it (parent-death signal)
        assert z.restart_if_dead()
        assert b.execute("ASK { ?s ?p ?o }", fmt="json").count == 1
    finally:
        b.close()
        z.stop()


def test_ipc_overhead_is_well_under_a_millisecond(backend: PooledBackend,
                                                  release: Release) -> None:
    """Median per-query cost of the pool over in-process evaluation (printed with -s)."""
    store = ox.Store()
    store.bulk_load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
    query = f"SELECT ?l WHERE {{ <{EX}item/42> <{EX}label> ?l }}"
    backend.execute(query, fmt="json", lane="light")

    def timed(fn: object, n: int = 300) -> float:
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - t)
        return statistics.median(samples) * 1000

    inline = timed(lambda: run_on_store(store, query, fmt="json", max_rows=10_000))
    pooled = timed(lambda: backend.execute(query, fmt="json", lane="light", max_rows=10_000))
    print(f"\nin-process {inline:.3f} ms, through the pool {pooled:.3f} ms, "
          f"overhead {pooled - inline:.3f} ms (median of 300)")
    # Generous bound for a shared 2-core machine; typically ~0.2-0.3 ms.
    assert pooled - inline < 3.0


@pytest.mark.parametrize("buffer_mb", [0, 1])
def test_answers_the_buffer_cannot_hold_come_through_the_socket(release: Release,
                                                               buffer_mb: int) -> None:
    """No answer buffer at all, or one smaller than the answer: the frame carries it."""
    z = ZygoteProcess.start(release, Settings(memory_mb=256, answer_buffer_mb=buffer_mb))
    b = PooledBackend(z.run_dir, PoolSettings(heavy=1, light=1, timeout_s=5.0))
    try:
        store = ox.Store()
        store.bulk_load(release.ntriples, format=ox.RdfFormat.N_TRIPLES)
        query = (f"SELECT ?a ?b WHERE {{ ?a <{EX}label> ?l . ?b <{EX}group> ?g "
                 "FILTER(!isBlank(?a)) } ORDER BY ?a ?b LIMIT 12000")
        expected = run_on_store(store, query, fmt="json", max_rows=None)
        got = b.execute(query, fmt="json")
        assert len(got.body) > 1024 * 1024 and not got.extra["shared"]
        assert (got.body, got.count) == (expected.body, 12000)
        small = b.execute(f"SELECT ?s WHERE {{ ?s <{EX}rank> ?r }}", fmt="json")
        assert small.count == 600 and not small.extra["shared"]
        medium = b.execute(f"SELECT ?s ?l WHERE {{ ?s <{EX}label> ?l }}", fmt="json")
        assert 64 * 1024 < len(medium.body) < 1024 * 1024
        assert medium.count == 1200 and medium.extra["shared"] == (buffer_mb > 0)
    finally:
        b.close()
        z.stop()
