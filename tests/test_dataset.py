"""The dataset description (VoID + DCAT at /.well-known/void), the dumps and /health, over HTTP.
The counts in the description are checked against the dumps, which are checked against /health."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, VOID
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from graph.namespaces import ID, KG
from tests.browser import chromium

DATASET = URIRef("https://w3id.org/rabat-kg/dataset")
CC_BY = URIRef("https://creativecommons.org/licenses/by/4.0/")
DUMPS = {"/dump.ttl": ("text/turtle", "turtle"), "/dump.nt": ("application/n-triples", "nt"),
         "/dump.jsonld": ("application/ld+json", "json-ld")}


@pytest.fixture(scope="module")
def void(base_url: str) -> Graph:
    r = requests.get(f"{base_url}/.well-known/void", timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle")
    return Graph().parse(data=r.content, format="turtle")


def health(base_url: str) -> dict[str, object]:
    r = requests.get(f"{base_url}/health", timeout=30)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_health_runs_a_real_query(base_url: str) -> None:
    doc = health(base_url)
    assert doc["status"] == "ok" and isinstance(doc["triples"], int) and doc["triples"] > 1000
    assert doc["version"]


def test_void_describes_the_dataset(base_url: str, void: Graph) -> None:
    doc = health(base_url)
    assert (DATASET, RDF.type, VOID.Dataset) in void and (DATASET, RDF.type, DCAT.Dataset) in void
    assert void.value(DATASET, VOID.triples).toPython() == doc["triples"]
    assert str(void.value(DATASET, VOID.uriSpace)) == ID
    assert void.value(DATASET, DCTERMS.license) == CC_BY
    assert void.value(DATASET, VOID.sparqlEndpoint) == URIRef(f"{base_url}/sparql")
    assert URIRef(str(KG)) in set(void.objects(DATASET, VOID.vocabulary))
    assert str(void.value(DATASET, URIRef(str(DCAT) + "version"))) == doc["version"]
    assert void.value(DATASET, DCTERMS.modified) is not None
    titles = {t.language for t in void.objects(DATASET, DCTERMS.title) if isinstance(t, Literal)}
    assert titles == {"en", "fr"}
    dumps = {str(u) for u in void.objects(DATASET, VOID.dataDump)}
    assert dumps == {f"{base_url}{p}" for p in DUMPS}
    for dist in void.objects(DATASET, DCAT.distribution):
        if (dist, DCAT.downloadURL, None) in void:
            url = str(void.value(dist, DCAT.downloadURL))
            media = DUMPS["/" + url.rsplit("/", 1)[-1]][0]
            assert str(void.value(dist, DCAT.mediaType)).endswith(media)
            assert void.value(dist, DCTERMS.license) == CC_BY


def test_partitions_add_up(base_url: str, void: Graph) -> None:
    nt = requests.get(f"{base_url}/dump.nt", timeout=60)
    g = Graph().parse(data=nt.content, format="nt")
    props = {void.value(p, VOID.property): void.value(p, VOID.triples).toPython()
             for p in void.objects(DATASET, VOID.propertyPartition)}
    assert props == dict(Counter(p for _, p, _ in g))
    classes = {void.value(p, VOID["class"]): void.value(p, VOID.entities).toPython()
               for p in void.objects(DATASET, VOID.classPartition)}
    expected = Counter(o for s, o in set(g.subject_objects(RDF.type)))
    assert classes == dict(expected)
    assert void.value(DATASET, VOID.classes).toPython() == len(expected)


@pytest.mark.parametrize("path", sorted(DUMPS))
def test_dumps_are_the_whole_graph(base_url: str, path: str) -> None:
    media, fmt = DUMPS[path]
    r = requests.get(base_url + path, timeout=120)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(media)
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and f"rabat-kg.{path.rsplit('.', 1)[-1]}" in disposition
    g = Graph().parse(data=r.content, format=fmt)
    assert len(g) == health(base_url)["triples"]
    again = requests.get(base_url + path, headers={"If-None-Match": r.headers["ETag"]}, timeout=60)
    assert again.status_code == 304


def test_void_by_conneg(base_url: str) -> None:
    r = requests.get(f"{base_url}/.well-known/void", headers={"Accept": "application/ld+json"}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/ld+json")
    g = Graph().parse(data=r.content, format="json-ld")
    assert (DATASET, RDF.type, VOID.Dataset) in g
    assert requests.get(f"{base_url}/.well-known/void", headers={"Accept": "image/png"},
                        timeout=30).status_code == 406


def test_dataset_iri_redirects_to_its_description(base_url: str) -> None:
    r = requests.get(f"{base_url}/dataset", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/.well-known/void"


@pytest.mark.parametrize("path", ["/dump.xml", "/dump.ttl.bak", "/dump.", "/dump.%2e%2e%2fetc%2fpasswd",
                                  "/dump..%2F..%2Fpyproject.toml", "/dump.ttl%0d%0aSet-Cookie:x=1"])
def test_other_dump_names_are_404(base_url: str, path: str) -> None:
    r = requests.get(base_url + path, timeout=30)
    assert r.status_code == 404
    assert "Set-Cookie" not in r.headers


def test_home_links_the_description(base_url: str) -> None:
    r = requests.get(f"{base_url}/", headers={"Accept": "text/html"}, timeout=30)
    assert 'href="/.well-known/void"' in r.text
    for path in DUMPS:
        assert f'href="{path}"' in r.text


# --- the same description for people -------------------------------------------------------------

CHROMIUM_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                   "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")


@pytest.mark.parametrize("path", ["/.well-known/void", "/dataset"])
def test_a_browser_gets_the_description_as_a_page(base_url: str, void: Graph, path: str) -> None:
    r = requests.get(base_url + path, headers={"Accept": CHROMIUM_ACCEPT}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "Accept" in r.headers["Vary"]
    doc = health(base_url)
    page = r.text
    assert "<h1>Rabat Process knowledge graph</h1>" in page
    assert f'rel="license" href="{CC_BY}"' in page
    assert f"<code>{doc['version']}</code>" in page
    assert f'<td class="num">{doc["triples"]}</td>' in page  # the count the VoID says
    assert f'<td class="num">{void.value(DATASET, VOID.entities)}</td>' in page
    for dump in DUMPS:
        assert f'href="{dump}"' in page
    assert 'href="/sparql' in page
    for key in ("ttl", "jsonld", "nt", "rdf"):
        assert f'href="/.well-known/void?format={key}"' in page
    country = void.value(next(p for p in void.objects(DATASET, VOID.classPartition)
                              if void.value(p, VOID["class"]) == KG.Country), VOID.entities)
    assert f'href="/ontology#Country" title="{KG.Country}">Country</a></td><td class="num">{country}<' in page


def test_the_page_in_french(base_url: str) -> None:
    r = requests.get(base_url + "/.well-known/void", headers={"Accept": CHROMIUM_ACCEPT,
                                                               "Accept-Language": "fr"}, timeout=60)
    assert r.headers["Content-Language"] == "fr"
    assert "<h1>Graphe de connaissances du Processus de Rabat</h1>" in r.text


def test_rdf_clients_keep_the_rdf(base_url: str) -> None:
    for accept, media in (("text/turtle", "text/turtle"), ("application/rdf+xml", "application/rdf+xml"),
                          ("application/xml", "application/rdf+xml"), ("*/*", "text/turtle"),
                          ("text/turtle, text/html", "text/turtle")):
        r = requests.get(base_url + "/.well-known/void", headers={"Accept": accept}, timeout=60)
        assert r.headers["Content-Type"].startswith(media), accept
    for key, fmt in (("ttl", "turtle"), ("rdf", "xml"), ("nt", "nt"), ("jsonld", "json-ld")):
        r = requests.get(base_url + "/.well-known/void", params={"format": key},
                         headers={"Accept": CHROMIUM_ACCEPT}, timeout=60)
        assert (DATASET, RDF.type, VOID.Dataset) in Graph().parse(data=r.content, format=fmt)
    r = requests.get(f"{base_url}/dataset", headers={"Accept": "text/turtle"}, allow_redirects=False,
                     timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/.well-known/void"


@pytest.mark.browser
def test_the_home_page_link_opens_the_page_in_chromium(base_url: str, artifacts: Path) -> None:
    """The home page's "Dataset description" link shows a page (it downloaded void.rdf before)."""
    with chromium(lang="en", height=1400) as d:
        d.get(base_url + "/")
        d.find_element(By.CSS_SELECTOR, '#tools a[href="/.well-known/void"]').click()
        WebDriverWait(d, 15).until(lambda drv: drv.current_url.endswith("/.well-known/void"))
        assert d.find_element(By.TAG_NAME, "h1").text == "Rabat Process knowledge graph"
        assert d.find_element(By.CSS_SELECTOR, 'a[rel="license"]').text == "CC BY 4.0"
        assert len(d.find_elements(By.CSS_SELECTOR, "#classes + table tbody tr")) > 5
        d.save_screenshot(str(artifacts / "dataset.png"))
