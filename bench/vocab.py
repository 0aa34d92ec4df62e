"""The ontology terms the synthetic graph uses, named once so they follow the real ontology."""

from __future__ import annotations

from pathlib import Path

from graph.namespaces import KG, STANDARD_PREFIXES

RDF = STANDARD_PREFIXES["rdf"]
RDFS = STANDARD_PREFIXES["rdfs"]
XSD = STANDARD_PREFIXES["xsd"]
DCTERMS = STANDARD_PREFIXES["dcterms"]
PROV = STANDARD_PREFIXES["prov"]
OA = STANDARD_PREFIXES["oa"]
SKOS = STANDARD_PREFIXES["skos"]

TYPE = RDF + "type"
LABEL = RDFS + "label"

# Classes and properties of our ontology (ontology/rabat-kg.ttl) that the generator uses.
CLASSES = ("ActionPlan", "Domain", "Objective", "Action", "Country", "Organisation",
           "Programme", "Activity", "NationalMeasure", "ProgressPaper", "Quote")
PROPERTIES = ("hasDomain", "inDomain", "underObjective", "referenceCountry", "country",
              "contributesTo", "partOfProgramme", "fundedBy", "implementedBy", "involves",
              "date", "startDate", "endDate", "statedIn", "supports", "about", "number",
              "iso3166Alpha2", "iso3166Alpha3")


def term(name: str) -> str:
    """The IRI of one of our terms."""
    return f"{KG}{name}"


def missing_terms(ontology_file: Path) -> list[str]:
    """Our terms that the real ontology does not mention (empty when the generator is in step)."""
    if not ontology_file.exists():
        return [f"{ontology_file} does not exist yet"]
    import pyoxigraph as ox

    from graph.formats import rdf_format_for_path

    fmt = getattr(ox.RdfFormat, rdf_format_for_path(ontology_file.name).oxigraph)
    subjects = {q.subject.value for q in ox.parse(path=str(ontology_file), format=fmt)
                if isinstance(q.subject, ox.NamedNode)}
    return [term(n) for n in (*CLASSES, *PROPERTIES) if term(n) not in subjects]
