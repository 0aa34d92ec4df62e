"""Syntax errors in words a researcher understands, and the prefixes every query may use.

The engine reports where its parser stopped and what it expected there (``error at 1:28:
expected one of Prefix not found, ['%'], ...``), which is rarely where the mistake is or what
it is. `explain_syntax_error` reads the query with the intake lexer and names the usual
mistakes: an undeclared prefix (and how to declare it), a misspelled keyword or function (and
the nearest correct one), a BIND that re-binds a variable, a selected variable that is neither
grouped nor aggregated, an unclosed bracket or string. Otherwise it keeps the engine's list of
what it expected, without the character classes. Line, column, the line of the query and a
caret always point into the query as sent.

`prepare_query` adds, on one line before the query, PREFIX declarations for the predeclared
prefixes (graph.namespaces.PREFIXES) that the query uses without declaring (as WDQS does). That
line ends with a marker comment, so `explain_syntax_error` can take it off again: positions
stay those of the query as sent.
"""

from __future__ import annotations

import difflib
import re

from graph.errors import QuerySyntaxError
from graph.intake import CheckedQuery, Token, check_query, position, tokens
from graph.namespaces import PREFIXES

PREDECLARED: dict[str, str] = dict(PREFIXES)
PROLOGUE_MARK = "#predeclared prefixes\n"
_PROLOGUE = re.compile(r"\A(?:PREFIX [^\s:]*: <[^<>\s]*> )+" + re.escape(PROLOGUE_MARK))

KEYWORDS = ("BASE", "PREFIX", "SELECT", "DISTINCT", "REDUCED", "AS", "CONSTRUCT", "WHERE", "DESCRIBE",
            "ASK", "FROM", "NAMED", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC", "LIMIT", "OFFSET",
            "VALUES", "SILENT", "DEFAULT", "GRAPH", "OPTIONAL", "SERVICE", "BIND", "UNDEF", "MINUS",
            "UNION", "FILTER", "NOT", "IN", "EXISTS", "SEPARATOR", "a", "true", "false",)
FUNCTIONS = ("STR", "LANG", "LANGMATCHES", "DATATYPE", "BOUND", "IRI", "URI", "BNODE", "RAND", "ABS",
             "CEIL", "FLOOR", "ROUND", "CONCAT", "STRLEN", "UCASE", "LCASE", "ENCODE_FOR_URI", "CONTAINS",
             "STRSTARTS", "STRENDS", "STRBEFORE", "STRAFTER", "YEAR", "MONTH", "DAY", "HOURS", "MINUTES",
             "SECONDS", "TIMEZONE", "TZ", "NOW", "UUID", "STRUUID", "MD5", "SHA1", "SHA256", "SHA384",
             "SHA512", "COALESCE", "IF", "STRLANG", "STRDT", "sameTerm", "isIRI", "isURI", "isBLANK",
             "isLITERAL", "isNUMERIC", "REGEX", "SUBSTR", "REPLACE", "COUNT", "SUM", "MIN", "MAX", "AVG",
             "SAMPLE", "GROUP_CONCAT",)
# Words that are not SPARQL 1.1 but appear in updates or SPARQL 1.2 (not misspellings).
_OTHER_WORDS = ("LOAD", "INTO", "CLEAR", "DROP", "CREATE", "ADD", "TO", "MOVE", "COPY", "INSERT", "DATA",
                "DELETE", "WITH", "USING", "ALL", "VERSION", "LANGDIR", "TRIPLE", "SUBJECT", "PREDICATE",
                "OBJECT", "isTRIPLE", "hasLANG", "hasLANGDIR", "STRLANGDIR",)
_KNOWN = {w.upper(): w for w in (*KEYWORDS, *FUNCTIONS, *_OTHER_WORDS)}
_SUGGESTIONS = {w.upper(): w for w in (*KEYWORDS, *FUNCTIONS) if len(w) > 1}
# The engine's messages start with their position, intake's end with it: the rendering repeats it.
_POSITION = re.compile(r"^error at \d+:\d+:\s*|\s*\(at line \d+, column \d+\)$")
# Phrases the engine uses for mistakes it names itself, in plain words.
_ENGINE_PHRASES = {
    "Duplicated variable name in SELECT": "a variable is given twice in SELECT (each (... AS ?x) "
                                          "needs a name of its own)",
    "IRI parsing failed": "this is not a valid IRI: an <IRI> is absolute (http://...) unless the "
                          "query declares a BASE, and holds no spaces, quotes, {, }, |, ^ or `",
    "language tag parsing failed": "this is not a valid language tag (such as @en or @fr-BE)",
    "cannot be shared by multiple blocks": "the same blank node label is used in two groups",
    "only supported in SPARQL 1.2": "this is SPARQL 1.2, which this endpoint does not accept",
}


def prepare_query(text: str, *, max_nesting: int = 64) -> CheckedQuery:
    """`check_query`, its syntax errors explained, after a line declaring the predeclared
    prefixes the query uses without declaring them (its own declarations come later and win).

    >>> prepare_query("SELECT * { ?s rdfs:label ?l }").text.split("\\n")[0]
    'PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> #predeclared prefixes'
    """
    try:
        checked = check_query(text, max_nesting=max_nesting)
    except QuerySyntaxError as exc:
        raise explain_syntax_error(exc.detail, text, line=exc.line, column=exc.column) from None
    missing = [p for p in sorted(checked.undeclared) if p in PREDECLARED]
    if missing:
        text = "".join(f"PREFIX {p}: <{PREDECLARED[p]}> " for p in missing) + PROLOGUE_MARK + text
    return checked._replace(text=text)


def strip_prologue(query: str) -> tuple[str, int]:
    """The query as sent and the number of lines a predeclared-prefix line added (0 or 1)."""
    m = _PROLOGUE.match(query)
    return (query[m.end():], 1) if m else (query, 0)


def explain_syntax_error(message: str, query: str, *, line: int | None = None,
                         column: int | None = None) -> QuerySyntaxError:
    """A syntax error that says what is wrong, where, in the query as sent.

    `message` is the engine's (or intake's) message, `query` the text that was run (with or
    without the predeclared-prefix line), `line` and `column` its position if known (as the
    QuerySyntaxError of intake or of the engine gives it). The result's detail is one line of
    explanation, then the line of the query and a caret; `extra` holds the query as sent and,
    when there is one, a `suggestion` (a keyword, or a PREFIX line to add).
    """
    sent, shift = strip_prologue(query)
    if line is not None:
        line = max(line - shift, 1)
    at = _offset(sent, line, column or 1) if line is not None else len(sent)
    explanation, at, suggestion = _diagnose(sent, at, message)
    line, column = position(sent, at)
    error = QuerySyntaxError(_render(sent, line, column, explanation), line=line, column=column)
    error.extra["query"] = sent
    if suggestion:
        error.extra["suggestion"] = suggestion
    return error


def _diagnose(sent: str, at: int, message: str) -> tuple[str, int, str | None]:
    """(explanation, offset it points at, suggestion) for an error the engine saw at `at`."""
    toks = tokens(sent, partial=True)
    before = [t for t in toks if t.start <= at]
    for phrase, words in _ENGINE_PHRASES.items():
        if phrase in message:  # the engine stops after a bad IRI or language tag: point at its start
            if phrase == "IRI parsing failed" and "<" in sent[:at]:
                at = sent.rfind("<", 0, at)
            elif phrase == "language tag parsing failed":
                at = next((t.start for t in reversed(before) if t.kind == "langtag"), at)
            return words, at, None
    # The names after PREFIX are declared; every route that runs a researcher's query
    # predeclares: never blame a predeclared prefix.
    names = [(i > 0 and toks[i - 1].kind == "word" and toks[i - 1].text.upper() == "PREFIX", tok)
             for i, tok in enumerate(toks) if tok.kind == "pname"]
    declared = {tok.text[:-1] for after, tok in names if after and tok.text.endswith(":")}
    declared.update(PREDECLARED)
    prefix = next((tok for after, tok in names if not after
                   and tok.text.partition(":")[0] not in declared), None)
    if prefix is not None:
        return _explain_prefix(prefix)
    word = next((t for t in before if t.kind == "word" and t.text.upper() not in _KNOWN), None)
    if word is not None:
        return _explain_word(word)
    if (rebind := _rebinding(sent, toks, at)) is not None:
        return rebind
    if "variable that is unbound" in message:
        return _explain_grouping(toks, at)
    if (brackets := _explain_brackets(toks, sent, at)) is not None:
        return brackets
    if not sent[at:].strip():
        return "the query ends too early: something is missing at the end", at, None
    return _clean_expected(message), at, None


def _explain_prefix(tok: Token) -> tuple[str, int, str | None]:
    prefix = tok.text.partition(":")[0]
    close = difflib.get_close_matches(prefix, list(PREDECLARED), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}: (predeclared)?" if close else ""
    line = f"PREFIX {prefix}: <...>"
    return (f"the prefix {prefix}: is not declared: add a line {line} before the query, "
            f"with the namespace IRI it stands for{hint}", tok.start, f"{close[0]}:" if close else line)


def _explain_word(tok: Token) -> tuple[str, int, str | None]:
    close = difflib.get_close_matches(tok.text.upper(), list(_SUGGESTIONS), n=1, cutoff=0.75)
    if close:
        right = _SUGGESTIONS[close[0]]
        return (f"{tok.text} is not a SPARQL keyword or function: did you mean {right}?",
                tok.start, right)
    return (f"{tok.text} is not a SPARQL keyword or function; a name in a query is written as a "
            "?variable, a prefixed name (kg:name), an <IRI>, or as text in quotes", tok.start, None)


def _rebinding(sent: str, toks: list[Token], at: int) -> tuple[str, int, str | None] | None:
    """BIND(... AS ?v) where ?v is already used earlier in the same group: SPARQL forbids it."""
    for i, tok in enumerate(toks):
        if not (tok.kind == "word" and tok.text.upper() == "BIND"):
            continue
        close = next((j for j in range(i + 1, len(toks)) if toks[j].text == ")"
                      and toks[j].depth == tok.depth), None)
        if close is None or close < 3 or toks[close - 2].text.upper() != "AS":
            continue
        var = toks[close - 1]
        if var.start > at:  # the engine notices at the end of the group, never before
            continue
        group = max((j for j in range(i) if toks[j].text == "{" and toks[j].depth < tok.depth),
                    default=0)
        earlier = [t for t in toks[group:i] if t.kind == "var" and t.text[1:] == var.text[1:]]
        if earlier:
            line, column = position(sent, earlier[0].start)
            return (f"BIND(... AS {var.text}) gives {var.text} a value, but the group already "
                    f"uses {var.text} before it (line {line}, column {column}): a BIND cannot "
                    f"change a variable that is already bound; pick a new name, such as "
                    f"{var.text}2", var.start, None)
    return None


def _explain_grouping(toks: list[Token], at: int) -> tuple[str, int, str | None]:
    """A selected variable that is neither grouped nor aggregated."""
    selected: list[Token] = []
    grouped: set[str] = set()
    mode = ""
    for i, tok in enumerate(toks):
        upper = tok.text.upper() if tok.kind == "word" else ""
        if upper == "SELECT" and not mode:
            mode, depth = "select", tok.depth
        elif mode == "select" and (upper == "WHERE" or tok.text == "{"):
            mode = "body"
        elif mode == "select" and tok.kind == "var" and tok.depth == depth:
            selected.append(tok)
        elif upper == "BY" and i and toks[i - 1].text.upper() == "GROUP":
            mode = "group"
        elif mode == "group" and tok.kind == "var":
            grouped.add(tok.text[1:])
        elif mode == "group" and upper in ("HAVING", "ORDER", "LIMIT", "OFFSET", "VALUES"):
            mode = "after"
    loose = [t for t in selected if t.text[1:] not in grouped]
    if loose:
        name = loose[0].text
        return (f"{name} is selected, but the query groups its results (GROUP BY or an aggregate "
                f"such as COUNT): add {name} to GROUP BY, or select (SAMPLE({name}) AS "
                f"{name}_any)", loose[0].start, f"GROUP BY {name}")
    return ("a selected variable is neither grouped (GROUP BY) nor aggregated (COUNT, SAMPLE, ...)",
            at, None)


def _explain_brackets(toks: list[Token], sent: str, at: int) -> tuple[str, int, str | None] | None:
    """A bracket closed by the wrong kind, or never closed before the query ends."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    stack: list[Token] = []
    for tok in toks:
        if tok.kind != "punct":
            continue
        if tok.text in pairs:
            stack.append(tok)
        elif tok.text in "})]":
            if not stack:
                return f"this {tok.text} closes no open bracket", tok.start, None
            opened = stack.pop()
            if pairs[opened.text] != tok.text:
                line, column = position(sent, opened.start)
                return (f"the {opened.text} opened at line {line}, column {column} is closed by "
                        f"{tok.text}: add {pairs[opened.text]} before it", tok.start,
                        pairs[opened.text])
    if stack and not sent[at:].strip():
        line, column = position(sent, stack[-1].start)
        closer = pairs[stack[-1].text]
        return (f"the query ends before the {stack[-1].text} opened at line {line}, column "
                f"{column} is closed: add {closer}", at, closer)
    return None


def _clean_expected(message: str) -> str:
    """The engine's `expected one of ...` without its character classes, or the message's first
    line without its position."""
    gist = _POSITION.sub("", message.split("\n")[0])
    m = re.match(r"expected (?:one of )?(.*)$", gist)
    if not m:
        return gist[:200]
    items = [i.strip() for i in re.split(r",\s*(?![^\[]*\])", m.group(1))]
    readable = [i for i in items if i and not i.startswith("[") and "'" not in i]
    if not readable:
        return "the query cannot be read from here on"
    shown = ", ".join(readable[:8]) + (", ..." if len(readable) > 8 else "")
    return f"the query cannot be read from here on; expected {shown}"


def _render(sent: str, line: int, column: int, explanation: str) -> str:
    """`syntax error at line L, column C: ...`, the line of the query and a caret under C."""
    excerpt = sent.split("\n")[line - 1].rstrip("\r")
    return f"syntax error at line {line}, column {column}: {explanation}\n{excerpt}\n{' ' * (column - 1)}^"


def _offset(text: str, line: int, column: int) -> int:
    """Character offset of a 1-based line and column (clamped to the text)."""
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    start = sum(len(before) + 1 for before in lines[:line - 1])
    return start + min(column - 1, len(lines[line - 1]))
