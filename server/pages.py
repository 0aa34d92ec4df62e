"""Blueprint "pages": dereferenceable IRIs, entity pages and data documents, search, the
ontology, the shapes and the live validation report.

URI design (W3C "Cool URIs", 303 flavour): `/id/{type}/{slug}` names the thing and answers
303 See Other to `/doc/{type}/{slug}` (HTML) or `/doc/{type}/{slug}.{ttl,jsonld,nt,rdf}`. Every
`Location` is a path on the serving host, built from the validated type and slug only (never from
the Host header or a full IRI in the path), so no redirect can leave the site. The data keeps the
canonical base https://w3id.org/rabat-kg/; HTML links stay on the host that served the page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, jsonify, render_template, request
from werkzeug.utils import redirect

from graph import describe as d
from graph.engine.base import QueryResult
from graph.errors import KgError, QueryEvaluationError
from graph.formats import HTML, RDF_BY_KEY, RDF_BY_SUFFIX, RDF_FORMATS, Format, check_rdfxml
from graph.jsonld import CONTEXT_PATH, compact_jsonld, context_document
from graph.namespaces import KG
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE
from graph.queries import whole_number
from graph.search import browse_query, fold, search_hits, search_query
from graph.turtle import sorted_ntriples, turtle
from server import conformance, http, i18n, mapview, schema_views, site
from server.negotiation import HTML_FORMAT, JSON_FORMAT, negotiate
from server.site import editor_link, local_href, prefixed
from server.state import get_backend

bp = Blueprint("pages", __name__)
bp.app_context_processor(i18n.template_context)
bp.app_context_processor(site.template_context)
bp.add_app_template_filter(i18n.keep_language, "with_lang")


@bp.app_template_filter("capfirst")
def capfirst(text: str) -> str:
    """Upper-case the first letter only (ontology labels are lower-case by convention)."""
    return text[:1].upper() + text[1:] if text else text


# JSON-LD also answers clients that ask for plain JSON.
JSONLD = dataclasses.replace(RDF_BY_KEY["jsonld"], aliases=("application/json",))
DATA_FORMATS: tuple[Format, ...] = tuple(JSONLD if f.key == "jsonld" else f for f in RDF_FORMATS)
PAGE_FORMATS: tuple[Format, ...] = (HTML_FORMAT, *DATA_FORMATS)
SEARCH_FORMATS: tuple[Format, ...] = (HTML_FORMAT, JSON_FORMAT)
DOCUMENT_WRITERS: dict[str, Callable[[bytes], bytes]] = {"ttl": turtle, "jsonld": compact_jsonld,
                                                         "nt": sorted_ntriples}
SAME_AS = (d.SCHEMA + "sameAs", d.OWL + "sameAs", d.SKOS + "exactMatch")
CODES = ((f"{KG}iso3166Alpha2", "ISO 3166-1 alpha-2"), (f"{KG}iso3166Alpha3", "ISO 3166-1 alpha-3"))
INCOMING_SHOWN = 25  # links shown per incoming group on a page
SEARCH_MAX_LEN = 200
SEARCH_LIMIT = 100
BROWSE_PAGE = 100
# Our own RDF files, by name: the file and the view model of its documentation page.
SCHEMA_DOCUMENTS: dict[str, tuple[Path, Callable[[str], Any]]] = {
    "ontology": (ONTOLOGY_FILE, schema_views.ontology_view),
    "shapes": (SHAPES_FILE, schema_views.shapes_view),
}


# --- Dereferencing ---------------------------------------------------------------------------------


@bp.get("/id/<type_>/<slug>")
def identify(type_: str, slug: str) -> Response:
    """303 See Other to the document in the negotiated representation (HTML for browsers)."""
    ref = _ref_or_404(type_, slug)
    fmt = negotiate(PAGE_FORMATS)
    if not _exists(ref):
        abort(404, description=f"nothing in this graph is called {ref.iri}")
    target = doc_path(ref, fmt)
    lang = request.args.get("lang", "")
    if fmt.key == "html" and lang in i18n.languages():
        target += "?" + urlencode({"lang": lang})
    response = see_other(target)
    response.headers["Link"] = f'<{target}>; rel="describedby", ' + alternates(doc_links(ref))
    return response


@bp.get("/doc/<type_>/<name>")
def document(type_: str, name: str) -> Response:
    """The description of one entity: an HTML page or a data document (suffix or conneg)."""
    slug, dot, suffix = name.partition(".")
    ref = _ref_or_404(type_, slug)
    fmt = _fixed_or_negotiated(suffix if dot else None,
                               f"no representation with suffix .{suffix}; use one of ")
    if fmt.key == "html":
        return entity_page(ref)
    return entity_data(ref, fmt, negotiated=not dot)


@bp.get("/def")
@bp.get("/def/")
@bp.get("/def/<term>")
def define(term: str | None = None) -> Response:
    """Ontology IRIs: 303 to the ontology page's anchor (HTML) or to the ontology document."""
    onto = site.ontology()
    if term is not None and term == onto.version:
        # The version IRI names the ontology as of that version: this one, answered directly.
        return schema_document("ontology")
    if term is not None and f"{KG}{term}" not in onto.terms:  # (terms have TERM names only)
        abort(404, description=f"the ontology has no term {term!r}")
    fmt = negotiate(PAGE_FORMATS)
    target = ("/ontology" + (f"#{term}" if term else "")) if fmt.key == "html" else f"/ontology.{fmt.key}"
    return see_other(target)


@bp.get(CONTEXT_PATH)
def jsonld_context() -> Response:
    """The JSON-LD context written into every JSON-LD document of the site and the dump."""
    return Response(context_document(), mimetype=RDF_BY_KEY["jsonld"].media_type)


def see_other(location: str) -> Response:
    """A 303 to a local path chosen by Accept (Location is exactly `location`: never made absolute)."""
    response = redirect(location, code=303, Response=Response)
    assert isinstance(response, Response)
    http.add_vary(response, "Accept")
    return response


def _ref_or_404(type_: str, slug: str) -> d.EntityRef:
    ref = d.entity_ref(type_, slug)
    if ref is None:
        abort(404, description="not an entity address: the type must be one of "
              + ", ".join(d.ENTITY_TYPES) + " and the name lower-case letters, digits and '-'")
    return ref


def _exists(ref: d.EntityRef) -> bool:
    rows = get_backend().execute(d.exists_query(ref), fmt="json", lane="light", max_rows=None)
    return b"true" in rows.body


def run_description(ref: d.EntityRef, fmt: str) -> QueryResult:
    """The entity's CONSTRUCT in format `fmt`; 404 when the entity is unknown.

    Some stores (Virtuoso) fail on this query when the IRI is nowhere in the data, rather than
    answering nothing: a failure is then checked with an ASK and turned into the 404 it means.
    """
    try:
        return get_backend().execute(d.describe_query(ref), fmt=fmt, lane="light", max_rows=None)
    except QueryEvaluationError:
        if not _exists(ref):
            abort(404, description=f"nothing in this graph is called {ref.iri}")
        raise


def doc_path(ref: d.EntityRef, fmt: Format) -> str:
    """The local path of the entity's document in one representation."""
    base = f"/doc/{ref.type}/{ref.slug}"
    return base if fmt.key == "html" else base + fmt.suffix


def doc_links(ref: d.EntityRef, formats: Sequence[Format] = PAGE_FORMATS) -> list[tuple[Format, str]]:
    """The entity's document in each of `formats`: (format, local path)."""
    return [(f, doc_path(ref, f)) for f in formats]


def alternates(representations: Iterable[tuple[Format, str]]) -> str:
    """A `Link` header value naming each (format, path) as an alternate representation."""
    return ", ".join(f'<{path}>; rel="alternate"; type="{f.media_type}"' for f, path in representations)


def entity_data(ref: d.EntityRef, fmt: Format, *, negotiated: bool) -> Response:
    """A data document: the one CONSTRUCT, serialised by the engine."""
    cached = http.not_modified(fmt.media_type)
    if cached is not None:
        return cached
    # Turtle, JSON-LD and N-Triples are written here from the engine's N-Triples: only the
    # prefixes the document uses, compact JSON-LD with the published context, and each in one
    # order (a strong ETag promises the same bytes, from any server process).
    writer = DOCUMENT_WRITERS.get(fmt.key)
    result = run_description(ref, "nt" if writer else fmt.key)
    if result.count == 0:
        abort(404, description=f"nothing in this graph is called {ref.iri}")
    body = writer(result.body) if writer else result.body
    if fmt.key == "rdf":
        check_rdfxml(body)  # a predicate RDF/XML cannot write: 406, never a broken document
    return _answer(body, fmt, doc_links(ref), doc_path(ref, fmt) if negotiated else None, vary=negotiated)


# --- Entity pages ----------------------------------------------------------------------------------


@i18n.language_page
def entity_page(ref: d.EntityRef) -> Response:
    """The HTML page of one entity, built from the same CONSTRUCT as its data documents."""
    lang = i18n.choose_language()
    query = d.describe_query(ref)
    desc = d.parse_description(ref.iri, run_description(ref, "nt").body)
    if not desc.exists:
        abort(404, description=f"nothing in this graph is called {ref.iri}")
    view = EntityView(ref, desc, lang)
    timeline = site.timeline(ref) if ref.type in d.TIMELINE_TYPES else None
    html = render_template(
        "entity.html", ref=ref, view=view, lang=lang,
        labels=sorted(desc.labels(ref.iri).items(), key=lambda kv: (kv[0] != lang, kv[0])),
        label=view.label(ref.iri), fallback=view.fallback(),
        identifiers=view.identifiers(),
        country_map=mapview.country_map(ref.iri, lang) if ref.type == "country" else None,
        types=[view.link(t) for t in sorted(desc.types(ref.iri))],
        rows=view.statements(), quotes=view.quotes(),
        incoming=view.incoming(site.incoming_counts(ref) if desc.note else None), note=desc.note,
        timeline=view.timeline(timeline[0]) if timeline else None,
        timeline_truncated=bool(timeline and timeline[1]),
        timeline_editor=editor_link(d.timeline_query(ref)) if timeline else None,
        downloads=doc_links(ref, DATA_FORMATS),
        editor_link=editor_link(query), page_query=query,
        conformance=conformance.status_for(ref.iri),
        data_version=get_backend().version(), data_date=site.data_date())
    return _answer(html, HTML_FORMAT, doc_links(ref))


@dataclasses.dataclass
class EntityView:
    """Everything the entity template shows, in the reader's language."""

    ref: d.EntityRef
    desc: d.Description
    lang: str

    def label(self, iri: str) -> str:
        """The display label of any IRI: its label in the graph, the ontology's, or a short name."""
        return (d.label_in(self.desc.labels(iri), self.lang) or site.term_label(iri, self.lang)
                or site.external_name(iri) or prefixed(iri))

    def identifiers(self) -> list[dict[str, Any]]:
        """The entity's identifiers elsewhere, by name: links to the same thing in other datasets
        (Wikidata Q945) and its codes (ISO 3166-1 TG)."""
        same = [v.value for p in SAME_AS for v in self.desc.objects(self.ref.iri, p) if v.is_iri]
        codes = [f"{scheme} {v.value}" for p, scheme in CODES for v in self.desc.objects(self.ref.iri, p)]
        out = [{"text": site.external_name(i) or prefixed(i), "href": local_href(i), "iri": i} for i in same]
        return out + [{"text": text, "href": None, "iri": None} for text in codes]

    def fallback(self) -> dict[str, str] | None:
        """The language the title is shown in, when it is not the reader's."""
        picked = d.pick_label(self.desc.labels(self.ref.iri), self.lang)
        if picked and picked[1] == self.lang:
            return None
        got = "" if picked is None else (i18n.language_name(picked[1]) if picked[1] else "?")
        return {"want": i18n.language_name(self.lang), "got": got}

    def link(self, iri: str) -> dict[str, Any]:
        return {"iri": iri, "href": local_href(iri), "text": self.label(iri)}

    def value(self, v: d.Value) -> dict[str, Any]:
        return site.value_cell(v, self.label)

    def statements(self) -> list[dict[str, Any]]:
        """Outgoing statements grouped by property, with the quotes that support each value."""
        support: dict[tuple[str, d.Value], list[int]] = {}  # (property, value) -> quote numbers
        for n, q in enumerate(self.desc.quotes(), 1):
            for s, p, o in q.supports:
                if s == self.ref.iri:
                    support.setdefault((p, o), []).append(n)
        hidden = {d.TYPE, *d.LABEL_PROPERTIES, str(KG) + "statedIn"}
        rows = []
        for p, values in self.desc.by_subject.get(self.ref.iri, {}).items():
            if p in hidden:
                continue
            cells = [{**self.value(v), "quotes": support.get((p, v), [])}
                     for v in sorted(values, key=lambda v: (v.lang or "", v.value))]
            rows.append({"property": self.link(p), "cells": cells})
        return sorted(rows, key=lambda r: r["property"]["text"].lower())

    def quotes(self) -> list[dict[str, Any]]:
        return [{"n": n, "node": self.link(q.node.value) if q.node.is_iri else {"text": q.node.value},
                 "exact": [e.value for e in q.exact], "prefix": q.prefix, "suffix": q.suffix,
                 "sources": [self.link(s) for s in q.sources],
                 "supports": [{"subject": self.link(s), "property": self.link(p), "object": self.value(o)}
                              for s, p, o in q.supports]}
                for n, q in enumerate(self.desc.quotes(), 1)]

    def incoming(self, counts: dict[str, int] | None) -> list[dict[str, Any]]:
        """Incoming links grouped by property, with counts (exact when the document was capped:
        then a property may have all its links past the cap, and none shown)."""
        counts = counts or {}
        groups = []
        for p in dict.fromkeys([*self.desc.incoming, *counts]):
            subjects = self.desc.incoming.get(p, [])
            total = counts.get(p, len(subjects))
            all_query = (editor_link(d.incoming_list_query(self.ref, p))
                         if total > INCOMING_SHOWN or not subjects else None)
            group: dict[str, Any] = {"property": self.link(p), "total": total, "subjects": [],
                                     "shown": len(subjects[:INCOMING_SHOWN]), "all_query": all_query}
            if subjects and p in (d.RDF + "subject", d.RDF + "object"):
                key = "entity.quoted_as_subject" if p.endswith("subject") else "entity.quoted_as_object"
                group["property"] = {"iri": p, "href": local_href(p), "text": i18n.translate(key)}
                group["statements"] = self._quoted_statements(subjects)[:INCOMING_SHOWN]
            else:
                group["subjects"] = [self.value(s) for s in subjects[:INCOMING_SHOWN]]
            groups.append(group)
        groups.sort(key=lambda g: (-g["total"], g["property"]["text"].lower()))
        return groups

    def _quoted_statements(self, statements: list[d.Value]) -> list[dict[str, Any]]:
        """Reified statements naming the entity, each as what it says (subject, property, object)
        with the quote that supports it, in order."""
        shown = []
        for st in statements:
            parts = (self.value(v) if v else None for v in self.desc.statement(st.value))
            quotes = self.desc.supporters.get(st.value)
            shown.append({**dict(zip(("subject", "property", "object"), parts, strict=True)),
                          "quote": self.link(quotes[0].value) if quotes else None})
        return sorted(shown, key=lambda s: tuple(str((s[k] or {}).get("text") or "").lower()
                                                 for k in ("property", "subject", "object")))

    def timeline(self, items: list[d.TimelineItem]) -> list[dict[str, Any]]:
        return [{"href": local_href(it.iri), "text": d.label_in(it.labels, self.lang) or prefixed(it.iri),
                 "date": it.date, "start": it.start, "end": it.end} for it in items]


# --- Home, search and browse -----------------------------------------------------------------------


@bp.get("/")
@i18n.language_page
def home() -> Response:
    lang = i18n.choose_language()
    classes = [{"iri": c, "name": c[len(str(KG)):], "label": site.term_label(c, lang) or prefixed(c),
                "count": n} for c, n in site.class_counts().items() if c.startswith(str(KG))]
    classes.sort(key=lambda c: str(c["label"]).lower())
    html = render_template("home.html", classes=classes, triples=site.triple_count(),
                           world_map=mapview.home_map(lang),
                           dumps=site.DUMPS, data_version=get_backend().version(),
                           data_date=site.data_date())
    return Response(html, mimetype=HTML)


@bp.get("/search")
def search() -> Response:
    """Labels in any language containing `q` (case-insensitive), optionally of one class;
    or, with `class` alone, every member of the class (paged)."""
    asked = request.args.get("format", "").strip().lower()
    # negotiate reads `json` as JSON-LD where no result format is offered: here it is JSON
    fmt = negotiate(SEARCH_FORMATS, format_param=("application/json" if asked == "json" else asked) or None)
    lang = i18n.choose_language()
    q = request.args.get("q", "").strip()
    cls_name = request.args.get("class", "").strip()
    cls = f"{KG}{cls_name}" if cls_name else None
    if cls_name and cls not in site.ontology().classes:
        abort(400, description=f"unknown class {cls_name!r}; use a class of the ontology, e.g. Country")
    if len(q) > SEARCH_MAX_LEN:
        abort(400, description=f"the search text is longer than {SEARCH_MAX_LEN} characters")
    if any(ord(c) < 0x20 for c in q):
        abort(400, description="the search text holds control characters")
    if not q and cls is None:
        abort(400, description="give a search text (?q=...) or a class (?class=...)")
    page = whole_number(request.args.get("page", "1"), "page", 1, 100_000)
    cached = http.not_modified(fmt.media_type, lang)
    if cached is not None:
        return i18n.mark_language(cached)
    if q:
        # text that folds to nothing (lone accents) matches nothing, rather than everything
        rows = get_backend().select(search_query(q, cls, SEARCH_LIMIT + 1), lane="light") if fold(q) else []
        truncated_at = SEARCH_LIMIT
    else:
        assert cls is not None
        rows = get_backend().select(browse_query(cls, BROWSE_PAGE + 1, (page - 1) * BROWSE_PAGE),
                                    lane="light")
        truncated_at = BROWSE_PAGE
    hits = search_hits(rows)
    more = len(hits) > truncated_at
    hits = hits[:truncated_at]
    results: list[dict[str, Any]] = []
    for h in hits:
        # The label that matched, in the reader's language when one in it matched.
        picked = d.pick_label(h.matched, lang) or d.pick_label(h.labels, lang)
        results.append({"iri": h.iri, "page": local_href(h.iri),
                        "label": picked[0] if picked else prefixed(h.iri),
                        "labelLanguage": (picked[1] or None) if picked else None,
                        "labels": h.labels, "matched": h.matched, "types": h.types})
    if fmt.key == "json":
        response = jsonify({"q": q or None, "class": cls, "lang": lang, "page": page, "results": results,
                            "more": more})
    else:
        response = Response(render_template(
            "search.html", q=q, cls_name=cls_name,
            cls_label=site.term_label(cls, lang) if cls else None, results=results, more=more,
            page=page, limit=truncated_at, type_label=lambda iri: site.term_label(iri, lang) or prefixed(iri),
            classes=sorted(((c[len(str(KG)):], site.term_label(c, lang) or c)
                            for c in site.ontology().classes), key=lambda c: c[1].lower()),
            next_url=_page_url(page + 1) if more and not q else None,
            prev_url=_page_url(page - 1) if page > 1 and not q else None,
            data_version=get_backend().version()), mimetype=HTML)
    http.add_vary(response, "Accept")
    return i18n.mark_language(response)


def _page_url(page: int) -> str:
    return "/search?" + urlencode({**request.args.to_dict(), "page": str(page)})


# --- Ontology, shapes, validation --------------------------------------------------------------------


@bp.get("/<any(ontology, shapes):name>")
@bp.get("/<any(ontology, shapes):name>.<suffix>")
def schema_document(name: str, suffix: str | None = None) -> Response:
    """The ontology or the shapes: documentation for people (HTML), the Turtle file (or another
    syntax) for programs."""
    path, view = SCHEMA_DOCUMENTS[name]
    base = "/" + name
    fmt = _fixed_or_negotiated(suffix, "offered suffixes: ")
    links = [(f, base + f.suffix) for f in DATA_FORMATS]
    if fmt.key == "html":
        return schema_page(name, view, links)
    return _answer(site.rdf_file_bytes(path, fmt), fmt, links, None if suffix else base + fmt.suffix)


@i18n.language_page
def schema_page(name: str, view: Callable[[str], Any], links: list[tuple[Format, str]]) -> Response:
    """The documentation page, its view model computed once per release and language."""
    lang = i18n.choose_language()
    model = site.per_version(f"{name}-view.{lang}", lambda: view(lang))
    html = render_template(f"{name}.html", **{name: model}, downloads=links,
                           data_version=get_backend().version())
    return _answer(html, HTML_FORMAT, links)


@bp.get("/validation")
@bp.get("/validation.<suffix>")
def validation(suffix: str | None = None) -> Response:
    """The live SHACL report of the served release: HTML grouped by focus node, or Turtle."""
    if suffix is not None and suffix != "ttl":
        abort(404, description="the report is offered as /validation (HTML) and /validation.ttl")
    fmt = RDF_BY_KEY["ttl"] if suffix else negotiate((HTML_FORMAT, RDF_BY_KEY["ttl"]))
    state = conformance.state()
    if not state.done.wait(conformance.PAGE_WAIT_S):
        raise ReportPending("the validation report of this release is being computed; retry shortly",
                            retry_after=5)
    report = state.report
    if fmt.key == "ttl":
        if report is None:
            abort(404, description=state.reason or "no validation report for this release")
        return _answer(report.report_turtle, fmt, location=None if suffix else "/validation.ttl")
    html = render_template("validation.html", report=report, reason=state.reason,
                           groups=conformance.grouped(report) if report is not None else [],
                           validated_at_load=state.validated_at_load,
                           data_version=get_backend().version())
    links = [(RDF_BY_KEY["ttl"], "/validation.ttl")] if report is not None else []
    return i18n.mark_language(_answer(html, HTML_FORMAT, links))


class ReportPending(KgError, status=503, type="report-pending", title="Validation report not ready"):
    """The SHACL report of the served release is still being computed."""


def _fixed_or_negotiated(suffix: str | None, unknown: str) -> Format:
    """The format a suffix names (404 `unknown` and the known suffixes for any other), or else
    the negotiated one."""
    if suffix is None:
        return negotiate(PAGE_FORMATS)
    fmt = RDF_BY_SUFFIX.get("." + suffix)
    if fmt is None:
        abort(404, description=unknown + ", ".join(RDF_BY_SUFFIX))
    return fmt


def _answer(body: str | bytes, fmt: Format, links: Sequence[tuple[Format, str]] = (),
            location: str | None = None, *, vary: bool = True) -> Response:
    """A page or document in `fmt`, with its alternates and, when negotiated, where it lives."""
    response = Response(body, mimetype=fmt.media_type)
    if links:
        response.headers["Link"] = alternates(links)
    if location:
        response.headers["Content-Location"] = location
    if vary:
        http.add_vary(response, "Accept")
    return response
