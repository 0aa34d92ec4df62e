"""Query intake: what must be true of a query text before any engine sees it.

A small SPARQL lexer decides, without a full parser, what a query asks for: its form, the
terms it names (read here once, for every later use), the nesting depth (checked before a
recursive-descent parser can overflow its stack), updates and outside access to refuse, and
where to add a VALUES block for stored-query parameters. It must read a query exactly as the
engine does (spargebra, as pyoxigraph 0.5 builds it, without `standard-unicode-escaping`), or
a keyword could hide from it inside what it takes for a string, a comment or an IRI. The
engine reads:

- codepoint escapes (``\\uXXXX``, ``\\UXXXXXXXX``) only inside strings and ``<IRI>``s (elsewhere
  a syntax error), decoded after the token is delimited (a store that decodes them in the whole
  text first, as SPARQL 1.1 section 19.2 says, is covered by a second reading);
- comments from ``#`` to a line feed or a carriage return; whitespace as space, tab, CR, LF;
- keywords case-insensitively and without a word boundary: ``FROMNAMED<g>`` is ``FROM NAMED
  <g>``, ``FROMex:g`` is ``FROM ex:g``, ``service:x {...}`` is ``SERVICE :x {...}`` when the
  prefix ``service:`` is not declared; so any bare word or prefix name holding FROM or SERVICE
  is refused;
- ``<`` as less-than inside expressions, even where ``<...>`` could be an IRI: in
  ``?a<a:b((((1>2))))`` the brackets inside the IRI token count toward the nesting depth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from graph.engine.base import Form
from graph.errors import QueryRefused, QuerySyntaxError, QueryTooComplex, UpdateRefused

FORMS: dict[str, Form] = {"SELECT": "select", "ASK": "ask", "CONSTRUCT": "construct",
                          "DESCRIBE": "describe"}
# Words that make a request an update (SPARQL 1.1 Update); refused with 403 on every route.
# Matched as the start of a bare word, since the engine needs no boundary (INSERTDATA{...}).
UPDATE_WORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE",
                "COPY", "WITH", "USING")
# Words that would make the engine reach outside the served graph; refused with 400.
OUTSIDE_WORDS = {"SERVICE": "SERVICE (federated query) is not allowed: this endpoint never makes "
                            "outbound requests",
                 "FROM": "FROM / FROM NAMED are not allowed: the dataset is fixed (the served graph)"}

# The engine's grammar terminals (SPARQL 1.1 section 19.8, as spargebra writes them).
_BASE = ("A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
         "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff")
_CHARS_U = _BASE + "_"
_CHARS = _CHARS_U + "\\-0-9\u00b7\u0300-\u036f\u203f-\u2040"
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_ESC = rf"""\\[tbnrf"'\\]|{_UCHAR}"""
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_PREFIX = f"[{_BASE}](?:[{_CHARS}.]*[{_CHARS}])?"
_LOCAL = (f"(?:[{_CHARS_U}:0-9]|{_PLX})(?:[{_CHARS}:]|{_PLX})*+"
          f"(?:\\.++(?:[{_CHARS}:]|{_PLX})++)?")
_VARNAME = f"[{_CHARS_U}0-9][{_CHARS_U}0-9\u00b7\u0300-\u036f\u203f-\u2040]*+"
_EXP = "[eE][+-]?[0-9]+"
# Possessive repeats (*+) read strings as the engine's PEG rules do: greedily, never giving
# back, so no query makes the regex backtrack for long.
_TOKEN = re.compile("|".join([
    r"(?P<ws>[ \t\r\n]+)",
    r"(?P<comment>#[^\r\n]*)",
    "(?P<string>"
    f"'''(?:(?:''|')?(?:[^'\\\\]|{_ESC}))*+'''"
    f'|"""(?:(?:""|")?(?:[^"\\\\]|{_ESC}))*+"""'
    f"|'(?:[^'\\\\\\n\\r]|{_ESC})*+'"
    f'|"(?:[^"\\\\\\n\\r]|{_ESC})*+")',
    f"(?P<iri><(?:[^\\x00-\\x20<>\"{{}}|^`\\\\]|{_UCHAR})*+>)",
    f"(?P<var>[?$]{_VARNAME})",
    f"(?P<bnode>_:[{_CHARS_U}0-9][{_CHARS}]*(?:\\.+[{_CHARS}]+)*)",
    f"(?P<pname>(?:{_PREFIX})?:(?:{_LOCAL})?)",
    r"(?P<langtag>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)",
    f"(?P<number>[0-9]+\\.[0-9]*{_EXP}|\\.?[0-9]+{_EXP}|[0-9]*\\.[0-9]+|[0-9]+)",
    r"(?P<word>[A-Za-z_][A-Za-z0-9_]*)",
    r"(?P<punct>\^\^|&&|\|\||!=|<=|>=|<<|>>|[{}()\[\].,;*/|^!=<>+\-?~])",
]))
# << opens a quoted triple (SPARQL 1.2), whose parsing time grows as a power of its nesting.
_OPEN, _CLOSE = ("{", "(", "[", "<<"), ("}", ")", "]", ">>")
# Operators and keywords each of which adds a level to the engine's query tree (a+b+c is
# Add(Add(a, b), c)): a chain of thousands crashes an executor without a single bracket.
_CHAIN_PUNCT = frozenset({"+", "-", "*", "/", "||", "&&", "|"})
_CHAIN_WORDS = frozenset({"UNION", "MINUS", "OPTIONAL"})
MAX_OPERATORS = 1000
# Bare words and prefix names that may hold a refused keyword (checked in detail when found).
_FLAGGED = re.compile("^(?:" + "|".join(UPDATE_WORDS) + ")|FROM|SERVICE", re.IGNORECASE)
_FORM = re.compile("|".join(FORMS), re.IGNORECASE)
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_STRING_ESCAPE = re.compile(rf"""\\([tbnrf"'\\])|{_UCHAR}""")
_ECHARS = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class Token(NamedTuple):
    kind: str
    text: str
    start: int
    depth: int  # bracket depth before this token


class CheckedQuery(NamedTuple):
    """A query that passed intake: its text, its form, the prefixes its prefixed names use
    without a PREFIX declaration (for graph.sparql_errors.prepare_query), and the terms it
    names, so that nothing reads the text again (graph.hints)."""

    text: str
    form: Form
    undeclared: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()  # the <IRI> and prefixed-name tokens, in order (not PREFIX lines)
    prefixes: Mapping[str, str] = {}  # the query's PREFIX declarations: name -> <IRI> token


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode_with_offsets(text: str) -> tuple[str, list[int]]:
    r"""`text` with codepoint escapes (\uXXXX, \UXXXXXXXX) applied everywhere, as SPARQL 1.1
    section 19.2 says (the embedded engine does not: this is the reading of a store that
    does), and for each decoded character the offset it came from (errors point into the
    query as sent).

    >>> decode_with_offsets(r"a\u0062c")
    ('abc', [0, 1, 7, 8])
    """
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _ESCAPE.finditer(text):
        code = int(m.group(1) or m.group(2), 16)
        if code < 0x110000 and not 0xD800 <= code <= 0xDFFF:  # a Unicode character
            out += (text[pos:m.start()], chr(code))
            offsets.extend(range(pos, m.start() + 1))  # the escape's character: its backslash
            pos = m.end()
    out.append(text[pos:])
    offsets.extend(range(pos, len(text) + 1))  # one past the end, for errors at the end
    return "".join(out), offsets


def string_value(token: str) -> str:
    r"""The value of a string literal token, its escapes decoded as the engine decodes them.

    >>> string_value(r'"a\u0022\tb"')
    'a"\tb'
    """
    quote = 3 if token[:3] in ('"""', "'''") else 1
    return _STRING_ESCAPE.sub(_unescape, token[quote:-quote])


def iri_value(token: str) -> str:
    r"""The IRI of an `<IRI>` token, its codepoint escapes decoded (the engine's unescape_iriref).

    >>> iri_value(r"<http://e/\u0041>")
    'http://e/A'
    """
    return _ESCAPE.sub(_unescape, token[1:-1])


def _unescape(m: re.Match[str]) -> str:
    text = m.group()
    return chr(int(text[2:], 16)) if text[1] in "uU" else _ECHARS[text[1]]


def tokens(text: str, *, partial: bool = False) -> list[Token]:
    """The tokens of a query (whitespace and comments skipped); characters no token matches are
    an error, or with `partial` where the list ends (for messages about broken queries)."""
    out: list[Token] = []
    pos = depth = 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break  # characters no token matches (or a zero-length match) at `pos`
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "punct" and value in _CLOSE:
            depth -= 1
        if kind != "ws" and kind != "comment":
            out.append(Token(kind, value, pos, depth))
        if kind == "punct" and value in _OPEN:
            depth += 1
        pos = m.end()
    if pos < len(text) and not partial:
        raise _unexpected(text, pos)
    return out


def check_query(text: str, *, max_nesting: int = 64,
                max_operators: int = MAX_OPERATORS) -> CheckedQuery:
    """Accept a read-only query over the served graph, or raise the error that says why not.

    The query is read as the engine reads it; if it holds codepoint escapes it is also read
    with them decoded first (as SPARQL 1.1 and some remote stores do), and refused if that
    reading asks for an update, SERVICE, FROM or deep nesting.

    Raises:
        QueryTooComplex: brackets nested deeper than `max_nesting`, or more than
            `max_operators` operators, UNIONs, MINUSes and OPTIONALs.
        UpdateRefused: any SPARQL Update operation.
        QueryRefused: SERVICE, FROM or FROM NAMED.
        QuerySyntaxError: text the engine's lexer does not accept, or no query form.
    """
    if not text.strip():
        raise QuerySyntaxError("the query is empty", line=1, column=1)
    if "\\u" in text or "\\U" in text:
        decoded, offsets = decode_with_offsets(text)
        try:
            _scan(decoded, offsets, text, max_nesting, max_operators)
        except (UpdateRefused, QueryRefused, QueryTooComplex) as exc:
            raise type(exc)(f"{exc.detail} (reading the query with its \\u escapes decoded "
                            "first, as SPARQL 1.1 defines and some stores do)") from None
    checked = _scan(text, None, text, max_nesting, max_operators)
    if checked is None:
        raise QuerySyntaxError("no query form: a query starts (after PREFIX/BASE) with SELECT, "
                               "ASK, CONSTRUCT or DESCRIBE", line=1, column=1)
    return checked


def _scan(read: str, offsets: list[int] | None, text: str, max_nesting: int,
          max_operators: int) -> CheckedQuery | None:
    """The checked query (None if it has no form), refusing updates, outside access and deep
    nesting on the way.

    `read` is the text as lexed: `text` itself, or `text` with escapes decoded, `offsets`
    mapping back (lexing then stops quietly where it fails). The lexer of `tokens`, without
    a Token per match: this runs on every request (bench/RESULTS.md).
    """
    form: Form | None = None
    used: set[str] = set()
    names: list[str] = []
    prefixes: dict[str, str] = {}
    depth = pos = 0
    hidden = 0  # brackets inside IRI tokens, which the engine may read as brackets
    declaring = False  # the previous token was the word PREFIX
    declared = ""  # the prefix name the previous token declared
    chain = 0  # operators, UNIONs, MINUSes, OPTIONALs so far
    for m in _TOKEN.finditer(read):
        if m.start() != pos:
            break  # characters no token matches (or a zero-length match) at `pos`
        kind = m.lastgroup
        if kind == "ws" or kind == "var" or kind == "comment" or kind == "number":
            pos = m.end()
            continue  # the most frequent tokens: nothing to check
        value = m.group()
        at = offsets[pos] if offsets else pos
        declares = ""  # the prefix name this token declares
        if kind == "punct":
            if value in _OPEN:
                depth += 1
                if depth + hidden > max_nesting:
                    raise _too_deep(text, at, max_nesting)
            elif value in _CLOSE:
                depth -= 1
            elif value in _CHAIN_PUNCT:
                chain += 1
        elif kind == "word":
            if _FLAGGED.search(value):
                _refuse(value)
            if 5 <= len(value) <= 8 and value.upper() in _CHAIN_WORDS:
                chain += 1
            if form is None and depth == 0 and (found := _FORM.match(value)):
                form = FORMS[found.group().upper()]  # no word boundary needed: SELECTDISTINCT
        elif kind == "pname":
            name, _, local = value.partition(":")
            if _FLAGGED.search(name):
                _refuse(name, prefix=True)
            if declaring and not local:
                declares = name
                prefixes[name] = ""  # (its <IRI> comes next)
            else:
                used.add(name)
                names.append(value)
        elif kind == "iri":
            if declared:
                prefixes[declared] = value
            else:
                names.append(value)
            if "(" in value or "[" in value:
                hidden += _hidden_depth(value, depth + hidden, max_nesting, text, at)
        if (kind == "string" or kind == "iri") and "\\" in value and not offsets:
            _check_codepoints(value, text, pos)
        if chain > max_operators:
            line, col = position(text, at)
            raise QueryTooComplex(
                f"more than {max_operators} operators (+ - * / || && |), UNIONs, MINUSes and "
                f"OPTIONALs in one query (at line {line}, column {col}): the engine adds a level to "
                "its query tree for each, and so many could crash it; write long alternatives as "
                "VALUES or IN (...)")
        declaring = kind == "word" and len(value) == 6 and value.upper() == "PREFIX"
        declared = declares
        pos = m.end()
    if pos < len(read) and not offsets:
        raise _unexpected(read, pos)
    if form is None:
        return None
    return CheckedQuery(text, form, frozenset(used - prefixes.keys()), tuple(names), prefixes)


def _refuse(name: str, *, prefix: bool = False) -> None:
    """Raise for a bare word (an update or an outside keyword) or a prefix name (an outside
    keyword and a name) that the engine may read as a refused keyword."""
    verb = next((w for w in UPDATE_WORDS if name.upper().startswith(w)), None)
    if verb and not prefix:
        raise UpdateRefused(f"{verb} is a SPARQL Update operation; this service is read-only")
    keyword = next((k for k in OUTSIDE_WORDS if k in name.upper()), None)
    if keyword and prefix:
        raise QueryRefused(f"{OUTSIDE_WORDS[keyword]}; the prefix name {name}: contains {keyword}, "
                           "and the engine reads keywords without a word boundary (service:x can "
                           "be SERVICE :x, FROMex:g is FROM ex:g): rename the prefix")
    if keyword:
        raise QueryRefused(OUTSIDE_WORDS[keyword])


def _hidden_depth(iri: str, depth: int, max_nesting: int, text: str, at: int) -> int:
    """Brackets an IRI token holds that stay open at its end, checking the nesting inside it.

    In an expression the engine reads `<` as less-than, so ``?a<a:b((((1>`` opens brackets
    the lexer saw inside an IRI; counting them keeps intake's depth at least the engine's.
    """
    inside = 0
    for ch in iri:
        if ch in "([":
            inside += 1
            if depth + inside > max_nesting:
                raise _too_deep(text, at, max_nesting)
        elif ch in ")]" and inside:
            inside -= 1
    return inside


def _too_deep(text: str, offset: int, max_nesting: int) -> QueryTooComplex:
    line, col = position(text, offset)
    return QueryTooComplex(f"brackets are nested more than {max_nesting} deep "
                           f"(at line {line}, column {col})")


def _check_codepoints(token: str, text: str, start: int) -> None:
    """The engine refuses escapes of surrogates or past U+10FFFF inside strings and IRIs."""
    for m in _ESCAPE.finditer(token):
        code = int(m.group(1) or m.group(2), 16)
        if code >= 0x110000 or 0xD800 <= code <= 0xDFFF:
            line, col = position(text, start + m.start())
            hint = (" (a surrogate: write the character itself, or \\U and its eight hex digits, "
                    "as \\U0001F600)" if 0xD800 <= code <= 0xDFFF else "")
            raise QuerySyntaxError(f"{m.group()} is not a Unicode character{hint}",
                                   line=line, column=col)


def _unexpected(text: str, pos: int) -> QuerySyntaxError:
    line, col = position(text, pos)
    snippet = text[pos:pos + 20].split("\n")[0]
    char = text[pos]
    if char in "\"'":
        why = ("this string is not closed: a string in \" or ' ends on the same line, "
               "\"\"\" or ''' strings may span lines; inside one, a backslash starts one of "
               "\\t \\n \\r \\b \\f \\\" \\' \\\\ \\uXXXX \\UXXXXXXXX")
    elif char == "\\":
        why = ("a backslash escape is only allowed inside a string or an <IRI> (\\uXXXX), "
               "or as \\ before punctuation in a prefixed name")
    elif char == "<":
        why = "this <IRI> is not closed, or holds a character an IRI cannot (space, \", {, }, |, ^, `)"
    else:
        why = f"unexpected text {snippet!r}"
    return QuerySyntaxError(f"{why} (at line {line}, column {col})", line=line, column=col)


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
    top = [t for t in tokens(text) if t.depth == 0]
    i = next((i for i, t in enumerate(top) if t.kind == "word" and t.text.upper() in FORMS), None)
    if i is None:
        raise QuerySyntaxError("no query form", line=1, column=1)
    construct = top[i].text.upper() == "CONSTRUCT"
    following = top[i + 1].text.upper() if i + 1 < len(top) else ""
    if construct and following == "WHERE":
        # CONSTRUCT WHERE { triples } allows no VALUES inside: a trailing VALUES clause joins
        # the same way (there is no aggregation to come before it). A newline first, in case
        # the query ends with a comment.
        return f"{text.rstrip()}\nVALUES ({names}) {{ ({row}) }}\n"
    groups = [t for t in top[i + 1:] if t.text == "{"]
    if construct and following == "{":
        groups = groups[1:]  # CONSTRUCT { template } WHERE { ... }: skip the template
    if not groups:
        raise QuerySyntaxError("the query has no WHERE group to bind parameters in", line=1, column=1)
    at = groups[0].start + 1
    return f"{text[:at]} VALUES ({names}) {{ ({row}) }}{text[at:]}"
