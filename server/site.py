"""What the pages share and compute once per data version: the ontology and shapes as documents,
class counts, the triple count, the data date, timelines; plus the site's constants.

Every cache is keyed by `backend.version()`, so a reload (a new release) is picked up by the
next request and nothing is read from disk per request.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response

from graph import describe as d
from graph.formats import Format
from graph.namespaces import BASE, ID, KG, KGSH, PREFIXES, STANDARD_PREFIXES
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE
from server import i18n
from server.state import get_backend

T = TypeVar("T")

# The licence of the data, said once (pages, VoID/DCAT, citations).
DATA_LICENCE = "https://creativecommons.org/licenses/by/4.0/"
DATA_LICENCE_NAME = "CC BY 4.0"
# The whole-graph dumps: (format key, path). Fixed paths, never built from input.
DUMPS: tuple[tuple[str, str], ...] = (("ttl", "/dump.ttl"), ("nt", "/dump.nt"), ("jsonld", "/dump.jsonld"))

_lock = threading.Lock()
_by_version: dict[tuple[str, str], Any] = {}
_LRU_SIZE = 256
_lru: OrderedDict[tuple[str, str, str], Any] = OrderedDict()


def per_version(name: str, compute: Callable[[], T]) -> T:
    """`compute()` once per data version (a few small values: counts, documents)."""
    version = get_backend().version()
    key = (version, name)
    with _lock:
        if key in _by_version:
            return _by_version[key]  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        for old in [k for k in _by_version if k[0] != version]:
            del _by_version[old]
        _by_version[key] = value
    return value


def per_version_lru(name: str, arg: str, compute: Callable[[], T]) -> T:
    """`compute()` once per (version, arg), keeping the last few hundred (timelines, counts)."""
    key = (get_backend().version(), name, arg)
    with _lock:
        if key in _lru:
            _lru.move_to_end(key)
            return _lru[key]  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        _lru[key] = value
        while len(_lru) > _LRU_SIZE:
            _lru.popitem(last=False)
    return value


def not_modified(media_type: str, language: str | None = None) -> Response | None:
    """A 304 when the client holds this representation already (the HTTP policy module decides)."""
    from server import http

    check = getattr(http, "not_modified", None)
    return check(media_type, language) if check is not None else None


def template_context() -> dict[str, object]:
    return {"prefixed": prefixed, "licence_url": DATA_LICENCE, "licence_name": DATA_LICENCE_NAME}


def local_href(iri: str) -> str | None:
    """Where a link to `iri` goes: a local path for our IRIs, the IRI for other http(s) IRIs,
    None for anything else (javascript:, data:, mailto:, urn: ... are shown as text)."""
    if iri.startswith(ID):
        ref = d.ref_for_iri(iri.split("#", 1)[0])
        if ref is None:
            return None
        frag = iri.partition("#")[2]
        return f"/id/{ref.path}" + (f"#{_safe_fragment(frag)}" if frag else "")
    if iri.startswith(str(KG)):
        term = iri[len(str(KG)):]
        return f"/ontology#{term}" if d.TERM.fullmatch(term) else None
    if iri == BASE + "def":
        return "/ontology"
    if iri.startswith(str(KGSH)):
        name = iri[len(str(KGSH)):]
        return f"/shapes#{name}" if d.TERM.fullmatch(name) else None
    if re.match(r"https?://[^\s<>\"]+$", iri):
        return iri
    return None


def _safe_fragment(frag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.~-]", "", frag)


def prefixed(iri: str) -> str:
    """A prefixed name for `iri` when one of our prefixes fits, else the IRI."""
    best = max((ns for ns in PREFIXES.values() if iri.startswith(ns)), key=len, default=None)
    if best is None:
        return iri
    local = iri[len(best):]
    if not re.fullmatch(r"[A-Za-z0-9_.-]*(#[A-Za-z0-9_.-]+)?", local):
        return iri
    prefix = next(p for p, ns in PREFIXES.items() if ns == best)
    return f"{prefix}:{local}"


# --- Ontology ------------------------------------------------------------------------------------


def ontology() -> d.Ontology:
    return per_version("ontology", lambda: d.read_ontology(d.parse_turtle_file(str(ONTOLOGY_FILE))))


def term_label(iri: str, lang: str) -> str | None:
    """The label of an ontology term (ours, or a standard one we name in i18n)."""
    return ontology().label(iri, lang) or i18n.standard_label(iri, lang)


@functools.cache
def _ontology_graph_bytes(key: str, path: str) -> bytes:
    import pyoxigraph as ox

    triples = d.parse_turtle_file(path)
    fmt = getattr(ox.RdfFormat, key)
    kwargs: dict[str, Any] = {"prefixes": PREFIXES} if key in ("TURTLE", "RDF_XML") else {}
    return ox.serialize(triples, format=fmt, **kwargs) or b""


def ontology_bytes(fmt: Format) -> bytes:
    """The ontology file in `fmt` (the Turtle file itself for Turtle)."""
    if fmt.key == "ttl":
        return per_version("ontology.ttl", ONTOLOGY_FILE.read_bytes)
    return per_version(f"ontology.{fmt.key}", lambda: _ontology_graph_bytes(fmt.oxigraph, str(ONTOLOGY_FILE)))


def shapes_bytes(fmt: Format) -> bytes:
    if fmt.key == "ttl":
        return per_version("shapes.ttl", SHAPES_FILE.read_bytes)
    return per_version(f"shapes.{fmt.key}", lambda: _ontology_graph_bytes(fmt.oxigraph, str(SHAPES_FILE)))


@dataclass
class TermView:
    """A term of the ontology page in the reader's language."""

    name: str
    iri: str
    label: str
    label_lang: str | None
    labels: dict[str, list[str]]
    definitions: dict[str, list[str]]
    comments: dict[str, list[str]]
    kinds: list[str]
    supers: list[dict[str, Any]]
    domains: list[dict[str, Any]]
    ranges: list[dict[str, Any]]
    inverse: list[dict[str, Any]]


def _term_link(iri: str, lang: str) -> dict[str, Any]:
    return {"iri": iri, "href": local_href(iri), "text": term_label(iri, lang) or prefixed(iri),
            "short": prefixed(iri)}


def ontology_view(lang: str) -> dict[str, Any]:
    """The ontology page: header metadata, classes and properties (sorted by name)."""
    def compute() -> dict[str, Any]:
        onto = ontology()

        def view(t: d.Term) -> TermView:
            picked = d.pick_label(t.labels, lang)
            return TermView(
                name=t.name, iri=t.iri, label=picked[0] if picked else t.name,
                label_lang=picked[1] if picked else None, labels=t.labels, definitions=t.definitions,
                comments=t.comments, kinds=[prefixed(k) for k in t.kinds],
                supers=[_term_link(s, lang) for s in t.supers],
                domains=[_term_link(s, lang) for s in t.domains],
                ranges=[_term_link(s, lang) for s in t.ranges],
                inverse=[_term_link(s, lang) for s in t.inverse])

        header = {}
        for key, prop in (("title", STANDARD_PREFIXES["dcterms"] + "title"),
                          ("definition", STANDARD_PREFIXES["skos"] + "definition"),
                          ("version", STANDARD_PREFIXES["owl"] + "versionInfo"),
                          ("version_iri", STANDARD_PREFIXES["owl"] + "versionIRI"),
                          ("licence", STANDARD_PREFIXES["dcterms"] + "license"),
                          ("prefix", STANDARD_PREFIXES["vann"] + "preferredNamespacePrefix"),
                          ("namespace", STANDARD_PREFIXES["vann"] + "preferredNamespaceUri"),
                          ("modified", STANDARD_PREFIXES["dcterms"] + "modified"),
                          ("created", STANDARD_PREFIXES["dcterms"] + "created")):
            values = onto.header.get(prop, [])
            in_lang = [v for v in values if v.lang == lang] or [v for v in values if v.lang in (None, "en")] \
                or values
            header[key] = in_lang[0].value if in_lang else None
        classes = sorted((view(t) for t in onto.classes.values()), key=lambda v: v.name.lower())
        props = sorted((view(t) for t in onto.properties.values()), key=lambda v: v.name.lower())
        return {"iri": onto.iri, "header": header, "classes": classes, "properties": props}

    return per_version(f"ontology-view.{lang}", compute)


# --- Shapes --------------------------------------------------------------------------------------


def shapes_view(lang: str) -> list[dict[str, Any]]:
    """Node shapes with their property shapes and constraints, for the shapes page."""
    return per_version(f"shapes-view.{lang}", lambda: _shapes_view(lang))


def _shapes_view(lang: str) -> list[dict[str, Any]]:
    from rdflib import BNode, Graph, Literal, URIRef
    from rdflib.collection import Collection
    from rdflib.namespace import RDF, RDFS, SH

    g = Graph(bind_namespaces="none").parse(SHAPES_FILE, format="turtle")

    def text(node: Any) -> dict[str, Any]:
        if isinstance(node, URIRef):
            return {"text": term_label(str(node), lang) or prefixed(str(node)), "href": local_href(str(node)),
                    "short": prefixed(str(node))}
        if isinstance(node, Literal):
            return {"text": str(node), "href": None, "lang": node.language}
        if isinstance(node, BNode):
            if (node, RDF.first, None) in g:
                items = [text(x)["text"] for x in Collection(g, node)]
                return {"text": "( " + " ".join(items) + " )", "href": None}
            parts = [f"{prefixed(str(p))} {text(o)['text']}" for p, o in g.predicate_objects(node)]
            return {"text": "[ " + " ; ".join(sorted(parts)) + " ]", "href": None}
        return {"text": str(node), "href": None}

    def in_lang(node: Any, prop: Any) -> str | None:
        values = [v for v in g.objects(node, prop) if isinstance(v, Literal)]
        chosen = ([v for v in values if v.language == lang]
                  or [v for v in values if v.language in ("en", None)])
        return str(chosen[0]) if chosen else (str(values[0]) if values else None)

    skip = {RDF.type, SH.path, SH.message, SH.name, SH.description, RDFS.label, RDFS.comment, SH.property,
            SH.targetClass, SH.severity}

    def constraints(node: Any) -> list[dict[str, Any]]:
        out = []
        for p, o in sorted(g.predicate_objects(node), key=lambda po: (str(po[0]), str(po[1]))):
            if p in skip:
                continue
            out.append({"name": prefixed(str(p)), "value": text(o)})
        return out

    def shape_id(node: Any) -> str:
        iri = str(node)
        return iri[len(str(KGSH)):] if iri.startswith(str(KGSH)) else ""

    shapes = []
    for node in sorted(set(g.subjects(RDF.type, SH.NodeShape)), key=str):
        props = []
        for ps in sorted(g.objects(node, SH.property), key=str):
            props.append({
                "id": shape_id(ps), "short": prefixed(str(ps)) if isinstance(ps, URIRef) else "",
                "path": text(g.value(ps, SH.path)) if g.value(ps, SH.path) is not None else None,
                "severity": prefixed(str(g.value(ps, SH.severity))) if g.value(ps, SH.severity) else None,
                "message": in_lang(ps, SH.message), "constraints": constraints(ps),
            })
        shapes.append({
            "id": shape_id(node), "short": prefixed(str(node)), "iri": str(node),
            "label": in_lang(node, RDFS.label) or prefixed(str(node)),
            "comment": in_lang(node, RDFS.comment),
            "targets": [text(c) for c in g.objects(node, SH.targetClass)],
            "constraints": constraints(node), "properties": props,
        })
    shapes.sort(key=lambda s: (not s["targets"], s["short"]))
    return shapes


# --- Counts and dates --------------------------------------------------------------------------------


def class_counts() -> dict[str, int]:
    """Instances per class (rdf:type), once per version."""
    def compute() -> dict[str, int]:
        rows = get_backend().select(
            "SELECT ?cls (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?cls } GROUP BY ?cls", lane="light")
        return {r["cls"]["value"]: int(r["n"]["value"]) for r in rows if "cls" in r}
    return per_version("class-counts", compute)


def triple_count() -> int:
    def compute() -> int:
        rows = get_backend().select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", lane="light")
        return int(rows[0]["n"]["value"])
    return per_version("triples", compute)


def data_date() -> str | None:
    """The date of the data: the latest dcterms:modified in the graph (the ontology header's,
    unless the data says more), so a citation of a release is stable."""
    def compute() -> str | None:
        rows = get_backend().select(
            "SELECT (MAX(STR(?d)) AS ?m) WHERE { ?x <http://purl.org/dc/terms/modified> ?d }",
            lane="light")
        value = rows[0].get("m", {}).get("value") if rows else None
        return value or None
    return per_version("data-date", compute)


def timeline(ref: d.EntityRef) -> tuple[list[d.TimelineItem], bool]:
    def compute() -> tuple[list[d.TimelineItem], bool]:
        return d.timeline_items(get_backend().select(d.timeline_query(ref), lane="light"))
    return per_version_lru("timeline", ref.iri, compute)


def incoming_counts(ref: d.EntityRef) -> dict[str, int]:
    def compute() -> dict[str, int]:
        rows = get_backend().select(d.incoming_counts_query(ref), lane="light")
        return {r["p"]["value"]: int(r["n"]["value"]) for r in rows if "p" in r}
    return per_version_lru("incoming", ref.iri, compute)


def is_our_term(iri: str) -> bool:
    return iri.startswith(str(KG))
