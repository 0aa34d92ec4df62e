"""Stored queries in a browser, over real HTTP: `/queries/{name}` answers a page (question, form
with pickers, answer table, downloads) to Chromium's Accept header, while programs keep the
result formats; then the same in headless Chromium, with a screenshot in tests/artifacts/.

The fixture server (tests/fixtures: two countries, two activities) gives known answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import chromium
from tests.serverproc import LiveServer

# What Chromium sends for a navigation: text/html first, but application/xml at 0.9 too.
CHROMIUM_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                   "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
ID = "https://w3id.org/rabat-kg/id/"


class Page(HTMLParser):
    """The parts of a page the tests read: selects and their options, table cells, links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.options: dict[str, list[tuple[str, str, bool]]] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.links: list[tuple[str, str]] = []
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._select: str | None = None
        self._option: tuple[str, bool] | None = None
        self._href: str | None = None
        self._text: list[str] = []
        self._cell: list[str] | None = None
        self._in_results = False
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "select":
            self._select = a.get("name") or ""
            self.options[self._select] = []
        elif tag == "option":
            self._option = (a.get("value") or "", "selected" in a)
            self._text = []
        elif tag == "input" and a.get("name"):
            self.inputs[str(a["name"])] = a
        elif tag == "a":
            self._href = a.get("href") or ""
            self._text = []
        elif tag == "table" and "results" in (a.get("class") or ""):
            self._in_results = True
        elif self._in_results and tag == "thead":
            self._in_head = True
        elif self._in_results and tag == "tr" and not self._in_head:
            self.rows.append([])
        elif self._in_results and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "option" and self._select is not None and self._option is not None:
            self.options[self._select].append((self._option[0], "".join(self._text).strip(),
                                               self._option[1]))
            self._option = None
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None
        elif tag == "table":
            self._in_results = False
        elif tag == "thead":
            self._in_head = False
        elif self._in_results and tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._in_head:
                self.headers.append(text)
            else:
                self.rows[-1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def browse(server: LiveServer, path: str, **params: str) -> requests.Response:
    return requests.get(server.url + path, params=params, headers={"Accept": CHROMIUM_ACCEPT},
                        timeout=30)


def page(server: LiveServer, path: str, status: int = 200, **params: str) -> Page:
    response = browse(server, path, **params)
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    return Page(response.text)


def test_a_browser_gets_the_page_with_its_question_form_and_answer(fixture_server: LiveServer) -> None:
    response = browse(fixture_server, "/queries/activities")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert "Accept" in response.headers["Vary"]
    assert "Activities of a country, optionally in one year" in response.text  # the question
    doc = Page(response.text)
    # The country is a picker of the graph's countries, labelled, holding short forms.
    assert doc.options["country"] == [("cameroon", "Cameroon", False), ("togo", "Togo", True)]
    assert [v for v, _, _ in doc.options["lang"]] == ["en", "fr"]
    assert doc.inputs["year"]["value"] == ""
    # The default (Togo): one activity, linked to its page, labelled (French is all it has).
    assert doc.headers == ["?activity", "?date", "?label"]
    assert len(doc.rows) == 1
    assert ("/id/activity/a1", "Étude <b>pilote</b> & co") in doc.links
    assert "<b>pilote</b>" not in response.text  # escaped, never markup


def test_the_form_values_choose_the_answer(fixture_server: LiveServer) -> None:
    doc = page(fixture_server, "/queries/activities", country="cameroon")
    assert ("cameroon", "Cameroon", True) in doc.options["country"]
    assert ("/id/activity/a2", "Second activity") in doc.links
    assert len(doc.rows) == 1 and doc.rows[0][1].startswith("2022-03")
    assert doc.rows == page(fixture_server, "/queries/activities", country=ID + "country/cameroon").rows
    empty = page(fixture_server, "/queries/activities", country="togo", year="2020")
    assert empty.rows == []


def test_download_links_for_each_format_keep_the_values(fixture_server: LiveServer) -> None:
    doc = page(fixture_server, "/queries/activities", country="cameroon", lang="en")
    downloads = [href for href, _ in doc.links if "format=" in href]
    assert {re.search(r"format=(\w+)", h).group(1) for h in downloads} == {"json", "xml", "csv", "tsv"}  # type: ignore[union-attr]
    for href in downloads:
        assert "country=cameroon" in href and "lang=en" in href
        got = requests.get(fixture_server.url + href, headers={"Accept": CHROMIUM_ACCEPT}, timeout=30)
        assert got.status_code == 200 and not got.headers["Content-Type"].startswith("text/html")
    json_href = next(h for h in downloads if "format=json" in h)
    rows = requests.get(fixture_server.url + json_href, timeout=30).json()["results"]["bindings"]
    assert [r["activity"]["value"] for r in rows] == [ID + "activity/a2"]
    graph = page(fixture_server, "/queries/country-graph")
    graph_formats = {re.search(r"format=(\w+)", h).group(1)  # type: ignore[union-attr]
                     for h, _ in graph.links if "format=" in h}
    assert graph_formats == {"ttl", "jsonld", "nt", "rdf"}


def test_a_graph_answer_is_a_table_of_triples(fixture_server: LiveServer) -> None:
    doc = page(fixture_server, "/queries/country-graph", country="cameroon")
    assert doc.headers == ["Subject", "Predicate", "Object"]
    assert len(doc.rows) == 3  # two labels and one activity, as the Turtle answer has
    assert ("/id/country/cameroon", "Cameroon") in doc.links


def test_programs_keep_the_result_formats(fixture_server: LiveServer) -> None:
    url = fixture_server.url + "/queries/activities"
    for accept, media in (("*/*", "application/sparql-results+json"),
                          ("application/sparql-results+json", "application/sparql-results+json"),
                          ("application/xml", "application/sparql-results+xml"),
                          ("text/csv", "text/csv")):
        got = requests.get(url, headers={"Accept": accept}, timeout=30)
        assert got.headers["Content-Type"].startswith(media), accept
    assert requests.get(url, timeout=30).headers["Content-Type"].startswith(
        "application/sparql-results+json")
    as_xml = requests.get(url, params={"format": "xml"}, headers={"Accept": CHROMIUM_ACCEPT}, timeout=30)
    assert as_xml.headers["Content-Type"].startswith("application/sparql-results+xml")
    as_html = requests.get(url, params={"format": "html"}, timeout=30)
    assert as_html.status_code == 200 and as_html.headers["Content-Type"].startswith("text/html")


def test_a_bad_value_is_a_400_page_naming_the_parameter(fixture_server: LiveServer) -> None:
    response = browse(fixture_server, "/queries/activities", year="٢٠٢١")
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert "parameter &#39;year&#39;" in response.text or "parameter 'year'" in response.text
    assert 'name="year"' in response.text  # the form is still there, to correct the value
    twice = requests.get(fixture_server.url + "/queries/activities?year=2021&year=2022",
                         headers={"Accept": CHROMIUM_ACCEPT}, timeout=30)
    assert twice.status_code == 400


def test_the_language_switch_is_not_a_parameter(fixture_server: LiveServer) -> None:
    """`lang=` from the site's language links is the reader's language where the query has no
    such parameter (the API still refuses names it does not know)."""
    french = browse(fixture_server, "/queries/country-graph", lang="fr")
    assert french.status_code == 200 and french.headers["Content-Language"] == "fr"
    assert "Exécuter la requête" in french.text
    assert 'name="lang" value="fr"' in french.text  # kept when the form is sent
    api = requests.get(fixture_server.url + "/queries/country-graph", params={"lang": "fr"}, timeout=30)
    assert api.status_code == 400


def test_the_list_is_html_to_a_browser_and_links_each_page(fixture_server: LiveServer) -> None:
    doc = page(fixture_server, "/queries")
    hrefs = {href for href, _ in doc.links}
    assert {"/queries/activities", "/queries/typed", "/queries/country-graph"} <= hrefs
    assert requests.get(fixture_server.url + "/queries", timeout=30).headers[
        "Content-Type"].startswith("application/json")


def test_every_bundled_query_has_a_page(base_url: str) -> None:
    listed = requests.get(base_url + "/queries", headers={"Accept": "application/json"},
                          timeout=30).json()["queries"]
    for query in listed:
        response = requests.get(f"{base_url}/queries/{query['name']}",
                                headers={"Accept": CHROMIUM_ACCEPT}, timeout=30)
        assert response.status_code == 200, (query["name"], response.text[:300])
        assert response.headers["Content-Type"].startswith("text/html")
        assert 'id="answer"' in response.text


@pytest.mark.browser
def test_pick_a_country_and_run_in_chromium(fixture_server: LiveServer, artifacts: Path) -> None:
    with chromium(lang="en", height=1100) as d:
        d.get(fixture_server.url + "/queries/activities")
        assert d.find_element(By.ID, "question").text.startswith("Activities of a country")
        picker = Select(d.find_element(By.ID, "param-country"))
        assert [o.text for o in picker.options] == ["Cameroon", "Togo"]
        picker.select_by_visible_text("Cameroon")
        d.find_element(By.CSS_SELECTOR, "#parameters button[type=submit]").click()
        WebDriverWait(d, 15).until(lambda drv: "country=cameroon" in drv.current_url)
        link = d.find_element(By.CSS_SELECTOR, "table.results a")
        assert link.text == "Second activity"
        assert str(link.get_attribute("href")).split("?")[0] == fixture_server.url + "/id/activity/a2"
        formats = [a.text for a in d.find_elements(By.CSS_SELECTOR, "#download a.button")]
        assert formats == ["SPARQL JSON", "SPARQL XML", "CSV", "TSV"]
        d.save_screenshot(str(artifacts / "stored-query.png"))
