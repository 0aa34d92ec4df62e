"""Stored queries as an API over real HTTP: the list, typed parameters bound safely, errors.

Two servers: the bundled one (every stored query of `queries/` runs with its examples and its
defaults) and one on the fixture graph and fixture queries, where the answers are known.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from rdflib import Graph

from tests.serverproc import LiveServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ID = "https://w3id.org/rabat-kg/id/"
XSD = "http://www.w3.org/2001/XMLSchema#"


def run(server: LiveServer, name: str, accept: str | None = None, **params: str) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(f"{server.url}/queries/{name}", params=params, headers=headers, timeout=30)


def bindings(response: requests.Response) -> list[dict[str, dict[str, str]]]:
    assert response.status_code == 200, response.text
    return list(response.json()["results"]["bindings"])


def values(response: requests.Response, var: str) -> list[str]:
    return [b[var]["value"] for b in bindings(response) if var in b]


def problem(response: requests.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return dict(response.json())


# --- the bundled queries ---------------------------------------------------------------------


def listed(base_url: str) -> list[dict[str, object]]:
    response = requests.get(base_url + "/queries", headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200
    return list(response.json()["queries"])


def test_every_bundled_query_runs_with_its_examples_and_defaults(base_url: str) -> None:
    queries = listed(base_url)
    assert queries, "queries/ holds no stored query"
    for query in queries:
        name = query["name"]
        calls = [example["values"] for example in query["examples"]]  # type: ignore[index]
        if all(not p["required"] for p in query["params"]):  # type: ignore[union-attr]
            calls.append({})
        assert calls, f"{name}: no example and a required parameter without default"
        for params in calls:
            response = requests.get(f"{base_url}/queries/{name}", params=params, timeout=30)
            assert response.status_code == 200, f"{name} {params}: {response.text}"
            if query["form"] in ("select", "ask"):
                json.loads(response.content)
            else:
                Graph().parse(data=response.content, format="turtle")
        source = requests.get(f"{base_url}/queries/{name}.rq", timeout=30)
        assert source.status_code == 200
        assert source.headers["Content-Type"].startswith("application/sparql-query")


def test_every_bundled_query_refuses_a_bad_value(base_url: str) -> None:
    for query in listed(base_url):
        for param in query["params"]:  # type: ignore[union-attr]
            bad = {"iri": "not an iri", "integer": "1.5", "decimal": "x", "boolean": "yes",
                   "date": "2021-13-45", "gYear": "21", "gYearMonth": "2021-13"}.get(param["type"])
            if bad is None and param.get("enum"):
                bad = "not-in-the-enumeration"
            if bad is None:
                continue
            response = requests.get(f"{base_url}/queries/{query['name']}",
                                    params={param["name"]: bad}, timeout=30)
            doc = problem(response, 400)
            assert param["name"] in str(doc["detail"])


def test_the_html_list_for_browsers(base_url: str) -> None:
    response = requests.get(base_url + "/queries", headers={"Accept": "text/html"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    for query in listed(base_url):
        assert f'id="{query["name"]}"' in response.text


# --- the fixture queries ---------------------------------------------------------------------


def test_list_describes_parameters_examples_and_links(fixture_server: LiveServer) -> None:
    queries = {q["name"]: q for q in listed(fixture_server.url)}
    assert set(queries) == {"activities", "typed", "country-graph"}
    activities = queries["activities"]
    assert activities["summary"].startswith("Activities of a country")
    assert activities["tags"] == ["fixture", "country"]
    assert activities["form"] == "select"
    params = {p["name"]: p for p in activities["params"]}
    assert params["country"] == {"name": "country", "type": "iri", "required": False,
                                 "default": ID + "country/togo", "description": "The country",
                                 "base": ID + "country/"}
    assert params["year"]["required"] is False and "default" not in params["year"]
    assert params["lang"]["enum"] == ["en", "fr"]
    assert activities["examples"][1]["values"] == {"country": ID + "country/togo", "year": "2021"}
    assert activities["links"]["run"] == "/queries/activities"
    assert activities["links"]["sparql"] == "/queries/activities.rq"
    assert queries["country-graph"]["formats"] == ["ttl", "jsonld", "nt", "rdf"]


def test_defaults_and_examples_give_the_right_answers(fixture_server: LiveServer) -> None:
    assert values(run(fixture_server, "activities"), "activity") == [ID + "activity/a1"]
    cameroon = run(fixture_server, "activities", country=ID + "country/cameroon")
    assert values(cameroon, "activity") == [ID + "activity/a2"]
    assert values(cameroon, "label") == ["Second activity"]
    assert values(run(fixture_server, "activities", year="2021"), "activity") == [ID + "activity/a1"]
    assert values(run(fixture_server, "activities", year="2020"), "activity") == []
    french = run(fixture_server, "activities", lang="fr")
    assert values(french, "label") == ["Étude <b>pilote</b> & co"]


def test_every_parameter_type_is_bound_as_a_typed_term(fixture_server: LiveServer) -> None:
    example = {"n": "7", "d": "2.5", "b": "true", "day": "2021-06-30", "ym": "2021-06", "y": "2021",
               "s": 'a "quoted" <b>', "i": "https://example.org/x"}
    row = bindings(run(fixture_server, "typed", **example))[0]
    assert row["n"] == {"type": "literal", "value": "7", "datatype": XSD + "integer"}
    assert row["d"]["datatype"] == XSD + "decimal"
    assert row["b"] == {"type": "literal", "value": "true", "datatype": XSD + "boolean"}
    assert row["day"]["datatype"] == XSD + "date"
    assert row["ym"] == {"type": "literal", "value": "2021-06", "datatype": XSD + "gYearMonth"}
    assert row["y"]["datatype"] == XSD + "gYear"
    assert row["s"]["value"] == 'a "quoted" <b>'
    assert row["i"] == {"type": "uri", "value": "https://example.org/x"}
    defaults = bindings(run(fixture_server, "typed"))[0]
    assert set(defaults) == {"n"}  # optional parameters without a value stay unbound


@pytest.mark.parametrize("attack", [
    '"} } DELETE WHERE { ?s ?p ?o } #',
    "x\" . ?s ?p ?o } UNION { SERVICE <http://127.0.0.1:9/> { ?a ?b ?c } } #",
    "\\\"; DROP ALL",
])
def test_string_values_cannot_inject_syntax(fixture_server: LiveServer, attack: str) -> None:
    row = bindings(run(fixture_server, "typed", s=attack))[0]
    assert row["s"]["value"] == attack


@pytest.mark.parametrize(("params", "name"), [
    ({"country": "not an iri"}, "country"),
    ({"country": "https://x.example/a> ?q ?r . ?s ?p ?o } #"}, "country"),
    ({"year": "21"}, "year"),
    ({"year": "2021-01"}, "year"),
    ({"lang": "de"}, "lang"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_values_are_400_before_anything_runs(fixture_server: LiveServer, params: dict[str, str],
                                                 name: str) -> None:
    doc = problem(run(fixture_server, "activities", **params), 400)
    assert doc["type"] == "https://w3id.org/rabat-kg/problems/bad-parameter"
    assert name in str(doc["detail"])


@pytest.mark.parametrize(("params", "name"), [
    ({"n": "seven"}, "n"), ({"d": "1,5"}, "d"), ({"b": "yes"}, "b"), ({"day": "2021-02-30"}, "day"),
    ({"ym": "2021-13"}, "ym"), ({"s": "a\x01b"}, "s"), ({"s": "x" * 1001}, "s"),
])
def test_each_type_refuses_bad_lexical_forms(fixture_server: LiveServer, params: dict[str, str],
                                             name: str) -> None:
    doc = problem(run(fixture_server, "typed", **params), 400)
    assert name in str(doc["detail"])


@pytest.mark.parametrize(("params", "name"), [
    ({"y": "٢٠٢١"}, "y"), ({"y": "2021\n"}, "y"), ({"n": "\u0667"}, "n"), ({"n": "7\n"}, "n"),
    ({"n": "²"}, "n"), ({"d": "2.5\n"}, "d"), ({"d": "\u0661.\u0665"}, "d"), ({"ym": "2021-06\n"}, "ym"),
    ({"day": "2021-06-30\n"}, "day"), ({"day": "٢٠٢١-06-30"}, "day"), ({"b": "true\n"}, "b"),
    ({"i": "https://example.org/x\x7f"}, "i"), ({"i": "https://example.org/x\n"}, "i"),
    ({"i": "https://example.org/\x85x"}, "i"), ({"i": "https://example.org/ x"}, "i"),
    ({"s": "a\x7fb"}, "s"), ({"s": "a\x00b"}, "s"), ({"s": "a\x9bb"}, "s"),
])
def test_unicode_digits_trailing_newlines_and_controls_are_refused(
        fixture_server: LiveServer, params: dict[str, str], name: str) -> None:
    """Full-match ASCII rules: Python's `\\d` and `$` would take each of these (issue 18)."""
    doc = problem(run(fixture_server, "typed", **params), 400)
    assert doc["type"] == "https://w3id.org/rabat-kg/problems/bad-parameter"
    assert doc["parameter"] == name and repr(name) in str(doc["detail"])


def test_strings_refuse_control_characters(fixture_server: LiveServer) -> None:
    """Issue 18: no control character in a literal parameter, tab and line breaks included."""
    for bad in ("two\nlines", "a\ttab", "cr\r", "del\x7f"):
        doc = problem(run(fixture_server, "typed", s=bad), 400)
        assert doc["parameter"] == "s"
    row = bindings(run(fixture_server, "typed", s="Côte d'Ivoire"))[0]
    assert row["s"]["value"] == "Côte d'Ivoire"


def test_iri_parameters_take_the_short_form(fixture_server: LiveServer) -> None:
    """`country=cameroon` is the IRI under the namespace the header's IRIs share."""
    short = run(fixture_server, "activities", country="cameroon")
    assert values(short, "activity") == [ID + "activity/a2"]
    assert short.json() == run(fixture_server, "activities", country=ID + "country/cameroon").json()
    graph = run(fixture_server, "country-graph", country="cameroon", format="nt")
    assert f"<{ID}country/cameroon>" in graph.text
    bound = requests.get(f"{fixture_server.url}/queries/activities.rq", params={"country": "cameroon"},
                         timeout=30)
    assert f"<{ID}country/cameroon>" in bound.text
    for bad in ("../def/Country", "to go", ".hidden", "togo/", "togo\n", "tögo"):
        doc = problem(run(fixture_server, "activities", country=bad), 400)
        assert doc["parameter"] == "country" and f"a name under {ID}country/" in str(doc["detail"])
    # No short form where the header's IRIs are not ours (https://example.org/x).
    doc = problem(run(fixture_server, "typed", i="x"), 400)
    assert "a name under" not in str(doc["detail"])


def test_every_bundled_iri_parameter_takes_its_short_form(base_url: str) -> None:
    for query in listed(base_url):
        for param in query["params"]:  # type: ignore[union-attr]
            if param["type"] != "iri" or "base" not in param:
                continue
            example = next((ex["values"][param["name"]] for ex in query["examples"]  # type: ignore[union-attr]
                            if param["name"] in ex["values"]), param.get("default"))
            assert example and example.startswith(param["base"]), (query["name"], param)
            full = requests.get(f"{base_url}/queries/{query['name']}", timeout=30,
                                params={param["name"]: example})
            short = requests.get(f"{base_url}/queries/{query['name']}", timeout=30,
                                 params={param["name"]: example[len(param["base"]):]})
            assert short.status_code == full.status_code == 200
            assert short.content == full.content


def test_a_parameter_given_twice_is_400(fixture_server: LiveServer) -> None:
    url = f"{fixture_server.url}/queries/activities?year=2021&year=2022"
    problem(requests.get(url, timeout=30), 400)


def test_unknown_query_is_404(fixture_server: LiveServer) -> None:
    problem(run(fixture_server, "no-such-query"), 404)
    problem(requests.get(f"{fixture_server.url}/queries/no-such-query.rq", timeout=30), 404)
    problem(requests.get(f"{fixture_server.url}/queries/..%2Fpyproject.toml", timeout=30), 404)


def test_same_negotiation_as_the_endpoint(fixture_server: LiveServer) -> None:
    csv = run(fixture_server, "activities", accept="text/csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "activity,date,label"
    xml = run(fixture_server, "activities", format="xml")
    assert xml.headers["Content-Type"].startswith("application/sparql-results+xml")
    problem(run(fixture_server, "activities", accept="text/turtle"), 406)
    graph = run(fixture_server, "country-graph", country=ID + "country/cameroon")
    assert graph.headers["Content-Type"].startswith("text/turtle")
    parsed = Graph().parse(data=graph.content, format="turtle")
    assert len(parsed) == 3  # two labels and one activity
    for key, fmt in (("jsonld", "json-ld"), ("nt", "nt"), ("rdf", "xml")):
        response = run(fixture_server, "country-graph", format=key)
        assert len(Graph().parse(data=response.content, format=fmt)) == 3


def test_etag_and_304_on_a_stored_query(fixture_server: LiveServer) -> None:
    first = run(fixture_server, "activities", year="2021")
    etag = first.headers["ETag"]
    again = requests.get(f"{fixture_server.url}/queries/activities", params={"year": "2021"},
                         headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert run(fixture_server, "activities", year="2022").headers["ETag"] != etag


def test_source_with_and_without_bound_parameters(fixture_server: LiveServer) -> None:
    source = requests.get(f"{fixture_server.url}/queries/activities.rq", timeout=30)
    assert source.status_code == 200
    assert source.text == (FIXTURES / "queries" / "activities.rq").read_text(encoding="utf-8")
    bound = requests.get(f"{fixture_server.url}/queries/activities.rq?"
                         + urlencode({"year": "2021"}), timeout=30)
    assert 'VALUES (?country ?year ?lang) { (<https://w3id.org/rabat-kg/id/country/togo> ' \
           '"2021"^^<http://www.w3.org/2001/XMLSchema#gYear> "en") }' in bound.text
    # What the .rq says is what the API runs.
    via_endpoint = requests.post(fixture_server.url + "/sparql", data=bound.text.encode(), timeout=30,
                                 headers={"Content-Type": "application/sparql-query"})
    assert via_endpoint.json()["results"] == run(fixture_server, "activities", year="2021").json()["results"]
    problem(requests.get(f"{fixture_server.url}/queries/activities.rq?year=x", timeout=30), 400)
