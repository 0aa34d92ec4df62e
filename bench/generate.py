"""Generate a MAP-shaped synthetic graph for the benchmark (N-Triples, deterministic).

The shape follows the Marrakesh Action Plan: one plan with 5 domains, 10 objectives and
23 actions; 60 countries (two reference countries per domain); funders and implementers;
programmes; documents; and N activities, each in a country, contributing to actions,
often part of a programme, dated at the precision a source would give (year, month or day),
labelled in English and French, with the quote of the document that states it.

Every name says "synthetic": this is load for the engine, not facts about the Rabat Process.

    python bench/generate.py --activities 260 --out /tmp/bench-7k.nt
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.vocab import DCTERMS, LABEL, OA, RDF, SKOS, TYPE, XSD, term
from graph.namespaces import entity_iri

COUNTRIES = 60
FUNDERS = 12
IMPLEMENTERS = 28
# Actions per objective and the domain of each objective, as in the MAP (23 actions, 10 objectives).
OBJECTIVES = ((1, 3), (1, 2), (2, 3), (2, 2), (3, 2), (3, 2), (4, 3), (4, 2), (5, 2), (5, 2))
YEARS = range(2017, 2025)

# Label parts, EN and FR; a word of THEMES is what the benchmark's text filter looks for.
MEASURES = (
    ("Training of officials on", "Formation des agents sur"),
    ("Launch of a project on", "Lancement d'un projet sur"),
    ("National strategy for", "Stratégie nationale pour"),
    ("Awareness campaign on", "Campagne de sensibilisation sur"),
    ("Study on", "Étude sur"),
    ("Regional workshop on", "Atelier régional sur"),
    ("Establishment of a desk for", "Création d'un guichet pour"),
    ("Rehabilitation of a centre for", "Réhabilitation d'un centre pour"),
)
THEMES = (
    ("the reintegration of returning migrants", "la réintégration des migrants de retour"),
    ("diaspora investment", "l'investissement de la diaspora"),
    ("labour mobility of young people", "la mobilité professionnelle des jeunes"),
    ("border management", "la gestion des frontières"),
    ("the protection of refugees", "la protection des réfugiés"),
    ("document fraud", "la fraude documentaire"),
    ("trafficking in human beings", "la traite des êtres humains"),
    ("remittances", "les transferts de fonds"),
    ("visa procedures", "les procédures de visa"),
    ("migration data", "les données migratoires"),
    ("voluntary return", "le retour volontaire"),
    ("unaccompanied minors", "les mineurs non accompagnés"),
)


SOURCE = "urn:rabat-kg:bench:generate"  # dcterms:source of every synthetic node not quoted
SKOS_IN_SCHEME = SKOS + "inScheme"


def nt_iri(iri: str) -> str:
    return f"<{iri}>"


def nt_literal(text: str, *, lang: str | None = None, datatype: str | None = None) -> str:
    """An N-Triples literal with the escapes the grammar requires."""
    esc = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
           .replace("\r", "\\r"))
    if lang:
        return f'"{esc}"@{lang}'
    if datatype:
        return f'"{esc}"^^<{datatype}>'
    return f'"{esc}"'


Triple = tuple[str, str, str]  # subject IRI, predicate IRI, object in N-Triples syntax


def node(iri: str, cls: str, en: str, fr: str, *, sourced: bool = True) -> Iterator[Triple]:
    """Type, English and French labels, and (unless quoted) the generator as source."""
    yield iri, TYPE, nt_iri(term(cls))
    yield iri, LABEL, nt_literal(en, lang="en")
    yield iri, LABEL, nt_literal(fr, lang="fr")
    if sourced:
        yield iri, DCTERMS + "source", nt_iri(SOURCE)


def link(s: str, prop: str, o: str) -> Triple:
    """`prop` is one of our terms by name, or a full IRI."""
    return s, prop if "://" in prop else term(prop), nt_iri(o)


def integer(s: str, prop: str, value: int) -> Triple:
    return s, term(prop), nt_literal(str(value), datatype=XSD + "integer")


def dated(rng: random.Random, year: int) -> str:
    """A date at year, month or day precision (4 : 3 : 3), as a source would state it."""
    roll = rng.random()
    if roll < 0.4:
        return nt_literal(str(year), datatype=XSD + "gYear")
    month = rng.randint(1, 12)
    if roll < 0.7:
        return nt_literal(f"{year}-{month:02d}", datatype=XSD + "gYearMonth")
    return nt_literal(f"{year}-{month:02d}-{rng.randint(1, 28):02d}", datatype=XSD + "date")


def country_codes(i: int) -> tuple[str, str]:
    """Made-up ISO-shaped codes (synthetic countries must not borrow real ones' identity)."""
    first = "XYZ"[(i - 1) // 26]
    second = chr(ord("A") + (i - 1) % 26)
    return first + second, first + second + "X"


def triples(n_activities: int, seed: int = 1) -> Iterator[Triple]:
    """All triples of the synthetic graph."""
    rng = random.Random(seed)
    plan = entity_iri("action-plan", "synthetic-plan")
    yield from node(plan, "ActionPlan", "Synthetic action plan", "Plan d'action synthétique")

    countries = [entity_iri("country", f"synthetic-country-{i:02d}") for i in range(1, COUNTRIES + 1)]
    for i, c in enumerate(countries, 1):
        yield from node(c, "Country", f"Synthetic country {i:02d}", f"Pays synthétique {i:02d}")
        alpha2, alpha3 = country_codes(i)
        yield c, term("iso3166Alpha2"), nt_literal(alpha2)
        yield c, term("iso3166Alpha3"), nt_literal(alpha3)

    domains = [entity_iri("domain", f"synthetic-domain-{d}") for d in range(1, 6)]
    for d, dom in enumerate(domains, 1):
        yield from node(dom, "Domain", f"Synthetic domain {d}", f"Domaine synthétique {d}")
        yield integer(dom, "number", d)
        yield link(dom, SKOS_IN_SCHEME, plan)
        yield link(plan, "hasDomain", dom)
        for c in rng.sample(countries, 2):
            yield link(dom, "referenceCountry", c)

    actions: list[str] = []
    number = 0
    for o, (domain_no, n_actions) in enumerate(OBJECTIVES, 1):
        obj = entity_iri("objective", f"synthetic-objective-{o}")
        yield from node(obj, "Objective", f"Synthetic objective {o}", f"Objectif synthétique {o}")
        yield integer(obj, "number", o)
        yield link(obj, SKOS_IN_SCHEME, plan)
        yield link(obj, "inDomain", domains[domain_no - 1])
        for _ in range(n_actions):
            number += 1
            act = entity_iri("action", f"synthetic-action-{number}")
            actions.append(act)
            yield from node(act, "Action", f"Synthetic action {number}",
                            f"Action synthétique {number}")
            yield integer(act, "number", number)
            yield link(act, SKOS_IN_SCHEME, plan)
            yield link(act, "underObjective", obj)
            yield link(act, "inDomain", domains[domain_no - 1])

    funders = [entity_iri("organisation", f"synthetic-funder-{i:02d}") for i in range(1, FUNDERS + 1)]
    implementers = [entity_iri("organisation", f"synthetic-implementer-{i:02d}")
                    for i in range(1, IMPLEMENTERS + 1)]
    for i, org in enumerate(funders, 1):
        yield from node(org, "Organisation", f"Synthetic funding body {i:02d}",
                        f"Bailleur synthétique {i:02d}")
    for i, org in enumerate(implementers, 1):
        yield from node(org, "Organisation", f"Synthetic implementing agency {i:02d}",
                        f"Agence de mise en œuvre synthétique {i:02d}")
        yield link(org, "country", rng.choice(countries))

    programmes = [entity_iri("programme", f"synthetic-programme-{i:03d}")
                  for i in range(1, max(10, n_activities // 40) + 1)]
    for i, prog in enumerate(programmes, 1):
        yield from node(prog, "Programme", f"Synthetic programme {i:03d}",
                        f"Programme synthétique {i:03d}")
        yield link(prog, "fundedBy", rng.choice(funders))
        yield link(prog, "implementedBy", rng.choice(implementers))
        yield prog, term("startDate"), dated(rng, rng.choice(YEARS))

    documents = [entity_iri("document", f"synthetic-progress-paper-{i:03d}")
                 for i in range(1, max(5, n_activities // 100) + 1)]
    for i, doc in enumerate(documents, 1):
        yield from node(doc, "ProgressPaper", f"Synthetic progress paper {i:03d}",
                        f"Document de suivi synthétique {i:03d}")
        yield link(doc, "about", domains[(i - 1) % len(domains)])

    for i in range(1, n_activities + 1):
        yield from activity(rng, i, countries, domains, actions, programmes, implementers,
                            documents)


def activity(rng: random.Random, i: int, countries: list[str], domains: list[str],
             actions: list[str], programmes: list[str], implementers: list[str],
             documents: list[str]) -> Iterator[Triple]:
    """One activity and the quote that states it, shaped like a progress paper's items."""
    slug = f"synthetic-activity-{i:06d}"
    act = entity_iri("activity", slug)
    year = rng.choice(YEARS)
    (m_en, m_fr), (t_en, t_fr) = rng.choice(MEASURES), rng.choice(THEMES)
    cls = "NationalMeasure" if rng.random() < 0.8 else "Activity"
    yield from node(act, cls, f"{m_en} {t_en} ({i})", f"{m_fr} {t_fr} ({i})", sourced=False)
    country = rng.choice(countries)
    yield link(act, "country", country)
    targets = rng.sample(actions, rng.choice((1, 1, 2))) if rng.random() < 0.7 else [
        rng.choice(domains)]
    for target in targets:
        yield link(act, "contributesTo", target)
    if rng.random() < 0.75:
        yield link(act, "partOfProgramme", rng.choice(programmes))
    if rng.random() < 0.5:
        yield link(act, "involves", rng.choice(implementers))
    if rng.random() < 0.5:
        yield act, term("date"), dated(rng, year)
    else:
        yield act, term("startDate"), dated(rng, year)
        if rng.random() < 0.5:
            yield act, term("endDate"), nt_literal(str(year + rng.randint(1, 3)),
                                                    datatype=XSD + "gYear")
    # The quote: a Web Annotation selecting the words, its body the activity (as quotes.ttl).
    quote = entity_iri("quote", slug)
    words = f"{year} {m_en} {t_en}."
    yield act, term("statedIn"), nt_iri(quote)
    yield quote, TYPE, nt_iri(term("Quote"))
    yield quote, LABEL, nt_literal(f'Quote: "{words}"', lang="en")
    yield quote, OA + "motivatedBy", nt_iri(OA + "describing")
    yield quote, OA + "hasBody", nt_iri(act)
    yield quote, OA + "hasTarget", nt_iri(quote + "#target")
    yield quote, term("supports"), nt_iri(quote + "#s1")
    yield quote + "#target", TYPE, nt_iri(OA + "SpecificResource")
    yield quote + "#target", OA + "hasSource", nt_iri(rng.choice(documents))
    yield quote + "#target", OA + "hasSelector", nt_iri(quote + "#selector")
    yield quote + "#selector", TYPE, nt_iri(OA + "TextQuoteSelector")
    yield quote + "#selector", OA + "exact", nt_literal(words)
    yield quote + "#s1", TYPE, nt_iri(RDF + "Statement")
    yield quote + "#s1", RDF + "subject", nt_iri(act)
    yield quote + "#s1", RDF + "predicate", nt_iri(term("country"))
    yield quote + "#s1", RDF + "object", nt_iri(country)


def write(n_activities: int, out: Path, *, seed: int = 1) -> int:
    """Write the graph to `out` as N-Triples; return the number of triples."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as fh:
        for s, p, o in triples(n_activities, seed):
            fh.write(f"<{s}> <{p}> {o} .\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, required=True, metavar="N")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.nt")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.activities < 1:
        parser.error("--activities must be at least 1")
    count = write(args.activities, args.out, seed=args.seed)
    print(f"{args.out}: {count} triples, {args.activities} activities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
