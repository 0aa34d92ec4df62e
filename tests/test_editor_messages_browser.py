"""The editor in headless Chromium shows errors in words, marked in place, and hints for empty
answers (issue 17, items 1-3); it also lists the predeclared prefixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_editor_browser import assert_offline_and_clean, driver, open_editor, run_in_editor, wait_for

pytestmark = pytest.mark.browser
__all__ = ["driver"]  # the module-scoped Chromium fixture, shared


def shown(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: next((e for e in driver.find_elements(By.ID, element_id)
                                  if e.is_displayed() and e.text.strip()), None),
                    what=f"#{element_id} to show")


def test_a_misspelled_keyword_is_named_and_marked(driver: Any, base_url: str, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    open_editor(driver, base_url)
    run_in_editor(driver, "SELECT * WHERE {\n  ?s ?p ?o FILTR(?o)\n}")
    box = shown(driver, "kg-query-error")
    assert "did you mean FILTER?" in box.text
    assert box.get_attribute("data-line") == "2"
    assert box.get_attribute("data-column") == "12"
    marks = driver.find_elements(By.CSS_SELECTOR, ".tabPanel.active .CodeMirror .kg-error-mark")
    assert [m.text for m in marks] == ["F"]  # the mark is on the misspelled word
    driver.save_screenshot(str(artifacts / "editor-did-you-mean.png"))
    assert_offline_and_clean(driver, base_url)


def test_an_empty_answer_shows_the_ontology_hint(driver: Any, base_url: str, artifacts: Path) -> None:
    open_editor(driver, base_url)
    run_in_editor(driver, "SELECT ?a WHERE { ?a kg:inCountry ?c }")
    note = shown(driver, "kg-query-hint")
    assert "kg:inCountry is not defined by the ontology" in note.text
    assert "kg:country" in note.text
    driver.save_screenshot(str(artifacts / "editor-hint.png"))
    # A query that finds something clears the note.
    run_in_editor(driver, "SELECT ?c WHERE { ?c a kg:Country } LIMIT 1")
    wait_for(lambda: not driver.execute_script(
        "return document.getElementById('kg-query-hint').hidden === false"), what="the note to go")
    assert_offline_and_clean(driver, base_url)


def test_the_predeclared_prefixes_are_listed(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    open_editor(driver, base_url)
    details = driver.find_element(By.ID, "kg-prefixes")
    details.find_element(By.TAG_NAME, "summary").click()
    assert "kg:" in details.text and "https://w3id.org/rabat-kg/def/" in details.text


def test_predeclared_prefixes_are_not_flagged_by_the_editors_own_check(driver: Any,
                                                                        base_url: str) -> None:
    from selenium.webdriver.common.by import By

    open_editor(driver, base_url)
    yasqe = "window.kgYasgui.getTab().getYasqe()"
    driver.execute_script(f"{yasqe}.setValue(arguments[0]); {yasqe}.checkSyntax();",
                          "SELECT ?c WHERE { ?c a kg:Country ; rdfs:label ?l }")
    gutter = ".tabPanel.active .CodeMirror .gutterErrorBar *"
    assert driver.execute_script(f"return {yasqe}.queryValid") is True
    assert not driver.find_elements(By.CSS_SELECTOR, gutter)
    # An undeclared prefix is still flagged while typing.
    driver.execute_script(f"{yasqe}.setValue(arguments[0]); {yasqe}.checkSyntax();",
                          "SELECT ?c WHERE { ?c a nope:Country }")
    assert driver.execute_script(f"return {yasqe}.queryValid") is False
