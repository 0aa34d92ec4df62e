"""The SPARQL fast path (server/fastpath.py) answers exactly as the Flask view and hooks do.

Two real servers on the bundled graph, one with the fast path and one without
(`RABAT_KG_FAST_SPARQL=false`), get the same plain GETs; status, headers (but Date and
Server-Timing) and bodies must be equal. Each request goes to the fast server twice: the first
time an Accept header is seen, Flask negotiates it, so the second one is the fast path's own.
The rest of the suite's plain GETs (requests sends `gzip, deflate`) take the fast path too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from server import config, create_app
from tests.conftest import BACKENDS, load_store
from tests.serverproc import LiveServer, start_server

JSON = "application/sparql-results+json"
XML = "application/sparql-results+xml"
# One Host for both servers: the ETag covers the host.
PLAIN = {"Host": "kg.example.org"}
# What clients send: curl and urllib nothing, requests and browsers a plain list.
ENCODINGS = {"identity": "identity", "gzip": "gzip, deflate"}
VOLATILE = {"date", "server-timing"}
PROLOGUE = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"

QUERIES = {
    "select": PROLOGUE + "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s ?label LIMIT 7",
    "ask": "ASK { ?s ?p ?o }",
    "construct": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5",
    "truncated": "SELECT * WHERE { ?s ?p ?o VALUES ?n { 1 2 3 4 5 } }",  # over MAX_ROWS
    "unicode": 'SELECT ?x WHERE { BIND("Lomé — Togo" AS ?x) }',
    "control character": 'SELECT ?x WHERE { BIND("a\\u0001b" AS ?x) }',
    "engine syntax error": "SELECT * WHERE { ?s ?p }",
    "lexer error": "SELECT * WHERE { ?s ?p ?o } $$$",
    "update": "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "outside": "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
}
ACCEPTS: dict[str, str | None] = {
    "json": JSON, "xml": XML, "csv": "text/csv", "tsv": "text/tab-separated-values",
    "any": "*/*", "none": None, "q-values": f"{XML};q=0.5, {JSON}", "turtle": "text/turtle",
    "n-triples": "application/n-triples",
}


@pytest.fixture(scope="module", params=BACKENDS)
def servers(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    """One worker each, so the second of two equal requests always meets a negotiated Accept;
    on the embedded store, or both on one Virtuoso holding the bundled graph."""
    logs = tmp_path_factory.mktemp("fastpath")
    args = ["--workers", "1"]
    if request.param == "virtuoso":
        virtuoso = request.getfixturevalue("virtuoso_server")
        load_store(virtuoso.sparql_url, virtuoso.load_env())
        args += ["--store", virtuoso.sparql_url]
    fast = start_server(args, log_dir=logs)
    try:
        flask = start_server(args, env={"RABAT_KG_FAST_SPARQL": "false"}, log_dir=logs)
    except BaseException:
        fast.stop()
        raise
    yield {"fast": fast, "flask": flask}
    fast.stop()
    flask.stop()


def ask(server: LiveServer, params: dict[str, str], headers: dict[str, str | None]) -> dict[str, Any]:
    """Status, headers and the body's bytes as sent (compressed ones not decompressed)."""
    headers = {"Accept-Encoding": ENCODINGS["identity"], **PLAIN, **headers}
    with requests.get(server.url + "/sparql", params=params, headers=headers, timeout=30,
                      stream=True) as response:
        body = response.raw.read(decode_content=False)
    return {"status": response.status_code, "body": body,
            "headers": sorted((k.lower(), v) for k, v in response.headers.items()
                              if k.lower() not in VOLATILE)}


@pytest.mark.parametrize(("query", "accept", "encoding"),
                         list(itertools.product(QUERIES, ACCEPTS, ENCODINGS)))
def test_fast_path_answers_as_flask_does(servers: dict[str, LiveServer], query: str,
                                         accept: str, encoding: str) -> None:
    params = {"query": QUERIES[query]}
    headers = {"Accept": ACCEPTS[accept], "Accept-Encoding": ENCODINGS[encoding]}
    expected = ask(servers["flask"], params, headers)
    for attempt in ("first", "second"):
        got = ask(servers["fast"], params, headers)
        assert got == expected, f"{attempt} request differs from the Flask path"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fast_path_answers_as_flask_does_for_a_large_result(servers: dict[str, LiveServer],
                                                            encoding: str) -> None:
    params = {"query": "SELECT * WHERE { ?s ?p ?o }"}
    headers = {"Accept": JSON, "Accept-Encoding": ENCODINGS[encoding]}
    expected = ask(servers["flask"], params, headers)
    assert expected["status"] == 200 and len(expected["body"]) > 20_000
    assert (("content-encoding", "gzip") in expected["headers"]) == (encoding == "gzip")
    for _ in range(2):
        assert ask(servers["fast"], params, headers) == expected


def test_rate_limit_is_spent_and_refused_the_same_way(tmp_path: Path) -> None:
    """A budget of two requests: the third plain GET is 429 with Retry-After on both paths."""
    budget = {"RABAT_KG_RATE_LIMIT_PER_S": "0.01", "RABAT_KG_RATE_LIMIT_BURST": "2"}
    answers = {}
    for name, extra in (("fast", {}), ("flask", {"RABAT_KG_FAST_SPARQL": "false"})):
        server = start_server(["--workers", "1"], env={**budget, **extra}, log_dir=tmp_path)
        try:
            # the first negotiates this Accept in Flask; the next two are the fast path's
            answers[name] = [ask(server, {"query": f"ASK {{}} # {i}"}, {"Accept": JSON})
                             for i in range(3)]
        finally:
            server.stop()
    assert [a["status"] for a in answers["fast"]] == [200, 200, 429]
    assert answers["fast"] == answers["flask"]
    assert ("retry-after", "100") in answers["fast"][2]["headers"]


def test_plain_get_skips_flask_dispatch_and_everything_else_does_not() -> None:
    """Counted at the Flask app behind the fast path (the in-process client, for the count)."""
    settings = {k: getattr(config, k) for k in dir(config) if k.isupper()}
    app = create_app({**settings, "RATE_LIMIT_PER_S": 0})
    fast = app.wsgi_app
    reached: list[str] = []
    inner = fast.flask  # type: ignore[attr-defined]

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        reached.append(environ.get("QUERY_STRING", ""))
        return inner(environ, start_response)

    fast.flask = counting  # type: ignore[attr-defined]
    client = app.test_client()
    accept = f"{JSON};q=0.97"  # an Accept header no other test negotiated before

    def get(headers: dict[str, str], **params: str) -> int:
        response = client.get("/sparql", query_string={"query": "ASK {}", **params},
                              headers={"Accept": accept, **headers})
        return response.status_code

    assert [get({}) for _ in range(3)] == [200, 200, 200]
    assert get({"Accept-Encoding": "gzip, deflate, br"}) == 200
    assert len(reached) == 1, "after Flask negotiated the Accept header, plain GETs go fast"
    reached.clear()
    assert get({"Accept-Encoding": "gzip;q=0.5, identity"}) == 200
    assert get({"If-None-Match": '"x"'}) == 200
    assert get({}, format="json") == 200
    assert len(reached) == 3, "q-values, conditional requests and other parameters are Flask's"


@pytest.mark.parametrize("language", ["fr", "en-GB,en;q=0.8", "de"])
def test_fast_path_ignores_nothing_a_language_would_change(servers: dict[str, LiveServer],
                                                           language: str) -> None:
    for query in ("select", "engine syntax error"):
        params, headers = {"query": QUERIES[query]}, {"Accept": JSON, "Accept-Language": language}
        expected = ask(servers["flask"], params, headers)
        for _ in range(2):
            assert ask(servers["fast"], params, headers) == expected


def test_a_request_hook_it_does_not_know_sends_everything_to_flask() -> None:
    """A hook added after the fast path was written must not be skipped by it."""
    settings = {k: getattr(config, k) for k in dir(config) if k.isupper()}
    app = create_app({**settings, "RATE_LIMIT_PER_S": 0})
    fast = app.wsgi_app
    assert fast.hooks_known()  # type: ignore[attr-defined]
    seen: list[str] = []
    app.before_request(lambda: seen.append("hook") and None)
    assert not fast.hooks_known()  # type: ignore[attr-defined]
    client = app.test_client()
    for _ in range(3):
        response = client.get("/sparql", query_string={"query": "ASK {}"},
                              headers={"Accept": JSON, "Accept-Encoding": "identity"})
        assert response.status_code == 200
    assert seen == ["hook"] * 3
