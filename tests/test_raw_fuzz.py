"""Issue 18: no client input yields a 500 or a traceback, whatever arrives on the socket.

Hypothesis writes raw HTTP/1.1 requests for every route: odd methods, paths and slugs
(percent-encoded, non-ASCII, traversal), headers (Accept, conditional, ranges, duplicates),
query strings (unknown, repeated and non-ASCII parameters, numbers in other scripts) and
bodies (wrong lengths, malformed chunked framing, binary). Each answer must be a complete HTTP
answer below 500 (or 503/504 with Retry-After from a limit), and the server stays healthy and
logs no traceback. Bounded: a fixed number of examples, each with a socket timeout.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serverproc import LiveServer, start_server

ROUTES = ["/", "/sparql", "/id/country/togo", "/doc/country/togo", "/doc/country/togo.ttl",
          "/doc/domain/5.jsonld", "/def/Country", "/ontology", "/def/0.1.0", "/shapes",
          "/validation", "/queries", "/queries/list-reference-countries",
          "/queries/list-country-activities", "/openapi.json", "/.well-known/void", "/dataset",
          "/dump.nt", "/search", "/health", "/context.jsonld", "/static/style.css", "/nowhere"]
METHODS = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "G", "get"]
PARAMS = ["query", "format", "lang", "q", "class", "page", "country", "year", "x", "query[]",
          "default-graph-uri", "named-graph-uri", "update"]
VALUES = ["", "ASK{}", "SELECT * WHERE { ?s ?p ?o } LIMIT 1", "%C2%B2", "%D9%A2", "2021%0A", "-1",
          "99999999999999999999", "togo", "%00", "%ff%fe", "..%2F..%2Fetc%2Fpasswd", "ttl", "fr",
          "json", "%E2%80%AE", "Country", "https%3A%2F%2Fw3id.org%2Frabat-kg%2Fid%2Fcountry%2Ftogo"]
SUFFIXES = ["", "/", "//", "/..", "%2F..%2F", ".xml", ".rdf", ".ttl.ttl", "%00", "%C3%A9", "?",
            ";x", "/%2e%2e/%2e%2e/etc/passwd", "x" * 300]
HEADERS = [("Accept", "text/html"), ("Accept", "*/*;q=0"), ("Accept", "application/sparql-results+json"),
           ("Accept", "text/turtle;q=abc"), ("Accept-Language", "fr;q=2"), ("If-None-Match", '"x", W/"y"'),
           ("Range", "bytes=0-1"), ("Accept-Encoding", "gzip;q=0, br"), ("Content-Type", "text/plain"),
           ("Content-Type", "application/sparql-query"), ("Content-Type",
           "application/x-www-form-urlencoded; charset=latin1"), ("Expect", "100-continue"),
           ("Host", "evil.example"), ("X-Forwarded-For", "1.2.3.4")]
BODIES = [b"", b"query=ASK%7B%7D", b"ASK {}", b"\xff\xfe\x00", b"query=%ZZ", b"update=DROP ALL",
          b"query=" + b"(" * 200]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    s = start_server(log_dir=tmp_path_factory.mktemp("raw-fuzz"))
    yield s
    s.stop()


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(METHODS))
    path = draw(st.sampled_from(ROUTES)) + draw(st.sampled_from(SUFFIXES))
    pairs = draw(st.lists(st.tuples(st.sampled_from(PARAMS), st.sampled_from(VALUES)), max_size=3))
    if pairs:
        path += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    headers = draw(st.lists(st.sampled_from(HEADERS), max_size=4))
    body = draw(st.sampled_from(BODIES))
    framing = draw(st.sampled_from(["length", "none", "short", "chunked", "bad-chunked"]))
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers if k != "Host"]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
    elif framing == "short":  # announces more than it sends: the server must not wait forever
        lines.append(f"Content-Length: {len(body) + 5}")
    elif framing in ("chunked", "bad-chunked"):
        lines.append("Transfer-Encoding: chunked")
        body = (b"zz\r\n" + body + b"\r\n0\r\n\r\n" if framing == "bad-chunked"
                else f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def exchange(server: LiveServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # a short body ends here: the server answers or closes
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(raw_requests())
def test_any_raw_request_gets_a_clean_answer_below_500(server: LiveServer, data: bytes) -> None:
    answer = exchange(server, data)
    if not answer:
        return  # closed without an answer: only allowed for a body that never came
    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert status, answer[:200]
    code = int(status.group(1))
    assert code < 500 or (code in (503, 504) and b"Retry-After" in answer), (data[:300], answer[:600])
    assert b"Traceback" not in answer


def test_the_server_survived_and_logged_no_traceback(server: LiveServer) -> None:
    test_any_raw_request_gets_a_clean_answer_below_500(server)  # run the fuzz first in this module
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    assert "Traceback" not in server.log_text()
