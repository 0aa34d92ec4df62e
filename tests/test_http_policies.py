"""HTTP policies over real HTTP: CORS and preflight, gzip, ETag and 304, caching, security headers.

These hooks are app-wide (server/http.py), so they are checked on the endpoint, the stored
queries and plain pages alike (probe 24 of the reliability checklist).
"""

from __future__ import annotations

import gzip
import http.client
from urllib.parse import urlencode, urlsplit

import pytest
import requests

LABELS = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
          "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s STR(?label) LANG(?label) LIMIT 200")
CSP_PARTS = ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'")


def raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A GET with exactly these headers and no transparent decompression."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def query_path(query: str, **params: str) -> str:
    return "/sparql?" + urlencode({"query": query, **params})


# --- CORS ------------------------------------------------------------------------------------


def test_probe_24_preflight(base_url: str) -> None:
    response = requests.options(base_url + "/sparql", timeout=30, headers={
        "Origin": "https://x.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code in (200, 204)
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "GET" in headers["Access-Control-Allow-Methods"]
    assert "content-type" in headers["Access-Control-Allow-Headers"].lower()
    assert "if-none-match" in headers["Access-Control-Allow-Headers"].lower()
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in headers
    assert "Access-Control-Allow-Private-Network" not in headers


@pytest.mark.parametrize("path", ["/sparql?query=ASK%7B%7D", "/queries", "/openapi.json",
                                  "/sparql/vocabulary.json", "/no/such/page"])
def test_cors_on_every_response_without_credentials(base_url: str, path: str) -> None:
    response = requests.get(base_url + path, headers={"Origin": "https://x.example"}, timeout=30)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    exposed = response.headers["Access-Control-Expose-Headers"]
    for name in ("ETag", "Result-Truncated", "Retry-After"):
        assert name in exposed


def test_cors_on_post_results(base_url: str) -> None:
    response = requests.post(base_url + "/sparql", data={"query": "ASK {}"}, timeout=30,
                             headers={"Origin": "https://x.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- security headers ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sparql", "/sparql?query=ASK%7B%7D", "/queries", "/no/such/page"])
def test_security_headers_everywhere(base_url: str, path: str) -> None:
    for accept in ("text/html", "*/*"):
        response = requests.get(base_url + path, headers={"Accept": accept}, timeout=30)
        csp = response.headers["Content-Security-Policy"]
        for part in CSP_PARTS:
            assert part in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]


# --- compression -----------------------------------------------------------------------------


def test_gzip_when_accepted_and_large(base_url: str) -> None:
    path = query_path(LABELS)
    status, headers, body = raw_get(base_url, path, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    plain_status, plain_headers, plain = raw_get(base_url, path, {"Accept-Encoding": "identity"})
    assert plain_status == 200
    assert "content-encoding" not in plain_headers
    assert len(plain) > 1024
    assert gzip.decompress(body) == plain
    assert int(headers["content-length"]) == len(body) < len(plain)
    assert headers["etag"] != plain_headers["etag"]  # a strong ETag per content coding


def test_no_gzip_when_not_accepted_or_small(base_url: str) -> None:
    _, headers, _ = raw_get(base_url, query_path(LABELS), {})
    assert "content-encoding" not in headers
    _, small, body = raw_get(base_url, query_path("ASK {}"), {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small
    assert len(body) < 1024


def test_gzip_is_deterministic(base_url: str) -> None:
    path = query_path(LABELS, format="xml")
    first = raw_get(base_url, path, {"Accept-Encoding": "gzip"})
    second = raw_get(base_url, path, {"Accept-Encoding": "gzip"})
    assert first[2] == second[2]
    assert first[1]["etag"] == second[1]["etag"]


# --- caching ---------------------------------------------------------------------------------


def test_etag_and_304(base_url: str) -> None:
    url = base_url + "/sparql"
    params = {"query": LABELS}
    first = requests.get(url, params=params, timeout=30)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert "Accept" in first.headers["Vary"]
    again = requests.get(url, params=params, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert "max-age" in again.headers["Cache-Control"]
    other = requests.get(url, params=params, headers={"If-None-Match": '"something-else"'}, timeout=30)
    assert other.status_code == 200
    star = requests.get(url, params=params, headers={"If-None-Match": "*"}, timeout=30)
    assert star.status_code == 304


def test_etag_depends_on_the_request_and_representation(base_url: str) -> None:
    url = base_url + "/sparql"
    json_tag = requests.get(url, params={"query": LABELS}, timeout=30).headers["ETag"]
    again = requests.get(url, params={"query": LABELS}, timeout=30).headers["ETag"]
    csv_tag = requests.get(url, params={"query": LABELS}, headers={"Accept": "text/csv"},
                           timeout=30).headers["ETag"]
    other = requests.get(url, params={"query": LABELS + " "}, timeout=30).headers["ETag"]
    assert json_tag == again
    assert len({json_tag, csv_tag, other}) == 3
    # A 304 for one representation is not a 304 for another.
    response = requests.get(url, params={"query": LABELS}, timeout=30,
                            headers={"Accept": "text/csv", "If-None-Match": json_tag})
    assert response.status_code == 200


def test_etag_and_304_on_other_routes(base_url: str) -> None:
    for path, headers in (("/queries", {"Accept": "application/json"}),
                          ("/sparql", {"Accept": "text/turtle"}),
                          ("/sparql", {"Accept": "text/html"}),
                          ("/openapi.json", {})):
        first = requests.get(base_url + path, headers=headers, timeout=30)
        assert first.status_code == 200, path
        etag = first.headers["ETag"]
        assert "Accept" in first.headers["Vary"]
        again = requests.get(base_url + path, headers={**headers, "If-None-Match": etag}, timeout=30)
        assert again.status_code == 304, path


def test_errors_and_posts_are_not_cached(base_url: str) -> None:
    error = requests.get(base_url + "/sparql", params={"query": "SELEC"}, timeout=30)
    assert error.headers["Cache-Control"] == "no-store"
    assert "ETag" not in error.headers
    post = requests.post(base_url + "/sparql", data={"query": "ASK {}"}, timeout=30)
    assert post.headers["Cache-Control"] == "no-store"
    assert "ETag" not in post.headers


def test_html_pages_vary_on_language(base_url: str) -> None:
    english = requests.get(base_url + "/sparql", timeout=30,
                           headers={"Accept": "text/html", "Accept-Language": "en"})
    french = requests.get(base_url + "/sparql", timeout=30,
                          headers={"Accept": "text/html", "Accept-Language": "fr"})
    assert english.headers["Content-Language"] == "en"
    assert french.headers["Content-Language"] == "fr"
    assert "Accept-Language" in english.headers["Vary"]
    assert english.headers["ETag"] != french.headers["ETag"]
    assert "Éditeur" in french.text
