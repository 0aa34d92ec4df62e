"""Stored queries: `queries/*.rq` files whose comment header makes them an API.

The header is flat `#+ key: value` lines (grlc's idea, without YAML), so each file stays
plain SPARQL that any client can run::

    #+ summary: What each reference country did, and when.
    #+ description: Longer text; the line may repeat.
    #+ tags: country, timeline
    #+ param: country | type=iri | default=https://w3id.org/rabat-kg/id/country/togo | description=...
    #+ param: year | type=gYear | optional
    #+ param: lang | type=string | enum=en,fr | default=en
    #+ example: country=https://w3id.org/rabat-kg/id/country/cameroon

A parameter binds the SPARQL variable of the same name through a VALUES block; values are
checked against their type first (a full match over ASCII) and written as RDF terms, never
spliced in as text. An IRI parameter also takes a short form, a name under the namespace its
header values share in our IRI space: `country=togo` (`StoredQuery.bases`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graph.describe import nt_literal
from graph.engine.base import Form
from graph.errors import KgError, ParameterError, QuerySyntaxError
from graph.intake import check_query, insert_values, tokens
from graph.namespaces import BASE, STANDARD_PREFIXES

XSD = STANDARD_PREFIXES["xsd"]
MAX_TEXT = 1000  # characters of a string parameter
MAX_IRI = 2000  # characters of an IRI parameter
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# The lexical form of each parameter type, matched whole (re.fullmatch), written once in the
# syntax Python and JSON Schema (ECMAScript) share, so OpenAPI publishes the very rules the
# server applies (`anchored`). `[0-9]`, never `\d`, which takes any Unicode digit.
DIGITS = "[0-9]"
LEXICAL_FORMS = {
    # an absolute IRI: a scheme, then SPARQL's IRIREF characters without C0, DEL and C1 controls
    "iri": r'[A-Za-z][A-Za-z0-9+.\-]*:[^<>"{}|^`\\\x00-\x20\x7f-\x9f]*',
    # a word, a name or a phrase, with no control character, tab and newline included
    "string": r"[^\x00-\x1f\x7f-\x9f]*",
    "integer": rf"[+-]?{DIGITS}{{1,18}}",
    "decimal": rf"[+-]?({DIGITS}+(\.{DIGITS}*)?|\.{DIGITS}+)",
    "boolean": r"true|false",
    "gYear": rf"-?{DIGITS}{{4}}",
    "gYearMonth": rf"-?{DIGITS}{{4}}-(0[1-9]|1[0-2])",
    "date": rf"{DIGITS}{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12]{DIGITS}|3[01])",
}
LEXICAL = {name: re.compile(form, re.ASCII) for name, form in LEXICAL_FORMS.items()}
# The short form of an IRI parameter: path segments of unreserved ASCII, none starting with a dot.
SHORT_FORM = r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]*(/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)*"
_SHORT = re.compile(SHORT_FORM, re.ASCII)
_WHOLE = re.compile(f"{DIGITS}{{1,9}}", re.ASCII)
INTEGER_MAX = 10**18 - 1  # 18 digits, LEXICAL_FORMS["integer"]
HEADER_KEYS = ("summary", "description", "tags", "param", "example")  # `#+ key: value`, each may repeat


def anchored(form: str) -> str:
    """A lexical form as a JSON Schema / ECMAScript pattern, which matches anywhere unless anchored
    (and whose `$`, unlike Python's, takes no trailing newline)."""
    return f"^(?:{form})$"


def whole_number(raw: str, name: str, low: int, high: int) -> int:
    """A numeric query parameter of the app (a page number): ASCII digits only, from `low` to
    `high` (`str.isdigit` takes `²` and `int` takes `٢`). Raises ParameterError (400) naming it."""
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise ParameterError(f"parameter {name!r}: {raw[:40]!r} is not a whole number from {low} "
                             f"to {high} (ASCII digits)", parameter=name)
    return int(raw)


@dataclass(frozen=True)
class Param:
    """A typed parameter of a stored query."""

    name: str
    type: str = "string"
    required: bool = True
    default: str | None = None
    enum: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class StoredQuery:
    """A `.rq` file and what its header says about it."""

    name: str
    path: Path
    text: str
    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    examples: tuple[dict[str, str], ...] = ()
    form: Form = "select"
    # IRI parameters with a short form: where it is resolved (derived from params and examples)
    bases: Mapping[str, str] = field(default_factory=dict, compare=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def parse_param(spec: str, where: str) -> Param:
    """Parse `name | type=iri | optional | default=... | enum=a,b | description=...`."""
    name, *parts = (part.strip() for part in spec.split("|"))
    if not _NAME.fullmatch(name):
        raise ValueError(f"{where}: bad parameter name {name!r}")
    attrs = {key.strip(): value.strip() for key, _, value in (part.partition("=") for part in parts)}
    for key in attrs:
        if key not in ("type", "optional", "default", "enum", "description"):
            raise ValueError(f"{where}: parameter {name}: unknown attribute {key!r}")
    type_ = attrs.get("type", "string")
    if type_ not in LEXICAL_FORMS:
        raise ValueError(f"{where}: parameter {name}: unknown type {type_!r}")
    enum = tuple(v.strip() for v in attrs.get("enum", "").split(",") if v.strip())
    required = "optional" not in attrs and "default" not in attrs
    return Param(name, type_, required, attrs.get("default"), enum, attrs.get("description", ""))


def parse_stored_query(path: Path) -> StoredQuery:
    """Read one `.rq` file; a malformed header is an error naming the file and line."""
    text = path.read_text(encoding="utf-8")
    header: dict[str, list[tuple[str, str]]] = {key: [] for key in HEADER_KEYS}  # (value, where)
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("#+"):
            key, _, value = (part.strip() for part in line[2:].partition(":"))
            if key not in header:
                raise ValueError(f"{path}:{lineno}: unknown header key {key!r}")
            header[key].append((value, f"{path}:{lineno}"))
    params = [parse_param(value, where) for value, where in header["param"]]
    examples = [parse_example(value, where) for value, where in header["example"]]
    if not header["summary"]:
        raise ValueError(f"{path}: the header has no '#+ summary:' line")
    try:
        form = check_query(text).form
    except KgError as exc:  # a syntax error, or SERVICE, FROM, an update...
        raise ValueError(f"{path}: {exc.detail}") from None
    texts = {key: [value for value, _ in lines] for key, lines in header.items()}
    tags = tuple(t.strip() for v in texts["tags"] for t in v.split(",") if t.strip())
    # An IRI parameter whose header IRIs (default, enumeration, examples) share a namespace of
    # ours takes a short value, resolved against that namespace.
    bases = {p.name: short_base([v for v in known_values(p, examples) if LEXICAL["iri"].fullmatch(v)])
             for p in params if p.type == "iri"}
    query = StoredQuery(name=path.stem, path=path, text=text, summary=" ".join(texts["summary"]),
                        description=" ".join(texts["description"]), tags=tags, params=tuple(params),
                        examples=tuple(examples), form=form,
                        bases={name: base for name, base in bases.items() if base})
    check_params(query)
    return query


def parse_example(value: str, where: str) -> dict[str, str]:
    """`name=value&name=value` (values are taken literally, not percent-decoded)."""
    example: dict[str, str] = {}
    for item in filter(str.strip, value.split("&")):
        name, sep, val = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{where}: example item {item.strip()!r} is not name=value")
        example[name.strip()] = val.strip()
    return example


def check_params(query: StoredQuery) -> None:
    """What the header declares must fit the query: a bad default is the file's error, not the user's."""
    seen: set[str] = set()
    variables = {tok.text[1:] for tok in tokens(query.text) if tok.kind == "var"}
    for param in query.params:
        if param.name in seen:
            raise ValueError(f"{query.path}: parameter {param.name!r} is declared twice")
        seen.add(param.name)
        if param.name not in variables:
            raise ValueError(f"{query.path}: parameter {param.name!r} binds no variable "
                             f"?{param.name} of the query")
        try:
            for value in (*param.enum, *([param.default] if param.default is not None else [])):
                to_term(param, value)
        except ParameterError as exc:
            raise ValueError(f"{query.path}: {exc.detail}") from None
    for example in query.examples:
        try:
            bind_query(query, example)
        except (ParameterError, QuerySyntaxError) as exc:
            raise ValueError(f"{query.path}: example {example}: {exc.detail}") from None


def load_queries(directory: Path) -> dict[str, StoredQuery]:
    """All stored queries of a folder, by name (the file stem), in name order."""
    return {p.stem: parse_stored_query(p) for p in sorted(directory.glob("*.rq"))}


def known_values(param: Param, examples: Iterable[Mapping[str, str]]) -> list[str]:
    """The values a query's header gives a parameter: default, enumeration, examples."""
    return [v for v in (param.default, *param.enum, *(ex.get(param.name) for ex in examples)) if v]


def short_base(iris: list[str]) -> str | None:
    """The namespace `iris` share, cut after a `/` or `#`, if it is inside our IRI space.

    >>> short_base(["https://w3id.org/rabat-kg/id/country/togo", "https://w3id.org/rabat-kg/id/country/mali"])
    'https://w3id.org/rabat-kg/id/country/'
    """
    common = os.path.commonprefix(iris)  # noqa: RUF071 (characters on purpose: IRIs, not paths)
    base = common[:max(common.rfind("/"), common.rfind("#")) + 1]
    return base if base.startswith(BASE) and len(base) > len(BASE) else None


def resolve_iri(param: Param, value: str, base: str | None = None) -> str:
    """The IRI a value of an IRI parameter names: itself when absolute, else the short form
    resolved against the parameter's base (`togo` -> `https://w3id.org/rabat-kg/id/country/togo`)."""
    if len(value) <= MAX_IRI and LEXICAL["iri"].fullmatch(value):
        return value
    if base and len(value) <= MAX_IRI and _SHORT.fullmatch(value):
        return base + value
    also = ""
    if base:
        such = example_name(param, base)
        also = f" or a name under {base}" + (f" such as {such!r}" if such else "")
    raise ParameterError(f"parameter {param.name!r}: {value[:80]!r} is not an absolute IRI{also}",
                         parameter=param.name)


def short_name(base: str | None, iri: str) -> str:
    """What a form shows for `iri`: its short form under `base` when it has one, else the IRI."""
    if base and iri.startswith(base) and _SHORT.fullmatch(iri[len(base):]):
        return iri[len(base):]
    return iri


def example_name(param: Param, base: str) -> str | None:
    """A short form to cite in messages and descriptions (of the default or an enumerated value)."""
    for iri in (param.default, *param.enum):
        if iri and short_name(base, iri) != iri:
            return short_name(base, iri)
    return None


def to_term(param: Param, value: str, base: str | None = None) -> str:
    """Check `value` against the parameter's type and write it as an N-Triples term (an IRI
    parameter's short form resolved against `base`).

    >>> to_term(Param("y", "gYear"), "2021")
    '"2021"^^<http://www.w3.org/2001/XMLSchema#gYear>'
    """
    if param.enum and value not in param.enum:
        raise ParameterError(f"parameter {param.name!r}: {value[:80]!r} is not one of "
                             f"{', '.join(param.enum)}", parameter=param.name)
    if param.type == "iri":
        return f"<{resolve_iri(param, value, base)}>"
    if param.type == "string":
        if len(value) > MAX_TEXT or not LEXICAL["string"].fullmatch(value):
            raise ParameterError(f"parameter {param.name!r}: control characters or more than "
                                 f"{MAX_TEXT} characters", parameter=param.name)
        return nt_literal(value)
    ok = bool(LEXICAL[param.type].fullmatch(value))
    if ok and param.type == "date":
        try:  # the xsd:date lexical form (fromisoformat also takes 20210630), then the calendar
            dt.date.fromisoformat(value)
        except ValueError:
            ok = False
    if not ok:
        raise ParameterError(f"parameter {param.name!r}: {value[:80]!r} is not a valid "
                             f"xsd:{param.type}", parameter=param.name)
    return f"{nt_literal(value)}^^<{XSD}{param.type}>"


def bind_query(query: StoredQuery, values: Mapping[str, str]) -> str:
    """The query text with its parameters bound; a ParameterError before anything runs."""
    unknown = sorted(set(values) - {p.name for p in query.params})
    if unknown:
        known = ", ".join(p.name for p in query.params) or "none"
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for query "
                             f"{query.name!r} (parameters: {known})")
    bound: dict[str, str] = {}
    for p in query.params:
        value = values.get(p.name) or p.default  # an empty value means the default
        if value is not None:
            bound[p.name] = to_term(p, value, query.bases.get(p.name))
        elif p.required:
            raise ParameterError(f"parameter {p.name!r} is required", parameter=p.name)
    return insert_values(query.text, bound)
