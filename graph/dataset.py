"""The dataset described once, in VoID and DCAT: what `/.well-known/void` serves and what the
SPARQL service description embeds, so the two never drift apart.

IRIs: the dataset itself and the data keep the canonical base (https://w3id.org/rabat-kg/), so
the description names the same dataset whichever host serves it; the things only the serving
host has, the dumps and the endpoint, are absolute URLs on `base_url` (the host that answered,
or the configured public URL).
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, VOID, XSD

from graph.engine.base import Backend
from graph.formats import RDF_BY_KEY, Format
from graph.namespaces import BASE, FORMATS, ID, KG, PREFIXES, bind

DATASET = URIRef(BASE + "dataset")
DATA_LICENCE = URIRef("https://creativecommons.org/licenses/by/4.0/")
TITLE = {"en": "Rabat Process knowledge graph", "fr": "Graphe de connaissances du Processus de Rabat"}
DESCRIPTION = {
    "en": "Domain 5 of the Marrakesh Action Plan of the Rabat Process (Euro-African Dialogue on "
          "Migration and Development): reference countries, their activities with dates, programmes, "
          "organisations and events, each statement linked to the exact quote of the progress paper "
          "that states it, or to the source of the reference facts.",
    "fr": "Le domaine 5 du Plan d'action de Marrakech du Processus de Rabat (Dialogue euro-africain sur "
          "la migration et le développement) : pays de référence, leurs activités datées, programmes, "
          "organisations et événements, chaque énoncé relié à la citation exacte du document d'étape "
          "qui l'énonce, ou à la source des faits de référence.",
}
# The dumps, each at `dump{suffix}` under base_url; W3C names each format by its label.
DUMPS: tuple[Format, ...] = tuple(RDF_BY_KEY[key] for key in ("ttl", "nt", "jsonld"))
IANA = "https://www.iana.org/assignments/media-types/"


@dataclass(frozen=True)
class Statistics:
    """Counts behind void:triples and the partitions."""

    triples: int
    entities: int
    subjects: int
    objects: int
    classes: tuple[tuple[str, int], ...]
    properties: tuple[tuple[str, int], ...]
    modified: str | None
    example: str | None


def statistics(backend: Backend) -> Statistics:
    """The counts of the release `backend` serves (servers keep them per release)."""

    def row(query: str) -> dict[str, str]:
        """The values of the first answer, by variable."""
        rows = backend.select(query, lane="light")
        return {var: term["value"] for var, term in rows[0].items()} if rows else {}

    def partition(query: str) -> tuple[tuple[str, int], ...]:
        """(?x, ?n) answers naming an IRI, sorted."""
        rows = backend.select(query, lane="light")
        return tuple(sorted((r["x"]["value"], int(r["n"]["value"])) for r in rows
                            if "x" in r and r["x"]["type"] == "uri"))

    counts = row("SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) "
                 "(COUNT(DISTINCT ?o) AS ?objects) WHERE { ?s ?p ?o }")
    entities = row("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o "
                   f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{ID}")) }}')
    modified = row("SELECT (MAX(STR(?d)) AS ?m) WHERE { ?x <http://purl.org/dc/terms/modified> ?d }")
    return Statistics(
        triples=int(counts.get("triples", 0)), entities=int(entities.get("n", 0)),
        subjects=int(counts.get("subjects", 0)), objects=int(counts.get("objects", 0)),
        classes=partition("SELECT ?x (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?x } GROUP BY ?x"),
        properties=partition("SELECT ?x (COUNT(*) AS ?n) WHERE { ?s ?x ?o } GROUP BY ?x"),
        modified=modified.get("m") or None,
        example=row(f"SELECT ?s WHERE {{ ?s a <{KG}Activity> }} ORDER BY ?s LIMIT 1").get("s"))


def dataset_description(backend: Backend, base_url: str, stats: Statistics | None = None) -> Graph:
    """VoID + DCAT for the served release; `base_url` ends with "/" (e.g. http://host:8000/);
    `stats` are `statistics(backend)`, counted here unless given."""
    stats = stats or statistics(backend)
    g = bind(Graph(bind_namespaces="none"))
    endpoint = URIRef(base_url + "sparql")
    facts = [
        (RDF.type, VOID.Dataset), (RDF.type, DCAT.Dataset), (DCTERMS.license, DATA_LICENCE),
        (OWL.versionInfo, Literal(backend.version())),
        (URIRef(str(DCAT) + "version"), Literal(backend.version())),
        (FOAF.homepage, URIRef(base_url)), (DCAT.landingPage, URIRef(base_url)),
        (VOID.uriSpace, Literal(ID)),
        (VOID.uriRegexPattern, Literal("^" + ID.replace(".", "\\.") + "[a-z-]+/[a-z0-9-]+")),
        (VOID.vocabulary, URIRef(str(KG))), (VOID.sparqlEndpoint, endpoint),
        (VOID.rootResource, URIRef(ID + "dialogue/rabat-process")),
        (VOID.triples, Literal(stats.triples)), (VOID.entities, Literal(stats.entities)),
        (VOID.distinctSubjects, Literal(stats.subjects)), (VOID.distinctObjects, Literal(stats.objects)),
        (VOID.classes, Literal(len(stats.classes))), (VOID.properties, Literal(len(stats.properties))),
    ]
    facts += [(DCTERMS.title, Literal(text, lang=lang)) for lang, text in TITLE.items()]
    facts += [(DCTERMS.description, Literal(text, lang=lang)) for lang, text in DESCRIPTION.items()]
    if stats.modified:
        dtype = XSD.date if len(stats.modified) == 10 else None
        facts.append((DCTERMS.modified, Literal(stats.modified, datatype=dtype)))
    namespaces = {ns for ns in (_namespace(p) for p, _ in stats.properties) if ns is not None}
    facts += [(VOID.vocabulary, URIRef(ns)) for ns in sorted(namespaces - {str(KG)})]
    if stats.example:
        facts.append((VOID.exampleResource, URIRef(stats.example)))
    g += [(DATASET, p, o) for p, o in facts]
    partitions = ((VOID.classPartition, VOID["class"], VOID.entities, stats.classes),
                  (VOID.propertyPartition, VOID.property, VOID.triples, stats.properties))
    for link, kind, measure, rows in partitions:
        for i, (iri, n) in enumerate(rows):
            part = BNode(f"{kind.rsplit('#', 1)[-1]}{i:04d}")  # named, so written in one order
            g += [(DATASET, link, part), (part, kind, URIRef(iri)), (part, measure, Literal(n))]
    for fmt in DUMPS:
        path = "dump" + fmt.suffix
        url = URIRef(base_url + path)
        dist = URIRef(f"{base_url}{path}#distribution")
        g += [(DATASET, VOID.dataDump, url), (DATASET, VOID.feature, FORMATS[fmt.label]),
              (DATASET, DCAT.distribution, dist)]
        g += [(dist, p, o) for p, o in [
            (RDF.type, DCAT.Distribution), (DCAT.downloadURL, url), (DCAT.accessURL, url),
            (DCAT.mediaType, URIRef(IANA + fmt.media_type)), (DCTERMS["format"], Literal(fmt.media_type)),
            (DCTERMS.license, DATA_LICENCE), (DCTERMS.title, Literal(f"{TITLE['en']} ({path})", lang="en"))]]
    service = URIRef(base_url + "sparql#service")
    dist = URIRef(base_url + "sparql#distribution")
    g += [(DATASET, DCAT.distribution, dist), (dist, RDF.type, DCAT.Distribution),
          (dist, DCAT.accessURL, endpoint), (dist, DCAT.accessService, service),
          (service, RDF.type, DCAT.DataService), (service, DCAT.endpointURL, endpoint),
          (service, DCAT.servesDataset, DATASET),
          (service, DCTERMS.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/"))]
    return g


def _namespace(iri: str) -> str | None:
    """The namespace of a property IRI when it is one of our declared prefixes."""
    return max((ns for ns in PREFIXES.values() if iri.startswith(ns)), key=len, default=None)
