"""The ontology is tidy: a full header, every term labelled and defined in English and French,
every term aligned to a standard vocabulary, and every kg: term the data or shapes use declared."""

from __future__ import annotations

import re

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from graph.namespaces import KG
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE, data_files
from graph.release import file_ntriples

ONTOLOGY_IRI = URIRef("https://w3id.org/rabat-kg/def")
VANN = "http://purl.org/vocab/vann/"
STANDARD = (
    "http://www.w3.org/ns/prov#", "http://www.w3.org/ns/org#", "http://www.w3.org/2004/02/skos/core#",
    "https://schema.org/", "http://purl.org/dc/terms/", "http://www.w3.org/2006/time#",
    "http://www.w3.org/ns/oa#", "http://xmlns.com/foaf/0.1/",
)
KINDS = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)


def load() -> Graph:
    return Graph(bind_namespaces="none").parse(ONTOLOGY_FILE, format="turtle")


ONTOLOGY = load()
TERMS = sorted({s for k in KINDS for s in ONTOLOGY.subjects(RDF.type, k) if str(s).startswith(str(KG))})


def _texts(term: URIRef, prop: URIRef, lang: str) -> list[Literal]:
    return [o for o in ONTOLOGY.objects(term, prop) if isinstance(o, Literal) and o.language == lang]


def test_there_are_terms() -> None:
    assert len(TERMS) > 40


def test_header() -> None:
    o = ONTOLOGY_IRI
    assert (o, RDF.type, OWL.Ontology) in ONTOLOGY
    assert ONTOLOGY.value(o, OWL.versionInfo) is not None
    assert ONTOLOGY.value(o, DCTERMS.license) is not None
    assert ONTOLOGY.value(o, DCTERMS.created) is not None
    assert ONTOLOGY.value(o, DCTERMS.modified) is not None
    assert str(ONTOLOGY.value(o, URIRef(VANN + "preferredNamespacePrefix"))) == "kg"
    assert str(ONTOLOGY.value(o, URIRef(VANN + "preferredNamespaceUri"))) == str(KG)
    for lang in ("en", "fr"):
        assert _texts(o, DCTERMS.title, lang), lang
        assert _texts(o, RDFS.label, lang), lang
        assert _texts(o, SKOS.definition, lang), lang


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.split("/")[-1])
def test_term_is_labelled_and_defined_in_english_and_french(term: URIRef) -> None:
    for prop in (RDFS.label, SKOS.definition):
        for lang in ("en", "fr"):
            assert len(_texts(term, prop, lang)) == 1, f"{term}: {prop} @{lang}"
    assert ONTOLOGY.value(term, RDFS.isDefinedBy) == ONTOLOGY_IRI


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.split("/")[-1])
def test_term_is_aligned_to_a_standard_vocabulary(term: URIRef) -> None:
    """Following kg: super-terms, some super-term is in PROV, ORG, SKOS, schema.org, ..."""
    prop = RDFS.subClassOf if (term, RDF.type, OWL.Class) in ONTOLOGY else RDFS.subPropertyOf
    seen, todo = set(), [term]
    while todo:
        node = todo.pop()
        for sup in ONTOLOGY.objects(node, prop):
            if str(sup).startswith(STANDARD):
                return
            if sup not in seen:
                seen.add(sup)
                todo.append(sup)
    pytest.fail(f"{term} has no {prop} path to a standard vocabulary")


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.split("/")[-1])
def test_term_name_case(term: URIRef) -> None:
    local = str(term)[len(str(KG)):]
    if (term, RDF.type, OWL.Class) in ONTOLOGY:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", local), f"class {local} is not UpperCamel"
    else:
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", local), f"property {local} is not lowerCamel"


def test_supers_domains_and_ranges_are_declared_or_standard() -> None:
    xsd = "http://www.w3.org/2001/XMLSchema#"
    for p in (RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range):
        for s, o in ONTOLOGY.subject_objects(p):
            ok = str(o).startswith((*STANDARD, xsd, str(RDF), str(RDFS))) or o in TERMS
            assert ok, f"{s} {p} {o}: undeclared"


def test_no_blank_nodes() -> None:
    """The ontology is part of the served graph, whose bytes must not change between parses."""
    assert not [t for t in ONTOLOGY if any(not isinstance(x, (URIRef, Literal)) for x in t)]


def test_every_kg_term_used_is_declared() -> None:
    """A typo in a data or shapes file (kg:contributeTo) fails here, not silently in a query."""
    declared = set(TERMS)
    for path in (*data_files(), SHAPES_FILE):
        g = Graph(bind_namespaces="none").parse(data=file_ntriples(path), format="nt")
        used = {x for t in g for x in t if isinstance(x, URIRef) and str(x).startswith(str(KG))}
        assert used <= declared, f"{path.name}: undeclared {sorted(used - declared)}"
