"""Query intake: what must be true of a query text before any engine sees it.

A small SPARQL lexer (strings, IRIs, comments, prefixed names, variables) is enough to
decide, without a full parser, what a query asks for: keywords are reserved words in SPARQL,
so a bare-word token ``SERVICE`` can only be the SERVICE keyword, whatever its case. The same
tokens give the nesting depth (checked before a recursive-descent parser can overflow its
stack), the query form, and the place to add a VALUES block for stored-query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from graph.engine.base import Form
from graph.errors import QueryRefused, QuerySyntaxError, QueryTooComplex, UpdateRefused

FORMS: dict[str, Form] = {"SELECT": "select", "ASK": "ask", "CONSTRUCT": "construct",
                          "DESCRIBE": "describe"}
# Words that make a request an update (SPARQL 1.1 Update); refused with 403 on every route.
UPDATE_WORDS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE",
                          "COPY", "WITH", "USING"})
# Words that would make the engine reach outside the served graph; refused with 400.
OUTSIDE_WORDS = {"SERVICE": "SERVICE (federated query) is not allowed: this endpoint never makes "
                            "outbound requests",
                 "FROM": "FROM / FROM NAMED are not allowed: the dataset is fixed (the served graph)"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'''(?:[^'\\]|\\.|'(?!''))*'''
               |"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*')
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<var>[?$][A-Za-z0-9_\u00B7\u00C0-\uFFFF]+)
  | (?P<bnode>_:[A-Za-z0-9_\u00C0-\uFFFF][A-Za-z0-9_.\-\u00B7\u00C0-\uFFFF]*)
  | (?P<pname>(?:[A-Za-z\u00C0-\uFFFF][A-Za-z0-9_.\-\u00B7\u00C0-\uFFFF]*)?:
               (?:[A-Za-z0-9_:\u00C0-\uFFFF]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])
               (?:[A-Za-z0-9_.:\-\u00B7\u00C0-\uFFFF]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])*
             | (?:[A-Za-z\u00C0-\uFFFF][A-Za-z0-9_.\-\u00B7\u00C0-\uFFFF]*)?:)
  | (?P<langtag>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<number>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\^\^|&&|\|\||!=|<=|>=|[{}()\[\].,;*/|^!=<>+\-?])
    """,
    re.VERBOSE,
)
_OPEN, _CLOSE = "{([", "})]"
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    depth: int  # bracket depth before this token


@dataclass(frozen=True)
class CheckedQuery:
    """A query that passed intake: its text (unchanged) and its form."""

    text: str
    form: Form


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode_escapes(text: str) -> str:
    r"""Apply SPARQL codepoint escapes (\uXXXX, \UXXXXXXXX), as the spec does before parsing.

    >>> decode_escapes(r"\u0053ERVICE")
    'SERVICE'
    """
    return decode_with_offsets(text)[0]


def decode_with_offsets(text: str) -> tuple[str, list[int]]:
    r"""The decoded text, and for each of its characters the offset it came from in `text`.

    Errors found in the decoded text must point into the query as sent.

    >>> decode_with_offsets(r"a\u0062c")
    ('abc', [0, 1, 7, 8])
    """
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _ESCAPE.finditer(text):
        code = int(m.group(1) or m.group(2), 16)
        if code >= 0x110000 or 0xD800 <= code <= 0xDFFF:
            continue
        out.append(text[pos:m.start()])
        offsets.extend(range(pos, m.start()))
        out.append(chr(code))
        offsets.append(m.start())
        pos = m.end()
    out.append(text[pos:])
    offsets.extend(range(pos, len(text) + 1))  # one past the end, for errors at the end
    return "".join(out), offsets


def tokens(text: str) -> Iterator[Token]:
    """The tokens of a query (whitespace and comments skipped); bad characters are an error."""
    pos, depth, n = 0, 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _unexpected(text, pos)
        kind = m.lastgroup or ""
        value = m.group(0)
        if kind not in ("ws", "comment"):
            if kind == "punct" and value in _CLOSE:
                depth -= 1
            yield Token(kind, value, pos, depth)
            if kind == "punct" and value in _OPEN:
                depth += 1
        pos = m.end()


def check_query(text: str, *, max_nesting: int = 64) -> CheckedQuery:
    """Accept a read-only query over the served graph, or raise the error that says why not.

    Raises:
        QueryTooComplex: brackets nested deeper than `max_nesting`.
        UpdateRefused: any SPARQL Update operation.
        QueryRefused: SERVICE, FROM or FROM NAMED.
        QuerySyntaxError: text no SPARQL lexer accepts, or no query form.
    """
    if not text.strip():
        raise QuerySyntaxError("the query is empty", line=1, column=1)
    # Most queries hold no codepoint escape: then positions need no mapping.
    escaped = "\\u" in text or "\\U" in text
    decoded, offsets = decode_with_offsets(text) if escaped else (text, None)
    try:
        form = _scan(decoded, offsets, text, max_nesting)
    except QuerySyntaxError as exc:
        if exc.line is None or exc.column is None or offsets is None or decoded == text:
            raise
        line, col = position(text, offsets[_offset(decoded, exc.line, exc.column)])
        raise QuerySyntaxError(exc.detail.replace(f"line {exc.line}, column {exc.column}",
                                                  f"line {line}, column {col}"),
                               line=line, column=col) from None
    if form is None:
        raise QuerySyntaxError("no query form: a query starts (after PREFIX/BASE) with SELECT, "
                               "ASK, CONSTRUCT or DESCRIBE", line=1, column=1)
    return CheckedQuery(text=text, form=form)


def _scan(decoded: str, offsets: list[int] | None, text: str, max_nesting: int) -> Form | None:
    """The query form, refusing updates, outside access and deep nesting on the way.

    The same lexer as `tokens`, in one pass without a Token per match: intake runs on every
    request, so it is kept to a few microseconds.
    """
    form: Form | None = None
    depth = pos = 0
    for m in _TOKEN.finditer(decoded):
        if m.start() != pos:
            break  # characters no token matches (or a zero-length match) at `pos`
        kind = m.lastgroup
        if kind == "punct":
            value = m.group()
            if value in _OPEN:
                depth += 1
                if depth > max_nesting:
                    line, col = position(text, offsets[pos] if offsets else pos)
                    raise QueryTooComplex(f"brackets are nested more than {max_nesting} deep "
                                          f"(at line {line}, column {col})")
            elif value in _CLOSE:
                depth -= 1
        elif kind == "word":
            word = m.group().upper()
            if word in UPDATE_WORDS:
                raise UpdateRefused(f"{word} is a SPARQL Update operation; this service is read-only")
            if word in OUTSIDE_WORDS:
                raise QueryRefused(OUTSIDE_WORDS[word])
            if form is None and depth == 0 and word in FORMS:
                form = FORMS[word]
        pos = m.end()
    if pos < len(decoded):
        raise _unexpected(decoded, pos)
    return form


def _unexpected(text: str, pos: int) -> QuerySyntaxError:
    line, col = position(text, pos)
    snippet = text[pos:pos + 20].split("\n")[0]
    return QuerySyntaxError(f"unexpected text at line {line}, column {col}: {snippet!r}",
                            line=line, column=col)


def _offset(text: str, line: int, column: int) -> int:
    """Character offset of a 1-based line and column."""
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    return min(start + column - 1, len(text))


def query_form(text: str) -> Form | None:
    """The form of a query, or None if it has none (no checks beyond that)."""
    try:
        for tok in tokens(text):
            if tok.kind == "word" and tok.depth == 0 and tok.text.upper() in FORMS:
                return FORMS[tok.text.upper()]
    except QuerySyntaxError:
        return None
    return None


def where_offset(text: str) -> int:
    """Offset just inside the `{` that opens the top-level WHERE group."""
    toks = list(tokens(text))
    i, form = 0, None
    while i < len(toks):
        t = toks[i]
        if t.kind == "word" and t.depth == 0 and t.text.upper() in FORMS:
            form = FORMS[t.text.upper()]
            i += 1
            break
        i += 1
    if form is None:
        raise QuerySyntaxError("no query form", line=1, column=1)
    if form == "construct" and i < len(toks) and toks[i].text == "{":
        # CONSTRUCT { template } WHERE { ... }: skip the template.
        depth0 = toks[i].depth
        i += 1
        while i < len(toks) and not (toks[i].text == "}" and toks[i].depth == depth0):
            i += 1
        i += 1
        rest = [t for t in toks[i:] if t.kind == "punct" and t.text == "{" and t.depth == 0]
        if not rest:  # short form CONSTRUCT WHERE? No: template *was* the pattern.
            raise QuerySyntaxError("no WHERE group", line=1, column=1)
        return rest[0].start + 1
    for t in toks[i:]:
        if t.kind == "punct" and t.text == "{" and t.depth == 0:
            return t.start + 1
    raise QuerySyntaxError("the query has no WHERE group to bind parameters in", line=1, column=1)


def insert_values(text: str, values: Mapping[str, str]) -> str:
    """Bind variables by a VALUES block at the start of the top-level WHERE group.

    `values` maps variable names (without `?`) to terms already in N-Triples syntax, so no
    user text is ever spliced into the query as syntax.

    >>> insert_values("SELECT ?x WHERE { ?x ?p ?o }", {"p": "<http://e/p>"})
    'SELECT ?x WHERE { VALUES (?p) { (<http://e/p>) } ?x ?p ?o }'
    """
    if not values:
        return text
    names = " ".join(f"?{k}" for k in values)
    row = " ".join(values.values())
    if is_short_construct(text):
        # CONSTRUCT WHERE { triples } allows no VALUES inside: a trailing VALUES clause joins
        # the same way (there is no aggregation to come before it). A newline first, in case
        # the query ends with a comment.
        return f"{text.rstrip()}\nVALUES ({names}) {{ ({row}) }}\n"
    at = where_offset(text)
    return f"{text[:at]} VALUES ({names}) {{ ({row}) }}{text[at:]}"


def is_short_construct(text: str) -> bool:
    """True for the short form `CONSTRUCT WHERE { ... }` (the pattern is the template)."""
    toks = iter(tokens(text))
    for tok in toks:
        if tok.kind == "word" and tok.depth == 0 and tok.text.upper() in FORMS:
            following = next(toks, None)
            return (tok.text.upper() == "CONSTRUCT" and following is not None
                    and following.kind == "word" and following.text.upper() == "WHERE")
    return False
