"""The query editor in headless Chromium: YASGUI runs queries against this server, offline.

Every request the page makes is recorded (Resource Timing, and any CSP violation): all of
them must stay on the server's origin, and none may be blocked by the Content-Security-Policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.browser

RECORDER = """
window.__kgViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__kgViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from tests.browser import chromium

    with chromium() as browser:
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
        yield browser


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def open_editor(driver: Any, base_url: str, lang: str = "en") -> None:
    driver.get(f"{base_url}/sparql?lang={lang}")
    wait_for(lambda: driver.execute_script(
        "return !!(window.kgYasgui && window.kgYasgui.getTab() && window.kgYasgui.getTab().getYasqe())"),
        what="YASGUI to start")


def run_in_editor(driver: Any, query: str) -> None:
    from selenium.webdriver.common.by import By

    driver.execute_script("window.kgYasgui.getTab().getYasqe().setValue(arguments[0]);", query)
    driver.find_element(By.CSS_SELECTOR, ".tabPanel.active .yasqe_queryButton").click()


def table_cells(driver: Any) -> list[str]:
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll('.tabPanel.active .yasr table tbody td'))"
        ".map(function (td) { return td.innerText; });"))


def requests_made(driver: Any) -> list[str]:
    return list(driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"))


def assert_offline_and_clean(driver: Any, base_url: str) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    made = requests_made(driver)
    assert made, "the page made no request at all"
    outside = [url for url in made if not url.startswith(origin) and not url.startswith(("data:", "blob:"))]
    assert outside == [], f"requests left the origin: {outside}"
    violations = driver.execute_script("return window.__kgViolations;")
    assert violations == [], f"CSP violations: {json.dumps(violations)}"


def test_run_a_query_in_the_editor(driver: Any, base_url: str, artifacts: Path) -> None:
    expected = requests.get(base_url + "/sparql", timeout=30, params={
        "query": "SELECT (COUNT(*) AS ?triples) WHERE { ?s ?p ?o }"}).json()
    count = expected["results"]["bindings"][0]["triples"]["value"]
    open_editor(driver, base_url)
    run_in_editor(driver, "SELECT (COUNT(*) AS ?triples) WHERE { ?s ?p ?o }")
    cells = wait_for(lambda: [c for c in table_cells(driver) if count in c], what="the result table")
    assert cells
    driver.execute_script("document.getElementById('kg-yasgui').scrollIntoView();")
    driver.save_screenshot(str(artifacts / "editor.png"))
    assert_offline_and_clean(driver, base_url)
    made = requests_made(driver)
    assert any(url.endswith("/sparql") for url in made)  # the query went to this server
    assert any("/sparql/vocabulary.json" in url for url in made)


def test_stored_queries_are_ready_examples(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    listed = requests.get(base_url + "/queries", headers={"Accept": "application/json"},
                          timeout=30).json()["queries"]
    if not listed:
        pytest.fail("no stored query to offer as an example")
    open_editor(driver, base_url)
    driver.find_element(By.CSS_SELECTOR, "details.examples > summary").click()
    buttons = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#kg-examples button.example"),
                       what="the example list")
    assert [b.get_attribute("data-query") for b in buttons] == [q["name"] for q in listed]
    first = listed[0]
    buttons[0].click()
    wait_for(lambda: driver.execute_script(
        "return window.kgYasgui.getTab().getName() === arguments[0];", first["name"]),
        what="the example tab")
    text = driver.execute_script("return window.kgYasgui.getTab().getYasqe().getValue();")
    source = requests.get(f"{base_url}/queries/{first['name']}.rq", timeout=30,
                          params=first["examples"][0]["values"] if first["examples"] else {}).text
    assert text == source
    assert_offline_and_clean(driver, base_url)


def test_a_syntax_error_is_shown_with_line_and_column(driver: Any, base_url: str, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    open_editor(driver, base_url)
    run_in_editor(driver, "SELECT * WHERE {\n  ?s ?p ?o ?extra .\n}")
    box = wait_for(lambda: next((e for e in driver.find_elements(By.ID, "kg-query-error")
                                 if e.is_displayed()), None), what="the error message")
    assert box.get_attribute("data-line") == "2"
    assert "2" in box.text
    marks = driver.find_elements(By.CSS_SELECTOR, ".tabPanel.active .CodeMirror .kg-error-mark")
    assert marks, "the error position is not marked in the editor"
    driver.execute_script("document.getElementById('kg-query-error').scrollIntoView();")
    driver.save_screenshot(str(artifacts / "editor-error.png"))
    assert_offline_and_clean(driver, base_url)


def test_autocompletion_offers_the_graphs_own_classes(driver: Any, base_url: str) -> None:
    vocabulary = requests.get(base_url + "/sparql/vocabulary.json", timeout=30).json()
    ours = [c["iri"] for c in vocabulary["classes"] if c["iri"].startswith("https://w3id.org/rabat-kg/def/")]
    assert ours, "the vocabulary has no class of the graph's own ontology"
    local = ours[0].rsplit("/", 1)[1]
    open_editor(driver, base_url)
    driver.execute_script(
        "var y = window.kgYasgui.getTab().getYasqe();"
        "y.setValue('PREFIX kg: <https://w3id.org/rabat-kg/def/>\\nSELECT * WHERE { ?x a kg:' + "
        "arguments[0].slice(0, 2));"
        "y.focus(); y.setCursor(y.lineCount() - 1, y.getLine(y.lineCount() - 1).length);"
        "y.autocomplete();", local)
    hints = wait_for(lambda: driver.execute_script(
        "return Array.from(document.querySelectorAll('.CodeMirror-hint')).map(function (e) {"
        " return e.innerText; });"), what="completion hints")
    assert f"kg:{local}" in hints
    assert_offline_and_clean(driver, base_url)


def test_the_editor_page_in_french(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    open_editor(driver, base_url, lang="fr")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Éditeur de requêtes SPARQL"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"


def test_open_in_editor_links_fill_the_editor(driver: Any, base_url: str) -> None:
    """`/sparql#query=...` (the stored-query list's "open in the editor") opens that query."""
    listed = requests.get(base_url + "/queries", headers={"Accept": "application/json"},
                          timeout=30).json()["queries"]
    query = listed[-1]
    driver.get("about:blank")
    driver.get(base_url + query["links"]["editor"])
    wait_for(lambda: driver.execute_script(
        "return !!(window.kgYasgui && window.kgYasgui.getTab() && window.kgYasgui.getTab().getYasqe())"),
        what="YASGUI to start")
    text = driver.execute_script("return window.kgYasgui.getTab().getYasqe().getValue();")
    params = query["examples"][0]["values"] if query["examples"] else {}
    expected = requests.get(f"{base_url}/queries/{query['name']}.rq", params=params, timeout=30).text
    assert text == expected
    assert_offline_and_clean(driver, base_url)
