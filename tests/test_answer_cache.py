"""The answer cache (server/answer_cache.py): its bounds, and over real HTTP that an answer sent
from it is the answer the view would have made, header for header and byte for byte."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask

from server import conformance, create_app
from server.answer_cache import AnswerCache, entry_size
from tests.serverproc import LiveServer, start_server
from tests.test_http_policies import LABELS, raw_get

HIT = "cache;desc=hit"
# Requests whose answers the cache keeps: documents, pages in both languages, results, lists.
REQUESTS = [
    ("/.well-known/void", {"Accept": "text/turtle"}),
    ("/openapi.json", {"Accept-Encoding": "gzip"}),
    ("/doc/country/togo", {"Accept": "text/html", "Accept-Language": "fr"}),
    ("/doc/country/togo", {"Accept": "text/html", "Accept-Encoding": "gzip"}),
    ("/doc/action/20.ttl", {}),
    ("/doc/action/20.nt", {}),
    ("/doc/country/togo.jsonld", {"Accept-Encoding": "gzip"}),
    ("/sparql?" + urlencode({"query": LABELS}), {"Accept": "application/sparql-results+json"}),
    ("/sparql?" + urlencode({"query": LABELS}), {"Accept": "text/csv"}),
    ("/sparql", {"Accept": "text/turtle"}),
    ("/search?q=togo", {"Accept": "text/html"}),
    ("/queries", {"Accept": "application/json"}),
    ("/", {"Accept-Language": "fr"}),
]
PER_REQUEST = {"server-timing", "date"}


# --- the cache itself ------------------------------------------------------------------------


def test_keeps_answers_by_tag_for_one_release() -> None:
    cache = AnswerCache(max_bytes=1 << 20, max_age_s=300)
    cache.put("v1", '"a"', [("Content-Type", "text/plain")], b"alpha")
    answer = cache.get("v1", '"a"')
    assert answer is not None and answer.body == b"alpha"
    assert answer.headers == [("Content-Type", "text/plain")]
    assert cache.get("v1", '"b"') is None
    assert cache.get("v2", '"a"') is None  # another release's answer is never served
    cache.put("v2", '"b"', [], b"beta")  # a new release empties the cache
    assert len(cache) == 1 and cache.size_bytes == entry_size([], b"beta")
    assert cache.get("v2", '"b"') is not None


def test_is_bounded_least_recently_used_first() -> None:
    body = b"x" * 100
    one = entry_size([], body)
    cache = AnswerCache(max_bytes=16 * one, max_age_s=300)  # entries up to `one`
    for name in "abcdefghijklmnop":
        cache.put("v", name, [], body)
    assert cache.size_bytes == 16 * one and len(cache) == 16
    assert cache.get("v", "a") is not None  # "a" is now the most recently used
    cache.put("v", "q", [], body)
    assert cache.size_bytes == 16 * one
    assert cache.get("v", "b") is None and cache.get("v", "a") is not None
    cache.put("v", "big", [], body + b"z")  # over a sixteenth of the cache: not kept
    assert cache.get("v", "big") is None and cache.size_bytes == 16 * one
    cache.put("v", "a", [], b"w" * 10)  # kept again: replaced, counted once
    assert cache.size_bytes == 15 * one + entry_size([], b"w" * 10)
    assert cache.get("v", "a").body == b"w" * 10  # type: ignore[union-attr]


def test_many_tiny_answers_stay_within_the_bound_in_real_memory() -> None:
    # An ASK answer is 26 bytes with 13 headers: what it really takes must be what is counted,
    # or distinct tiny queries would fill memory far past ANSWER_CACHE_MB.
    headers = [(f"Header-Name-{i}", "a value of some forty characters or so.") for i in range(13)]
    body = b'{"head":{},"boolean":true}'
    cache = AnswerCache(max_bytes=4 << 20, max_age_s=300)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):  # far more than fit; every string and body a new object, as served
            copies = [(n.encode().decode(), v.encode().decode()) for n, v in headers]
            cache.put("v", f'"{i:032x}"', copies, bytes(bytearray(body)))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.size_bytes <= 4 << 20 and len(cache) < 20_000
    assert held <= 1.25 * (4 << 20), f"{held} bytes held for a cache of {4 << 20}"


def test_an_answer_is_kept_no_longer_than_proxies_may_keep_it() -> None:
    cache = AnswerCache(max_bytes=1 << 20, max_age_s=0.0)
    cache.put("v", "a", [], b"alpha")
    time.sleep(0.01)
    assert cache.get("v", "a") is None and len(cache) == 0


# --- in process: what is never kept ----------------------------------------------------------


@pytest.fixture(scope="module")
def cached_app() -> Flask:
    return create_app({"TESTING": True})


def test_a_page_saying_its_report_is_pending_has_no_etag_and_is_not_kept(
        cached_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_report() -> Any:
        raise RuntimeError("no report in this test")

    monkeypatch.setattr(conformance, "state", no_report)
    client = cached_app.test_client()
    for _ in range(2):
        page = client.get("/doc/country/togo", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "ETag" not in page.headers and page.headers["Cache-Control"] == "no-cache"
        assert page.headers.get("Server-Timing") != HIT


def test_the_etag_depends_on_the_scheme(cached_app: Flask) -> None:
    # The service description names the endpoint by scheme and host: two answers, two tags.
    client = cached_app.test_client()
    plain = client.get("/sparql", headers={"Accept": "text/turtle"}, base_url="http://kg.example")
    secure = client.get("/sparql", headers={"Accept": "text/turtle"}, base_url="https://kg.example")
    assert b"http://kg.example/sparql" in plain.data and b"https://kg.example/sparql" in secure.data
    assert plain.headers["ETag"] != secure.headers["ETag"]
    assert secure.headers.get("Server-Timing") != HIT


# --- over HTTP: a kept answer is the answer --------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LiveServer, LiveServer]]:
    """The bundled graph served twice: with the answer cache, and with it off."""
    cached = start_server()
    try:
        uncached = start_server(env={"RABAT_KG_ANSWER_CACHE_MB": "0"})
    except BaseException:
        cached.stop()
        raise
    try:
        for server in (cached, uncached):  # pages are final once the SHACL report is
            deadline = time.monotonic() + 300
            while requests.get(server.url + "/validation.ttl", timeout=60).status_code == 503:
                assert time.monotonic() < deadline, "no validation report"
                time.sleep(0.2)  # (not a busy loop against the server computing it)
        yield cached, uncached
    finally:
        cached.stop()
        uncached.stop()


@pytest.mark.parametrize(("path", "headers"), REQUESTS)
def test_a_repeated_request_is_answered_from_the_cache_with_the_same_answer(
        servers: tuple[LiveServer, LiveServer], path: str, headers: dict[str, str]) -> None:
    cached, uncached = servers
    headers = {**headers, "Host": "kg.example"}  # the same Host: the same tags and links
    answers = [raw_get(cached.url, path, headers) for _ in range(3)]
    fresh = [raw_get(uncached.url, path, headers) for _ in range(2)]
    assert [status for status, _, _ in answers + fresh] == [200] * 5
    timings = [h.get("server-timing") for _, h, _ in answers]
    assert timings[0] != HIT and timings[1:] == [HIT, HIT]
    assert all(h.get("server-timing") != HIT for _, h, _ in fresh)
    expected_headers = {k: v for k, v in fresh[0][1].items() if k not in PER_REQUEST}
    for _, got_headers, body in answers:
        assert {k: v for k, v in got_headers.items() if k not in PER_REQUEST} == expected_headers
        assert body == fresh[0][2]
    # A client that holds the answer still gets 304, not the kept body.
    tag = answers[0][1]["etag"]
    status, _, body = raw_get(cached.url, path, {**headers, "If-None-Match": tag})
    assert status == 304 and body == b""


def test_errors_and_posts_are_never_answered_from_the_cache(servers: tuple[LiveServer, LiveServer]) -> None:
    cached, _ = servers
    for _ in range(2):
        error = requests.get(cached.url + "/sparql", params={"query": "SELEC"}, timeout=30)
        assert error.status_code == 400 and error.headers.get("Server-Timing") != HIT
        post = requests.post(cached.url + "/sparql", data={"query": LABELS}, timeout=30)
        assert post.status_code == 200 and post.headers["Server-Timing"].startswith("engine;dur=")
