"""IRIs and prefixes: the identity of the data, declared once."""

from __future__ import annotations

from rdflib import Graph, Namespace

BASE = "https://w3id.org/rabat-kg/"
KG = Namespace(BASE + "def/")
KGSH = Namespace(BASE + "shapes/")
ID = BASE + "id/"
# Named graphs a remote store holds: the data, and our bookkeeping (release version).
DATA_GRAPH = BASE + "graph"
META_GRAPH = BASE + "graph/meta"

# Entity types used in `{BASE}id/{type}/{slug}`; each also gets a prefix of its own name.
ENTITY_TYPES: tuple[str, ...] = (
    "dialogue", "action-plan", "domain", "objective", "action", "priority", "country", "organisation",
    "programme", "activity", "event", "document", "finding", "mechanism", "quote",
)

STANDARD_PREFIXES: dict[str, str] = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "schema": "https://schema.org/",
    "prov": "http://www.w3.org/ns/prov#",
    "org": "http://www.w3.org/ns/org#",
    "time": "http://www.w3.org/2006/time#",
    "oa": "http://www.w3.org/ns/oa#",
    "sh": "http://www.w3.org/ns/shacl#",
    "void": "http://rdfs.org/ns/void#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "vann": "http://purl.org/vocab/vann/",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "wd": "http://www.wikidata.org/entity/",
}

# Namespaces the code writes terms of (the prefixes above are the ones data and queries use).
SD = Namespace(STANDARD_PREFIXES["sd"])
VOID = Namespace(STANDARD_PREFIXES["void"])
FORMATS = Namespace("http://www.w3.org/ns/formats/")  # W3C's IRIs of media types
PROBLEMS = BASE + "problems/"  # problem+json types
SERVICE = Namespace(BASE + "service#")  # the endpoint's own description

PREFIXES: dict[str, str] = {
    "kg": str(KG),
    "kgsh": str(KGSH),
    **{t: f"{ID}{t}/" for t in ENTITY_TYPES},
    **STANDARD_PREFIXES,
}


def entity_iri(type_: str, slug: str) -> str:
    """The canonical IRI of a thing: `{BASE}id/{type}/{slug}`.

    >>> entity_iri("country", "togo")
    'https://w3id.org/rabat-kg/id/country/togo'
    """
    if type_ not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {type_!r}")
    return f"{ID}{type_}/{slug}"


def bind(graph: Graph) -> Graph:
    """Bind exactly our prefixes on a graph (and no rdflib defaults beyond them)."""
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, override=True, replace=True)
    return graph
