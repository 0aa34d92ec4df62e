"""`rabat-kg serve` as a real process tree: the waitress server and its executor processes.

Checked over HTTP and through /proc: the data is validated before anything is served (fails
closed), queries run in sandboxed executors, a timeout frees the CPU, slow queries leave
light requests fast, a killed executor is replaced, SIGTERM leaves nothing behind (a killed
server's leftovers are removed by the next start), and with `--store` a down or slow store
gives 502/504 and recovers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from graph.paths import data_files
from tests.serverproc import ROOT, LiveServer, executor_pids, free_port, process_tree, start_server

HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    found: dict[int, str] = {}
    for child in process_tree(pid)[1:]:
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            continue
    return total


def sparql(url: str, query: str, timeout: float = 30) -> requests.Response:
    return requests.get(url + "/sparql", params={"query": query},
                        headers={"Accept": "application/sparql-results+json"}, timeout=timeout)


def run_serve(args: list[str], env: dict[str, str] | None = None,
              wait_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`rabat-kg serve` expected to exit by itself (invalid data): its status and output."""
    port = free_port()
    return subprocess.run([sys.executable, "-m", "server.cli", "serve", "--port", str(port),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=wait_s,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded engine with small limits: 1 heavy and 1 light slot, 3 s."""
    s = start_server(["--timeout", "3"],
                     env={"RABAT_KG_HEAVY_EXECUTORS": "1", "RABAT_KG_LIGHT_EXECUTORS": "1",
                          "RABAT_KG_ADMISSION_WAIT_S": "0.3"},
                     log_dir=tmp_path_factory.mktemp("serve"))
    yield s
    s.stop()


def test_invalid_data_fails_closed(tmp_path: Path) -> None:
    bad = tmp_path / "atlantis.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country .\n")
    proc = run_serve(["--data", *map(str, data_files()), str(bad)])
    assert proc.returncode == 1
    assert "atlantis" in proc.stderr and "Every country needs" in proc.stderr
    assert "Listening at" not in proc.stderr + proc.stdout


def test_syntax_error_fails_closed_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttl"
    bad.write_text('@prefix ex: <http://example.org/> .\nex:a ex:b "ok" .\nex:a ex:b "open .\n')
    proc = run_serve(["--data", str(bad)])
    assert proc.returncode == 1
    assert "broken.ttl" in proc.stderr and "line 3" in proc.stderr
    assert "Listening at" not in proc.stderr + proc.stdout


def test_process_tree_and_sandboxed_executors(server: LiveServer) -> None:
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    procs = descendants(server.proc.pid)
    executors = executor_pids(server)
    # CPython's fork server and resource tracker, and the executors: nothing else runs
    others = [cmd for pid, cmd in procs.items() if pid not in executors]
    assert len(executors) >= 1 and len(others) == 2, procs
    assert all("multiprocessing" in cmd for cmd in others), others
    for pid in executors:
        status = Path(f"/proc/{pid}/status").read_text()
        assert "\nSeccomp:\t2" in status, f"executor {pid} has no seccomp filter"
        assert "\nNoNewPrivs:\t1" in status
        limits = Path(f"/proc/{pid}/limits").read_text()
        row = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert "unlimited" not in row


def test_timeout_is_503_and_the_cpu_comes_back(server: LiveServer) -> None:
    started = time.monotonic()
    response = sparql(server.url, HEAVY)
    assert response.status_code == 503
    assert time.monotonic() - started >= 3
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "limit" in response.json()["detail"]
    time.sleep(0.5)
    executors = [server.proc.pid, *executor_pids(server)]
    before = cpu_seconds(executors)
    time.sleep(1.0)
    assert cpu_seconds(executors) - before < 0.2, "a process is still burning CPU"


def test_heavy_queries_cannot_starve_light_requests(server: LiveServer) -> None:
    statuses: list[int] = []

    def heavy() -> None:
        statuses.append(sparql(server.url, HEAVY).status_code)

    threads = [threading.Thread(target=heavy) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.8)
    light = []
    for _ in range(5):
        t0 = time.monotonic()
        r = requests.get(server.url + "/health", timeout=10)
        light.append((r.status_code, time.monotonic() - t0))
    for t in threads:
        t.join(20)
    assert all(code == 200 for code, _ in light)
    # Well under the 3 s a light request would wait if it queued behind the heavy ones.
    assert max(elapsed for _, elapsed in light) < 1.0, light
    # 1 heavy slot: the others are refused, never queued for the whole limit.
    assert sorted(set(statuses)) == [503] and len(statuses) == 6


def test_overloaded_answer_is_503_with_retry_after(server: LiveServer) -> None:
    answers: list[requests.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(sparql(server.url, HEAVY)))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    kinds = {r.json()["type"].rsplit("/", 1)[1] for r in answers}
    # The cross product ends at the time limit or the memory cap; the rest find no slot.
    assert "overloaded" in kinds and kinds <= {"query-timeout", "query-memory", "overloaded"}
    assert all(r.headers.get("Retry-After") for r in answers)


def test_a_killed_executor_is_replaced(server: LiveServer) -> None:
    for pid in executor_pids(server):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    codes = []
    while time.monotonic() < deadline:
        r = sparql(server.url, "ASK { ?s ?p ?o }", timeout=10)
        codes.append(r.status_code)
        if r.status_code == 200:
            break
        time.sleep(0.2)
    assert codes[-1] == 200, codes
    assert set(codes) <= {200, 503}


def test_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    s = start_server([], log_dir=tmp_path)
    try:
        procs = descendants(s.proc.pid)
        run_dir = Path(json.loads(state_file(s.port).read_text())["run_dir"])
        assert run_dir.is_dir() and len(procs) >= 2
    finally:
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in procs):
        time.sleep(0.1)
    assert not [p for p in procs if Path(f"/proc/{p}").exists()]
    assert not run_dir.exists()
    assert not state_file(s.port).exists()


def state_file(port: int) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"rabat-kg-{os.getuid()}" / f"serve-{port}.json"


def test_a_killed_servers_leftovers_are_removed_by_the_next_start(tmp_path: Path) -> None:
    """kill -9 leaves the run directory; the next start removes it, not a live server's."""
    live = start_server([], log_dir=tmp_path)
    killed = start_server([], log_dir=tmp_path)
    try:
        live_dir = Path(json.loads(state_file(live.port).read_text())["run_dir"])
        dead_dir = Path(json.loads(state_file(killed.port).read_text())["run_dir"])
        killed.proc.kill()
        killed.proc.wait(10)
        assert dead_dir.is_dir()  # nothing could clean up
        third = start_server([], log_dir=tmp_path)
        third.stop()
        assert not dead_dir.exists() and not state_file(killed.port).exists()
        assert live_dir.is_dir()
        assert requests.get(live.url + "/health", timeout=10).status_code == 200
    finally:
        live.stop()


# --- the remote backend -------------------------------------------------------------------


def start_unhealthy(args: list[str], log_dir: Path) -> LiveServer:
    """Start `rabat-kg serve` and wait for any HTTP answer (the store may be down)."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port),
                                 *args], cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT)
    server = LiveServer(url=f"http://127.0.0.1:{port}", port=port, proc=proc, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(server.url + "/health", timeout=5)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(log.read_text())


@pytest.mark.virtuoso
def test_store_down_is_502_slow_is_504_and_both_recover(tmp_path: Path) -> None:
    from tests.conftest import load_store
    from tests.virtuoso import start_virtuoso

    http_port = free_port()
    url = f"http://127.0.0.1:{http_port}/sparql"
    server = start_unhealthy(["--store", url, "--timeout", "2"], tmp_path)
    virtuoso = None
    try:
        down = sparql(server.url, "ASK { ?s ?p ?o }")
        assert down.status_code == 502
        assert "cannot be reached" in down.json()["detail"]
        virtuoso = start_virtuoso(tmp_path / "virtuoso", http_port=http_port)
        load_store(url, virtuoso.load_env())
        up = sparql(server.url, "ASK { ?s ?p ?o }")
        assert up.status_code == 200 and up.json()["boolean"] is True
        virtuoso.pause()
        try:
            t0 = time.monotonic()
            slow = sparql(server.url, "ASK { ?s ?p ?o . FILTER(?o != 1) }")
            assert slow.status_code == 504 and time.monotonic() - t0 < 6
            assert "did not answer" in slow.json()["detail"]
        finally:
            virtuoso.resume()
        again = sparql(server.url, "ASK { ?s ?p ?o . FILTER(?o != 2) }")
        assert again.status_code == 200
    finally:
        server.stop()
        if virtuoso is not None:
            virtuoso.stop()
            shutil.rmtree(virtuoso.dir, ignore_errors=True)


# --- the shared suite fixture: the same HTTP test on every backend ---------------------------


def test_live_server_serves_the_bundled_graph_on_each_backend(base_url: str,
                                                              live_server: LiveServer) -> None:
    """Runs once per backend in RABAT_KG_BACKENDS: both must serve exactly the bundled graph."""
    from graph.paths import bundled_sources
    from graph.release import make_release

    release = make_release(bundled_sources(), validate=False)
    response = sparql(base_url, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert response.status_code == 200
    assert int(response.json()["results"]["bindings"][0]["n"]["value"]) == release.triple_count
    assert requests.get(base_url + "/health", timeout=10).json()["version"] == release.version


# --- kept-alive and pipelined connections (waitress) --------------------------------------


def raw_exchange(sock: socket.socket, requests_bytes: bytes, answers: int) -> list[bytes]:
    """Send raw bytes, read `answers` complete HTTP/1.1 answers (Content-Length bodies)."""
    sock.sendall(requests_bytes)
    data, out = b"", []
    while len(out) < answers:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            rest += chunk
        out.append(head.split(b"\r\n", 1)[0] + b"\n" + rest[:length])
        data = rest[length:]
    return out


def test_one_connection_serves_prompt_idle_and_pipelined_requests(server: LiveServer) -> None:
    host, port = server.url.split("//")[1].split(":")
    ask = (b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\n"
           b"Accept: application/sparql-results+json\r\n\r\n")
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        first = raw_exchange(sock, ask, 1)[0]
        prompt = raw_exchange(sock, health, 1)[0]
        time.sleep(1.3)
        idle = raw_exchange(sock, ask, 1)[0]
        pipelined = raw_exchange(sock, ask + health + ask, 3)
    assert first.startswith(b"HTTP/1.1 200") and b'"boolean":true' in first
    assert prompt.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in prompt
    assert idle == first
    assert [a.split(b"\n")[0] for a in pipelined] == [b"HTTP/1.1 200 OK"] * 3
    assert pipelined[0] == pipelined[2] == first and b'"status":"ok"' in pipelined[1]


def test_malformed_chunked_body_is_a_400_with_one_log_line(server: LiveServer) -> None:
    before = server.log_text()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/sparql-query\r\n\r\nzz\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    time.sleep(0.3)
    added = server.log_text()[len(before):]
    assert "Traceback" not in added
    assert requests.get(server.url + "/health", timeout=10).status_code == 200


def test_two_servers_side_by_side_serve_dumps_under_load(tmp_path: Path) -> None:
    """Issue 18: each server's cache is its own (run directory): neither prunes the other's."""
    servers = [start_server([], log_dir=tmp_path), start_server(
        ["--data", *map(str, data_files())], env={"RABAT_KG_VALIDATE_ON_START": "false"},
        log_dir=tmp_path)]
    failures: list[str] = []
    bodies: dict[tuple[int, str], set[bytes]] = {}
    lock = threading.Lock()
    stop = time.monotonic() + 8

    def client(s: LiveServer, path: str) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            r = session.get(s.url + path, timeout=60)
            with lock:
                if r.status_code != 200:
                    failures.append(f"{s.url}{path}: {r.status_code} {r.text[:200]}")
                bodies.setdefault((s.port, path), set()).add(r.content)

    try:
        threads = [threading.Thread(target=client, args=(s, p)) for s in servers
                   for p in ("/dump.ttl", "/dump.jsonld", "/dump.nt") for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        assert all(len(b) == 1 for b in bodies.values()), "a dump changed while being served"
        for s in servers:
            assert "Traceback" not in s.log_text()
    finally:
        for s in servers:
            s.stop()
