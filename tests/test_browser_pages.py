"""Headless Chromium on the real server: the home page, an entity page in English and French, and
a reader going from the home page to an activity and its quote. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import chromium

pytestmark = pytest.mark.browser

TOGO = "/id/country/togo"


def test_home_page(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en") as d:
        d.get(base_url + "/")
        assert d.find_element(By.TAG_NAME, "h1").text == "Rabat Process Knowledge Graph"
        cards = d.find_elements(By.CSS_SELECTOR, "#covers a.card")
        assert len(cards) > 5
        assert d.find_element(By.CSS_SELECTOR, "form.search input[type=search]").is_displayed()
        d.save_screenshot(str(artifacts / "home.png"))


def test_entity_page_in_english_and_french(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en", height=1400) as d:
        d.get(base_url + TOGO)
        assert d.current_url.endswith("/doc/country/togo")
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        assert d.find_element(By.ID, "title").text == "Togo"
        button = d.find_element(By.CSS_SELECTOR, "button.copy")
        assert button.is_displayed()  # site.js shows it (hidden without JavaScript)
        assert button.get_attribute("data-copy") == "https://w3id.org/rabat-kg/id/country/togo"
        assert d.find_element(By.ID, "timeline").is_displayed()
        assert d.find_element(By.CSS_SELECTOR, "#download a").text == "Turtle"
        d.save_screenshot(str(artifacts / "entity-en.png"))
    with chromium(lang="fr", height=1400) as d:
        d.get(base_url + TOGO)
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        assert d.find_element(By.CSS_SELECTOR, "#statements h2").text == "Affirmations"
        assert d.find_element(By.CSS_SELECTOR, "#timeline h2").text == "Chronologie"
        d.save_screenshot(str(artifacts / "entity-fr.png"))


def test_from_home_to_an_activity_and_its_quote(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en", height=2000) as d:
        wait = WebDriverWait(d, 15)
        d.get(base_url + "/")
        d.find_element(By.XPATH, "//a[contains(@class,'card')][strong[text()='Activity']]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.results a")))
        first = d.find_element(By.CSS_SELECTOR, "ol.results a")
        name = first.text
        first.click()
        wait.until(ec.presence_of_element_located((By.ID, "provenance")))
        assert d.find_element(By.ID, "title").text == name
        quote = d.find_element(By.CSS_SELECTOR, "#provenance blockquote.quote")
        assert quote.text.strip()
        source = d.find_element(By.CSS_SELECTOR, "#provenance a.source")
        assert source.get_attribute("href").startswith(base_url + "/id/document/")
        marker = d.find_element(By.CSS_SELECTOR, "a.quote-ref")
        marker.click()  # the [n] next to a statement jumps to its quote
        assert d.current_url.split("#", 1)[1] == marker.get_attribute("href").split("#", 1)[1]
        d.execute_script("window.scrollTo(0, 0)")  # the activity's title and its quotes together
        d.save_screenshot(str(artifacts / "activity-provenance.png"))


def test_open_the_query_behind_a_page_in_the_editor(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en", height=1300) as d:
        d.get(base_url + TOGO)
        d.find_element(By.ID, "open-in-editor").click()
        WebDriverWait(d, 20).until(lambda drv: drv.execute_script(
            "var cm = document.querySelector('.CodeMirror');"
            "return cm && cm.CodeMirror && cm.CodeMirror.getValue().length > 0;"))
        text = d.execute_script("return document.querySelector('.CodeMirror').CodeMirror.getValue();")
        assert "CONSTRUCT" in text and "<https://w3id.org/rabat-kg/id/country/togo>" in text
        d.save_screenshot(str(artifacts / "entity-query.png"))


def _map_state(d: object) -> dict[str, Any]:
    """What the browser drew: the map's size, and each marked country's fill and box."""
    return d.execute_script(  # type: ignore[attr-defined, no-any-return]
        "var svg = document.querySelector('svg.worldmap'); if (!svg) return null;"
        "var r = svg.getBoundingClientRect();"
        "var marked = {};"
        "svg.querySelectorAll('[data-code]').forEach(function (el) {"
        "  var b = el.getBoundingClientRect();"
        "  marked[el.getAttribute('data-code')] = {fill: getComputedStyle(el).fill,"
        "    w: b.width, h: b.height, cls: el.getAttribute('class')}; });"
        "return {w: r.width, h: r.height, marked: marked,"
        "  land: svg.querySelectorAll('path.land').length};")


def test_home_map_shows_partners_and_reference_countries(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en", height=1600) as d:
        d.get(base_url + "/")
        state = _map_state(d)
        assert state is not None and state["w"] > 600 and state["h"] > 300
        marked = state["marked"]
        assert isinstance(marked, dict)
        # Togo (768) is a partner and a reference country; Algeria (012) an observer
        assert "reference" in marked["768"]["cls"] and "partner" in marked["768"]["cls"]
        assert "observer" in marked["012"]["cls"]
        fills = {marked[c]["fill"] for c in ("768", "012")}
        assert len(fills) == 2 and all(f.startswith("rgb(") for f in fills)
        assert marked["768"]["w"] > 5 and marked["768"]["h"] > 5  # drawn, at a visible size
        assert state["land"] > 20  # the other countries, for context
        assert d.find_element(By.ID, "reference-countries").text.count("Domain") == 5
        d.execute_script("document.getElementById('map').scrollIntoView()")
        d.save_screenshot(str(artifacts / "home-map.png"))


def test_country_page_map_highlights_the_country(base_url: str, artifacts: Path) -> None:
    with chromium(lang="fr", height=1400) as d:
        d.get(base_url + TOGO)
        state = _map_state(d)
        assert state is not None
        marked = state["marked"]
        assert isinstance(marked, dict)
        assert "focus" in marked["768"]["cls"]
        assert [c for c, m in marked.items() if "focus" in m["cls"]] == ["768"]
        assert marked["768"]["fill"] != marked["120"]["fill"]  # Cameroon: another reference country
        activities = d.find_element(By.ID, "map-activities")
        assert activities.find_elements(By.TAG_NAME, "a")
        d.execute_script("document.getElementById('map').scrollIntoView()")
        d.save_screenshot(str(artifacts / "country-map-fr.png"))


def test_ontology_page_diagram_and_contents(base_url: str, artifacts: Path) -> None:
    with chromium(lang="en", height=1400) as d:
        d.get(base_url + "/ontology")
        boxes = d.execute_script(
            "return Array.from(document.querySelectorAll('svg.diagram g.class')).map(function (g) {"
            "  var b = g.getBoundingClientRect();"
            "  return [g.getAttribute('data-name'), b.width, b.height]; });")
        assert len(boxes) >= 10 and all(w > 20 and h > 10 for _, w, h in boxes)
        assert "Country" in [b[0] for b in boxes]
        # the contents: the class list and the property list each keep to their own block
        classes = d.find_element(By.ID, "toc-classes").rect
        props = d.find_element(By.ID, "toc-properties").rect
        assert classes["x"] + classes["width"] <= props["x"] + 1
        for li in d.find_elements(By.CSS_SELECTOR, "#toc-classes li"):
            r = li.rect
            assert classes["x"] - 1 <= r["x"] and r["x"] + r["width"] <= classes["x"] + classes["width"] + 1
        d.save_screenshot(str(artifacts / "ontology-top.png"))
        d.execute_script("document.getElementById('diagram').scrollIntoView()")
        d.save_screenshot(str(artifacts / "ontology-diagram.png"))
