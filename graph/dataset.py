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
    g.add((ds, RDF.type, VOID.Dataset))
    g.add((ds, RDF.type, DCAT.Dataset))
    for lang, text in TITLE.items():
        g.add((ds, DCTERMS.title, Literal(text, lang=lang)))
    for lang, text in DESCRIPTION.items():
        g.add((ds, DCTERMS.description, Literal(text, lang=lang)))
    g.add((ds, DCTERMS.license, DATA_LICENCE))
    g.add((ds, OWL.versionInfo, Literal(backend.version())))
    g.add((ds, URIRef(str(DCAT) + "version"), Literal(backend.version())))
    if stats.modified:
        dtype = XSD.date if len(stats.modified) == 10 else None
        g.add((ds, DCTERMS.modified, Literal(stats.modified, datatype=dtype)))
    g.add((ds, FOAF.homepage, URIRef(base_url)))
    g.add((ds, DCAT.landingPage, URIRef(base_url)))
    g.add((ds, VOID.uriSpace, Literal(ID)))
    g.add((ds, VOID.uriRegexPattern, Literal("^" + ID.replace(".", "\\.") + "[a-z-]+/[a-z0-9-]+")))
    g.add((ds, VOID.vocabulary, URIRef(str(KG))))
    namespaces = {ns for ns in (_namespace(p) for p, _ in stats.properties) if ns is not None}
    for ns in sorted(namespaces - {str(KG)}):
        g.add((ds, VOID.vocabulary, URIRef(ns)))
    g.add((ds, VOID.sparqlEndpoint, URIRef(base_url + "sparql")))
    g.add((ds, VOID.rootResource, URIRef(ID + "dialogue/rabat-process")))
    if stats.example:
        g.add((ds, VOID.exampleResource, URIRef(stats.example)))
    g.add((ds, VOID.triples, Literal(stats.triples)))
    g.add((ds, VOID.entities, Literal(stats.entities)))
    g.add((ds, VOID.distinctSubjects, Literal(stats.subjects)))
    g.add((ds, VOID.distinctObjects, Literal(stats.objects)))
    g.add((ds, VOID.classes, Literal(len(stats.classes))))
    g.add((ds, VOID.properties, Literal(len(stats.properties))))
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
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCAT.downloadURL, url))
        g.add((dist, DCAT.accessURL, url))
        g.add((dist, DCAT.mediaType, URIRef(IANA + media)))
        g.add((dist, DCTERMS["format"], Literal(media)))
        g.add((dist, DCTERMS.license, DATA_LICENCE))
        g.add((dist, DCTERMS.title, Literal(f"{TITLE['en']} ({path})", lang="en")))
    service = URIRef(base_url + "sparql#service")
    g.add((ds, DCAT.distribution, URIRef(base_url + "sparql#distribution")))
    g.add((URIRef(base_url + "sparql#distribution"), RDF.type, DCAT.Distribution))
    g.add((URIRef(base_url + "sparql#distribution"), DCAT.accessURL, URIRef(base_url + "sparql")))
    g.add((URIRef(base_url + "sparql#distribution"), DCAT.accessService, service))
    g.add((service, RDF.type, DCAT.DataService))
    g.add((service, DCAT.endpointURL, URIRef(base_url + "sparql")))
    g.add((service, DCAT.servesDataset, ds))
    g.add((service, DCTERMS.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/")))
    return g


def _namespace(iri: str) -> str | None:
    """The namespace of a property IRI when it is one of our declared prefixes."""
    best = max((ns for ns in PREFIXES.values() if iri.startswith(ns)), key=len, default=None)
    return best
