"""Errors that teach, predeclared prefixes and hints for empty answers (issue 17, items 1-3).

Unit tests of graph.sparql_errors and graph.hints, with the engine (pyoxigraph) producing the
errors to explain, and of the `rabat-kg query` command's messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph.engine.run import run_on_store
from graph.errors import QuerySyntaxError
from graph.hints import NAMESPACE, ontology_terms, unknown_terms
from graph.intake import check_query
from graph.namespaces import KG, PREFIXES
from graph.sparql_errors import PREDECLARED, explain_syntax_error, prepare_query, strip_prologue

ROOT = Path(__file__).resolve().parents[1]


def explained(query: str) -> QuerySyntaxError:
    """The error a query gets, as the endpoint explains it (intake first, then the engine)."""
    try:
        check_query(query)
    except QuerySyntaxError as exc:
        return explain_syntax_error(exc.detail, query, line=exc.line, column=exc.column)
    return engine_error(prepare_query(query).text)


def engine_error(run: str) -> QuerySyntaxError:
    """The engine's syntax error for a query as run, explained as the endpoint explains it."""
    try:
        run_on_store(ox.Store(), run, fmt="json", max_rows=None)
    except QuerySyntaxError as exc:
        return explain_syntax_error(exc.detail, run, line=exc.line, column=exc.column)
    raise AssertionError(f"no error for {run!r}")


def first_line(error: QuerySyntaxError) -> str:
    return error.detail.split("\n")[0]


@pytest.mark.parametrize(("query", "words", "line", "column"), [
    ("SELECT * WHERE { ?s foo:bar ?o }", ["prefix foo: is not declared", "PREFIX foo:"], 1, 21),
    ("SELECT * WHERE {\n  ?s kgg:x ?o }", ["prefix kgg: is not declared", "did you mean kg:"], 2, 6),
    ("SELECT * WHERE { ?s ?p ?o FILTR(?o) }", ["FILTR", "did you mean FILTER?"], 1, 27),
    ('SELECT * WHERE { ?s ?p ?o FILTER(STRSTART(?o, "a")) }', ["did you mean STRSTARTS?"], 1, 34),
    ("SELECT * WHERE { ?s ?p ?o . OPTINAL { ?s ?q ?r } }", ["did you mean OPTIONAL?"], 1, 29),
    ("SELET * WHERE { ?s ?p ?o }", ["did you mean SELECT?"], 1, 1),
    ("SELECT * WHERE { ?s ?p ?o }\nLIMT 10", ["did you mean LIMIT?"], 2, 1),
    ("SELECT * WHERE { ?s ?p ?o BIND(1 AS ?o) }",
     ["BIND(... AS ?o)", "already uses ?o", "line 1, column 24", "new name"], 1, 37),
    ("SELECT ?s WHERE { ?s ?p ?o } GROUP BY ?p", ["?s is selected", "GROUP BY"], 1, 8),
    ("SELECT * WHERE { ?s ?p ?o FILTER(?o > 1 }", ["( opened at line 1, column 33", "add )"], 1, 41),
    ("SELECT * WHERE {\n  ?s ?p ?o ", ["{ opened at line 1, column 16 is closed"], 2, 12),
    ('SELECT * WHERE {\n  ?s ?p "never closed .\n}', ["string is not closed"], 2, 9),
    ("SELECT * WHERE { ?s <http://a b> ?o }", ["not a valid IRI"], 1, 21),
])
def test_common_mistakes_are_named_in_words(query: str, words: list[str], line: int,
                                            column: int) -> None:
    error = explained(query)
    head = first_line(error)
    for word in words:
        assert word in head, head
    assert (error.line, error.column) == (line, column)
    assert head.startswith(f"syntax error at line {line}, column {column}: ")
    assert error.extra["query"] == query
    # The line of the query and a caret under the column.
    excerpt, caret = error.detail.split("\n")[1:3]
    assert excerpt == query.split("\n")[line - 1]
    assert caret == " " * (column - 1) + "^"
    assert "['" not in error.detail  # none of the engine's character classes


def test_suggestions_travel_as_a_member() -> None:
    assert explained("SELECT * WHERE { ?s ?p ?o FILTR(?o) }").extra["suggestion"] == "FILTER"
    assert explained("SELECT * WHERE { ?s foo:b ?o }").extra["suggestion"] == "PREFIX foo: <...>"


def test_predeclared_prefixes_work_and_the_querys_own_declaration_wins() -> None:
    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode(PREFIXES["country"] + "togo"), ox.NamedNode(str(KG) + "name"),
                      ox.Literal("Togo")))
    store.add(ox.Quad(ox.NamedNode("http://other/togo"), ox.NamedNode("http://other/name"),
                      ox.Literal("other")))

    def names(query: str) -> list[str]:
        solutions = store.query(prepare_query(query).text)
        assert isinstance(solutions, ox.QuerySolutions)
        return [row["n"].value for row in solutions]

    assert names("SELECT ?n WHERE { ?s kg:name ?n }") == ["Togo"]
    own = "PREFIX kg: <http://other/>\nSELECT ?n WHERE { ?s kg:name ?n }"
    assert names(own) == ["other"]
    assert prepare_query(own).text == own  # nothing to add
    plain = "SELECT * WHERE { ?s <http://e/p> ?o }"
    assert prepare_query(plain).text == plain


def test_the_predeclared_line_is_one_line_and_comes_off_again() -> None:
    query = "SELECT * WHERE {\n  ?s rdfs:label ?l ;\n     kg:nope ?x ; foo:bar ?y }"
    run = prepare_query(query).text
    assert run.count("\n") == query.count("\n") + 1
    assert check_query(run).undeclared == {"foo"}
    assert strip_prologue(run) == (query, 1)
    error = engine_error(run)
    assert (error.line, error.column) == (3, 19)  # foo:bar in the query as sent
    assert error.extra["query"] == query


def test_predeclared_prefixes_come_from_the_namespaces_module() -> None:
    assert PREDECLARED == PREFIXES
    for prefix in ("kg", "rdf", "rdfs", "owl", "xsd", "skos", "dcterms", "prov", "org", "schema",
                   "oa", "time", "wd"):
        assert prefix in PREDECLARED


# --- hints for empty answers ----------------------------------------------------------------


def test_unknown_kg_terms_are_named_with_the_nearest_defined_ones() -> None:
    defined = ontology_terms()
    assert NAMESPACE + "country" in defined and NAMESPACE + "Country" in defined
    hints = unknown_terms(check_query("SELECT * WHERE { ?s kg:inCountry ?c ; a kg:Contry ; kg:country ?x }"))
    assert [h.term for h in hints] == [NAMESPACE + "inCountry", NAMESPACE + "Contry"]
    assert hints[0].nearest[0] == NAMESPACE + "country"
    assert hints[1].nearest[0] == NAMESPACE + "Country"  # a class for a class
    assert "kg:inCountry is not defined by the ontology" in hints[0].message()
    assert all(n in defined for h in hints for n in h.nearest)


def test_hints_follow_the_querys_own_prefixes_and_full_iris() -> None:
    assert unknown_terms(check_query("PREFIX kg: <http://other/> SELECT * { ?s kg:inCountry ?c }")) == []
    query = f"PREFIX k: <{NAMESPACE}> SELECT * {{ ?s k:fundedby ?c ; <{NAMESPACE}x1> ?y }}"
    hints = unknown_terms(check_query(query))
    assert [h.term for h in hints] == [NAMESPACE + "fundedby", NAMESPACE + "x1"]
    assert hints[0].nearest[0] == NAMESPACE + "fundedBy"
    assert unknown_terms(check_query("SELECT * { ?s kg:country ?c ; a kg:Country }")) == []


# --- the command line -----------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_says_the_same_in_words_and_predeclares() -> None:
    out = cli("query", "SELECT * WHERE { ?s ?p ?o FILTR(?o) }")
    assert out.returncode == 1
    assert "<query>:1:27: syntax error: FILTR is not a SPARQL keyword or function: did you mean " \
           "FILTER?" in out.stderr
    assert "                          ^" in out.stderr
    out = cli("query", "SELECT (COUNT(*) AS ?n) WHERE { ?s a kg:Country ; rdfs:label ?l }")
    assert out.returncode == 0, out.stderr
    assert int(json.loads(out.stdout)["results"]["bindings"][0]["n"]["value"]) > 0


def test_intake_finds_the_undeclared_prefixes_as_the_lexer_does() -> None:
    query = "PREFIX ex: <http://e/>\nSELECT * WHERE { ?s ex:p ?o ; rdfs:label ?l ; kg: ?k ; foo:x ?y }"
    assert check_query(query).undeclared == {"rdfs", "kg", "foo"}
    run = prepare_query(query).text
    assert run.startswith("PREFIX kg: <https://w3id.org/rabat-kg/def/> PREFIX rdfs: ")
    # The explanation reads the prefixes as intake does: ex: is declared, rdfs: and kg: predeclared.
    error = engine_error(run)
    assert "the prefix foo: is not declared" in first_line(error)
    assert (error.line, error.column) == (2, query.split("\n")[1].index("foo:x") + 1)
