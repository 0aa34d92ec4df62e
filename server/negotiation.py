"""Content negotiation, shared by the endpoint, stored queries, entity documents and dumps.

A format parameter wins (`format=`, or `output=` and `results=` as Fuseki and SPARQLWrapper
send them; repeated, the first value naming an offered format wins): a key (`ttl`), a media type
or an alias. Else the Accept header (Werkzeug's parser), else the first offered format. No match
is a 406 listing the offers. Where only graph formats are offered, `xml` means RDF/XML and
`json` JSON-LD, which is what clients asking a CONSTRUCT for "xml" or "json" want.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from flask import request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from graph.errors import NotAcceptable
from graph.formats import HTML, RESULT_FORMATS, Format, describe_formats

HTML_FORMAT = Format("html", HTML, ".html", "", "", "HTML")
JSON_FORMAT = Format("json", "application/json", ".json", "json", "", "JSON")
FORMAT_PARAMS = ("format", "output", "results")
ALIASES = {"turtle": "ttl", "n3": "ttl", "json-ld": "jsonld", "ld+json": "jsonld", "ntriples": "nt",
           "n-triples": "nt", "rdf+xml": "rdf", "rdfxml": "rdf", "rdf-xml": "rdf", "xml-rdf": "rdf",
           "srj": "json", "srx": "xml", "sparql-results+json": "json", "sparql-results+xml": "xml"}
# Only graph formats offered: what the result-format words mean for a graph.
GRAPH_ALIASES = {"xml": "rdf", "json": "jsonld"}
# ... and the generic media types, matched after every specific one.
GRAPH_MEDIA_ALIASES = {"application/json": "jsonld", "application/xml": "rdf", "text/xml": "rdf"}


def negotiate(offered: Sequence[Format], *, format_param: str | Sequence[str] | None = None) -> Format:
    """Pick one of `offered` (first = default) for the current request.

    Raises:
        NotAcceptable: a format parameter or Accept header that matches nothing offered.
    """
    if format_param is None:  # /sparql, the one route taking a POST, reads its own (strictly)
        values = [v for name in FORMAT_PARAMS for v in request.args.getlist(name)]
    else:
        values = [format_param] if isinstance(format_param, str) else list(format_param)
    values = [v for v in values if v.strip()]
    if not values:
        best = best_by_accept(tuple(offered), request.headers.get("Accept", ""))
        if best is None:
            raise NotAcceptable("none of the requested media types is offered; offered: "
                                + ", ".join(f.media_type for f in offered), offered=describe_formats(offered))
        return best
    keys = {f.key: f for f in offered}
    only_graphs = graph_only(offered)
    for value in values:  # a key, an alias or a media type
        word = value.strip().lower()
        key = ALIASES.get(word, word)
        if only_graphs:
            key = GRAPH_ALIASES.get(key, key)
        media = word.split(";")[0].strip()
        fmt = keys.get(key) or next((f for f in offered if media in (f.media_type, *f.aliases)), None)
        if fmt is not None:
            return fmt
    raise NotAcceptable(f"format {values[0]!r} is not offered here; use one of: "
                        + ", ".join(f.key for f in offered), offered=describe_formats(offered))


def graph_only(offered: Sequence[Format]) -> bool:
    """True where only graph formats are offered (no SPARQL result format)."""
    return not any(f in RESULT_FORMATS for f in offered)


@functools.lru_cache(maxsize=256)  # clients send few distinct Accept headers; parsing one is slow
def best_by_accept(offered: tuple[Format, ...], header: str) -> Format | None:
    """The offered format an Accept header prefers (the first without one); None if none."""
    accept = parse_accept_header(header, MIMEAccept)
    if not accept:
        return offered[0]
    # Media types first, then aliases, then the generic ones: the first name for a type wins.
    names = [(f.media_type, f) for f in offered] + [(alias, f) for f in offered for alias in f.aliases]
    if graph_only(offered):
        keys = {f.key: f for f in offered}
        names += [(media, keys[key]) for media, key in GRAPH_MEDIA_ALIASES.items() if key in keys]
    by_type: dict[str, Format] = {}
    for media, f in names:
        by_type.setdefault(media, f)
    best = accept.best_match(list(by_type))
    return None if best is None or accept[best] <= 0 else by_type[best]
