"""The fixed query mix, and distinct query texts so no response cache can answer for the engine.

Each query type has a template and a list of values for its one parameter (countries,
activities, words, funders of the synthetic graph: `bench/generate.py` names them). Every
text starts with a comment carrying a request number, so no two requests are the same text.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.generate import COUNTRIES, FUNDERS, THEMES
from bench.vocab import term
from graph.namespaces import STANDARD_PREFIXES, entity_iri

Kind = Literal["lookup", "heavy", "probe"]
SELECT_JSON = "application/sparql-results+json"
TURTLE = "text/turtle"

PROLOGUE = (f"PREFIX kg: <{term('')}>\n"
            f"PREFIX rdfs: <{STANDARD_PREFIXES['rdfs']}>\n")


@dataclass(frozen=True)
class QueryType:
    """One query of the mix."""

    key: str
    title: str
    kind: Kind  # "lookup": the >= 5x target; "heavy": the >= 30x target; "probe": diagnostic
    accept: str
    template: str  # `{value}` is the parameter
    values: tuple[str, ...]
    idle_s: float = 0.0  # before each sample the client waits this long, off the clock

    def text(self, request: int, value_index: int = 0) -> str:
        """A query text unique to `request`, with parameter value number `value_index`."""
        value = self.values[value_index % len(self.values)]
        return f"# bench request {request}\n{PROLOGUE}{self.template.format(value=value)}"


TIMELINE = """SELECT ?activity ?label ?date WHERE {{
  ?activity kg:country <{value}> ;
            a ?type ;
            rdfs:label ?label .
  ?type rdfs:subClassOf* kg:Activity .
  OPTIONAL {{ ?activity kg:date|kg:startDate ?date }}
  FILTER(LANG(?label) = "en")
}}
ORDER BY ?date ?activity
"""

PER_DOMAIN = """SELECT ?domain ?label (COUNT(DISTINCT ?activity) AS ?activities) WHERE {{
  ?activity kg:contributesTo/kg:inDomain? ?domain .
  ?domain a kg:Domain ;
          rdfs:label ?label .
  FILTER(LANG(?label) = "en")
}}
GROUP BY ?domain ?label
ORDER BY ?domain
"""

DESCRIBE = """CONSTRUCT {{
  <{value}> ?p ?o .
  ?o rdfs:label ?label .
}} WHERE {{
  <{value}> ?p ?o .
  OPTIONAL {{ ?o rdfs:label ?label }}
}}
"""

TEXT_FILTER = """SELECT ?activity ?label WHERE {{
  ?activity a ?type ;
            rdfs:label ?label .
  ?type rdfs:subClassOf* kg:Activity .
  FILTER(LANG(?label) = "en" && CONTAINS(LCASE(?label), "{value}"))
}}
"""

FUNDER_JOIN = """SELECT ?activity ?label ?programme ?countryLabel WHERE {{
  ?funder rdfs:label "{value}"@en .
  ?programme kg:fundedBy ?funder .
  ?activity kg:partOfProgramme ?programme ;
            kg:country ?country ;
            rdfs:label ?label .
  ?country rdfs:label ?countryLabel .
  FILTER(LANG(?label) = "en" && LANG(?countryLabel) = "en")
}}
"""

# Not in the mix: the cheapest query there is, to show what HTTP and the server add to any query.
ROUND_TRIP = QueryType("round-trip", "round trip: ASK {} (overhead probe, not a target)", "probe",
                       SELECT_JSON, "ASK {{}}\n", ("",))
# The same after the client was idle for 20 ms, as the server is before each request of a query
# that takes 20 ms in the floor's turn (paired sampling): what waking up costs on this machine.
ROUND_TRIP_IDLE = QueryType("round-trip-idle", "round trip after 20 ms idle: ASK {} (probe, not a "
                            "target)", "probe", SELECT_JSON, "ASK {{}}\n", ("",), idle_s=0.02)
PROBES = (ROUND_TRIP, ROUND_TRIP_IDLE)

# One word of each theme that no other label contains (the text filter's search terms).
WORDS = ("reintegration", "diaspora", "young people", "border", "refugees", "fraud",
         "trafficking", "remittances", "visa", "data", "voluntary", "minors")


def activity_slugs(n_activities: int, count: int = 64) -> list[str]:
    """Slugs of `count` activities spread over the graph."""
    step = max(1, n_activities // count)
    return [f"synthetic-activity-{i:06d}" for i in range(1, n_activities + 1, step)][:count]


def query_mix(n_activities: int) -> list[QueryType]:
    """The five query types for a graph of `n_activities` activities."""
    assert len(WORDS) == len(THEMES)
    countries = tuple(entity_iri("country", f"synthetic-country-{i:02d}")
                      for i in range(1, COUNTRIES + 1))
    activities = tuple(entity_iri("activity", s) for s in activity_slugs(n_activities))
    funders = tuple(f"Synthetic funding body {i:02d}" for i in range(1, FUNDERS + 1))
    return [
        QueryType("timeline", "a country's timeline", "lookup", SELECT_JSON, TIMELINE, countries),
        QueryType("describe", "an entity description (CONSTRUCT of one IRI)", "lookup", TURTLE,
                  DESCRIBE, activities),
        QueryType("per-domain", "counts per domain", "heavy", SELECT_JSON, PER_DOMAIN, ("",)),
        QueryType("text-filter", "a label text filter (CONTAINS(LCASE(...)))", "heavy",
                  SELECT_JSON, TEXT_FILTER, WORDS),
        QueryType("funder-join", "a funder join (activity, programme, funder, country)", "heavy",
                  SELECT_JSON, FUNDER_JOIN, funders),
    ]


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """`--file` and `--activities`: a generated graph on disk, and its size for the mix's texts."""
    parser.add_argument("--file", type=Path, required=True, help="N-Triples file to load")
    parser.add_argument("--activities", type=int, required=True,
                        help="activities of that graph (bench/generate.py --activities)")
