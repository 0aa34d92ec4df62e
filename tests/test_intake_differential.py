"""Differential test of the intake lexer against the engine (issue 18, item 1).

Queries full of codepoint escapes, comments, long strings and IRIs are read by our lexer and
by pyoxigraph, and the two readings must agree: the same string values and IRIs in the same
order, and no FROM or SERVICE the engine reads where intake saw none. The generated queries
have the shape

    SELECT (t AS ?w) ?v0 ... ?vn <gap> WHERE { <gap> ?s ?p ?o .
        VALUES (?v0 ... ?vn) { ( t0 <gap> t1 ... ) } } <gap>

over a store of one triple, where each `t` is a string or IRI token and each gap is
whitespace and comments that may hide (or reveal) `FROM <g>` and `SERVICE <...> {}`. A FROM
the engine reads empties the answer (the default graph becomes the empty <http://x/g>); a
SERVICE the engine reads fails to connect (port 9 on loopback refuses at once). Either is a
failure if intake accepted the query. No nesting is generated: the engine would crash on
deep nesting, which tests/test_intake.py checks is refused before it.
"""

from __future__ import annotations

import os

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graph.errors import KgError, QuerySyntaxError
from graph.intake import check_query, iri_value, string_value, tokens

EXAMPLES = int(os.environ.get("RABAT_KG_FUZZ_EXAMPLES", "1000"))
DIFF = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of string bodies: escapes of quotes and backslashes, raw quotes, line breaks, text
# that would be a comment or a keyword outside the string. Most are valid inside some
# string, so that most queries parse and their readings can be compared.
STRING_PIECES = ["a", " ", "#", '"', "'", '""', "''", '\\"', "\\'", "\\\\", "\\u0022", "\\u0027",
                 "\\u005c", "\\U00000022", "\\u0023", "\\n", "\\t", "\u00e9", "}", "{", "<", ">",
                 "FROM <http://x/g>", "\\u000a", "#\\u0022"] * 3 + ["\n", "\r", "\\x", "\\u00",
                                                               "\\uD800"]
IRI_PIECES = ["a", "\\u0041", "#", "(", ")", "'", "%20"] * 3 + ["\\u0022", "\\u003e", " ", '"',
                                                            "\\", "}", "<"]
# Gaps between tokens: comments hiding things (some ended early by a carriage return) and,
# more rarely, text the engine does not take for whitespace.
GAP_PIECES = [" ", "\n", "\t", "\r", "\r\n", "# c", '#"""', "#" + "'" * 3, "#\\u0022", '#"',
              "# }", "#\r", "#\rFROM <http://x/g>", "#\rSERVICE <http://127.0.0.1:9/s> {}",
              "# FROM <http://x/g>"] * 3 + [
              "\x0c", "\u00a0", '"', "'", '"""', "'" * 3, "\\u0022", "\\u0027", "\\u0023",
              "FROM <http://x/g>", "SERVICE <http://127.0.0.1:9/s> {}"]

quotes = st.sampled_from(['"', "'", '"""', "'" * 3])
RAW = {'"', "'", '""', "''", "\n", "\r", "\\x", "\\u00", "\\uD800"}  # not valid in every string


def strings_of(pieces: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda q, body: q + "".join(body) + q, quotes,
                     st.lists(st.sampled_from(pieces), max_size=6))


# Three in four strings are valid whatever their quotes; the rest may hold anything.
string_tokens = st.one_of(*[strings_of([p for p in STRING_PIECES if p not in RAW])] * 3,
                          strings_of(STRING_PIECES))
iri_tokens = st.builds(lambda body: "<http://e/" + "".join(body) + ">",
                       st.lists(st.sampled_from(IRI_PIECES), max_size=4))
terms = st.one_of(string_tokens, iri_tokens)
# Each gap ends with a line feed, so that a comment in it ends before the next token (unless
# it holds a carriage return: then it ends earlier, as the engine reads it).
gaps = st.builds(lambda pieces: "".join(pieces) + "\n",
                 st.lists(st.sampled_from(GAP_PIECES), max_size=4))


@st.composite
def queries(draw: st.DrawFn) -> str:
    row = draw(st.lists(terms, min_size=1, max_size=4))
    between = [draw(gaps) for _ in row]
    variables = " ".join(f"?v{i}" for i in range(len(row)))
    values = "".join(f"{t} {g}" for t, g in zip(row, between, strict=True))
    return (f"SELECT ({draw(terms)} AS ?w) {variables} {draw(gaps)} WHERE {{ {draw(gaps)}\n"
            f"?s ?p ?o . VALUES ({variables}) {{ ( {values}\n) }} }} {draw(gaps)}")


def store() -> ox.Store:
    s = ox.Store()
    s.add(ox.Quad(ox.NamedNode("http://e/s"), ox.NamedNode("http://e/p"), ox.Literal("o")))
    return s


STORE = store()


def our_reading(query: str) -> list[str] | None:
    """String values and IRIs in the order our lexer finds them; None if it refuses the text."""
    try:
        return [string_value(t.text) if t.kind == "string" else iri_value(t.text)
                for t in tokens(query) if t.kind in ("string", "iri")]
    except QuerySyntaxError:
        return None


def engine_reading(query: str) -> tuple[str, list[list[str]] | None]:
    """("syntax", None), ("failed", None) or ("rows", [?w, ?v0, ...] values per row)."""
    try:
        solutions = STORE.query(query)
        assert isinstance(solutions, ox.QuerySolutions)
        names = sorted(v.value for v in solutions.variables)  # "v0"... then "w": w first
        rows = [[row[n].value for n in names[-1:] + names[:-1]] for row in solutions]
    except SyntaxError:
        return "syntax", None
    except OSError:
        return "failed", None  # the engine read a SERVICE and tried to reach it
    return "rows", rows


def refusal(query: str) -> str | None:
    """Why intake refuses the query, or None if it accepts it."""
    try:
        check_query(query)
    except KgError as exc:
        return exc.detail
    return None


def accepted(query: str) -> bool:
    return refusal(query) is None


def accepted_by_the_engines_reading(query: str) -> bool:
    """Accepted, or refused only by the reading with escapes decoded first (for stores that
    decode them as SPARQL 1.1 says), which may see FROM where this engine sees a string."""
    why = refusal(query)
    return why is None or "decoded first" in why


@DIFF
@given(queries())
@example('SELECT ("\\u0022" AS ?w) ?v0 FROM <http://x/g> WHERE { ?s ?p ?o . '
         'VALUES (?v0) { ( "a"\n) } } #"""')
@example("SELECT ('a' AS ?w) ?v0 #\rFROM <http://x/g>\n WHERE { ?s ?p ?o . VALUES (?v0) { ('a') } }")
@example("SELECT ('a' AS ?w) ?v0 WHERE { #\rSERVICE <http://127.0.0.1:9/s> {}\n"
         "?s ?p ?o . VALUES (?v0) { ('a') } }")
@example('SELECT ("a" AS ?w) ?v0 WHERE { ?s ?p ?o . VALUES (?v0) { ( """a""""\n) } }')
def test_intake_and_engine_read_queries_alike(query: str) -> None:
    kind, rows = engine_reading(query)
    ok = accepted(query)
    if kind == "failed":
        assert not ok, "the engine read a SERVICE that intake did not see"
        return
    if kind == "syntax":
        return  # the engine runs nothing; intake checks lexing, not the grammar
    assert rows is not None
    if len(rows) != 1:
        assert not ok, "the engine read a FROM that intake did not see"
        return
    # The engine parsed the query: our lexer reads the same terms from it...
    assert our_reading(query) == rows[0]
    # ...and intake accepts it, unless the reading with escapes decoded first (a stricter
    # check, for stores that decode them) finds FROM or SERVICE.
    assert accepted_by_the_engines_reading(query), query


@DIFF
@given(string_tokens)
def test_every_string_token_means_what_the_engine_says(token: str) -> None:
    query = f"SELECT ?w WHERE {{ BIND({token} AS ?w) }}"
    try:
        solutions = STORE.query(query)
        assert isinstance(solutions, ox.QuerySolutions)
        (value,) = [row["w"] for row in solutions]
    except (SyntaxError, OSError):
        return
    ours = our_reading(query)
    if isinstance(value, ox.Literal) and value.datatype.value.endswith("#string"):
        # The engine read one string: intake reads that same string, and nothing else.
        assert ours == [value.value]
        assert accepted_by_the_engines_reading(query)
    else:  # an expression of several tokens, such as "" < "" (false)
        assert ours is not None and len(ours) != 1


@pytest.mark.parametrize("query", [
    'SELECT ("\\u0022" AS ?w) ?v0 WHERE { ?s ?p ?o . VALUES (?v0) { ( "\\u0022" ) } } #"""',
    "SELECT ('' AS ?w) ?v0 WHERE { ?s ?p ?o . VALUES (?v0) { ( '''a''\\'''' ) } }",
])
def test_examples_agree(query: str) -> None:
    kind, rows = engine_reading(query)
    assert kind == "rows" and rows == [our_reading(query)]
    assert accepted(query)
