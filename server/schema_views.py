"""The ontology and shapes pages' view models, in the reader's language: each term with its
labels, definitions and links, the class diagram, and the shapes with their constraints."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from graph import describe as d
from graph.namespaces import KGSH, STANDARD_PREFIXES
from graph.paths import SHAPES_FILE
from server.diagram import draw_ontology
from server.site import local_href, ontology, prefixed, term_label

DCTERMS, OWL, SKOS, VANN = (STANDARD_PREFIXES[p] for p in ("dcterms", "owl", "skos", "vann"))
# What the ontology page shows of the ontology's header.
HEADER = {"title": DCTERMS + "title", "definition": SKOS + "definition", "version": OWL + "versionInfo",
          "version_iri": OWL + "versionIRI", "licence": DCTERMS + "license", "modified": DCTERMS + "modified",
          "prefix": VANN + "preferredNamespacePrefix", "namespace": VANN + "preferredNamespaceUri"}


def in_language(values: list[tuple[str, str | None]], lang: str) -> str | None:
    """The first (text, language) in `lang`, else in English or none, else any."""
    chosen = [v for v in values if v[1] == lang] or [v for v in values if v[1] in ("en", None)] or values
    return chosen[0][0] if chosen else None


def ontology_view(lang: str) -> dict[str, Any]:
    """The ontology page: header metadata, classes and properties (sorted by name)."""
    onto = ontology()

    def view(t: d.Term) -> dict[str, Any]:
        return {"name": t.name, "iri": t.iri, "label": d.label_in(t.labels, lang) or t.name,
                "labels": t.labels, "definitions": t.definitions, "comments": t.comments,
                "kinds": [prefixed(k) for k in t.kinds], "supers": links(t.supers),
                "domains": links(t.domains), "ranges": links(t.ranges), "inverse": links(t.inverse)}

    def links(iris: list[str]) -> list[dict[str, Any]]:
        return [{"iri": i, "href": local_href(i), "text": term_label(i, lang) or prefixed(i),
                 "short": prefixed(i)} for i in iris]

    header = {key: in_language([(v.value, v.lang) for v in onto.header.get(prop, [])], lang)
              for key, prop in HEADER.items()}
    classes = sorted((view(t) for t in onto.classes.values()), key=lambda v: v["name"].lower())
    props = sorted((view(t) for t in onto.properties.values()), key=lambda v: v["name"].lower())
    svg, undrawn = draw_ontology(onto, lang)
    return {"iri": onto.iri, "header": header, "classes": classes, "properties": props,
            "diagram": Markup(svg), "undrawn": undrawn}


def shapes_view(lang: str) -> list[dict[str, Any]]:
    """Node shapes with their property shapes and constraints, for the shapes page."""
    from rdflib import Graph, Literal, URIRef
    from rdflib.collection import Collection
    from rdflib.namespace import RDF, RDFS, SH

    g = Graph(bind_namespaces="none").parse(SHAPES_FILE, format="turtle")

    def text(node: Any) -> dict[str, Any]:
        if isinstance(node, URIRef):
            return {"text": term_label(str(node), lang) or prefixed(str(node)), "href": local_href(str(node)),
                    "short": prefixed(str(node))}
        if isinstance(node, Literal):
            return {"text": str(node), "href": None, "lang": node.language}
        # a blank node (a parsed file holds no other kind of term): a list, or a [ ... ] description
        if (node, RDF.first, None) in g:
            items = [text(x)["text"] for x in Collection(g, node)]
            return {"text": "( " + " ".join(items) + " )", "href": None}
        parts = [f"{prefixed(str(p))} {text(o)['text']}" for p, o in g.predicate_objects(node)]
        return {"text": "[ " + " ; ".join(sorted(parts)) + " ]", "href": None}

    def in_lang(node: Any, prop: Any) -> str | None:
        texts = [(str(v), v.language) for v in g.objects(node, prop) if isinstance(v, Literal)]
        return in_language(texts, lang)

    skip = {RDF.type, SH.path, SH.message, SH.name, SH.description, RDFS.label, RDFS.comment, SH.property,
            SH.targetClass, SH.severity}

    def constraints(node: Any) -> list[dict[str, Any]]:
        pairs = sorted(g.predicate_objects(node), key=lambda po: (str(po[0]), str(po[1])))
        return [{"name": prefixed(str(p)), "value": text(o)} for p, o in pairs if p not in skip]

    def shape_id(node: Any) -> str:
        return str(node)[len(KGSH):] if str(node).startswith(KGSH) else ""

    shapes = []
    for node in sorted(set(g.subjects(RDF.type, SH.NodeShape)), key=str):
        props = [{"id": shape_id(ps),
                  "path": text(g.value(ps, SH.path)) if g.value(ps, SH.path) is not None else None,
                  "severity": prefixed(str(g.value(ps, SH.severity))) if g.value(ps, SH.severity) else None,
                  "message": in_lang(ps, SH.message), "constraints": constraints(ps)}
                 for ps in sorted(g.objects(node, SH.property), key=str)]
        shapes.append({
            "id": shape_id(node), "short": prefixed(str(node)),
            "label": in_lang(node, RDFS.label) or prefixed(str(node)),
            "comment": in_lang(node, RDFS.comment),
            "targets": [text(c) for c in g.objects(node, SH.targetClass)],
            "constraints": constraints(node), "properties": props,
        })
    shapes.sort(key=lambda s: (not s["targets"], s["short"]))
    return shapes
