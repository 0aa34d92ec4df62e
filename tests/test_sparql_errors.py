"""Errors over real HTTP: the right status, a problem document a program can act on, never a 500.

Covers probes 1-4, 8, 13 and 14 of the reliability checklist: syntax errors with line and
column in the query as sent, updates refused by every route (and nothing changes), duplicate
queries, wrong body types, oversized bodies and query strings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.serverproc import LiveServer, start_server

PROBLEM = "application/problem+json"
PROBLEMS = "https://w3id.org/rabat-kg/problems/"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def get(base_url: str, query: str, accept: str | None = None) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(base_url + "/sparql", params={"query": query}, headers=headers, timeout=30)


def problem(response: requests.Response, status: int, slug: str | None = None) -> dict[str, object]:
    """The problem document of an error response, checked for the common members."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    doc = response.json()
    assert doc["status"] == status
    assert doc["type"].startswith(PROBLEMS)
    if slug:
        assert doc["type"] == PROBLEMS + slug
    assert doc["title"] and doc["detail"]
    assert "Traceback" not in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers
    return doc


def triple_count(base_url: str) -> int:
    body = get(base_url, COUNT).json()
    return int(body["results"]["bindings"][0]["n"]["value"])


# --- syntax errors ---------------------------------------------------------------------------


def test_probe_1_syntax_error_has_line_and_column(base_url: str) -> None:
    doc = problem(get(base_url, "SELEC * WHERE {"), 400, "query-syntax")
    assert doc["line"] == 1
    assert doc["column"] == 1
    assert doc["query"] == "SELEC * WHERE {"


def test_error_deep_in_a_multi_line_query_points_at_its_line(base_url: str) -> None:
    query = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "SELECT ?s ?label\n"
             "WHERE {\n"
             "  ?s rdfs:label ?label .\n"
             "  ?s ?p ?o ?extra .\n"
             "}\n")
    doc = problem(get(base_url, query), 400, "query-syntax")
    assert doc["line"] == 5
    assert 1 <= int(doc["column"]) <= len("  ?s ?p ?o ?extra .") + 1
    assert doc["query"] == query


def test_missing_brace_deep_in_a_multi_line_query(base_url: str) -> None:
    query = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "SELECT ?s ?label\n"
             "WHERE {\n"
             "  ?s rdfs:label ?label .\n"
             "  OPTIONAL {\n"
             "    ?s rdfs:comment ?comment .\n"
             "  FILTER(lang(?label) = \"en\")\n"
             "}\n"
             "ORDER BY ?label\n")
    response = requests.post(base_url + "/sparql", data=query.encode(), timeout=30,
                             headers={"Content-Type": "application/sparql-query"})
    doc = problem(response, 400, "query-syntax")
    lines = query.split("\n")
    # The parser notices the unclosed group after the last `}`: at ORDER BY or at the end.
    assert 8 <= int(doc["line"]) <= len(lines)
    assert 1 <= int(doc["column"]) <= len(lines[int(doc["line"]) - 1]) + 1
    assert doc["query"] == query


def test_unterminated_string_is_located_by_the_lexer(base_url: str) -> None:
    query = 'SELECT * WHERE {\n  ?s ?p "never closed .\n}'
    doc = problem(get(base_url, query), 400, "query-syntax")
    assert doc["line"] == 2
    assert doc["column"] == 9


def test_syntax_error_as_plain_text_when_asked(base_url: str) -> None:
    response = get(base_url, "SELEC * WHERE {", accept="text/plain")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "line 1, column 1" in response.text
    assert "SELEC * WHERE {" in response.text


def test_syntax_error_as_an_html_page_for_browsers(base_url: str) -> None:
    response = get(base_url, "SELEC * <b>WHERE</b> {", accept="text/html,*/*;q=0.8")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "&lt;b&gt;WHERE&lt;/b&gt;" in response.text  # the query is escaped
    assert "<b>WHERE</b>" not in response.text


def test_other_clients_get_problem_json_whatever_they_accept(base_url: str) -> None:
    for accept in ("application/sparql-results+json,*/*;q=0.9", "text/turtle", "*/*"):
        problem(get(base_url, "SELEC", accept=accept), 400, "query-syntax")


@pytest.mark.parametrize("query", [
    'SELECT * { FILTER(REGEX("a", "(")) }',
    'SELECT ?x { BIND("\\uD800" AS ?x) }',
    'SELECT ?x { BIND("a\\u0001b" AS ?x) }',
])
@pytest.mark.parametrize("accept", ["application/sparql-results+json", "application/sparql-results+xml",
                                    "text/csv", "text/tab-separated-values"])
def test_probe_8_odd_regexes_and_literals_never_500(base_url: str, query: str, accept: str) -> None:
    response = get(base_url, query, accept=accept)
    assert response.status_code in (200, 400, 406), response.text
    if response.status_code == 200 and "json" in accept:
        json.loads(response.content)
    if response.status_code == 200 and "xml" in accept:
        import xml.etree.ElementTree as ET

        ET.fromstring(response.content)


# --- updates ---------------------------------------------------------------------------------

INSERT = "INSERT DATA { <urn:rabat-kg:x> <urn:rabat-kg:y> <urn:rabat-kg:z> }"


def updates(base_url: str) -> list[requests.Response]:
    ep = base_url + "/sparql"
    return [
        requests.get(ep, params={"query": INSERT}, timeout=30),
        requests.get(ep, params={"update": INSERT}, timeout=30),
        requests.post(ep, data={"update": INSERT}, timeout=30),
        requests.post(ep, data={"update": "LOAD <file:///etc/passwd>"}, timeout=30),
        requests.post(ep, data={"query": "CLEAR ALL"}, timeout=30),
        requests.post(ep, data={"query": COUNT, "using-graph-uri": "urn:x"}, timeout=30),
        requests.post(ep, data=INSERT.encode(), headers={"Content-Type": "application/sparql-update"},
                      timeout=30),
        requests.post(ep, data=b"DROP ALL", headers={"Content-Type": "application/sparql-query"},
                      timeout=30),
        requests.post(ep, data=b"delete where { ?s ?p ?o }",
                      headers={"Content-Type": "application/sparql-query"}, timeout=30),
    ]


def test_probe_4_updates_are_403_by_every_route_and_nothing_changes(base_url: str) -> None:
    before = triple_count(base_url)
    etag = get(base_url, COUNT).headers["ETag"]
    for response in updates(base_url):
        problem(response, 403, "update-refused")
    assert triple_count(base_url) == before
    assert get(base_url, COUNT).headers["ETag"] == etag
    assert get(base_url, "ASK { <urn:rabat-kg:x> ?p ?o }").json()["boolean"] is False


# --- protocol errors -------------------------------------------------------------------------


def test_probe_2_two_queries_are_400(base_url: str) -> None:
    response = requests.get(base_url + "/sparql?query=ASK%7B%7D&query=ASK%7B%7D", timeout=30)
    problem(response, 400)


def test_query_in_url_and_body_is_400(base_url: str) -> None:
    ep = base_url + "/sparql?query=ASK%7B%7D"
    problem(requests.post(ep, data={"query": "ASK {}"}, timeout=30), 400)
    problem(requests.post(ep, data=b"ASK {}", headers={"Content-Type": "application/sparql-query"},
                          timeout=30), 400)
    problem(requests.post(base_url + "/sparql", data=[("query", "ASK {}"), ("query", "ASK {}")],
                          timeout=30), 400)


def test_probe_3_wrong_body_type_is_415(base_url: str) -> None:
    for content_type in ("text/plain", "application/json", "multipart/form-data; boundary=x"):
        response = requests.post(base_url + "/sparql", data=b"ASK {}", timeout=30,
                                 headers={"Content-Type": content_type})
        doc = problem(response, 415, "unsupported-media-type")
        assert "application/sparql-query" in str(doc["detail"])


def test_post_without_a_query_is_400(base_url: str) -> None:
    problem(requests.post(base_url + "/sparql", data={"format": "json"}, timeout=30), 400)
    problem(requests.post(base_url + "/sparql", data=b"", timeout=30,
                          headers={"Content-Type": "application/sparql-query"}), 400, "query-syntax")


def test_non_utf8_bodies_are_400(base_url: str) -> None:
    ep = base_url + "/sparql"
    direct = requests.post(ep, data='ASK { FILTER("é") }'.encode("latin-1"), timeout=30,
                           headers={"Content-Type": "application/sparql-query"})
    problem(direct, 400)
    form = requests.post(ep, data=b"query=ASK%20%7B%20FILTER(%22%E9%22)%20%7D", timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    problem(form, 400)
    latin = requests.post(ep, data=b"ASK {}", timeout=30,
                          headers={"Content-Type": "application/sparql-query; charset=iso-8859-1"})
    problem(latin, 415)


def test_unknown_parameters_are_400_naming_them(base_url: str) -> None:
    doc = problem(requests.get(base_url + "/sparql", params={"query": "ASK {}", "timeout": "99"},
                               timeout=30), 400)
    assert "timeout" in str(doc["detail"])
    doc = problem(requests.post(base_url + "/sparql", data={"query": "ASK {}", "debug": "1"},
                                timeout=30), 400)
    assert "debug" in str(doc["detail"])


def test_probe_13_oversized_body_is_413_before_parsing(base_url: str) -> None:
    body = ("ASK { " + "?s ?p ?o . " * 200_000 + "}").encode()  # about 2 MB
    response = requests.post(base_url + "/sparql", data=body, timeout=30,
                             headers={"Content-Type": "application/sparql-query"})
    doc = problem(response, 413, "request-too-large")
    assert "limit" in str(doc["detail"])
    form = requests.post(base_url + "/sparql", data={"query": body.decode()}, timeout=30)
    problem(form, 413)


def test_oversized_chunked_body_is_413(base_url: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b"ASK { "
        for _ in range(2000):
            yield b"?s ?p ?o . " * 10
        yield b"}"

    response = requests.post(base_url + "/sparql", data=chunks(), timeout=30,
                             headers={"Content-Type": "application/sparql-query"})
    problem(response, 413, "request-too-large")
    small = requests.post(base_url + "/sparql", data=iter([b"ASK ", b"{ }"]), timeout=30,
                          headers={"Content-Type": "application/sparql-query"})
    assert small.status_code == 200


def test_probe_14_long_query_string_is_414_with_a_hint_to_post(base_url: str) -> None:
    query = "ASK { " + " " * 16_000 + "}"
    response = requests.get(base_url + "/sparql", params={"query": query}, timeout=30)
    doc = problem(response, 414, "uri-too-long")
    assert "POST" in str(doc["detail"])
    # The same query by POST is fine.
    assert requests.post(base_url + "/sparql", data={"query": query}, timeout=30).status_code == 200


def test_refused_query_features_are_400(base_url: str) -> None:
    for query in ("SELECT * { SERVICE <http://127.0.0.1:9/x> { ?s ?p ?o } }",
                  "SELECT * FROM <file:///etc/hostname> { ?s ?p ?o }"):
        problem(get(base_url, query), 400, "query-refused")


def test_http_errors_are_problem_documents(base_url: str) -> None:
    doc = problem(requests.get(base_url + "/no/such/page", timeout=30), 404, "not-found")
    assert doc["status"] == 404
    response = requests.delete(base_url + "/sparql", timeout=30)
    problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]
    plain = requests.get(base_url + "/no/such/page", headers={"Accept": "text/plain"}, timeout=30)
    assert plain.status_code == 404
    assert plain.headers["Content-Type"].startswith("text/plain")


# --- limits that answer 503 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient() -> Iterator[LiveServer]:
    """A server with a 1 s query time limit."""
    server = start_server(["--timeout", "1"])
    yield server
    server.stop()


def test_timeout_is_503_with_retry_after_and_the_server_recovers(impatient: LiveServer) -> None:
    cartesian = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    started = time.monotonic()
    response = get(impatient.url, cartesian)
    assert time.monotonic() - started < 1 + 5
    doc = problem(response, 503, "query-timeout")
    assert int(response.headers["Retry-After"]) > 0
    assert "limit" in str(doc["detail"])
    assert "retry_after" not in doc
    assert get(impatient.url, "ASK { ?s ?p ?o }").json()["boolean"] is True


# --- intake reads escapes, comments and keywords as the engine does (issue 18, item 1) -------

BYPASSES = [
    ('SELECT ("\\u0022" AS ?y) FROM <http://x/g> WHERE {?s ?p ?o} #"""', "query-refused"),
    ('SELECT ("\\u0022" AS ?y) WHERE { SERVICE <http://127.0.0.1:9/x> { ?s ?p ?o } } #"""',
     "query-refused"),
    ('SELECT ("\\u0022" AS ?y) WHERE { ' + "{" * 3000 + "}" * 3000 + ' } #"""',
     "query-too-complex"),
    ("SELECT * #\rFROM <http://x/g> WHERE {?s ?p ?o}", "query-refused"),
    ("SELECT * FROMNAMED<http://x/g> WHERE {GRAPH ?g {?s ?p ?o}}", "query-refused"),
    ("PREFIX : <http://127.0.0.1:9/> SELECT * WHERE { service:x { ?s ?p ?o } }", "query-refused"),
    ("PREFIX a: <http://x/> SELECT * WHERE { BIND(1 AS ?a) FILTER(?a<a:b(" + "(" * 3000 + "1>2"
     + ")" * 3000 + ")) }", "query-too-complex"),
    # No bracket at all: 10,000 `+` or 3,000 MINUS crashed an executor before intake counted them.
    ("SELECT (" + "1+" * 10000 + "1 AS ?x) {}", "query-too-complex"),
    ("SELECT * { ?s ?p ?o " + "MINUS {} " * 3000 + "}", "query-too-complex"),
]


@pytest.mark.parametrize(("query", "slug"), BYPASSES)
def test_hidden_from_service_and_nesting_are_400_over_http(base_url: str, query: str,
                                                           slug: str) -> None:
    responses = [requests.post(base_url + "/sparql", data={"query": query}, timeout=30),
                 requests.post(base_url + "/sparql", data=query.encode(), timeout=30,
                               headers={"Content-Type": "application/sparql-query"})]
    if len(query) < 2000:  # longer is 414 by GET
        responses.append(get(base_url, query))
    for response in responses:
        problem(response, 400, slug)
    # The server is unharmed and still answers.
    assert get(base_url, COUNT, "application/sparql-results+json").status_code == 200


def test_a_quote_escape_in_a_string_is_one_character_over_http(base_url: str) -> None:
    response = get(base_url, 'SELECT ?x WHERE { BIND("\\u0022" AS ?x) }',
                   "application/sparql-results+json")
    assert response.status_code == 200, response.text
    assert response.json()["results"]["bindings"] == [{"x": {"type": "literal", "value": '"'}}]


# --- errors that teach, predeclared prefixes, hints (issue 17, items 1-3) -------------------


def post_query(base_url: str, query: str, accept: str = "application/sparql-results+json"
               ) -> requests.Response:
    return requests.post(base_url + "/sparql", data={"query": query}, headers={"Accept": accept},
                         timeout=30)


@pytest.mark.parametrize(("query", "words", "line", "column"), [
    ("SELECT * WHERE {\n  ?s foo:name ?o }", ["prefix foo: is not declared", "PREFIX foo:"], 2, 6),
    ("SELECT * WHERE { ?s ?p ?o FILTR(?o) }", ["did you mean FILTER?"], 1, 27),
    ("SELECT * WHERE { ?s ?p ?o BIND(1 AS ?o) }", ["BIND(... AS ?o)", "already uses ?o"], 1, 37),
    # An engine error after predeclared prefixes: the position is in the query as sent.
    ("SELECT * WHERE {\n  ?s rdfs:label ?l ;\n     kg:name ?x ; foo:bar ?y }",
     ["prefix foo: is not declared"], 3, 19),
])
def test_mistakes_are_explained_in_words_over_http(base_url: str, query: str, words: list[str],
                                                   line: int, column: int,
                                                   live_server: LiveServer) -> None:
    if live_server.backend == "virtuoso" and "BIND" in query:
        pytest.skip("Virtuoso evaluates a BIND of a variable already in scope (the spec forbids "
                    "it; Oxigraph refuses it): on that store there is no error to explain")
    for response in (get(base_url, query), post_query(base_url, query)):
        doc = problem(response, 400, "query-syntax")
        head = str(doc["detail"]).split("\n")[0]
        assert all(w in head for w in words), head
        assert (doc["line"], doc["column"]) == (line, column)
        assert doc["query"] == query
        assert str(doc["detail"]).split("\n")[2] == " " * (column - 1) + "^"
        assert "['" not in str(doc["detail"])
    text = get(base_url, query, accept="application/sparql-results+json, text/plain;q=0.5").text
    assert words[0] in text and f"line {line}, column {column}" in text


def test_kg_and_rdfs_work_without_prefix_lines(base_url: str) -> None:
    response = post_query(base_url, "SELECT (COUNT(*) AS ?n) WHERE { ?c a kg:Country ; rdfs:label ?l }")
    assert response.status_code == 200, response.text
    assert int(response.json()["results"]["bindings"][0]["n"]["value"]) > 0
    # A query's own declaration wins over the predeclared one.
    own = post_query(base_url, "PREFIX kg: <http://example.org/other/>\n"
                               "SELECT (COUNT(*) AS ?n) WHERE { ?c a kg:Country }")
    assert own.status_code == 200
    assert own.json()["results"]["bindings"][0]["n"]["value"] == "0"


def test_predeclared_prefixes_are_listed_in_the_service_description(base_url: str) -> None:
    from rdflib import Graph, Literal, Namespace

    from graph.namespaces import PREFIXES

    sh = Namespace(PREFIXES["sh"])
    response = requests.get(base_url + "/sparql", params={"format": "ttl"}, timeout=30)
    assert response.status_code == 200
    g = Graph().parse(data=response.text, format="turtle")
    declared = {str(g.value(d, sh.prefix)): str(g.value(d, sh.namespace))
                for d in g.objects(None, sh.declare)}
    assert declared == PREFIXES
    assert g.value(None, sh.prefix, Literal("kg")) is not None


def test_predeclared_prefixes_are_listed_on_the_editor_page(base_url: str) -> None:
    from graph.namespaces import PREFIXES

    page = requests.get(base_url + "/sparql", headers={"Accept": "text/html"}, timeout=30).text
    assert 'id="kg-prefixes"' in page
    for prefix in ("kg", "rdfs", "skos", "wd"):
        assert f"<code>{prefix}:</code>" in page
        assert f"<code>{PREFIXES[prefix]}</code>" in page


def test_an_empty_answer_names_unknown_ontology_terms(base_url: str) -> None:
    response = post_query(base_url, "SELECT ?a WHERE { ?a kg:inCountry ?c }")
    assert response.status_code == 200
    assert response.json()["results"]["bindings"] == []
    hint = response.headers["Query-Hint"]
    assert hint.startswith("kg:inCountry is not defined by the ontology")
    assert "kg:country" in hint
    # Terms that exist, or an answer that is not empty: no hint.
    for query in ("SELECT ?a WHERE { ?a kg:country <http://example.org/nowhere> }",
                  "SELECT ?a WHERE { ?a kg:country ?c } LIMIT 1"):
        assert "Query-Hint" not in post_query(base_url, query).headers
