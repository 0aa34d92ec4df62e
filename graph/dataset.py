"""The dataset described once, in VoID and DCAT: what `/.well-known/void` serves and what the
SPARQL service description embeds, so the two never drift apart.

IRIs: the dataset itself and the data keep the canonical base (https://w3id.org/rabat-kg/), so
the description names the same dataset whichever host serves it; the things only the serving
host has, the dumps and the endpoint, are absolute URLs on `base_url` (the host that answered,
or the configured public URL).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, VOID, XSD

from graph.engine.base import Backend
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
# (format key, path under base_url, media type)
DUMPS: tuple[tuple[str, str, str], ...] = (
    ("ttl", "dump.ttl", "text/turtle"),
    ("nt", "dump.nt", "application/n-triples"),
    ("jsonld", "dump.jsonld", "application/ld+json"),
)
IANA = "https://www.iana.org/assignments/media-types/"
_FEATURE = {"ttl": FORMATS.Turtle, "nt": FORMATS["N-Triples"], "jsonld": FORMATS["JSON-LD"]}


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


_cache: dict[str, Statistics] = {}
_lock = threading.Lock()


def statistics(backend: Backend) -> Statistics:
    """The counts of the served release, computed once per version."""
    version = backend.version()
    with _lock:
        if version in _cache:
            return _cache[version]

    def one(query: str, var: str) -> str | None:
        rows = backend.select(query, lane="light")
        return rows[0][var]["value"] if rows and var in rows[0] else None

    triples = int(one("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "n") or 0)
    subjects = int(one("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }", "n") or 0)
    objects = int(one("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }", "n") or 0)
    entities = int(one('SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o '
                       f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{ID}")) }}', "n") or 0)
    classes = tuple(sorted(
        (r["c"]["value"], int(r["n"]["value"])) for r in backend.select(
            "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c", lane="light")
        if "c" in r and r["c"]["type"] == "uri"))
    properties = tuple(sorted(
        (r["p"]["value"], int(r["n"]["value"])) for r in backend.select(
            "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p", lane="light") if "p" in r))
    modified = one("SELECT (MAX(STR(?d)) AS ?m) WHERE { ?x <http://purl.org/dc/terms/modified> ?d }", "m")
    example = one(f"SELECT ?s WHERE {{ ?s a <{KG}Activity> }} ORDER BY ?s LIMIT 1", "s")
    stats = Statistics(triples, entities, subjects, objects, classes, properties, modified or None, example)
    with _lock:
        _cache.clear()
        _cache[version] = stats
    return stats


def dataset_description(backend: Backend, base_url: str) -> Graph:
    """VoID + DCAT for the served release; `base_url` ends with "/" (e.g. http://host:8000/)."""
    if not base_url.endswith("/"):
        base_url += "/"
    stats = statistics(backend)
    g = bind(Graph(bind_namespaces="none"))
    ds = DATASET
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
    for p, o in facts:
        g.add((ds, p, o))
    for cls, n in stats.classes:
        part = BNode()
        g.add((ds, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(n)))
    for prop, n in stats.properties:
        part = BNode()
        g.add((ds, VOID.propertyPartition, part))
        g.add((part, VOID.property, URIRef(prop)))
        g.add((part, VOID.triples, Literal(n)))
    for key, path, media in DUMPS:
        url = URIRef(base_url + path)
        g.add((ds, VOID.dataDump, url))
        g.add((ds, VOID.feature, _FEATURE[key]))
        dist = URIRef(f"{base_url}{path}#distribution")
        g.add((ds, DCAT.distribution, dist))
        for p, o in [(RDF.type, DCAT.Distribution), (DCAT.downloadURL, url), (DCAT.accessURL, url),
                     (DCAT.mediaType, URIRef(IANA + media)), (DCTERMS["format"], Literal(media)),
                     (DCTERMS.license, DATA_LICENCE),
                     (DCTERMS.title, Literal(f"{TITLE['en']} ({path})", lang="en"))]:
            g.add((dist, p, o))
    service = URIRef(base_url + "sparql#service")
    dist = URIRef(base_url + "sparql#distribution")
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCAT.accessURL, endpoint))
    g.add((dist, DCAT.accessService, service))
    g.add((service, RDF.type, DCAT.DataService))
    g.add((service, DCAT.endpointURL, endpoint))
    g.add((service, DCAT.servesDataset, ds))
    g.add((service, DCTERMS.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/")))
    return g


def _namespace(iri: str) -> str | None:
    """The namespace of a property IRI when it is one of our declared prefixes."""
    return max((ns for ns in PREFIXES.values() if iri.startswith(ns)), key=len, default=None)
