"""Pages and routes are safe with hostile data and hostile requests: every value escaped, only
http(s) links, no open redirect, no file reachable by path, no header injection. Served from
tests/fixtures/pages-unsafe.ttl (plus a generated country with 600 incoming links) with
`rabat-kg serve --data`, so the checks do not depend on the bundled data being well-behaved."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from rdflib import Graph, URIRef

from graph.namespaces import ID, KG
from tests.serverproc import LiveServer, start_server
from tests.test_pages import Page

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pages-unsafe.ttl"
BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"
CAP_LINKS = 600


@pytest.fixture(scope="module")
def unsafe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server on the hostile fixture, validation on load off (it does not conform)."""
    extra = tmp_path_factory.mktemp("pages") / "cap.nt"
    lines = [f"<{ID}country/cap-land> <http://www.w3.org/2000/01/rdf-schema#label> \"Cap land\"@en ."]
    for i in range(CAP_LINKS):
        act = f"<{ID}activity/cap-{i:04d}>"
        lines.append(f"{act} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{KG}Activity> .")
        lines.append(f"{act} <{KG}country> <{ID}country/cap-land> .")
    extra.write_text("\n".join(lines) + "\n")
    server = start_server(["--data", str(FIXTURE), str(extra)],
                          env={"RABAT_KG_VALIDATE_ON_START": "false"})
    yield server
    server.stop()


def html(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers={"Accept": BROWSER, **headers}, timeout=30)


RAW = re.compile(r"<script>alert|<img src=x|<b>bold</b>|<i>title</i>")


@pytest.mark.parametrize("path", ["/id/country/xss-land", "/id/country/xss-land?lang=fr",
                                  "/id/activity/xss-activity", "/id/quote/xss-quote",
                                  "/id/document/xss-document", "/search?q=script", "/search?q=%3Cb%3E",
                                  "/search?class=Country", "/validation", "/"])
def test_markup_in_data_is_shown_as_text(unsafe: LiveServer, path: str) -> None:
    r = html(unsafe.url + path)
    assert r.status_code == 200, r.text[:500]
    assert not RAW.search(r.text), RAW.search(r.text)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    page = Page(r.text)
    assert all(s.get("src") == "/static/site.js" for s in page.scripts) and len(page.scripts) == 1
    for href in page.hrefs():
        assert href.startswith(("/", "#", "http://", "https://")), href


def test_label_with_markup_is_escaped_in_title_and_heading(unsafe: LiveServer) -> None:
    r = html(unsafe.url + "/id/country/xss-land")
    page = Page(r.text)
    assert page.ids["title"] == "<script>alert('xss-label')</script>"  # the text, shown as text
    assert "&lt;script&gt;alert(&#39;xss-label&#39;)&lt;/script&gt;" in r.text
    fr = Page(html(unsafe.url + "/id/country/xss-land?lang=fr").text)
    assert fr.ids["title"] == "Pays <img src=x onerror=alert('xss-fr')>"


def test_only_http_links_become_links(unsafe: LiveServer) -> None:
    r = html(unsafe.url + "/id/country/xss-land")
    assert 'href="javascript:' not in r.text and 'href="data:' not in r.text
    page = Page(r.text)
    assert "https://example.org/safe-link" in page.hrefs()
    assert "javascript:alert(&#39;xss-url&#39;)" in r.text  # the literal is still shown, as text
    assert "javascript:alert(&#39;xss-iri&#39;)" in r.text


def test_quote_text_with_markup_is_escaped(unsafe: LiveServer) -> None:
    page = Page(html(unsafe.url + "/id/activity/xss-activity").text)
    assert "<script>alert('xss-exact')</script> words of the source" in page.ids["provenance"]
    assert "/id/document/xss-document" in page.hrefs()


def test_label_fallback_is_shown(unsafe: LiveServer) -> None:
    r = html(unsafe.url + "/id/domain/only-french?lang=en")
    page = Page(r.text)
    assert page.ids["title"] == "Seulement en français"
    assert "French" in page.ids["label-fallback"] and "English" in page.ids["label-fallback"]
    r = html(unsafe.url + "/id/domain/no-label")
    page = Page(r.text)
    assert page.ids["title"] == "domain:no-label" and page.ids["label-fallback"]


def test_incoming_links_are_capped_and_say_so(unsafe: LiveServer) -> None:
    r = requests.get(unsafe.url + "/doc/country/cap-land.ttl", timeout=30)
    g = Graph().parse(data=r.content, format="turtle")
    links = list(g.subjects(URIRef(f"{KG}country"), URIRef(f"{ID}country/cap-land")))
    assert len(links) == 500
    assert f"capped: 500 of {CAP_LINKS}" in r.text
    page = Page(html(unsafe.url + "/id/country/cap-land").text)
    assert f"country ({CAP_LINKS})" in page.ids["incoming"]
    assert "capped" in page.ids["incoming"]


def test_shacl_conformance_of_an_entity_and_the_report(unsafe: LiveServer) -> None:
    deadline = time.monotonic() + 120
    while True:  # the report is computed in the background on first use
        r = html(unsafe.url + "/validation")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        assert r.status_code == 503 and "Retry-After" in r.headers
        time.sleep(1)
    assert r.status_code == 200
    page = Page(r.text)
    assert "✗" in page.ids["verdict"]
    assert "/id/country/xss-land" in page.hrefs()
    entity = Page(html(unsafe.url + "/id/country/xss-land").text)
    assert "✗" in entity.ids["conformance"]
    assert entity.ids["shacl"]
    ttl = requests.get(unsafe.url + "/validation.ttl", timeout=30)
    assert "sh:conforms false" in ttl.text or "conforms> false" in ttl.text


# --- Requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/id//evil.example", "/id/%2F%2Fevil.example", "/id/%2F%2Fevil.example/x",
                                  "//evil.example/id/country/xss-land", "/doc//evil.example",
                                  "/id/country/%2F%2Fevil.example", "/id/country/xss-land?next=https://evil.example",
                                  "/def//evil.example", "/id/country/xss-land/"])
@pytest.mark.parametrize("host", [None, "evil.example"])
def test_no_open_redirect(unsafe: LiveServer, path: str, host: str | None) -> None:
    headers = {"Accept": BROWSER}
    if host:
        headers["Host"] = host
    r = requests.get(unsafe.url + path, headers=headers, allow_redirects=False, timeout=30)
    assert r.status_code < 500
    location = r.headers.get("Location")
    if location is not None:
        parts = urlsplit(location)
        assert not parts.netloc or parts.netloc == urlsplit(unsafe.url).netloc, location
        assert not location.startswith("//") and "evil.example" not in location, location


def test_303_location_is_a_local_path_whatever_the_host(unsafe: LiveServer) -> None:
    r = requests.get(unsafe.url + "/id/country/xss-land",
                     headers={"Host": "evil.example", "Accept": "text/turtle"},
                     allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/doc/country/xss-land.ttl"


@pytest.mark.parametrize("path", ["/static/../server/pages.py", "/static/..%2fpages.py",
                                  "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2F..%2Fpyproject.toml",
                                  "/doc/country/..%2F..%2Fpyproject.toml", "/doc/country/xss-land.ttl%2F..",
                                  "/ontology.%2e%2e%2fpyproject.toml", "/shapes.ttl%00", "/validation.nt",
                                  "/id/country/xss-land%3E%20%3Fp%20%3Fo", "/static/style.css%00.py"])
def test_paths_do_not_reach_files(unsafe: LiveServer, path: str) -> None:
    r = requests.get(unsafe.url + path, timeout=30)
    assert r.status_code == 404, (path, r.status_code)
    assert "rabat-kg" not in r.text or "[project]" not in r.text


def test_static_files_are_served(unsafe: LiveServer) -> None:
    css = requests.get(unsafe.url + "/static/style.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    js = requests.get(unsafe.url + "/static/site.js", timeout=30)
    assert js.status_code == 200 and "data-copy" in js.text


@pytest.mark.parametrize("path", ["/id/country/xss-land%0d%0aSet-Cookie:x=1",
                                  "/id/country/x?lang=fr%0d%0aSet-Cookie:x=1",
                                  "/search?q=a%0d%0aSet-Cookie:x=1",
                                  "/doc/country/xss-land?lang=%0d%0aX-Evil:1"])
def test_no_header_injection(unsafe: LiveServer, path: str) -> None:
    r = requests.get(unsafe.url + path, headers={"Accept": BROWSER}, allow_redirects=False, timeout=30)
    assert r.status_code in (200, 303, 400, 404)
    assert "Set-Cookie" not in r.headers and "X-Evil" not in r.headers


def test_error_pages_do_not_reflect_markup(unsafe: LiveServer) -> None:
    r = html(unsafe.url + "/id/country/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status_code == 404 and "<script>alert(1)" not in r.text
    r = html(unsafe.url + "/search?class=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status_code == 400 and "<script>alert(1)" not in r.text


def test_validation_page_when_the_graph_is_too_large_for_live_validation() -> None:
    server = start_server(["--data", str(FIXTURE)], env={"RABAT_KG_VALIDATE_ON_START": "false",
                                                         "RABAT_KG_LIVE_VALIDATION_MAX_TRIPLES": "10"})
    try:
        r = html(server.url + "/validation")
        assert r.status_code == 200
        assert "live validation is not run on graphs of more than 10 triples" in r.text
        assert requests.get(server.url + "/validation.ttl", timeout=30).status_code == 404
        entity = Page(html(server.url + "/id/country/xss-land").text)
        assert "…" not in entity.ids["conformance"] and "✓" not in entity.ids["conformance"]
    finally:
        server.stop()
