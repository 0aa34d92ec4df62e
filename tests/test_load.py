"""Load: three concurrent client streams against one server for 60 s, with 0 errors.

Streams: SPARQL queries (the stored queries' own texts plus counts, in rotating formats),
entity pages (`/doc/{type}/{slug}` as HTML) and entity data (`/doc/{type}/{slug}.ttl`), each
walking every entity of the graph. Every answer must be 200 and parse as what it claims to
be. The report (requests, errors, p50/p95/p99 latency per stream, server RSS) is printed
and written to tests/artifacts/load-report.json. RABAT_KG_LOAD_SECONDS shortens a local run.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from rdflib import Graph

from graph.namespaces import BASE
from tests.serverproc import LiveServer, process_tree, rss_bytes, start_server

DURATION_S = float(os.environ.get("RABAT_KG_LOAD_SECONDS", "60"))
JSON = "application/sparql-results+json"
FORMATS = [JSON, "application/sparql-results+xml", "text/csv", "text/tab-separated-values"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    s = start_server([], log_dir=tmp_path_factory.mktemp("load"))
    yield s
    s.stop()


def entity_paths(server: LiveServer) -> list[str]:
    """`/doc/...` for every entity IRI of the graph (subjects under {BASE}id/)."""
    query = (f"SELECT DISTINCT ?s WHERE {{ ?s a ?c FILTER(STRSTARTS(STR(?s), \"{BASE}id/\")) }} "
             "ORDER BY ?s")
    response = requests.get(server.url + "/sparql", params={"query": query}, headers={"Accept": JSON},
                            timeout=30)
    assert response.status_code == 200
    iris = [b["s"]["value"] for b in response.json()["results"]["bindings"]]
    assert len(iris) > 50
    return ["/doc/" + iri[len(BASE + "id/"):] for iri in iris]


def sparql_texts(server: LiveServer) -> list[tuple[str, str]]:
    """(query, accept) pairs: every stored SELECT/ASK query with its defaults, plus counts."""
    listing = requests.get(server.url + "/queries", headers={"Accept": "application/json"}, timeout=30)
    assert listing.status_code == 200
    texts = []
    for i, query in enumerate(listing.json()["queries"]):
        if query["form"] not in ("select", "ask"):
            continue
        source = requests.get(server.url + query["links"]["sparql"], timeout=30)
        assert source.status_code == 200
        texts.append((source.text, FORMATS[i % len(FORMATS)]))
    texts += [("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", JSON),
              ("SELECT ?c (COUNT(?x) AS ?n) WHERE { ?x a ?c } GROUP BY ?c", "text/csv")]
    assert len(texts) >= 10
    return texts


def check_body(response: requests.Response, accept: str) -> None:
    """The body is what it says: results parse, Turtle parses, HTML is a page."""
    if accept == JSON:
        json.loads(response.content)
    elif accept == "text/turtle":
        assert len(Graph().parse(data=response.text, format="turtle")) > 0
    elif accept == "text/html":
        assert "</html>" in response.text.lower()
    else:
        response.content.decode("utf-8")


class Stream:
    """One client in a loop: a requests.Session, its latencies and its errors."""

    def __init__(self, name: str, base: str, next_request: Callable[[], tuple[str, dict[str, str], str]]):
        self.name = name
        self.base = base
        self.next_request = next_request
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self, stop: threading.Event) -> None:
        session = requests.Session()
        while not stop.is_set():
            path, params, accept = self.next_request()
            started = time.perf_counter()
            try:
                response = session.get(self.base + path, params=params, headers={"Accept": accept},
                                       timeout=30)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    self.errors.append(f"{path} {params} -> {response.status_code} {response.text[:200]}")
                else:
                    check_body(response, accept)
                self.latencies.append(elapsed)
            except Exception as exc:  # any failure counts, nothing may stop the stream
                self.errors.append(f"{path} {params} -> {type(exc).__name__}: {exc}")

    def report(self) -> dict[str, object]:
        ms = sorted(x * 1000 for x in self.latencies)

        def pct(p: float) -> float:
            return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 1) if ms else float("nan")

        return {"requests": len(ms), "errors": len(self.errors), "p50_ms": pct(50), "p95_ms": pct(95),
                "p99_ms": pct(99), "max_ms": round(ms[-1], 1) if ms else None,
                "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
                "throughput_per_s": round(len(ms) / DURATION_S, 1), "first_errors": self.errors[:5]}


@pytest.mark.load
def test_three_streams_for_a_minute_without_errors(server: LiveServer, artifacts: Path) -> None:
    entities = entity_paths(server)
    queries = itertools.cycle(sparql_texts(server))
    pages = itertools.cycle(entities)
    data = itertools.cycle(entities)
    streams = [
        Stream("sparql", server.url, lambda: ("/sparql", {"query": (q := next(queries))[0]}, q[1])),
        Stream("pages", server.url, lambda: (next(pages), {}, "text/html")),
        Stream("turtle", server.url, lambda: (next(data) + ".ttl", {}, "text/turtle")),
    ]
    # Every entity answers before timing starts (a missing route fails here, clearly).
    for path in entities[:3]:
        for suffix, accept in (("", "text/html"), (".ttl", "text/turtle")):
            response = requests.get(server.url + path + suffix, headers={"Accept": accept}, timeout=30)
            assert response.status_code == 200, (path + suffix, response.status_code, response.text[:200])
    rss_before = sum(rss_bytes(pid) for pid in process_tree(server.proc.pid))
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in streams]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(DURATION_S)
    stop.set()
    for t in threads:
        t.join(60)
    wall = time.monotonic() - started
    rss_after = sum(rss_bytes(pid) for pid in process_tree(server.proc.pid))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"load average {os.getloadavg()[0]:.1f}",
        "duration_s": round(wall, 1), "workers": 2, "entities": len(entities),
        "server_rss_mb": {"before": rss_before >> 20, "after": rss_after >> 20},
        "streams": {s.name: s.report() for s in streams},
    }
    artifacts.mkdir(exist_ok=True)
    (artifacts / "load-report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nload report:")
    for name, r in report["streams"].items():  # type: ignore[attr-defined]
        print(f"  {name:7} {r['requests']:6d} requests, {r['errors']} errors, "
              f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms")
    print(f"  server RSS {rss_before >> 20} MB -> {rss_after >> 20} MB")
    for s in streams:
        assert s.errors == [], f"{s.name}: {len(s.errors)} errors, first: {s.errors[:5]}"
        assert len(s.latencies) >= 20 * DURATION_S / 60, f"{s.name}: only {len(s.latencies)} requests"
    assert server.proc.poll() is None
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
