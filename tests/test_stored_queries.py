"""Unit tests of graph/queries.py: the `#+` header, typed values, and binding by VALUES."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph.errors import ParameterError
from graph.paths import QUERIES_DIR
from graph.queries import Param, bind_query, load_queries, parse_param, parse_stored_query, to_term

XSD = "http://www.w3.org/2001/XMLSchema#"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "queries"


def write(tmp_path: Path, text: str, name: str = "q.rq") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_header_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "#+ summary: One line.\n"
        "#+ description: First part.\n"
        "#+ description: Second part.\n"
        "#+ tags: country, timeline\n"
        "#+ param: country | type=iri | default=https://w3id.org/rabat-kg/id/country/togo"
        " | description=The country\n"
        "#+ param: year | type=gYear | optional\n"
        "#+ param: lang | type=string | enum=en,fr | default=en\n"
        "#+ example: country=https://w3id.org/rabat-kg/id/country/cameroon&year=2021\n"
        "SELECT ?country ?year ?lang WHERE { ?country ?p ?year FILTER(lang(?year) = ?lang) }\n"))
    query = parse_stored_query(path)
    assert query.name == "q"
    assert query.summary == "One line."
    assert query.description == "First part. Second part."
    assert query.tags == ("country", "timeline")
    assert query.form == "select"
    assert query.params == (
        Param("country", "iri", False, "https://w3id.org/rabat-kg/id/country/togo", (), "The country"),
        Param("year", "gYear", False),
        Param("lang", "string", False, "en", ("en", "fr")),
    )
    assert query.examples == ({"country": "https://w3id.org/rabat-kg/id/country/cameroon", "year": "2021"},)
    assert query.param("year") == Param("year", "gYear", False)
    assert query.param("nope") is None


@pytest.mark.parametrize(("header", "message"), [
    ("#+ description: no summary\n", "no '#+ summary"),
    ("#+ summary: s\n#+ colour: red\n", "unknown header key 'colour'"),
    ("#+ summary: s\n#+ param: 9x | type=iri\n", "bad parameter name"),
    ("#+ summary: s\n#+ param: x | type=float\n", "unknown type 'float'"),
    ("#+ summary: s\n#+ param: x | type=iri | colour=red\n", "unknown attribute 'colour'"),
    ("#+ summary: s\n#+ param: x | type=gYear | default=21\n", "not a valid xsd:gYear"),
    ("#+ summary: s\n#+ param: x | enum=a,b | default=c\n", "not one of a, b"),
    ("#+ summary: s\n#+ param: x | type=integer | enum=1,two\n", "not a valid xsd:integer"),
    ("#+ summary: s\n#+ param: x\n#+ param: x\n", "declared twice"),
    ("#+ summary: s\n#+ param: nowhere\n", "binds no variable ?nowhere"),
    ("#+ summary: s\n#+ param: x | type=iri\n#+ example: x\n", "is not name=value"),
    ("#+ summary: s\n#+ param: x | type=iri\n#+ example: x=not an iri\n", "not an absolute IRI"),
    ("#+ summary: s\n#+ param: x | type=iri\n#+ example: y=1\n", "unknown parameter(s) y"),
    ("#+ summary: s\n#+ param: x | type=iri\n#+ example: \n", "is required"),
])
def test_header_mistakes_name_the_file(tmp_path: Path, header: str, message: str) -> None:
    path = write(tmp_path, header + "SELECT ?x WHERE { ?x ?p ?o }\n")
    with pytest.raises(ValueError, match=None) as info:
        parse_stored_query(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(("body", "message"), [
    ("SELEC ?x WHERE { ?x ?p ?o }", "no query form"),
    ("SELECT * WHERE { SERVICE <http://e/> { ?s ?p ?o } }", "SERVICE"),
    ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "read-only"),
])
def test_a_query_that_intake_refuses_is_a_file_error(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "#+ summary: s\n" + body + "\n")
    with pytest.raises(ValueError) as info:
        parse_stored_query(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_parse_param_flags() -> None:
    assert parse_param("x", "here") == Param("x")
    assert parse_param("x | optional", "here").required is False
    assert parse_param("x | default=1 | type=integer", "here").required is False


@pytest.mark.parametrize(("type_", "value", "term"), [
    ("iri", "https://w3id.org/rabat-kg/id/country/togo", "<https://w3id.org/rabat-kg/id/country/togo>"),
    ("iri", "urn:isbn:123", "<urn:isbn:123>"),
    ("string", 'say "hi"\\n', '"say \\"hi\\"\\\\n"'),
    ("string", "Côte d'Ivoire", '"Côte d\'Ivoire"'),
    ("integer", "-42", f'"-42"^^<{XSD}integer>'),
    ("decimal", "2.50", f'"2.50"^^<{XSD}decimal>'),
    ("decimal", ".5", f'".5"^^<{XSD}decimal>'),
    ("boolean", "false", f'"false"^^<{XSD}boolean>'),
    ("date", "2021-06-30", f'"2021-06-30"^^<{XSD}date>'),
    ("gYear", "2021", f'"2021"^^<{XSD}gYear>'),
    ("gYearMonth", "2021-06", f'"2021-06"^^<{XSD}gYearMonth>'),
])
def test_values_become_ntriples_terms(type_: str, value: str, term: str) -> None:
    assert to_term(Param("x", type_), value) == term
    # The engine reads the term back as the same value.
    answer = ox.Store().query(f"SELECT ?x WHERE {{ VALUES ?x {{ {term} }} }}")
    got = next(iter(answer))["x"].value
    if type_ == "decimal":  # the engine writes decimals canonically (.5 -> 0.5)
        assert Decimal(got) == Decimal(value)
    else:
        assert got == value


@pytest.mark.parametrize(("type_", "value"), [
    ("iri", "not an iri"), ("iri", "relative/path"), ("iri", "http://e/a> . ?s ?p ?o"),
    ("iri", 'http://e/"x'), ("iri", "http://e/{x}"), ("iri", ""),
    ("string", "a\x00b"), ("string", "x" * 1001), ("string", "line\nbreak"), ("string", "tab\there"),
    ("string", "end\r"), ("string", "del\x7f"), ("string", "c1\x85"),
    ("integer", "1.0"), ("integer", "1e3"), ("integer", "9" * 19), ("integer", " 1"),
    ("decimal", "1,5"), ("decimal", "NaN"), ("decimal", "1e3"),
    ("boolean", "True"), ("boolean", "1"),
    ("date", "2021-02-30"), ("date", "20210630"), ("date", "2021-W01-1"), ("date", "2021-6-3"),
    ("date", "2021-06-30Z"),
    ("gYear", "21"), ("gYear", "2021-01"), ("gYear", "twenty"),
    ("gYearMonth", "2021-13"), ("gYearMonth", "2021-1"), ("gYearMonth", "2021"),
])
def test_bad_values_are_parameter_errors(type_: str, value: str) -> None:
    with pytest.raises(ParameterError) as info:
        to_term(Param("x", type_), value)
    assert info.value.status == 400
    assert info.value.extra["parameter"] == "x"


def test_enumeration_is_checked_first() -> None:
    param = Param("lang", "string", False, "en", ("en", "fr"))
    assert to_term(param, "fr") == '"fr"'
    with pytest.raises(ParameterError, match="not one of en, fr"):
        to_term(param, "de")


def test_bind_query_defaults_optional_and_required(tmp_path: Path) -> None:
    query = parse_stored_query(FIXTURES / "activities.rq")
    bound = bind_query(query, {})
    assert "VALUES (?country ?lang) { (<https://w3id.org/rabat-kg/id/country/togo> \"en\") }" in bound
    with_year = bind_query(query, {"year": "2021", "lang": ""})  # empty means "use the default"
    assert f'"2021"^^<{XSD}gYear> "en"' in with_year
    required = parse_stored_query(write(tmp_path, "#+ summary: s\n#+ param: x | type=iri\n"
                                              "SELECT ?x WHERE { ?x ?p ?o }\n"))
    with pytest.raises(ParameterError, match="'x' is required"):
        bind_query(required, {})
    with pytest.raises(ParameterError, match="unknown parameter"):
        bind_query(query, {"colour": "red"})


def test_bound_text_is_only_the_query_plus_a_values_block() -> None:
    query = parse_stored_query(FIXTURES / "typed.rq")
    attack = '"} } ; DROP ALL # \\'
    bound = bind_query(query, {"s": attack})
    assert bound.replace(' VALUES (?n ?s) { ("1"^^<' + XSD + 'integer> "\\"} } ; DROP ALL # \\\\") }', "") \
        == query.text
    row = next(iter(ox.Store().query(bound)))
    assert row["s"].value == attack


def test_the_bundled_queries_load_and_their_examples_bind() -> None:
    queries = load_queries(QUERIES_DIR)
    assert queries, "queries/ holds no stored query"
    for query in queries.values():
        assert query.summary
        for example in query.examples:
            ox.Store().query(bind_query(query, example))  # parses: the engine accepts the bound text
        if all(not p.required for p in query.params):
            ox.Store().query(bind_query(query, {}))


def test_fixture_queries_load() -> None:
    queries = load_queries(FIXTURES)
    assert list(queries) == ["activities", "country-graph", "typed"]
    assert queries["country-graph"].form == "construct"
