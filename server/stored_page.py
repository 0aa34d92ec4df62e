"""The HTML page of a stored query, for browsers (`/queries/{name}` negotiated to HTML).

The question, a form with the query's typed parameters, the answer as a table whose IRIs link
to their pages, and the downloads. An IRI parameter whose known values share one class of the
graph becomes a picker of that class's members, labelled in the reader's language, offering the
short form (`togo`). The query runs as the API runs it, capped at `PAGE_ROWS` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Response, render_template, request, url_for

from graph import describe as d
from graph.errors import ParameterError
from graph.formats import HTML
from graph.namespaces import ID
from graph.queries import LEXICAL_FORMS, Param, StoredQuery, bind_query, known_values, resolve_iri, short_name
from server import http, i18n, site
from server.negotiation import FORMAT_PARAMS
from server.sparql import GRAPH_FORMS, intake, offered_for
from server.state import get_backend

PAGE_ROWS = 500  # rows (or triples) a page shows; the downloads have the whole answer
MAX_CHOICES = 300  # members a picker offers; a class with more gets a text box
LABEL = d.RDFS + "label"
# An input element per parameter type (the browser's own pickers for dates and months).
INPUTS = {"date": "date", "gYearMonth": "month", "integer": "number"}


@dataclass(frozen=True)
class Choice:
    """An option of a picker: the value sent (a short form where there is one) and its label."""

    value: str
    label: str


@dataclass(frozen=True)
class Field:
    """A parameter as the form shows it."""

    param: Param
    value: str  # what the reader gave, else the default, else ""
    input: str  # "select", "text", "date", "month" or "number"
    choices: tuple[Choice, ...] = ()
    pattern: str | None = None  # for the browser's own check (HTML `pattern`, matched whole)
    hint: str = ""


@dataclass(frozen=True)
class Table:
    """The answer as a page shows it: a table (SELECT, graphs) or a yes/no (ASK)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[dict[str, Any] | None, ...], ...]
    boolean: bool | None
    count: int
    truncated: bool


def request_values(query: StoredQuery, *, reader_lang: bool = False) -> dict[str, str]:
    """The query string's values for the query's parameters (API and page alike): format keys are
    not parameters, nor, with `reader_lang` (the page), an undeclared `lang=` (the reader's language).

    Raises:
        ParameterError: a parameter given twice (undeclared names are `bind_query`'s to refuse).
    """
    values: dict[str, str] = {}
    for name, value in request.args.items(multi=True):
        if name in FORMAT_PARAMS or (reader_lang and name == "lang" and query.param("lang") is None):
            continue
        if name in values:
            raise ParameterError(f"parameter {name!r} is given more than once", parameter=name)
        values[name] = value
    return values


@i18n.language_page
def query_page(query: StoredQuery) -> Response:
    """The page: the question, the form, the answer for the values given (or the defaults)."""
    lang = i18n.choose_language()
    values = request_values(query, reader_lang=True)
    status, error, table, text = 200, None, None, None
    try:
        text = bind_query(query, values)
    except ParameterError as exc:
        # A first visit to a query with a required parameter is an invitation, not an error.
        status, error = (400, exc.detail) if values else (200, None)
    else:
        table = run(text, query.form, lang)
    given = {k: v for k, v in values.items() if v != ""}
    fields = [field(query, p, values.get(p.name), lang) for p in query.params]
    path = url_for("stored.run_query", name=query.name)
    downloads = [(f.label, path + "?" + urlencode({**given, "format": f.key}), f.media_type)
                 for f in offered_for(query.form)]
    # The reader's chosen language, which the form keeps (unless the query has a `lang` field).
    asked = (request.args.get("lang") or "").strip().lower()
    keep_lang = asked if asked in i18n.languages() and query.param("lang") is None else None
    html = render_template(
        "stored/query.html", query=query, fields=fields, table=table, error=error,
        downloads=downloads, source=path + ".rq" + ("?" + urlencode(given) if given else ""),
        editor=site.editor_link(text or query.text), keep_lang=keep_lang, data_version=http.data_version())
    response = Response(html, status=status, mimetype=HTML)
    http.add_vary(response, "Accept")
    return response


# --- the form ------------------------------------------------------------------------------------


def field(query: StoredQuery, param: Param, given: str | None, lang: str) -> Field:
    """A parameter as a form field: a picker where the graph offers the choices."""
    base = query.bases.get(param.name)
    value = given if given is not None else (param.default or "")
    if param.type == "iri":
        value = short_name(base, value)
    if param.enum or param.type == "boolean":
        return Field(param, value, "select", tuple(Choice(v, v) for v in param.enum or ("true", "false")))
    if param.type == "iri":
        hint = i18n.translate("stored.short_form", lang, base=base) if base else ""
        # the header's values, checked when the query was loaded (a short one is resolved)
        known = [resolve_iri(param, v, base) for v in known_values(param, query.examples)]
        choices = iri_choices(known, base, lang)
        if choices and (not value or any(c.value == value for c in choices)):
            return Field(param, value, "select", choices, hint=hint)
        return Field(param, value, "text", hint=hint)
    if param.type == "gYear":  # the browser checks it too (an HTML pattern is matched whole)
        return Field(param, value, "text", pattern=LEXICAL_FORMS["gYear"])
    return Field(param, value, INPUTS.get(param.type, "text"))


def iri_choices(known: list[str], base: str | None, lang: str) -> tuple[Choice, ...]:
    """The members of the class the parameter's known values share, by label (none if no class
    is shared or it has more than MAX_CHOICES members)."""
    members = site.per_version_lru("stored-members", " ".join(known),
                                   lambda: class_members(known)) if known else []
    if not members or len(members) > MAX_CHOICES:
        return ()
    choices = [Choice(short_name(base, iri), d.label_in(labels, lang) or site.prefixed(iri))
               for iri, labels in members]
    return tuple(sorted(choices, key=lambda c: (c.label.casefold(), c.value)))


def class_members(iris: list[str]) -> list[tuple[str, dict[str, list[str]]]]:
    """The members, with their labels, of the most specific class (fewest members) every one of
    `iris` belongs to (up to one more than MAX_CHOICES); none without such a class."""
    rows = get_backend().select(
        f"SELECT ?c (COUNT(DISTINCT ?m) AS ?n) WHERE {{ {{ SELECT ?c WHERE {{ {values_block('v', iris)} "
        f"?v a ?c FILTER(isIRI(?c)) }} GROUP BY ?c HAVING (COUNT(DISTINCT ?v) = {len(set(iris))}) }} "
        "?m a ?c } GROUP BY ?c", lane="light")
    sizes = {row["c"]["value"]: int(row["n"]["value"]) for row in rows}
    cls = min(sorted(sizes), key=lambda c: sizes[c], default=None)
    if cls is None:
        return []
    rows = get_backend().select(
        f"SELECT ?m ?l WHERE {{ {{ SELECT DISTINCT ?m WHERE {{ ?m a {d.nt_iri(cls)} FILTER(isIRI(?m)) }} "
        f"ORDER BY ?m LIMIT {MAX_CHOICES + 1} }} OPTIONAL {{ ?m <{LABEL}> ?l }} }}", lane="light")
    return sorted(labels_by_iri(rows, "m").items())


def labels_by_iri(rows: list[dict[str, dict[str, str]]], var: str) -> dict[str, dict[str, list[str]]]:
    """The labels `?l` of each IRI `?var` of SPARQL JSON rows, by language (`{}` for none)."""
    found: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        labels = found.setdefault(row[var]["value"], {})
        if "l" in row:
            labels.setdefault(row["l"].get("xml:lang", ""), []).append(row["l"]["value"])
    return found


def values_block(var: str, iris: list[str]) -> str:
    """`VALUES ?var { <a> <b> }`, each IRI checked as an N-Triples term (nothing spliced as text)."""
    return f"VALUES ?{var} {{ {' '.join(d.nt_iri(i) for i in dict.fromkeys(iris))} }}"


# --- the answer ------------------------------------------------------------------------------------


def run(text: str, form: str, lang: str) -> Table:
    """Run the bound query as the API does (intake, light lane), capped at PAGE_ROWS: SELECT rows
    as a table, ASK as a yes/no, a graph (CONSTRUCT, DESCRIBE) as subject, predicate, object rows."""
    graph = form in GRAPH_FORMS
    result = get_backend().execute(intake(text).text, fmt="nt" if graph else "json", lane="light",
                                   max_rows=PAGE_ROWS)
    if not graph:
        answer = ox.parse_query_results(result.body, format=ox.QueryResultsFormat.JSON)
        if isinstance(answer, ox.QueryBoolean):
            return Table((), (), bool(answer), 1, False)
        values = [[None if term is None else d.value_of(term) for term in row] for row in answer]
        columns = tuple(v.value for v in answer.variables)
        return Table(columns, cells(values, lang), None, result.count, result.truncated)
    triples = [q.triple for q in ox.parse(result.body, format=ox.RdfFormat.N_TRIPLES)]
    rows = cells([[d.value_of(t) for t in (tr.subject, tr.predicate, tr.object)] for tr in triples], lang)
    # the columns are named by the standard labels of rdf:subject, rdf:predicate and rdf:object
    columns = tuple(i18n.standard_label(d.RDF + c, lang) or c for c in ("subject", "predicate", "object"))
    rows = tuple(sorted(rows, key=lambda row: tuple(c["text"] for c in row if c)))  # no empty cells
    return Table(columns, rows, None, len(triples), result.truncated)


def cells(rows: list[list[d.Value | None]], lang: str) -> tuple[tuple[dict[str, Any] | None, ...], ...]:
    """Values as `_value.html` shows them: IRIs as links named by their labels in the reader's
    language (or a fallback): the ontology's for its terms, one query for the entities."""
    unique = list(dict.fromkeys(v.value for row in rows for v in row if v and v.is_iri))
    labels = {iri: label for iri in unique if (label := site.term_label(iri, lang))}
    ours = [iri for iri in unique if iri.startswith(ID) and iri not in labels]
    if ours:
        found = get_backend().select(
            f"SELECT ?s ?l WHERE {{ {values_block('s', ours)} ?s <{LABEL}> ?l }}", lane="light")
        for iri, by_lang in labels_by_iri(found, "s").items():
            if label := d.label_in(by_lang, lang):
                labels[iri] = label

    def name(iri: str) -> str:
        return labels.get(iri) or site.prefixed(iri)
    return tuple(tuple(site.value_cell(v, name) if v else None for v in row) for row in rows)
