"""Content negotiation, shared by the endpoint, stored queries, entity documents and dumps.

One helper decides the representation: an explicit format parameter wins (`?format=`, also
`output=` and `results=` as Fuseki and SPARQLWrapper send them; for links and downloads), else
the Accept header with q-values and wildcards (Werkzeug's parser, not a hand-rolled one), else
the first offered type. No match is a 406 that lists what is offered.

A format parameter may be a short key (`ttl`), a media type, or a common alias (`turtle`,
`json-ld`, `rdf+xml`, `n-triples`). Where only graph formats are offered, `xml` means RDF/XML
and `json` means JSON-LD, which is what clients asking a CONSTRUCT for "xml" or "json" want.
Clients such as SPARQLWrapper repeat the parameter (`format=tsv&format=text/tab-separated-values`):
the first value that names an offered format wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from graph.errors import KgError
from graph.formats import HTML, RESULT_FORMATS, Format

HTML_FORMAT = Format("html", HTML, ".html", "", "", "HTML")
FORMAT_PARAMS = ("format", "output", "results")
ALIASES = {"turtle": "ttl", "n3": "ttl", "json-ld": "jsonld", "ld+json": "jsonld", "ntriples": "nt",
           "n-triples": "nt", "rdf+xml": "rdf", "rdfxml": "rdf", "rdf-xml": "rdf", "xml-rdf": "rdf",
           "srj": "json", "srx": "xml", "sparql-results+json": "json", "sparql-results+xml": "xml"}
# Only graph formats offered: what the result-format words mean for a graph.
GRAPH_ALIASES = {"xml": "rdf", "json": "jsonld"}
# ... and the generic media types, matched after every specific one.
GRAPH_MEDIA_ALIASES = {"application/json": "jsonld", "application/xml": "rdf", "text/xml": "rdf"}


class NotAcceptable(KgError):
    """Nothing offered matches the Accept header (or the format key)."""

    status = 406
    type = "not-acceptable"
    title = "Not acceptable"


def format_values() -> list[str]:
    """The format parameter values of this request (query string, then a form body)."""
    values = [v for name in FORMAT_PARAMS for v in request.args.getlist(name)]
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        values += [v for name in FORMAT_PARAMS for v in request.form.getlist(name)]
    return [v for v in values if v.strip()]


def by_parameter(offered: Sequence[Format], value: str) -> Format | None:
    """The offered format a format parameter value names, if any."""
    keys = {f.key: f for f in offered}
    word = value.strip().lower()
    media = word.split(";")[0].strip()
    graph_only = not any(f in RESULT_FORMATS for f in offered)
    key = ALIASES.get(word, word)
    if graph_only:
        key = GRAPH_ALIASES.get(key, key)
    if key in keys:
        return keys[key]
    return next((f for f in offered if media in (f.media_type, *f.aliases)), None)


def negotiate(offered: Sequence[Format], *, format_param: str | Sequence[str] | None = None) -> Format:
    """Pick one of `offered` (first = default) for the current request.

    Raises:
        NotAcceptable: a format parameter or Accept header that matches nothing offered.
    """
    if format_param is None:
        values = format_values()
    elif isinstance(format_param, str):
        values = [format_param] if format_param.strip() else []
    else:
        values = [v for v in format_param if v.strip()]
    if values:
        for value in values:
            fmt = by_parameter(offered, value)
            if fmt is not None:
                return fmt
        raise NotAcceptable(f"format {values[0]!r} is not offered here; use one of: "
                            + ", ".join(f.key for f in offered), offered=_describe(offered))
    header = request.headers.get("Accept", "")
    key = (tuple(offered), header)
    found = _DECIDED.get(key)
    if found is not None:
        return found
    fmt = _by_accept(offered)
    if len(_DECIDED) >= _DECIDED_MAX:
        _DECIDED.clear()
    _DECIDED[key] = fmt
    return fmt


# Decisions by Accept header: the same few headers come back on every request, and parsing
# one with its q-values costs more than the rest of negotiation.
_DECIDED: dict[tuple[tuple[Format, ...], str], Format] = {}
_DECIDED_MAX = 1024


def decided(offered: Sequence[Format], accept: str) -> Format | None:
    """What `negotiate` chose before for this Accept header among `offered` (no format
    parameter), or None if it has not seen the pair (or refused it)."""
    return _DECIDED.get((tuple(offered), accept))


def _by_accept(offered: Sequence[Format]) -> Format:
    """Negotiation by the Accept header alone (see `negotiate`).

    Raises:
        NotAcceptable: nothing offered is acceptable.
    """
    accept = request.accept_mimetypes
    if not accept:
        return offered[0]
    by_type: dict[str, Format] = {}
    for f in offered:
        by_type.setdefault(f.media_type, f)
    for f in offered:
        for alias in f.aliases:
            by_type.setdefault(alias, f)
    if not any(f in RESULT_FORMATS for f in offered):
        keys = {f.key: f for f in offered}
        for media, key in GRAPH_MEDIA_ALIASES.items():
            if key in keys:
                by_type.setdefault(media, keys[key])
    best = accept.best_match(list(by_type))
    if best is None or accept[best] <= 0:
        raise NotAcceptable("none of the requested media types is offered; offered: "
                            + ", ".join(f.media_type for f in offered), offered=_describe(offered))
    return by_type[best]


def _describe(offered: Sequence[Format]) -> list[dict[str, str]]:
    return [{"format": f.key, "mediaType": f.media_type} for f in offered]
