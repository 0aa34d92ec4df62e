"""The ontology and shapes pages' view models, in the reader's language: each term with its
labels, definitions and links, the class diagram, and the shapes with their constraints.
Computed once per release and language (server/site.py's cache)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from graph import describe as d
from graph.namespaces import KGSH, STANDARD_PREFIXES
from graph.paths import SHAPES_FILE
from server.diagram import draw_ontology
from server.site import local_href, ontology, per_version, prefixed, term_label


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
        diagram = draw_ontology(onto, lang, lambda iri: term_label(iri, lang) or prefixed(iri))
        return {"iri": onto.iri, "header": header, "classes": classes, "properties": props,
                "diagram": Markup(diagram.svg), "undrawn": diagram.undrawn}

    return per_version(f"ontology-view.{lang}", compute)


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
