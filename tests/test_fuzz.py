"""Property-based fuzzing of the query intake and the stored-query parameters, over HTTP.

Hypothesis generates SPARQL-ish token soup, mutations of real queries, random text, random
bytes, random request parameters, and random values for every parameter of every stored
query listed at /queries. The properties: the answer is always 2xx or 4xx, never 5xx, except
the documented 503 (timeout, overload, memory) and then only for a query that is truly
heavy (checked by running it in a separate process on the same data); every problem body is
JSON without internals; the server stays up; and no request reaches the loopback canary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.paths import bundled_sources
from graph.release import make_release
from tests.serverproc import Canary, LiveServer, start_server

TIMEOUT_S = 1.0
EXAMPLES = int(os.environ.get("RABAT_KG_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT_TYPES = ("query-timeout", "overloaded", "query-memory")
KG = "https://w3id.org/rabat-kg/"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    s = start_server(["--timeout", str(TIMEOUT_S)],
                     log_dir=tmp_path_factory.mktemp("fuzz"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served graph as N-Triples, for the out-of-server heaviness check."""
    path = tmp_path_factory.mktemp("fuzz-data") / "data.nt"
    path.write_bytes(make_release(bundled_sources(), validate=False).ntriples)
    return path


@pytest.fixture(scope="module")
def stored(server: LiveServer) -> list[dict[str, object]]:
    response = requests.get(server.url + "/queries", headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200
    queries = response.json()["queries"]
    assert len(queries) >= 12
    return list(queries)


@pytest.fixture(scope="module", autouse=True)
def stays_up(server: LiveServer, canary: Canary) -> Iterator[None]:
    """After every property: the server is up, healthy, and the canary heard nothing."""
    yield
    assert server.proc.poll() is None
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    assert canary.hits == [], canary.hits


# --- strategies ---------------------------------------------------------------------------------

KEYWORDS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "FILTER", "OPTIONAL", "UNION", "MINUS",
            "GRAPH", "SERVICE", "SILENT", "FROM", "NAMED", "BIND", "AS", "VALUES", "LIMIT", "OFFSET",
            "ORDER BY", "GROUP BY", "HAVING", "DISTINCT", "REDUCED", "PREFIX", "BASE", "INSERT", "DELETE",
            "DATA", "LOAD", "CLEAR", "DROP", "WITH", "USING", "a", "true", "false", "UNDEF", "select",
            "service", "Service", "EXISTS", "NOT", "IN", "DESC", "ASC", "SEPARATOR", "INTO"]
FUNCTIONS = ["REGEX", "STR", "CONCAT", "COUNT", "SUM", "AVG", "SAMPLE", "GROUP_CONCAT", "LANG",
             "LANGMATCHES", "IRI", "URI", "BNODE", "SUBSTR", "REPLACE", "STRLEN", "NOW", "RAND", "MD5",
             "SHA512", "ENCODE_FOR_URI", "COALESCE", "IF", "isIRI", "DATATYPE", "STRDT", "xsd:integer"]
PUNCT = ["{", "}", "(", ")", "[", "]", ".", ";", ",", "*", "+", "?", "/", "|", "^", "^^", "!", "=",
         "!=", "<", ">", "<=", ">=", "&&", "||", "-", "#", "\n", "$"]


def terms(canary_url: str) -> list[str]:
    return ["?s", "?p", "?o", "?x", "$y", "?_", "<urn:x>", f"<{canary_url}/t>", "<file:///etc/passwd>",
            f"<{KG}def/Country>", f"<{KG}id/country/togo>", "kg:Country", "rdfs:label", "xsd:date",
            "wd:Q1", "_:b", '"a"', "'b'", '"x"@en', '"1"^^xsd:integer', '"\\uD800"', '"\\u0000"',
            '"""long\nstring"""', "12", "1.5", "-3e4", "+7", "0x1", "<>", "<a b>", '"unterminated',
            "<http://[::1]/>", "PREFIX kg: <https://w3id.org/rabat-kg/def/>",
            "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>"]


BASE_QUERIES = [
    "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 5",
    "PREFIX kg: <https://w3id.org/rabat-kg/def/>\nSELECT ?c WHERE { ?c a kg:Country } ORDER BY ?c",
    "ASK { ?s ?p ?o }",
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 3",
    "DESCRIBE <https://w3id.org/rabat-kg/id/country/togo>",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?c } GROUP BY ?c HAVING (COUNT(*) > 1)",
    'SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l FILTER(REGEX(?l, "^T", "i")) }',
    "SELECT * WHERE { VALUES ?x { 1 2 3 } BIND(?x * 2 AS ?y) OPTIONAL { ?x ?p ?o } }",
]


@st.composite
def token_soup(draw: st.DrawFn, canary_url: str) -> str:
    vocabulary = KEYWORDS + FUNCTIONS + PUNCT + terms(canary_url)
    tokens = draw(st.lists(st.one_of(st.sampled_from(vocabulary), st.text(max_size=8)), max_size=40))
    separators = draw(st.lists(st.sampled_from([" ", "\n", "\t", "", " # c\n"]),
                               min_size=len(tokens), max_size=len(tokens)))
    return "".join(t + s for t, s in zip(tokens, separators, strict=True))


@st.composite
def mutated_query(draw: st.DrawFn, canary_url: str) -> str:
    """A valid query with one to three token edits: insert, delete, duplicate or replace."""
    tokens = draw(st.sampled_from([*BASE_QUERIES, draw(grammar_query(canary_url))])).split(" ")
    vocabulary = KEYWORDS + FUNCTIONS + PUNCT + terms(canary_url)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(tokens)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "replace"]))
        if kind == "insert":
            tokens.insert(at, draw(st.sampled_from(vocabulary)))
        elif kind == "delete":
            del tokens[at:at + 1]
        elif kind == "duplicate":
            tokens[at:at] = tokens[at:at + draw(st.integers(1, 4))]
        else:
            tokens[at:at + 1] = [draw(st.one_of(st.sampled_from(vocabulary), st.text(max_size=6)))]
    return " ".join(tokens)


VARS = ["?s", "?p", "?o", "?x"]
IRIS = [f"<{KG}def/Country>", f"<{KG}id/country/togo>", "<http://www.w3.org/2000/01/rdf-schema#label>",
        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>", "<urn:x>"]
LITERALS = ['"Togo"@en', '"2021"^^<http://www.w3.org/2001/XMLSchema#gYear>', "3", "2.5", "true", '""',
            '"a\\u0001b"', '"\\uD800"', '"(a+)+$"', '"<script>"']


@st.composite
def expression(draw: st.DrawFn, depth: int = 0) -> str:
    leaf = st.sampled_from(VARS + LITERALS + IRIS)
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(leaf)
    kind = draw(st.sampled_from(["call", "binary", "not", "exists"]))
    if kind == "call":
        name = draw(st.sampled_from(["STR", "LANG", "STRLEN", "UCASE", "CONCAT", "REGEX", "REPLACE", "SUBSTR",
                                     "IF", "COALESCE", "isIRI", "DATATYPE", "ENCODE_FOR_URI", "MD5",
                                     "CONTAINS", "STRSTARTS", "YEAR", "ABS", "ROUND", "sameTerm", "IRI"]))
        args = [draw(expression(depth + 1)) for _ in range(draw(st.integers(1, 3)))]
        return f"{name}({', '.join(args)})"
    if kind == "binary":
        op = draw(st.sampled_from(["=", "!=", "<", ">=", "&&", "||", "+", "*", "/", "-"]))
        return f"({draw(expression(depth + 1))} {op} {draw(expression(depth + 1))})"
    if kind == "not":
        return f"!({draw(expression(depth + 1))})"
    return f"EXISTS {{ {draw(triple())} }}"


@st.composite
def triple(draw: st.DrawFn) -> str:
    subject = draw(st.sampled_from(VARS + IRIS[1:2]))
    predicate = draw(st.sampled_from(VARS + IRIS[2:4] + ["a", "<urn:p>+", "(<urn:p>|!<urn:p>)?",
                                                          "^<http://www.w3.org/2000/01/rdf-schema#label>"]))
    obj = draw(st.sampled_from(VARS + IRIS + LITERALS[:2]))
    return f"{subject} {predicate} {obj} ."


@st.composite
def group(draw: st.DrawFn, depth: int = 0) -> str:
    parts = [draw(triple())]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["triple", "filter", "optional", "union", "bind", "values", "minus"]
                                    if depth < 2 else ["triple", "filter", "bind"]))
        if kind == "triple":
            parts.append(draw(triple()))
        elif kind == "filter":
            parts.append(f"FILTER({draw(expression())})")
        elif kind == "optional":
            parts.append(f"OPTIONAL {{ {draw(group(depth + 1))} }}")
        elif kind == "union":
            parts.append(f"{{ {draw(group(depth + 1))} }} UNION {{ {draw(group(depth + 1))} }}")
        elif kind == "bind":
            parts.append(f"BIND({draw(expression())} AS ?b{depth}{len(parts)})")
        elif kind == "values":
            values = draw(st.lists(st.sampled_from(IRIS + LITERALS), max_size=3))
            parts.append(f"VALUES ?x {{ {' '.join(values)} }}")
        else:
            parts.append(f"MINUS {{ {draw(group(depth + 1))} }}")
    return " ".join(parts)


@st.composite
def grammar_query(draw: st.DrawFn, canary_url: str) -> str:
    """A query built from the grammar: mostly valid, some refused (SERVICE, FROM), some wrong."""
    where = draw(group())
    if draw(st.integers(0, 9)) == 0:
        where += f" SERVICE <{canary_url}/g> {{ ?s ?p ?o }}"
    form = draw(st.sampled_from(["select", "select", "ask", "construct", "describe"]))
    modifiers = ""
    if form == "select":
        head = draw(st.sampled_from(["*", "?s", "DISTINCT ?s ?o", "(COUNT(*) AS ?n)", "?x (STR(?o) AS ?t)"]))
        if "COUNT" not in head and draw(st.booleans()):
            modifiers += f" ORDER BY {draw(st.sampled_from([*VARS, 'DESC(?o)', 'STR(?s)']))}"
        modifiers += f" LIMIT {draw(st.integers(0, 2000))}" if draw(st.booleans()) else ""
        modifiers += f" OFFSET {draw(st.integers(0, 50))}" if draw(st.integers(0, 3)) == 0 else ""
        text = f"SELECT {head} WHERE {{ {where} }}{modifiers}"
    elif form == "ask":
        text = f"ASK {{ {where} }}"
    elif form == "construct":
        text = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {where} }} LIMIT {draw(st.integers(0, 500))}"
    else:
        text = f"DESCRIBE ?s WHERE {{ {where} }} LIMIT 5"
    if draw(st.integers(0, 9)) == 0:
        text = f"SELECT * FROM <{canary_url}/from> WHERE {{ {where} }}"
    return text


# --- checks ----------------------------------------------------------------------------------------


def truly_heavy(query: str, data_file: Path) -> bool:
    """Whether `query` runs longer than the server's limit in a plain engine on the same data."""
    script = ("import sys, time, pyoxigraph as ox\n"
              "s = ox.Store(); s.bulk_load(path=sys.argv[1], format=ox.RdfFormat.N_TRIPLES)\n"
              "q = sys.stdin.read(); t = time.monotonic()\n"
              "try:\n    r = s.query(q)\n    list(r) if not isinstance(r, ox.QueryBoolean) else None\n"
              "except Exception:\n    pass\n"
              "print(time.monotonic() - t)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", script, str(data_file)], input=query, text=True,
                              capture_output=True, timeout=TIMEOUT_S * 2 + 3)
    except subprocess.TimeoutExpired:
        return True
    if proc.returncode != 0:  # killed by its own allocation, say: heavy enough
        return True
    return float(proc.stdout.strip() or 0) > TIMEOUT_S / 2


def check_answer(response: requests.Response, data_file: Path, query: str | None) -> None:
    """2xx/3xx/4xx with a clean body, or the documented 503 for a truly heavy query."""
    status = response.status_code
    assert "Traceback" not in response.text and 'File "/' not in response.text, response.text[:500]
    ctype = response.headers.get("Content-Type", "")
    if status >= 400:
        assert ctype.startswith(("application/problem+json", "text/plain", "text/html")), ctype
        if ctype.startswith("application/problem+json"):
            doc = response.json()
            assert doc["status"] == status
    if status == 503:
        slug = response.json()["type"].rsplit("/", 1)[1]
        assert slug in LIMIT_TYPES, response.text[:300]
        assert response.headers.get("Retry-After", "").isdigit()
        assert query is not None and truly_heavy(query, data_file), \
            f"503 for a query that is not heavy: {query!r}\n{response.text[:300]}"
        return
    assert status < 500, (status, response.text[:500])
    if status == 200 and "json" in ctype:
        json.loads(response.content)


def send(server: LiveServer, query: str, how: str) -> requests.Response:
    url = server.url + "/sparql"
    if how == "get":
        return requests.get(url, params={"query": query}, timeout=TIMEOUT_S + 20)
    if how == "form":
        return requests.post(url, data={"query": query}, timeout=TIMEOUT_S + 20)
    return requests.post(url, data=query.encode("utf-8", "surrogatepass"), timeout=TIMEOUT_S + 20,
                         headers={"Content-Type": "application/sparql-query"})


# --- properties ------------------------------------------------------------------------------------


HOW = st.sampled_from(["get", "form", "direct"])


def test_token_soup_never_5xx(server: LiveServer, canary: Canary, data_file: Path) -> None:
    @FUZZ
    @given(query=token_soup(canary.url), how=HOW)
    def prop(query: str, how: str) -> None:
        check_answer(send(server, query, how), data_file, query)
        assert server.proc.poll() is None

    prop()


def test_grammar_queries_never_5xx(server: LiveServer, canary: Canary, data_file: Path) -> None:
    @FUZZ
    @given(query=grammar_query(canary.url), how=HOW)
    def prop(query: str, how: str) -> None:
        check_answer(send(server, query, how), data_file, query)
        assert server.proc.poll() is None

    prop()


def test_mutated_queries_never_5xx(server: LiveServer, canary: Canary, data_file: Path) -> None:
    @FUZZ
    @given(query=mutated_query(canary.url), how=HOW)
    def prop(query: str, how: str) -> None:
        check_answer(send(server, query, how), data_file, query)
        assert server.proc.poll() is None

    prop()


def test_random_text_never_5xx(server: LiveServer, data_file: Path) -> None:
    @FUZZ
    @given(query=st.text(max_size=400), how=HOW)
    def prop(query: str, how: str) -> None:
        check_answer(send(server, query, how), data_file, query)

    prop()


def test_random_bytes_never_5xx(server: LiveServer, data_file: Path) -> None:
    @FUZZ
    @given(body=st.binary(max_size=400), where=st.sampled_from(["body", "url", "form"]))
    def prop(body: bytes, where: str) -> None:
        if where == "body":
            response = requests.post(server.url + "/sparql", data=body, timeout=TIMEOUT_S + 20,
                                     headers={"Content-Type": "application/sparql-query"})
        elif where == "form":
            response = requests.post(server.url + "/sparql", data=b"query=" + quote_from_bytes(body).encode(),
                                     timeout=TIMEOUT_S + 20,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            response = requests.get(server.url + "/sparql?query=" + quote_from_bytes(body, safe=""),
                                    timeout=TIMEOUT_S + 20)
        query = body.decode("utf-8", "replace")
        check_answer(response, data_file, query)

    prop()


PARAM_NAMES = st.one_of(st.sampled_from(["query", "format", "default-graph-uri", "named-graph-uri", "update",
                                         "lang", "timeout", "output", "callback", "using-graph-uri"]),
                        st.text(max_size=12))
PARAM_VALUES = st.one_of(st.sampled_from(BASE_QUERIES), st.text(max_size=40))


def test_random_parameters_never_5xx(server: LiveServer, data_file: Path) -> None:
    @FUZZ
    @given(pairs=st.lists(st.tuples(PARAM_NAMES, PARAM_VALUES), max_size=5),
           method=st.sampled_from(["GET", "POST"]),
           accept=st.sampled_from(["*/*", "application/sparql-results+json", "text/csv", "text/turtle",
                                   "text/html", "application/xml;q=0.1, foo/bar", "", "x"]))
    def prop(pairs: list[tuple[str, str]], method: str, accept: str) -> None:
        headers = {"Accept": accept} if accept else {}
        if method == "GET":
            response = requests.get(server.url + "/sparql", params=pairs, headers=headers,
                                    timeout=TIMEOUT_S + 20)
        else:
            response = requests.post(server.url + "/sparql", data=pairs, headers=headers,
                                     timeout=TIMEOUT_S + 20)
        queries = [v for k, v in pairs if k == "query"]
        check_answer(response, data_file, queries[0] if len(queries) == 1 else None)

    prop()


def value_for(param: dict[str, object]) -> st.SearchStrategy[str]:
    """Well-typed, ill-typed and hostile values for one stored-query parameter."""
    typed: dict[str, st.SearchStrategy[str]] = {
        "iri": st.sampled_from([f"{KG}id/country/togo", f"{KG}id/country/cameroon", "urn:x",
                                "http://ex.org/a> ?q ?r . ?s ?p ?o } #", "not an iri", "javascript:alert(1)",
                                "file:///etc/passwd", f"{KG}id/country/togo>"]),
        "integer": st.integers(-10**30, 10**30).map(str),
        "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
        "boolean": st.sampled_from(["true", "false", "1", "0", "yes"]),
        "date": st.dates().map(str),
        "gYear": st.integers(-9999, 99999).map(str),
        "gYearMonth": st.tuples(st.integers(1, 9999), st.integers(0, 13))
                        .map(lambda t: f"{t[0]:04d}-{t[1]:02d}"),
        "string": st.text(max_size=30),
    }
    choices = [typed.get(str(param.get("type")), st.text(max_size=30)), st.text(max_size=40),
               st.sampled_from(['"', "'", "\\", "}", "\" } ; DROP ALL #", "\x00", "\n"])]
    if param.get("enum"):
        choices.append(st.sampled_from([str(v) for v in param["enum"]]))  # type: ignore[attr-defined]
    return st.one_of(*choices)


@st.composite
def stored_call(draw: st.DrawFn, stored: list[dict[str, object]]) -> tuple[str, list[tuple[str, str]]]:
    query = draw(st.sampled_from(stored))
    pairs: list[tuple[str, str]] = []
    for param in query["params"]:  # type: ignore[attr-defined]
        if draw(st.booleans()):
            pairs.append((str(param["name"]), draw(value_for(param))))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(st.text(max_size=10)), draw(st.text(max_size=10))))
    if draw(st.integers(0, 4)) == 0:
        pairs.append(("format", draw(st.sampled_from(["json", "csv", "ttl", "xml", "html", "nope", ""]))))
    return str(query["name"]), pairs


def test_stored_query_parameters_never_5xx(server: LiveServer, stored: list[dict[str, object]],
                                           data_file: Path) -> None:
    @FUZZ
    @given(call=stored_call(stored), source=st.booleans())
    def prop(call: tuple[str, list[tuple[str, str]]], source: bool) -> None:
        name, pairs = call
        path = f"/queries/{quote(name)}" + (".rq" if source else "")
        response = requests.get(server.url + path, params=pairs, timeout=TIMEOUT_S + 20,
                                headers={"Accept": "*/*"})
        bound = None
        if response.status_code == 503:  # what ran: the query with these values bound
            text = requests.get(server.url + f"/queries/{quote(name)}.rq", params=pairs, timeout=30)
            bound = text.text if text.status_code == 200 else None
        check_answer(response, data_file, bound)

    prop()


def test_server_still_answers_correctly_after_fuzzing(server: LiveServer) -> None:
    """Runs last in this module: nothing above broke the engine for ordinary queries."""
    time.sleep(0.2)
    response = requests.get(server.url + "/sparql", timeout=30, params={
        "query": "PREFIX kg: <https://w3id.org/rabat-kg/def/> SELECT (COUNT(*) AS ?n) { ?c a kg:Country }"},
        headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 200
    assert int(response.json()["results"]["bindings"][0]["n"]["value"]) > 10
