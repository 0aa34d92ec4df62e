"""The OpenAPI 3.1 document at /openapi.json: valid, and typed from the stored-query headers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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
    limit = 10**18 - 1
    assert typed["n"]["schema"] == {"type": "integer", "default": 1, "minimum": -limit, "maximum": limit}
    assert typed["d"]["schema"] == {"type": "number"}
    assert typed["b"]["schema"] == {"type": "boolean"}
    assert typed["day"]["schema"] == {"type": "string", "format": "date"}
    assert typed["i"]["schema"]["format"] == "iri" and "anyOf" not in typed["i"]["schema"]
    assert typed["s"]["schema"]["type"] == "string"
    for name, good, bad in (("y", "2021", "21"), ("ym", "2021-06", "2021-13")):
        pattern = re.compile(typed[name]["schema"]["pattern"])
        assert pattern.search(good) and not pattern.search(bad)
    assert typed["n"]["examples"]["example1"]["value"] == 7
    assert typed["b"]["examples"]["example1"]["value"] is True
    activities = {p["name"]: p for p in doc["paths"]["/queries/activities"]["get"]["parameters"]}
    assert activities["country"]["schema"]["default"] == "https://w3id.org/rabat-kg/id/country/togo"
    iri, short = activities["country"]["schema"]["anyOf"]  # the IRI, or its short form
    assert iri["format"] == "iri" and short["examples"] == ["togo"]
    assert "https://w3id.org/rabat-kg/id/country/" in short["description"]
    assert activities["country"]["required"] is False
    assert activities["lang"]["schema"]["enum"] == ["en", "fr"]
    assert activities["format"]["schema"]["enum"] == ["json", "xml", "csv", "tsv", "html"]
    assert "its name under https://w3id.org/rabat-kg/id/country/" in activities["country"]["description"]
    graph = doc["paths"]["/queries/country-graph"]["get"]
    assert set(graph["responses"]["200"]["content"]) == {
        "text/turtle", "application/ld+json", "application/n-triples", "application/rdf+xml", "text/html"}
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


# Values on both sides of each rule: the published pattern must say what the server does.
PATTERN_CASES = {
    ("typed", "y"): ["2021", "-0044", "21", "٢٠٢١", "2021\n", " 2021", "20211"],
    ("typed", "ym"): ["2021-06", "2021-13", "2021-6", "2021-06\n"],
    ("typed", "s"): ["plain", "two\nlines\tand a tab", "a\x7fb", "a\x00b", "a\x9bb", "é ü ß"],
    ("typed", "i"): ["https://example.org/x", "urn:isbn:1", "https://example.org/x\x7f",
                     "https://example.org/ x", "https://example.org/x\n", "no-scheme", "https://é.fr/ü"],
    ("activities", "country"): ["togo", "https://w3id.org/rabat-kg/id/country/togo", "../x", "to go",
                                "togo\n", "a/b", "tögo"],
}


def branches(schema: dict) -> list[dict]:  # type: ignore[type-arg]
    """The alternatives a parameter schema allows (anyOf), each with its pattern."""
    return list(schema.get("anyOf", [schema]))


def ecmascript_tests(pairs: list[tuple[str, str]]) -> list[bool]:
    """`new RegExp(pattern, "u").test(value)` for each pair, in Node: JSON Schema patterns are
    ECMAScript regular expressions, whose `$` (unlike Python's) takes no trailing newline."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("ECMAScript patterns are checked with Node (Debian package nodejs)")
    script = ("const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(pairs.map(([p, v]) => new RegExp(p, 'u').test(v))));")
    done = subprocess.run([node, "-e", script], input=json.dumps(pairs), capture_output=True,
                          text=True, timeout=60, check=True)
    return list(json.loads(done.stdout))


def test_published_patterns_are_the_rules_applied(fixture_server: LiveServer) -> None:
    """OpenAPI stays exact: a value matches the published schema exactly when the server takes it."""
    doc = document(fixture_server.url)
    checks = []
    for (name, param), cases in PATTERN_CASES.items():
        schema = next(p for p in doc["paths"][f"/queries/{name}"]["get"]["parameters"]
                      if p["name"] == param)["schema"]
        for value in cases:
            status = requests.get(f"{fixture_server.url}/queries/{name}", params={param: value},
                                  timeout=30).status_code
            assert status in (200, 400)
            checks.append((name, param, value, status, branches(schema)))
    pairs = [(b["pattern"], value) for _, _, value, _, bs in checks for b in bs]
    matched = iter(ecmascript_tests(pairs))
    for name, param, value, status, bs in checks:
        accepted = [next(matched) and len(value) <= b.get("maxLength", len(value)) for b in bs]
        assert any(accepted) == (status == 200), (name, param, value, status)
