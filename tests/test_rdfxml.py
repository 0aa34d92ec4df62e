"""RDF/XML that is always well-formed (issue 18, item 5), over real HTTP.

Every RDF/XML document the server can be asked for here is parsed with expat: each entity's
data document, the ontology, the shapes, the dataset description, the Service Description,
the stored CONSTRUCT queries with their examples and CONSTRUCT/DESCRIBE queries sent to
/sparql. A CONSTRUCT whose predicate has no XML local name (`<http://b/1>`) cannot be written
as RDF/XML: it answers 406 naming the formats that can carry it, never a broken document.
"""

from __future__ import annotations

from xml.parsers import expat

import pytest
import requests

RDF_XML = "application/rdf+xml"
ID = "https://w3id.org/rabat-kg/id/"


def well_formed(body: bytes, what: str) -> None:
    parser = expat.ParserCreate(namespace_separator=" ")
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise AssertionError(f"{what}: RDF/XML not well-formed ({exc}):\n{body[:600]!r}") from None
    assert b"rdf:RDF" in body or b"RDF" in body[:400], what


def fetch_rdf(url: str, **kwargs: object) -> requests.Response:
    headers = {"Accept": RDF_XML}
    return requests.get(url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def select(base_url: str, query: str) -> list[dict[str, dict[str, str]]]:
    response = requests.post(base_url + "/sparql", data={"query": query}, timeout=60,
                             headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 200, response.text
    return response.json()["results"]["bindings"]  # type: ignore[no-any-return]


def test_every_entity_document_is_well_formed_rdfxml(base_url: str) -> None:
    rows = select(base_url, f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), "{ID}")) }}')
    # Things with a document of their own: {ID}type/slug (not their #fragments).
    paths = sorted({"/doc/" + r["s"]["value"][len(ID):] for r in rows
                    if r["s"]["value"][len(ID):].count("/") == 1 and "#" not in r["s"]["value"]})
    assert len(paths) > 20
    for path in paths:
        response = requests.get(base_url + path + ".rdf", timeout=60)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["Content-Type"].startswith(RDF_XML)
        well_formed(response.content, path)


@pytest.mark.parametrize("path", ["/ontology.rdf", "/shapes.rdf", "/.well-known/void",
                                  "/sparql?format=rdf"])
def test_site_documents_are_well_formed_rdfxml(base_url: str, path: str) -> None:
    response = fetch_rdf(base_url + path)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith(RDF_XML)
    well_formed(response.content, path)


def test_stored_construct_queries_give_well_formed_rdfxml(base_url: str) -> None:
    listing = requests.get(base_url + "/queries", headers={"Accept": "application/json"}, timeout=60)
    assert listing.status_code == 200
    checked = 0
    for query in listing.json()["queries"]:
        url = f"{base_url}/queries/{query['name']}"
        for example in query.get("examples") or [{"values": {}}]:
            response = fetch_rdf(url, params={**example["values"], "format": "rdf"})
            if response.status_code == 406:  # SELECT and ASK have no RDF/XML
                continue
            assert response.status_code == 200, (url, response.text[:300])
            assert response.headers["Content-Type"].startswith(RDF_XML)
            well_formed(response.content, f"{query['name']} {example['values']}")
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("query", [
    "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 500",
    "CONSTRUCT { ?s <http://e/name> ?n } WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?n }",
    f"DESCRIBE <{ID}country/togo>",
    'CONSTRUCT { <http://a/x> <http://b/p1> "x" } WHERE {}',
])
def test_construct_and_describe_give_well_formed_rdfxml(base_url: str, query: str) -> None:
    response = requests.post(base_url + "/sparql", data={"query": query, "format": "rdf"},
                             timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith(RDF_XML)
    well_formed(response.content, query)


@pytest.mark.parametrize("query", [
    'CONSTRUCT { <http://a/x> <http://b/1> "x" } WHERE {}',
    'CONSTRUCT { <http://a/x> <http://b/a#1> "x" . <http://a/x> <http://b/p> "y" } WHERE {}',
])
def test_a_predicate_rdfxml_cannot_write_is_406_not_a_broken_document(base_url: str,
                                                                        query: str) -> None:
    response = requests.post(base_url + "/sparql", data={"query": query, "format": "rdf"},
                             timeout=60)
    assert response.status_code == 406, response.text[:300]
    doc = response.json()
    assert "Turtle" in doc["detail"]
    assert "ttl" in [o["format"] for o in doc["offered"]]
    # The same answer in Turtle is fine.
    turtle = requests.post(base_url + "/sparql", data={"query": query, "format": "ttl"}, timeout=60)
    assert turtle.status_code == 200
    assert b"<http://b/" in turtle.content
