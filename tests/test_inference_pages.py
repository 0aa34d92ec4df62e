"""Entity pages show inferred and derived statements as such, with their reasoning and evidence.

Derived statements are never asserted, so their page is the only place a reader meets them; an
inferred statement (Togo's measures, whose block lost its heading) shows its evidence where the
claim appears.
"""

from __future__ import annotations

import re

import requests


def page(url: str, lang: str = "en") -> str:
    r = requests.get(url, params={"lang": lang}, headers={"Accept": "text/html"}, timeout=60)
    assert r.status_code == 200, r.status_code
    return r.text


def section(html: str) -> str:
    m = re.search(r'<section id="inferences">(.*?)</section>', html, re.S)
    assert m, "no inferences section"
    return m.group(1)


def test_a_derived_link_shows_as_derived_with_its_reasoning(base_url: str) -> None:
    html = section(page(f"{base_url}/id/action/3"))
    assert html.count('data-kind="derived"') == 2  # its objective and its domain
    assert "derived, not stated" in html
    assert "per-objective action counts" in html
    map_page = "https://www.rabat-process.org/en/about/rabat-process/marrakesh-declaration-and-action-plan"
    assert f'href="{map_page}"' in html


def test_action_20_shows_a_derived_domain_and_no_objective(base_url: str) -> None:
    full = page(f"{base_url}/id/action/20")
    html = section(full)
    assert html.count('data-kind="derived"') == 1
    assert "/id/quote/action-20-title" in html  # the evidence links to the quote
    assert "/id/objective/9" not in full


def test_a_layout_inference_shows_its_evidence_in_french_too(base_url: str) -> None:
    html = section(page(f"{base_url}/id/activity/togo-diaspora-desk"))
    assert 'data-kind="inferred"' in html and "inferred from the layout" in html
    assert "/id/quote/togo-ofii-framework-agreement" in html
    fr = section(page(f"{base_url}/id/activity/togo-diaspora-desk", "fr"))
    assert "inféré de la mise en page" in fr and "Le document nomme le Cameroun et le Togo" in fr


def test_a_stated_entity_has_no_inference_section(base_url: str) -> None:
    assert 'id="inferences"' not in page(f"{base_url}/id/activity/cameroon-transit-reception-centre")
