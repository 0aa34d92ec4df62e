r"""Search and browse: the queries behind /search and the hits they give.

Search ignores case and accents in every language of the labels: the text is folded (accents,
ligatures, apostrophe and dash variants) and turned into a regular expression whose letters match
every accented form (`cote` -> `c[oòóôõöø...]t[eèéêë...]`), evaluated with the `i` flag. The
expression is a constant of the query text (a pattern bound per row is compiled per row), written
only from folded letters, digits and escaped punctuation. It means the same to Rust `regex` and
to Virtuoso's PCRE: it is matched against the label, not `STR(label)` (which Virtuoso matches byte
by byte), with words and spaces as Unicode properties, not `\w` and `\s` (ASCII to PCRE). Hits are
ranked: exact label matches first, then things before quotes; among things, the text as a whole
word, then as the start of a word, then anywhere; then shorter labels.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from graph.describe import PROLOGUE, nt_iri, nt_literal
from graph.namespaces import ID

# Letters with no decomposition, and ligatures, folded by hand.
_SINGLE = {"\u00f8": "o", "\u0111": "d", "\u00f0": "d", "\u0142": "l", "\u0131": "i", "\u0127": "h",
           "\u0167": "t"}  # o, d, l, h, t with stroke; eth; dotless i
_LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss", "ĳ": "ij"}
_UNLIGATURE = {pair: ligature for ligature, pair in _LIGATURES.items()}
_PIECE = re.compile("|".join(_UNLIGATURE) + "|.", re.DOTALL)
_APOSTROPHES = "'\u2019\u2018\u02bc`\u00b4"  # the ASCII one, right and left quotes, modifier, grave, acute
_DASHES = "-\u2010\u2011\u2012\u2013\u2014"  # hyphen-minus, hyphen, non-breaking, figure, en, em
_FOLD = str.maketrans({**_SINGLE, **_LIGATURES, **dict.fromkeys(_APOSTROPHES, "'"),
                       **dict.fromkeys(_DASHES, "-"), **dict.fromkeys(map(chr, range(0x20)), " ")})
# What the engines' regular expressions (Rust `regex`, PCRE) treat as syntax: escaped when literal.
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")
# What `fold` turns into a space (control characters, Unicode white space), and what is not part
# of a word: explicit, as `\s` and `\W` are Unicode to Rust but ASCII to PCRE.
_SPACES = r"[\x00-\x20\x{85}\p{Z}]"
_NOT_WORD = r"[^\p{L}\p{M}\p{N}_]"


@cache
def _classes() -> dict[str, str]:
    """What a character of folded text matches: an ASCII letter, also the accented letters (lower
    case) that `fold` turns into it; an apostrophe or a dash, any of them; a space, a run of spaces."""
    found: dict[str, set[str]] = defaultdict(set)
    for cp in range(0xC0, 0x250):  # Latin-1 Supplement, Latin Extended-A and -B
        ch = chr(cp).lower()
        base = fold(ch)
        if len(ch) == 1 and len(base) == 1 and base.isascii() and base.isalpha() and ch != base:
            found[base].add(ch)
    letters = {base: f"[{base}{''.join(sorted(chars))}]" for base, chars in found.items()}
    return {**letters, "'": f"[{_APOSTROPHES}]", "-": "[" + _DASHES.replace("-", "\\-") + "]",
            " ": _SPACES + "+"}


def fold(text: str) -> str:
    """Lower case without accents, ligatures spelled out, one apostrophe and one dash, runs of
    white space (and control characters) as one space.

    >>> fold("Côte d" + chr(0x2019) + "Ivoire")
    "cote d'ivoire"
    >>> fold("ŒUVRE  Société")
    'oeuvre societe'
    """
    kept = (ch for ch in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(ch))
    return " ".join("".join(kept).translate(_FOLD).split())  # split(): at any white space


def pattern(text: str) -> str:
    """A regular expression matching `text` in any case and with any accents.

    >>> bool(re.fullmatch(pattern("cote-d'ivoire"), "côte" + chr(0x2013) + "d" + chr(0x2019) + "ivoire"))
    True
    >>> bool(re.fullmatch(pattern("oeuvre"), "œuvre"))
    True
    """
    return _PIECE.sub(lambda m: _letter(m.group()), fold(text))


def _letter(ch: str) -> str:
    """A letter of folded text, or a pair a ligature folds to (`oe`, also matching `œ`)."""
    if ch in _UNLIGATURE:
        return f"(?:{_letter(ch[0])}{_letter(ch[1])}|{_UNLIGATURE[ch]})"
    return _classes().get(ch) or ("\\" + ch if ch in _REGEX_META else ch)


# Placeholders (upper-case words) are filled in one pass, so nothing inserted is read again.
_SEARCH = PROLOGUE + """SELECT ?s ?hit ?label ?type ?rank WHERE {
  {
    SELECT ?s (MIN(?r) AS ?rank) (MIN(STRLEN(STR(?h))) AS ?len) WHERE {
      ?s rdfs:label ?h .
      FILTER(isIRI(?s) && STRSTARTS(STR(?s), ID) && REGEX(?h, ANY, "i"))
      CLASS
      OPTIONAL { ?s a ?quote . FILTER(?quote = kg:Quote) }
      BIND(IF(REGEX(?h, EXACT, "i"), 0, IF(BOUND(?quote), 4,
              IF(REGEX(?h, WHOLE, "i"), 1, IF(REGEX(?h, WORD, "i"), 2, 3)))) AS ?r)
    } GROUP BY ?s ORDER BY ?rank ?len ?s LIMIT ROWS
  }
  ?s rdfs:label ?hit . FILTER(REGEX(?hit, ANY, "i"))
  OPTIONAL { ?s rdfs:label ?label }
  OPTIONAL { ?s a ?type }
} ORDER BY ?rank ?len ?s"""

_BROWSE = PROLOGUE + """SELECT ?s ?label ?type WHERE {
  { SELECT DISTINCT ?s WHERE { ?s a %s } ORDER BY ?s LIMIT %d OFFSET %d }
  OPTIONAL { ?s rdfs:label ?label }
  OPTIONAL { ?s a ?type }
}"""


def search_query(text: str, cls: str | None, limit: int) -> str:
    """The first `limit` things (optionally of class `cls`) with a label matching `text`, ranked,
    with the labels that matched, all their labels and their types.

    The class is bound as a term; the text reaches the query only as the folded pattern, an
    escaped string literal. Text that folds to nothing (`fold`) is refused with ValueError."""
    any_ = pattern(text)
    if not any_:
        raise ValueError("the search text folds to nothing")
    fills = {"ANY": nt_literal(any_), "EXACT": nt_literal(f"^{any_}$"),
             "WORD": nt_literal(f"(?:^|{_NOT_WORD}){any_}"),
             "WHOLE": nt_literal(f"(?:^|{_NOT_WORD}){any_}(?:{_NOT_WORD}|$)"),
             "ID": nt_literal(ID),
             "CLASS": f"?s a {nt_iri(cls)} ." if cls else "", "ROWS": str(int(limit))}
    return re.sub(r"\b(ANY|EXACT|WHOLE|WORD|ID|CLASS|ROWS)\b", lambda m: fills[m.group(1)], _SEARCH)


def browse_query(cls: str, limit: int, offset: int) -> str:
    """One page of the members of a class (bound as a term), in IRI order, with their labels and types."""
    return _BROWSE % (nt_iri(cls), limit, offset)


@dataclass
class Hit:
    """One thing of a search or browse answer: its labels, those that matched, its types."""

    iri: str
    labels: dict[str, list[str]] = field(default_factory=dict)
    matched: dict[str, list[str]] = field(default_factory=dict)
    types: list[str] = field(default_factory=list)


def search_hits(rows: list[dict[str, dict[str, str]]]) -> list[Hit]:
    """Group rows by thing, keeping the engine's order of first appearance."""
    hits: dict[str, Hit] = {}
    for row in rows:
        hit = hits.setdefault(row["s"]["value"], Hit(row["s"]["value"]))
        for key, target in (("label", hit.labels), ("hit", hit.matched)):
            if key in row:
                target.setdefault(row[key].get("xml:lang", ""), []).append(row[key]["value"])
        if "type" in row:
            hit.types.append(row["type"]["value"])
    for hit in hits.values():  # sets in the graph: one order, whatever the engine's
        hit.types = sorted(set(hit.types))
        for values in (hit.labels, hit.matched):
            for lang, texts in values.items():
                values[lang] = sorted(set(texts))
    return list(hits.values())
