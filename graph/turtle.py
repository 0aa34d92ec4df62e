"""Turtle documents that declare only the prefixes they use, in sorted order.

pyoxigraph declares every prefix it is given, used or not; a reader of a small document should
see only the few it needs. The engine decides which IRIs it can abbreviate, so the prefixes are
read back from what it wrote rather than guessed from the IRIs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import dropwhile

import pyoxigraph as ox

# Strings (long and short, both quotes) and IRIs: skipped when looking for prefixed names.
_OPAQUE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
                     r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|<[^>\s]*>', re.S)
# A prefixed name's prefix: a name followed by ':' where a term may start.
_PREFIX_USE = re.compile(r"(?:^|(?<=[\s;,(\[^]))([A-Za-z][A-Za-z0-9_.-]*)?:")


def used_prefixes(body: str) -> set[str]:
    """The prefixes a Turtle body (without its @prefix lines) writes names with."""
    return {m.group(1) or "" for m in _PREFIX_USE.finditer(_OPAQUE.sub(" ", body))}


def turtle(ntriples: bytes, prefixes: Mapping[str, str] | None = None, header: Iterable[str] = ()) -> bytes:
    """N-Triples (an answer, a release) as Turtle, declaring (in sorted order) only the prefixes
    the text uses, its triples in sorted order (the same triples give the same bytes, whatever
    order an engine found them in). `header` lines are written first as comments.

    >>> nt = (b'<https://w3id.org/rabat-kg/id/country/togo> '
    ...       b'<http://www.w3.org/2000/01/rdf-schema#label> "Togo" .')
    >>> print(turtle(nt).decode().strip())
    @prefix country: <https://w3id.org/rabat-kg/id/country/> .
    @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
    <BLANKLINE>
    country:togo rdfs:label "Togo" .
    """
    if prefixes is None:  # imported here: query processes write Turtle without loading rdflib
        from graph.namespaces import PREFIXES

        prefixes = PREFIXES
    triples = [q.triple for q in ox.parse(sorted_ntriples(ntriples), format=ox.RdfFormat.N_TRIPLES)]
    text = (ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=dict(prefixes)) or b"").decode()
    lines = list(dropwhile(lambda line: line.startswith("@prefix"), text.splitlines()))
    used = used_prefixes("\n".join(lines))
    head = [f"# {line}" for line in header]
    declared = [f"@prefix {p}: <{ns}> ." for p, ns in sorted(prefixes.items()) if p in used]
    blocks = [*head, *([""] if head else []), *declared, *([""] if declared else []), *lines]
    return ("\n".join(blocks) + "\n").encode()


def sorted_ntriples(ntriples: bytes) -> bytes:
    r"""N-Triples with its lines (one triple each) sorted, so by subject: the same triples give
    the same bytes whatever order an engine found them in.

    >>> sorted_ntriples(b'<urn:b> <urn:p> "2" .\n<urn:a> <urn:p> "1" .\n').decode()
    '<urn:a> <urn:p> "1" .\n<urn:b> <urn:p> "2" .\n'
    """
    return b"".join(line + b"\n" for line in sorted(ntriples.splitlines()) if line.strip())
