"""Probe 25: data releases published while three client streams keep the server busy.

The server runs on copies of the bundled data in a temporary folder. During sustained load
(SPARQL counts, entity pages, entity Turtle) the test publishes, with `rabat-kg reload`:
a good release (one triple more), a broken one (a Turtle syntax error), and two invalid
ones (a country without its English label; a date with the wrong datatype). Required: not
one failed request during the swaps; the good release swaps in with a new version, count
and ETags; each bad release is refused with a report naming file and line, or focus node,
path and the shape's message; after a refusal the previous release (version, ETags, triple
count) is what every stream keeps getting; and no stream ever goes back to an older release.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from rdflib import Graph, Literal, Namespace, URIRef

from graph.namespaces import BASE
from graph.paths import SHAPES_FILE
from tests.serverproc import ROOT, LiveServer

SH = Namespace("http://www.w3.org/ns/shacl#")
RDFS_LABEL = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
KG_DATE = URIRef(BASE + "def/date")
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
PAGE = "/doc/country/togo"
GOOD = (f"\n<{BASE}id/test/reload-under-load> <http://www.w3.org/2000/01/rdf-schema#comment> "
        '"published during the reload-under-load test" .\n')


def publish(reload_server: LiveServer) -> subprocess.CompletedProcess[str]:
    """`rabat-kg reload --port P`, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "server.cli", "reload", "--port",
                           str(reload_server.port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


def messages_for(path: URIRef) -> set[str]:
    """The English sh:message texts of the property shapes on `path` (the report must quote one)."""
    shapes = Graph().parse(SHAPES_FILE)
    return {str(m) for shape in shapes.subjects(SH.path, path) for m in shapes.objects(shape, SH.message)
            if isinstance(m, Literal) and m.language == "en"}


@dataclass
class Observation:
    """What one stream saw, in order: (release marker, ETag) per successful request."""

    name: str
    seen: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def stream(reload_server: LiveServer, obs: Observation, stop: threading.Event) -> None:
    session = requests.Session()
    while not stop.is_set():
        try:
            if obs.name == "sparql":
                r = session.get(reload_server.url + "/sparql", params={"query": COUNT}, timeout=30,
                                headers={"Accept": "application/sparql-results+json"})
                marker = r.json()["results"]["bindings"][0]["n"]["value"] if r.status_code == 200 else ""
            elif obs.name == "page":
                r = session.get(reload_server.url + PAGE, headers={"Accept": "text/html"}, timeout=30)
                marker = ""
            else:
                r = session.get(reload_server.url + PAGE + ".ttl", headers={"Accept": "text/turtle"},
                                timeout=30)
                marker = ""
            if r.status_code != 200:
                obs.failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                obs.seen.append((marker, r.headers.get("ETag", "")))
        except Exception as exc:  # every failure counts
            obs.failures.append(f"{type(exc).__name__}: {exc}")


def state(reload_server: LiveServer) -> dict[str, Any]:
    """Version, triple count and ETags of the count query, the page and the Turtle (the page once
    the release's SHACL report is ready: until then it says "pending" and has no ETag)."""
    health = requests.get(reload_server.url + "/health", timeout=10).json()
    deadline = time.monotonic() + 180
    while requests.get(reload_server.url + "/validation.ttl", timeout=60).status_code == 503:
        assert time.monotonic() < deadline, "the release's validation report never came"
        time.sleep(0.2)  # (not a busy loop against the server computing it)
    count = requests.get(reload_server.url + "/sparql", params={"query": COUNT}, timeout=30,
                         headers={"Accept": "application/sparql-results+json"})
    page = requests.get(reload_server.url + PAGE, headers={"Accept": "text/html"}, timeout=30)
    ttl = requests.get(reload_server.url + PAGE + ".ttl", headers={"Accept": "text/turtle"}, timeout=30)
    assert count.status_code == page.status_code == ttl.status_code == 200
    return {"version": health["version"], "triples": health["triples"],
            "count": int(count.json()["results"]["bindings"][0]["n"]["value"]),
            "count_etag": count.headers["ETag"], "page_etag": page.headers["ETag"],
            "ttl_etag": ttl.headers["ETag"]}


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.load
def test_probe_25_releases_swap_under_load_and_bad_ones_are_refused(reload_server: LiveServer,
                                                                     data_dir: Path) -> None:
    before = state(reload_server)
    observations = [Observation("sparql"), Observation("page"), Observation("turtle")]
    stop = threading.Event()
    threads = [threading.Thread(target=stream, args=(reload_server, o, stop)) for o in observations]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        # 1. A good release: one triple more; swapped in with a new version and new ETags.
        countries = data_dir / "countries.ttl"
        original_countries = countries.read_text()
        countries.write_text(original_countries + GOOD)
        good = publish(reload_server)
        assert good.returncode == 0, good.stderr
        after_good = state(reload_server)
        assert after_good["version"] != before["version"] and str(after_good["version"]) in good.stdout
        assert after_good["count"] == after_good["triples"] == int(before["count"]) + 1
        for tag in ("count_etag", "page_etag", "ttl_etag"):
            assert after_good[tag] != before[tag], tag
        time.sleep(2)

        # 2. A Turtle syntax error: refused, naming the file and the line.
        events = data_dir / "events.ttl"
        original_events = events.read_text()
        broken = original_events + '\n<urn:x> <urn:y> "unterminated .\n'
        events.write_text(broken)
        refused = publish(reload_server)
        assert refused.returncode == 1, refused.stdout
        report = refused.stderr
        assert "events.ttl" in report, report
        assert str(line_of(broken, '<urn:x> <urn:y> "unterminated')) in report, report
        assert state(reload_server) == after_good
        events.write_text(original_events)
        time.sleep(2)

        # 3. A SHACL violation: a country without its English label.
        label_line = '    rdfs:label "Austria"@en ;\n'
        assert label_line in original_countries
        countries.write_text(original_countries.replace(label_line, "") + GOOD)
        refused = publish(reload_server)
        assert refused.returncode == 1, refused.stdout
        report = refused.stderr
        assert f"{BASE}id/country/austria" in report or "country:austria" in report, report
        assert "rdfs:label" in report or str(RDFS_LABEL) in report, report
        assert any(m in report for m in messages_for(RDFS_LABEL)), report
        assert state(reload_server) == after_good
        countries.write_text(original_countries + GOOD)
        time.sleep(2)

        # 4. A SHACL violation: a date with the wrong datatype.
        date = 'kg:date "2021-01-21"^^xsd:date'
        assert date in original_events
        events.write_text(original_events.replace(date, 'kg:date "2021-01-21"^^xsd:string', 1))
        refused = publish(reload_server)
        assert refused.returncode == 1, refused.stdout
        report = refused.stderr
        assert "webinar-return-reintegration-2021" in report, report
        assert "kg:date" in report or str(KG_DATE) in report, report
        assert any(m in report for m in messages_for(KG_DATE)), report
        assert state(reload_server) == after_good
        events.write_text(original_events)
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    assert "reload refused" in reload_server.log_text()
    for obs in observations:
        assert obs.failures == [], f"{obs.name}: {len(obs.failures)} failed requests: {obs.failures[:5]}"
        assert len(obs.seen) > 20, f"{obs.name}: only {len(obs.seen)} requests"
        # (a page served while the new release's report is computed says "pending": no ETag)
        tags = [tag for _, tag in obs.seen if tag or obs.name != "page"]
        # Only the two good releases were ever served, and never the old one after the new one.
        allowed = {str(before[k]) for k in ("count_etag", "page_etag", "ttl_etag")}
        new = {str(after_good[k]) for k in ("count_etag", "page_etag", "ttl_etag")}
        assert set(tags) <= allowed | new, set(tags) - allowed - new
        first_new = next((i for i, tag in enumerate(tags) if tag in new), len(tags))
        assert all(tag in new for tag in tags[first_new:]), f"{obs.name} went back to the old release"
        assert first_new < len(tags), f"{obs.name} never saw the new release"
        if obs.name == "sparql":
            counts = {int(m) for m, _ in obs.seen}
            assert counts <= {int(before["count"]), int(after_good["count"])}, counts
    assert reload_server.proc.poll() is None
