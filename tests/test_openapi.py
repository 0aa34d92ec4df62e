"""The OpenAPI 3.1 document at /openapi.json: valid, and typed from the stored-query headers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from tests.serverproc import LiveServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def document(url: str) -> dict:  # type: ignore[type-arg]
    response = requests.get(url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return dict(response.json())


def test_the_bundled_document_is_valid_openapi_3_1(base_url: str, tmp_path: Path) -> None:
    doc = document(base_url)
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    # The validator's own reader accepts it from a file too (what a user downloads).
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(doc))
    spec, _ = read_from_filename(str(path))
    validate(spec)


def test_every_bundled_stored_query_is_a_path(base_url: str) -> None:
    doc = document(base_url)
    listed = requests.get(base_url + "/queries", headers={"Accept": "application/json"},
                          timeout=30).json()["queries"]
    for query in listed:
        operation = doc["paths"][f"/queries/{query['name']}"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {p["name"] for p in query["params"]} | {"format"} == names
    assert {"/sparql", "/queries", "/queries/{name}.rq"} <= set(doc["paths"])


def test_fixture_document_is_valid_and_typed(fixture_server: LiveServer) -> None:
    doc = document(fixture_server.url)
    validate(doc)
    typed = {p["name"]: p for p in doc["paths"]["/queries/typed"]["get"]["parameters"]}
    assert typed["n"]["schema"] == {"type": "integer", "default": 1}
    assert typed["d"]["schema"] == {"type": "number"}
    assert typed["b"]["schema"] == {"type": "boolean"}
    assert typed["day"]["schema"] == {"type": "string", "format": "date"}
    assert typed["i"]["schema"] == {"type": "string", "format": "iri"}
    assert typed["s"]["schema"]["type"] == "string"
    for name, good, bad in (("y", "2021", "21"), ("ym", "2021-06", "2021-13")):
        pattern = re.compile(typed[name]["schema"]["pattern"])
        assert pattern.search(good) and not pattern.search(bad)
    assert typed["n"]["examples"]["example1"]["value"] == 7
    assert typed["b"]["examples"]["example1"]["value"] is True
    activities = {p["name"]: p for p in doc["paths"]["/queries/activities"]["get"]["parameters"]}
    assert activities["country"]["schema"]["default"] == "https://w3id.org/rabat-kg/id/country/togo"
    assert activities["country"]["required"] is False
    assert activities["lang"]["schema"]["enum"] == ["en", "fr"]
    assert activities["format"]["schema"]["enum"] == ["json", "xml", "csv", "tsv"]
    graph = doc["paths"]["/queries/country-graph"]["get"]
    assert set(graph["responses"]["200"]["content"]) == {
        "text/turtle", "application/ld+json", "application/n-triples", "application/rdf+xml"}
    assert graph["responses"]["400"]["$ref"] == "#/components/responses/BadRequest"
    problem = doc["components"]["responses"]["BadRequest"]["content"]
    assert "application/problem+json" in problem


def test_the_document_matches_the_api(fixture_server: LiveServer) -> None:
    """Each described operation answers as described: examples run, enums hold, errors are typed."""
    doc = document(fixture_server.url)
    for path, item in doc["paths"].items():
        if not path.startswith("/queries/") or "{" in path:
            continue
        operation = item["get"]
        examples: dict[str, dict[str, str]] = {}
        for param in operation["parameters"]:
            for key, example in param.get("examples", {}).items():
                value = example["value"]
                text = json.dumps(value) if isinstance(value, bool) else str(value)
                examples.setdefault(key, {})[param["name"]] = text
        for params in examples.values() or [{}]:
            response = requests.get(fixture_server.url + path, params=params, timeout=30)
            assert response.status_code == 200, (path, params, response.text)
            assert response.headers["Content-Type"].split(";")[0] in operation["responses"]["200"]["content"]
        for key in next(p for p in operation["parameters"] if p["name"] == "format")["schema"]["enum"]:
            assert requests.get(fixture_server.url + path, params={"format": key},
                                timeout=30).status_code == 200
