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
checked against their type first and written as RDF terms, never spliced in as text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graph.engine.base import Form
from graph.errors import KgError, ParameterError, QuerySyntaxError
from graph.intake import check_query, insert_values, tokens
from graph.paths import QUERIES_DIR

XSD = "http://www.w3.org/2001/XMLSchema#"
PARAM_TYPES = ("iri", "string", "integer", "decimal", "boolean", "date", "gYear", "gYearMonth")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^<>\"{}|^`\\\x00-\x20]*$")
LEXICAL = {
    "integer": re.compile(r"^[+-]?\d{1,18}$"),
    "decimal": re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$"),
    "boolean": re.compile(r"^(true|false)$"),
    "gYear": re.compile(r"^-?\d{4}$"),
    "gYearMonth": re.compile(r"^-?\d{4}-(0[1-9]|1[0-2])$"),
    "date": re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"),
}


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
    examples: tuple[dict[str, str], ...] = field(default=())
    form: Form = "select"

    def param(self, name: str) -> Param | None:
        """The parameter called `name`, if any."""
        return next((p for p in self.params if p.name == name), None)


def parse_param(spec: str, where: str) -> Param:
    """Parse `name | type=iri | optional | default=... | enum=a,b | description=...`."""
    parts = [p.strip() for p in spec.split("|")]
    name = parts[0]
    if not _NAME.match(name):
        raise ValueError(f"{where}: bad parameter name {name!r}")
    kw: dict[str, object] = {"name": name}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key == "optional":
            kw["required"] = False
        elif key == "type":
            if value not in PARAM_TYPES:
                raise ValueError(f"{where}: parameter {name}: unknown type {value!r}")
            kw["type"] = value
        elif key == "default":
            kw["default"] = value
        elif key == "enum":
            kw["enum"] = tuple(v.strip() for v in value.split(",") if v.strip())
        elif key == "description":
            kw["description"] = value
        else:
            raise ValueError(f"{where}: parameter {name}: unknown attribute {key!r}")
    if "default" in kw:
        kw["required"] = False
    return Param(**kw)  # type: ignore[arg-type]


def parse_stored_query(path: Path) -> StoredQuery:
    """Read one `.rq` file; a malformed header is an error naming the file and line."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, list[str]] = {}
    params: list[Param] = []
    examples: list[dict[str, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.startswith("#+"):
            continue
        key, _, value = line[2:].partition(":")
        key, value = key.strip(), value.strip()
        where = f"{path}:{lineno}"
        if key == "param":
            params.append(parse_param(value, where))
        elif key == "example":
            examples.append(parse_example(value, where))
        elif key in ("summary", "description", "tags"):
            meta.setdefault(key, []).append(value)
        else:
            raise ValueError(f"{where}: unknown header key {key!r}")
    if "summary" not in meta:
        raise ValueError(f"{path}: the header has no '#+ summary:' line")
    try:
        form = check_query(text).form
    except KgError as exc:  # a syntax error, or SERVICE, FROM, an update...
        raise ValueError(f"{path}: {exc.detail}") from None
    check_params(path, text, params, examples)
    tags = tuple(t.strip() for v in meta.get("tags", []) for t in v.split(",") if t.strip())
    return StoredQuery(name=path.stem, path=path, text=text, summary=" ".join(meta["summary"]),
                       description=" ".join(meta.get("description", [])), tags=tags,
                       params=tuple(params), examples=tuple(examples), form=form)


def parse_example(value: str, where: str) -> dict[str, str]:
    """`name=value&name=value` (values are taken literally, not percent-decoded)."""
    example: dict[str, str] = {}
    for item in value.split("&"):
        if not item.strip():
            continue
        name, sep, val = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{where}: example item {item.strip()!r} is not name=value")
        example[name.strip()] = val.strip()
    return example


def check_params(path: Path, text: str, params: list[Param], examples: list[dict[str, str]]) -> None:
    """What the header declares must fit the query: a bad default is the file's error, not the user's.

    Raises:
        ValueError: a parameter declared twice or binding no variable of the query, a default or
            enumeration value of the wrong type, an example that does not bind.
    """
    seen: set[str] = set()
    variables = {tok.text[1:] for tok in tokens(text) if tok.kind == "var"}
    for param in params:
        if param.name in seen:
            raise ValueError(f"{path}: parameter {param.name!r} is declared twice")
        seen.add(param.name)
        if param.name not in variables:
            raise ValueError(f"{path}: parameter {param.name!r} binds no variable ?{param.name} "
                             "of the query")
        try:
            for value in (*param.enum, *([param.default] if param.default is not None else [])):
                to_term(param, value)
        except ParameterError as exc:
            raise ValueError(f"{path}: {exc.detail}") from None
    for example in examples:
        try:
            bind_query(StoredQuery(name=path.stem, path=path, text=text, summary="",
                                   params=tuple(params)), example)
        except (ParameterError, QuerySyntaxError) as exc:
            raise ValueError(f"{path}: example {example}: {exc.detail}") from None


def load_queries(directory: Path = QUERIES_DIR) -> dict[str, StoredQuery]:
    """All stored queries of a folder, by name (the file stem), in name order."""
    return {p.stem: parse_stored_query(p) for p in sorted(directory.glob("*.rq"))}


def _literal(value: str, datatype: str | None = None) -> str:
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r"))
    return f'"{escaped}"' + (f"^^<{XSD}{datatype}>" if datatype else "")


def to_term(param: Param, value: str) -> str:
    """Check `value` against the parameter's type and write it as an N-Triples term.

    >>> to_term(Param("y", "gYear"), "2021")
    '"2021"^^<http://www.w3.org/2001/XMLSchema#gYear>'
    """
    if param.enum and value not in param.enum:
        raise ParameterError(f"parameter {param.name!r}: {value!r} is not one of "
                             f"{', '.join(param.enum)}", parameter=param.name)
    if param.type == "iri":
        if not _IRI.match(value):
            raise ParameterError(f"parameter {param.name!r}: {value!r} is not an absolute IRI",
                                 parameter=param.name)
        return f"<{value}>"
    if param.type == "string":
        if any(ord(c) < 0x20 and c not in "\t\n\r" for c in value) or len(value) > 1000:
            raise ParameterError(f"parameter {param.name!r}: control characters or more than "
                                 "1000 characters", parameter=param.name)
        return _literal(value)
    if param.type == "date":
        try:  # the xsd:date lexical form only (fromisoformat also takes 20210630, 2021-W01-1)
            ok = bool(LEXICAL["date"].match(value)) and bool(dt.date.fromisoformat(value))
        except ValueError:
            ok = False
    else:
        ok = bool(LEXICAL[param.type].match(value))
    if not ok:
        raise ParameterError(f"parameter {param.name!r}: {value!r} is not a valid xsd:{param.type}",
                             parameter=param.name)
    return _literal(value, param.type)


def bind_query(query: StoredQuery, values: Mapping[str, str]) -> str:
    """The query text with its parameters bound; errors before anything runs.

    Raises:
        ParameterError: unknown name, missing required value, or a value of the wrong type.
    """
    unknown = sorted(set(values) - {p.name for p in query.params})
    if unknown:
        known = ", ".join(p.name for p in query.params) or "none"
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for query "
                             f"{query.name!r} (parameters: {known})")
    bound: dict[str, str] = {}
    for p in query.params:
        value = values.get(p.name)
        if value is None or value == "":
            value = p.default
        if value is None:
            if p.required:
                raise ParameterError(f"parameter {p.name!r} is required", parameter=p.name)
            continue
        bound[p.name] = to_term(p, value)
    return insert_values(query.text, bound)
