"""Hints for empty answers: terms in the ontology's namespace that the ontology does not define.

A query that returns nothing often asks for a property that does not exist (`kg:inCountry`
where the ontology has `kg:country`): `unknown_terms` names such terms, whatever prefix or
<IRI> the query writes them with, each with the nearest terms the ontology does define.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

from graph.describe import parse_turtle_file, read_ontology
from graph.intake import CheckedQuery, iri_value
from graph.namespaces import KG, PREFIXES
from graph.paths import ONTOLOGY_FILE

NAMESPACE = str(KG)
MAX_HINTS = 5


@dataclass(frozen=True)
class Hint:
    """A term the query names in the ontology's namespace that the ontology does not define."""

    term: str  # the IRI
    nearest: tuple[str, ...]  # IRIs of defined terms, closest first

    def message(self) -> str:
        """One line in words, with compact names (kg:...), for a `Query-Hint` response header
        (ASCII: anything else backslash-escaped).

        >>> Hint(NAMESPACE + "inCountry", (NAMESPACE + "country",)).message()
        'kg:inCountry is not defined by the ontology; nearest terms that are: kg:country'
        """
        term, *nearest = ("kg:" + iri[len(NAMESPACE):] for iri in (self.term, *self.nearest))
        text = f"{term} is not defined by the ontology"
        if nearest:
            text += f"; nearest terms that are: {', '.join(nearest)}"
        return text.encode("ascii", "backslashreplace").decode("ascii")


@cache
def ontology_terms() -> frozenset[str]:
    """IRIs of the terms the ontology file defines in the kg: namespace."""
    return frozenset(read_ontology(parse_turtle_file(str(ONTOLOGY_FILE))).terms)


def unknown_terms(query: CheckedQuery) -> list[Hint]:
    """Terms in the kg: namespace the query names but the ontology does not define (at most
    MAX_HINTS, in the order they appear), each with up to three nearest defined terms."""
    # <IRIs>, and prefixed names expanded with the query's own PREFIX declarations over the
    # predeclared ones (the query ran, so it is well formed)
    prefixes = {**PREFIXES, **{name: iri_value(iri) for name, iri in query.prefixes.items() if iri}}
    named: list[str] = []
    for token in query.names:
        if token.startswith("<"):
            named.append(iri_value(token))
        else:
            prefix, _, local = token.partition(":")
            if prefix in prefixes and local:
                named.append(prefixes[prefix] + local.replace("\\", ""))
    defined = ontology_terms()
    unknown = [iri for iri in dict.fromkeys(named)
               if iri.startswith(NAMESPACE) and iri != NAMESPACE and iri not in defined]
    return [Hint(iri, nearest(iri, defined)) for iri in unknown[:MAX_HINTS]]


def nearest(iri: str, defined: frozenset[str]) -> tuple[str, ...]:
    """Up to three defined terms whose local names are closest (case aside) to the IRI's."""
    local = iri[len(NAMESPACE):]
    by_name: dict[str, list[str]] = {}
    for term in sorted(defined):  # Country and country share a name, case aside
        by_name.setdefault(term[len(NAMESPACE):].lower(), []).append(term)
    close = difflib.get_close_matches(local.lower(), list(by_name), n=3, cutoff=0.5)
    found = [term for name in close for term in by_name[name]]
    # A capital first letter is a class, a small one a property: same kind first (stable).
    found.sort(key=lambda term: term[len(NAMESPACE)].isupper() != local[:1].isupper())
    return tuple(found[:3])
