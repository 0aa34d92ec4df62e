"""Timing: in-process floor, HTTP latency, HTTP throughput with concurrent clients, pages."""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyoxigraph as ox

from bench.client import Client, query_path
from bench.mix import SELECT_JSON, QueryType

# Requests each throughput client prepares before the clock starts (more are made on the fly).
PREPARED_REQUESTS = 6000
# Request numbers are unique over the whole run, so no query text is ever sent twice.
_numbers = itertools.count(1)


@dataclass
class Stats:
    """Latency of one thing measured repeatedly."""

    samples: list[float] = field(default_factory=list)  # seconds
    engine: list[float] = field(default_factory=list)  # ms the server's engine said it took
    rows: int | None = None  # result size of the first answer (rows or triples)
    errors: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.samples)

    def pct(self, q: float) -> float | None:
        """The q-th percentile in milliseconds (nearest rank)."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000

    @property
    def p50(self) -> float | None:
        return statistics.median(self.samples) * 1000 if self.samples else None

    @property
    def p95(self) -> float | None:
        return self.pct(95)

    @property
    def engine_p50(self) -> float | None:
        """The median of the server's own engine times (Server-Timing), if it gave them."""
        return statistics.median(self.engine) if self.engine else None


def result_size(body: bytes, media_type: str) -> int:
    """Rows of a SPARQL JSON result, or triples of a Turtle document."""
    if media_type.startswith(SELECT_JSON) or media_type.startswith("application/json"):
        doc = json.loads(body)
        return 1 if "boolean" in doc else len(doc["results"]["bindings"])
    return sum(1 for _ in ox.parse(body, format=ox.RdfFormat.TURTLE))


class GiveUp(Exception):
    """A request timed out: more samples would only wait for the same limit again."""


def repeat(run_once: Callable[[int], float | None], *, budget_s: float, max_samples: int,
           min_samples: int = 3, warmup: int = 2) -> Stats:
    """Call `run_once(i)` (returns seconds, or None on error) within a time budget."""
    stats = Stats()
    try:
        for i in range(warmup):
            run_once(-1 - i)
    except GiveUp:
        stats.errors += 1
        return stats
    started = time.perf_counter()
    i = 0
    while i < max_samples and (i < min_samples or time.perf_counter() - started < budget_s):
        try:
            took = run_once(i)
        except GiveUp:
            stats.errors += 1
            break
        if took is None:
            stats.errors += 1
            if stats.errors >= 3 and not stats.samples:
                break
        else:
            stats.samples.append(took)
        i += 1
    return stats


class Sampler:
    """One kind of sample (a callable taking the sample number), with what its answers held."""

    def __init__(self, once: Callable[[int], float | None]) -> None:
        self.once = once
        self.rows: list[int] = []
        self.notes: list[str] = []
        self.engine: list[float] = []

    def finish(self, stats: Stats) -> Stats:
        stats.rows = self.rows[0] if self.rows else None
        stats.note = self.notes[0] if self.notes else ""
        stats.engine = self.engine
        return stats


def floor_sampler(store: ox.Store, qt: QueryType) -> Sampler:
    """The floor: Store.query plus the engine's own serialisation, no HTTP, no checks."""

    def once(i: int) -> float | None:
        text = qt.text(next(_numbers))
        if qt.idle_s:
            time.sleep(qt.idle_s)
        started = time.perf_counter()
        try:
            answer = store.query(text)
        except (SyntaxError, OSError, ValueError) as exc:
            sampler.notes.append(f"{type(exc).__name__}: {exc}")
            return None
        if isinstance(answer, ox.QuerySolutions | ox.QueryBoolean):
            body = answer.serialize(format=ox.QueryResultsFormat.JSON)
            media = SELECT_JSON
        else:
            body = answer.serialize(format=ox.RdfFormat.TURTLE)
            media = "text/turtle"
        took = time.perf_counter() - started
        if not sampler.rows:
            sampler.rows.append(result_size(body or b"", media))
        return took

    sampler = Sampler(once)
    return sampler


def http_sampler(client: Client, endpoint: str, qt: QueryType) -> Sampler:
    """One request over HTTP, each a distinct text of the same query."""

    def once(i: int) -> float | None:
        if qt.idle_s:
            time.sleep(qt.idle_s)
        try:
            reply = client.query(endpoint, qt.text(next(_numbers)), qt.accept)
        except TimeoutError as exc:
            sampler.notes.append(str(exc))
            raise GiveUp from None
        except OSError as exc:
            sampler.notes.append(str(exc))
            return None
        if reply.status != 200:
            sampler.notes.append(f"HTTP {reply.status}: {reply.body[:200].decode(errors='replace')}")
            return None
        if not sampler.rows:
            try:
                sampler.rows.append(result_size(reply.body, reply.content_type))
            except (ValueError, KeyError, SyntaxError) as exc:
                sampler.notes.append(f"unparsable answer ({reply.content_type}): {exc}")
                return None
        if reply.engine_ms is not None and i >= 0:  # warm-up rounds (negative i) are not kept
            sampler.engine.append(reply.engine_ms)
        return reply.seconds

    sampler = Sampler(once)
    return sampler


def inprocess(store: ox.Store, qt: QueryType, *, budget_s: float, max_samples: int) -> Stats:
    """The floor on its own (see `floor_sampler`)."""
    sampler = floor_sampler(store, qt)
    return sampler.finish(repeat(sampler.once, budget_s=budget_s, max_samples=max_samples))


def over_http(client: Client, endpoint: str, qt: QueryType, *, budget_s: float,
              max_samples: int, warmup: int = 2) -> Stats:
    """Sequential requests (one client), each a distinct text of the same query."""
    sampler = http_sampler(client, endpoint, qt)
    return sampler.finish(repeat(sampler.once, budget_s=budget_s, max_samples=max_samples,
                                 warmup=warmup))


def paired(store: ox.Store, client: Client, endpoint: str, qt: QueryType, *, budget_s: float,
           max_samples: int, warmup: int = 2) -> tuple[Stats, Stats]:
    """The floor and HTTP latency sampled alternately: (floor, HTTP).

    Sample i of the floor is taken right before sample i over HTTP, so both see the machine in
    the same state; measured one after the other, minutes apart, a shared machine's drift
    (30% on ours) lands in the difference between them.
    """
    floor, http = floor_sampler(store, qt), http_sampler(client, endpoint, qt)
    floor_stats = Stats()

    def once(i: int) -> float | None:
        took = floor.once(i)
        if i >= 0:  # warm-up rounds (negative i) are not kept
            if took is None:
                floor_stats.errors += 1
            else:
                floor_stats.samples.append(took)
        return http.once(i)

    http_stats = repeat(once, budget_s=budget_s, max_samples=max_samples, warmup=warmup)
    return floor.finish(floor_stats), http.finish(http_stats)


def pages(client: Client, slugs: Sequence[str], *, budget_s: float, max_samples: int) -> Stats:
    """GET /doc/activity/<slug> as a browser asks for it (Accept text/html)."""
    notes: list[str] = []

    def once(i: int) -> float | None:
        slug = slugs[i % len(slugs)]
        try:
            reply = client.get(f"/doc/activity/{slug}", "text/html")
        except (TimeoutError, OSError) as exc:
            notes.append(str(exc))
            return None
        if reply.status != 200 or not reply.content_type.startswith("text/html"):
            notes.append(f"HTTP {reply.status} {reply.content_type}")
            return None
        return reply.seconds

    stats = repeat(once, budget_s=budget_s, max_samples=max_samples)
    stats.note = notes[0] if notes else ""
    return stats


@dataclass
class Throughput:
    requests_per_s: float
    ok: int
    errors: int
    seconds: float
    p50_ms: float | None
    note: str = ""


@dataclass(frozen=True)
class Distinct:
    """The mix's requests: a distinct text of one query type each time, rotating its values."""

    endpoint: str  # the SPARQL endpoint's path
    qt: QueryType

    @property
    def accept(self) -> str:
        return self.qt.accept

    def path(self, worker: int, i: int) -> str:
        return query_path(self.endpoint, self.qt.text(100_000_000 * (worker + 1) + i, value_index=i + worker))


@dataclass(frozen=True)
class Same:
    """One request sent again and again (a page, a document, the same query)."""

    target: str  # path and query string
    accept: str

    def path(self, worker: int, i: int) -> str:
        return self.target


Requests = Distinct | Same
ClientJob = tuple[str, Requests, int, int, float, float, float]


def _client_loop(args: ClientJob) -> tuple[int, int, list[float], str]:
    """One concurrent client, sending `requests` back to back until the deadline, numbered from
    `first` (each turn its own numbers: a text sent again would be answered by the cache)."""
    base_url, requests, worker, first, start_at, deadline, timeout = args
    client = Client(base_url, timeout=timeout)
    ok = errors = 0
    latencies: list[float] = []
    note = ""
    # The distinct request lines are written before the clock starts (while waiting for the
    # start), so the clients spend their share of the cores on requests, not on encoding.
    ready = [requests.path(worker, first + i) for i in range(PREPARED_REQUESTS)]
    while time.time() < start_at:
        time.sleep(0.001)
    i = 0
    while time.time() < deadline:
        try:
            reply = client.get(ready[i] if i < len(ready) else requests.path(worker, first + i),
                               requests.accept)
            if reply.status == 200:
                ok += 1
                latencies.append(reply.seconds)
            else:
                errors += 1
                note = note or f"HTTP {reply.status}"
        except (TimeoutError, OSError) as exc:
            errors += 1
            note = note or str(exc)
        i += 1
    client.close()
    return ok, errors, latencies, note


def _run_clients(base_url: str, requests: Requests, *, first: int, clients: int,
                 duration_s: float, timeout: float) -> tuple[int, int, float, list[float], str]:
    """`clients` processes send back to back for `duration_s`: (ok, errors, seconds, latencies, note)."""
    start_at = time.time() + 1.5  # time for each client to prepare its requests
    deadline = start_at + duration_s
    jobs = [(base_url, requests, w, first, start_at, deadline, timeout) for w in range(clients)]
    with mp.get_context("fork").Pool(clients) as pool:
        results = pool.map(_client_loop, jobs)
    elapsed = max(time.time(), deadline) - start_at
    return (sum(r[0] for r in results), sum(r[1] for r in results), elapsed,
            [x for r in results for x in r[2]], next((r[3] for r in results if r[3]), ""))


def alternating(targets: Sequence[tuple[str, Requests, float]], *, clients: int,
                duration_s: float, slices: int) -> list[Throughput]:
    """Throughput of each (base URL, requests, timeout), in `slices` turns each, alternating.

    Each target gets `duration_s` in all, cut into slices taken in turn (A, B, A, B, ...), so
    a shared machine's drift over minutes falls on every target alike instead of on whichever
    was measured during a slow spell.
    """
    totals = [_Tally() for _ in targets]
    for turn in range(slices):
        for tally, (url, requests, timeout) in zip(totals, targets, strict=True):
            ok, errors, seconds, latencies, note = _run_clients(
                url, requests, first=turn * 1_000_000, clients=clients, duration_s=duration_s / slices,
                timeout=timeout)
            tally.ok += ok
            tally.errors += errors
            tally.seconds += seconds
            tally.latencies.extend(latencies)
            tally.note = tally.note or note
    return [Throughput(requests_per_s=t.ok / t.seconds if t.seconds else 0.0, ok=t.ok,
                       errors=t.errors, seconds=t.seconds, note=t.note,
                       p50_ms=statistics.median(t.latencies) * 1000 if t.latencies else None)
            for t in totals]


@dataclass
class _Tally:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    note: str = ""
