"""One table of media types: RDF serialisations and SPARQL result formats.

The loader, the build, the engines and the server all read these tables, so a format is
named, suffixed and negotiated the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.parsers import expat

from graph.errors import NotAcceptable


@dataclass(frozen=True)
class Format:
    """A serialisation: short key (`?format=`), media type, file suffix and engine names."""

    key: str
    media_type: str
    suffix: str
    rdflib: str  # rdflib parser/serializer name
    oxigraph: str  # attribute of pyoxigraph.RdfFormat or QueryResultsFormat
    label: str
    aliases: tuple[str, ...] = ()


RDF_FORMATS: tuple[Format, ...] = (
    Format("ttl", "text/turtle", ".ttl", "turtle", "TURTLE", "Turtle", ("application/x-turtle",)),
    Format("jsonld", "application/ld+json", ".jsonld", "json-ld", "JSON_LD", "JSON-LD"),
    Format("nt", "application/n-triples", ".nt", "nt", "N_TRIPLES", "N-Triples", ("text/plain",)),
    Format("rdf", "application/rdf+xml", ".rdf", "xml", "RDF_XML", "RDF/XML"),
)

RESULT_FORMATS: tuple[Format, ...] = (
    Format("json", "application/sparql-results+json", ".srj", "json", "JSON", "SPARQL JSON",
           ("application/json",)),
    Format("xml", "application/sparql-results+xml", ".srx", "xml", "XML", "SPARQL XML",
           ("application/xml", "text/xml")),
    Format("csv", "text/csv", ".csv", "csv", "CSV", "CSV"),
    Format("tsv", "text/tab-separated-values", ".tsv", "tsv", "TSV", "TSV"),
)

RDF_BY_KEY = {f.key: f for f in RDF_FORMATS}
RESULTS_BY_KEY = {f.key: f for f in RESULT_FORMATS}
RDF_BY_SUFFIX = {f.suffix: f for f in RDF_FORMATS}
HTML = "text/html"
PROBLEM_JSON = "application/problem+json"


# An authoring file (graph/authoring.py): TriG that a release compiles to N-Triples (quotes checked)
# through graph.release.file_ntriples; never served or negotiated, so not in RDF_FORMATS.
AUTHORING = Format("authoring", "application/trig", ".quotes.trig", "trig", "TRIG", "Authoring file (TriG)")


def describe_formats(formats: Iterable[Format]) -> list[dict[str, str]]:
    """Formats as an error lists them (`offered` of a 406)."""
    return [{"format": f.key, "mediaType": f.media_type} for f in formats]


def rdf_format_for_path(name: str) -> Format:
    """The RDF format of a file name, by suffix; unknown suffixes are an error."""
    for suffix, fmt in {AUTHORING.suffix: AUTHORING, **RDF_BY_SUFFIX, ".n3": RDF_BY_KEY["ttl"]}.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"{name}: unknown RDF file suffix (known: {', '.join(RDF_BY_SUFFIX)})")


def check_rdfxml(body: bytes) -> None:
    """Raise `NotAcceptable` unless `body` is well-formed XML (parsed with expat).

    Oxigraph's RDF/XML writer emits `<oxprefix:>` elements for predicates whose IRI does not
    end with an XML name (`http://b/1`); such a document must never be served as RDF/XML.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise NotAcceptable(
            "this answer cannot be written as RDF/XML: a predicate IRI does not end with an XML "
            "name (as http://example.org/1 does not), so no RDF/XML element can stand for it; "
            f"ask for Turtle (format=ttl), N-Triples or JSON-LD instead ({exc})",
            offered=describe_formats(f for f in RDF_FORMATS if f.key != "rdf")) from None
