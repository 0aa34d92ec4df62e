"""Issue 15: no slow, greedy or broken client locks the others out (real server, loopback only).

Each test opens the troublesome connections, then times a newcomer's `GET /health` and `ASK`
on fresh connections. The bound is the issue's (1 s): the failure it guards against is a
newcomer waiting for the troublemakers to go away (tens of seconds), not a slow machine.
Every loop is bounded in count and time, and every socket is closed at the end.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.serverproc import LiveServer, start_server

NEWCOMER_BOUND_S = 1.0
ASK = "ASK { ?s ?p ?o }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    s = start_server(log_dir=tmp_path_factory.mktemp("slow-clients"))
    yield s
    s.stop()


def newcomer_times(url: str) -> list[float]:
    """Seconds for a fresh client's /health and ASK (each must answer 200)."""
    times = []
    for method, path, data in (("GET", "/health", None), ("POST", "/sparql", {"query": ASK})):
        started = time.monotonic()
        response = requests.request(method, url + path, data=data, timeout=30,
                                    headers={"Accept": "application/sparql-results+json"})
        times.append(time.monotonic() - started)
        assert response.status_code == 200, response.text
    return times


@contextlib.contextmanager
def open_sockets(server: LiveServer, count: int) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        yield socks
    finally:
        for s in socks:
            s.close()


def assert_newcomer_served(server: LiveServer) -> None:
    times = newcomer_times(server.url)
    assert max(times) < NEWCOMER_BOUND_S, times


def test_thirty_one_byte_sockets(server: LiveServer) -> None:
    with open_sockets(server, 30) as socks:
        for s in socks:
            s.sendall(b"G")
        time.sleep(0.2)  # let the server read them
        assert_newcomer_served(server)


def test_fourteen_trickled_bodies(server: LiveServer) -> None:
    head = (f"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/sparql-query\r\nContent-Length: 4000\r\n\r\n").encode()
    with open_sockets(server, 14) as socks:
        for s in socks:
            s.sendall(head)
        for _ in range(3):  # a byte each, a few times, while the newcomer comes
            for s in socks:
                s.sendall(b"A")
            time.sleep(0.05)
        assert_newcomer_served(server)


def test_twelve_slow_readers_of_a_large_answer(server: LiveServer) -> None:
    request = (f"GET /dump.nt HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n").encode()
    with open_sockets(server, 12) as socks:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(request)
            s.recv(1024)  # the answer has started; read no more
        assert_newcomer_served(server)


def test_thirty_pipelining_connections_that_never_read(server: LiveServer) -> None:
    one = (f"GET /doc/country/togo.ttl HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n").encode()
    with open_sockets(server, 30) as socks:
        for s in socks:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.send(one * 100)  # 100 requests each; the answers are never read
        time.sleep(0.5)
        assert_newcomer_served(server)
        assert server.proc.poll() is None


HAMMER = textwrap.dedent('''
    import http.client, sys, threading, time
    port, conns, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    done = [0]
    stop = time.monotonic() + seconds
    def run():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            c.request("GET", "/doc/country/togo.ttl")
            r = c.getresponse(); r.read()
            done[0] += 1
    ts = [threading.Thread(target=run) for _ in range(conns)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(done[0])
''')


def test_kept_alive_connections_do_not_starve_newcomers(server: LiveServer) -> None:
    """One client keeps 32 connections busy; 20 newcomers, 0.4 s apart, are each served in time."""
    hammer = subprocess.Popen([sys.executable, "-c", HAMMER, str(server.port), "32", "12"],
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        slow = []
        for _ in range(20):
            started = time.monotonic()
            response = requests.post(server.url + "/sparql", data={"query": ASK}, timeout=30,
                                     headers={"Accept": "application/sparql-results+json",
                                              "Connection": "close"})
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            slow += [elapsed] if elapsed >= NEWCOMER_BOUND_S else []
            time.sleep(0.4)
        assert slow == []
    finally:
        out, _ = hammer.communicate(timeout=60)
    assert int(out.strip()) > 100  # the busy client was served too


EXPENSIVE_ASK = ("ASK { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
                 'FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), "#x")) }')


def test_expensive_asks_leave_pages_search_and_stored_queries_answering(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Four queries that run to the time limit at once; everything cheap still answers 200."""
    s = start_server(["--timeout", "6"], log_dir=tmp_path_factory.mktemp("lanes"))
    try:
        statuses: list[int] = []

        def expensive() -> None:
            r = requests.post(s.url + "/sparql", data={"query": EXPENSIVE_ASK}, timeout=60)
            statuses.append(r.status_code)

        threads = [threading.Thread(target=expensive) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)  # past the light budget: the expensive ones hold heavy slots or were refused
        cheap = [("/doc/country/togo", {}), ("/search?q=togo", {}),
                 ("/queries/list-reference-countries", {"Accept": "application/sparql-results+json"}),
                 ("/sparql?query=" + requests.utils.quote(ASK),
                  {"Accept": "application/sparql-results+json"})]
        for _ in range(3):
            for path, headers in cheap:
                r = requests.get(s.url + path, headers=headers, timeout=30)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
        for t in threads:
            t.join(timeout=60)
        assert all(code == 503 for code in statuses), statuses  # time limit, or no heavy slot
    finally:
        s.stop()
