"""Data releases swapped into a running server: `rabat-kg reload`, SIGHUP, and under load.

The server runs on copies of the bundled data in a temporary folder; each test edits them.
A good release is swapped in (new version, new counts, new ETags); a release with a syntax
error or a SHACL violation is refused with its report and the old one keeps being served;
clients hammering the server during swaps see no error at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from graph.paths import data_files
from tests.serverproc import ROOT, LiveServer, free_port

MARKER = ('<https://w3id.org/rabat-kg/id/test/reload-marker> '
          '<http://www.w3.org/2000/01/rdf-schema#comment> "reload marker {n}" .\n')
INVALID = ("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
           "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country ;\n"
           '    kg:iso3166Alpha2 "AT" .\n')
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def reload(port: int, *data: Path) -> subprocess.CompletedProcess[str]:
    args = ["--data", *map(str, data)] if data else []
    return subprocess.run([sys.executable, "-m", "server.cli", "reload", "--port", str(port),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def health(reload_server: LiveServer) -> dict[str, object]:
    response = requests.get(reload_server.url + "/health", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def count_and_etag(reload_server: LiveServer) -> tuple[int, str]:
    response = requests.get(reload_server.url + "/sparql", params={"query": COUNT},
                            headers={"Accept": "application/sparql-results+json"}, timeout=10)
    assert response.status_code == 200
    n = int(response.json()["results"]["bindings"][0]["n"]["value"])
    return n, response.headers.get("ETag", "")


def add_marker(data_dir: Path, n: int) -> None:
    with (data_dir / "countries.ttl").open("a") as fh:
        fh.write("\n" + MARKER.format(n=n))


def test_good_release_is_swapped_in(reload_server: LiveServer, data_dir: Path) -> None:
    before = health(reload_server)
    count, etag = count_and_etag(reload_server)
    add_marker(data_dir, 1)
    proc = reload(reload_server.port)
    assert proc.returncode == 0, proc.stderr
    after = health(reload_server)
    assert after["version"] != before["version"] and str(after["version"]) in proc.stdout
    # Every worker and executor serves the new release at once: no old answer after the swap.
    for _ in range(12):
        new_count, new_etag = count_and_etag(reload_server)
        assert new_count == count + 1
        assert new_etag != etag


def test_syntax_error_is_refused_and_the_old_release_kept(reload_server: LiveServer,
                                                          data_dir: Path) -> None:
    before = health(reload_server)
    count, etag = count_and_etag(reload_server)
    with (data_dir / "events.ttl").open("a") as fh:
        fh.write('\n<https://w3id.org/rabat-kg/id/x> <http://example.org/p> "unterminated .\n')
    proc = reload(reload_server.port)
    assert proc.returncode == 1
    assert "events.ttl" in proc.stderr and "line" in proc.stderr
    assert "previous release is still served" in proc.stderr
    assert health(reload_server)["version"] == before["version"]
    assert count_and_etag(reload_server) == (count, etag)


def test_shape_violation_is_refused_with_focus_node_path_and_message(
        reload_server: LiveServer, data_dir: Path) -> None:
    before = health(reload_server)
    count, etag = count_and_etag(reload_server)
    (data_dir / "zz-atlantis.ttl").write_text(INVALID)
    proc = reload(reload_server.port, *data_files(data_dir))
    assert proc.returncode == 1
    assert "atlantis" in proc.stderr  # focus node
    assert "rdfs:label" in proc.stderr  # path
    assert "Every country needs exactly one English label" in proc.stderr  # message
    assert health(reload_server)["version"] == before["version"]
    assert count_and_etag(reload_server) == (count, etag)
    assert "reload refused" in reload_server.log_text()


def test_sighup_reloads_the_data(reload_server: LiveServer, data_dir: Path) -> None:
    before = health(reload_server)["version"]
    add_marker(data_dir, 2)
    reload_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and health(reload_server)["version"] == before:
        time.sleep(0.2)
    assert health(reload_server)["version"] != before
    # SIGHUP reloads data only: the server process goes on.
    assert reload_server.proc.poll() is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "reload: now serving" not in reload_server.log_text():
        time.sleep(0.1)
    assert "reload: now serving" in reload_server.log_text()


def test_reload_without_a_server_fails_clearly() -> None:
    proc = reload(free_port())
    assert proc.returncode == 1
    assert "no rabat-kg server is running on port" in proc.stderr


@pytest.mark.load
def test_reload_under_load_loses_no_request(reload_server: LiveServer, data_dir: Path) -> None:
    """3 client streams during a good, a broken, an invalid and another good release."""
    base_count, _ = count_and_etag(reload_server)
    allowed_counts = {base_count, base_count + 1, base_count + 2}
    stop = threading.Event()
    failures: list[str] = []
    seen_counts: set[int] = set()
    done = [0]

    def stream(kind: str) -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                if kind == "sparql":
                    r = session.get(reload_server.url + "/sparql", params={"query": COUNT},
                                    headers={"Accept": "application/sparql-results+json"},
                                    timeout=15)
                    if r.status_code == 200:
                        seen_counts.add(int(r.json()["results"]["bindings"][0]["n"]["value"]))
                elif kind == "ask":
                    r = session.get(reload_server.url + "/sparql", params={
                        "query": "ASK { ?s a <https://w3id.org/rabat-kg/def/Country> }"},
                        timeout=15)
                else:
                    r = session.get(reload_server.url + "/health", timeout=15)
                if r.status_code != 200:
                    failures.append(f"{kind} {r.status_code} {r.text[:200]}")
                done[0] += 1
            except requests.RequestException as exc:
                failures.append(f"{kind} {exc}")

    threads = [threading.Thread(target=stream, args=(k,)) for k in ("sparql", "ask", "health")]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        add_marker(data_dir, 3)
        assert reload(reload_server.port).returncode == 0
        countries = data_dir / "countries.ttl"
        good = countries.read_text()
        countries.write_text(good + '\n<urn:x> <urn:y> "broken .\n')
        assert reload(reload_server.port).returncode == 1
        countries.write_text(good)
        (data_dir / "zz-atlantis.ttl").write_text(INVALID)
        assert reload(reload_server.port, *data_files(data_dir)).returncode == 1
        (data_dir / "zz-atlantis.ttl").unlink()
        add_marker(data_dir, 4)
        assert reload(reload_server.port).returncode == 0
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert done[0] > 50
    assert seen_counts <= allowed_counts and base_count + 2 in seen_counts
    assert count_and_etag(reload_server)[0] == base_count + 2
    if os.environ.get("CI"):
        print(f"{done[0]} requests during 4 reloads, 0 failures")
