"""What the maps show, read from the graph: each country's ISO codes and labels, whether it is a
partner or an observer of a dialogue, the domains it is a reference country of, and the
activities carried out in or by it. Drawing is the server's (server/mapview.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.describe import PROLOGUE, add_text

# One row per fact; the roles keep the parts of the UNION apart.
MAP_QUERY = PROLOGUE + """SELECT ?c ?role ?v ?x ?xlabel ?xnum WHERE {
  ?c a kg:Country .
  { ?c kg:iso3166Alpha2 ?v BIND("alpha2" AS ?role) }
  UNION { ?c kg:iso3166Alpha3 ?v BIND("alpha3" AS ?role) }
  UNION { ?c rdfs:label ?v BIND("label" AS ?role) }
  UNION { ?c kg:partnerOf ?x BIND("partner" AS ?role) }
  UNION { ?c kg:observerOf ?x BIND("observer" AS ?role) }
  UNION { ?x kg:referenceCountry ?c BIND("reference" AS ?role)
          OPTIONAL { ?x kg:number ?xnum } OPTIONAL { ?x rdfs:label ?xlabel } }
  UNION { ?x kg:country ?c . ?x a kg:Activity BIND("activity" AS ?role)
          OPTIONAL { ?x rdfs:label ?xlabel } }
}"""


@dataclass
class Linked:
    """A domain or an activity linked to a country: its labels, and its number if it has one."""

    iri: str
    labels: dict[str, list[str]] = field(default_factory=dict)
    number: int | None = None


@dataclass
class CountryOnMap:
    """A country of the graph as a map shows it."""

    iri: str
    alpha2: str | None = None
    alpha3: str | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    partner: bool = False
    observer: bool = False
    domains: dict[str, Linked] = field(default_factory=dict)
    activities: dict[str, Linked] = field(default_factory=dict)


def countries_on_map(rows: list[dict[str, dict[str, str]]]) -> dict[str, CountryOnMap]:
    """The answer of MAP_QUERY, by country IRI."""
    out: dict[str, CountryOnMap] = {}
    for row in rows:
        c = out.setdefault(row["c"]["value"], CountryOnMap(row["c"]["value"]))
        role = row["role"]["value"]
        if role in ("alpha2", "alpha3"):
            setattr(c, role, row["v"]["value"])
        elif role in ("partner", "observer"):
            setattr(c, role, True)
        elif role == "label":
            add_text(c.labels, row["v"]["value"], row["v"].get("xml:lang"))
        elif role in ("reference", "activity"):
            x = row["x"]["value"]
            item = (c.domains if role == "reference" else c.activities).setdefault(x, Linked(x))
            if "xlabel" in row:
                add_text(item.labels, row["xlabel"]["value"], row["xlabel"].get("xml:lang"))
            if "xnum" in row and row["xnum"]["value"].isdigit():
                item.number = int(row["xnum"]["value"])
    return out


def domains_with_reference_countries(countries: dict[str, CountryOnMap]) -> list[tuple[Linked, list[str]]]:
    """Each domain with the IRIs of its reference countries, in domain number order."""
    domains: dict[str, tuple[Linked, list[str]]] = {}
    for c in countries.values():
        for iri, domain in c.domains.items():
            domains.setdefault(iri, (domain, []))[1].append(c.iri)
    order = sorted(domains.values(), key=lambda dm: (dm[0].number is None, dm[0].number or 0, dm[0].iri))
    return [(domain, sorted(members)) for domain, members in order]
