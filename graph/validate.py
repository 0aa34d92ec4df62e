"""SHACL validation of a release: the shapes file over ontology + data, with a report people can read.

Two engines give the same `ValidationResult`: "oxigraph" (graph/shacl.py: the shapes compiled
to SPARQL and run on a pyoxigraph store; what releases use, seconds at 700k triples) and
"pyshacl", the reference implementation (minutes and gigabytes at that size), kept to prove the
other right (tests/test_shacl_engine.py). `DEFAULT_ENGINE` is the one that gates releases, so
`rabat-kg validate` answers what a server would.

pySHACL gets Graph objects only (never a path or a URL, and the shapes have no owl:imports), so
validation never fetches anything. The shapes and the ontology are parsed once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal as Choice

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH
from rdflib.term import Node

from graph.namespaces import PREFIXES, bind
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE

Engine = Choice["oxigraph", "pyshacl"]
ENGINES: tuple[Engine, ...] = ("oxigraph", "pyshacl")
DEFAULT_ENGINE: Engine = "oxigraph"


@dataclass(frozen=True)
class Violation:
    """One SHACL result, every field rendered as text (prefixed names where a prefix is known)."""

    focus: str
    path: str
    value: str
    message: str
    severity: str
    shape: str
    component: str


@dataclass(frozen=True)
class ValidationResult:
    """The outcome: `conforms` is False as soon as one result has severity sh:Violation."""

    conforms: bool
    violations: list[Violation] = field(default_factory=list)
    text: str = ""
    report_turtle: str = ""


@functools.cache
def shapes_graph() -> Graph:
    """The parsed shapes file (cached: parsing it is most of the fixed cost of a validation)."""
    return bind(Graph(bind_namespaces="none").parse(SHAPES_FILE, format="turtle"))


@functools.cache
def ontology_graph() -> Graph:
    """The parsed ontology, given to pySHACL as the ontology graph (class hierarchy for sh:class)."""
    return Graph(bind_namespaces="none").parse(ONTOLOGY_FILE, format="turtle")


def validate_ntriples(nt: bytes, *, engine: Engine = DEFAULT_ENGINE) -> ValidationResult:
    """Validate a graph given as N-Triples (a release's canonical bytes), plus the ontology."""
    if engine == "oxigraph":
        from graph import shacl

        return shacl.validate_ntriples(nt)
    if engine != "pyshacl":
        raise ValueError(f"unknown validation engine {engine!r}; one of {', '.join(ENGINES)}")
    data = Graph(bind_namespaces="none")
    if nt:
        data.parse(data=nt, format="nt")
    return validate_graph(data)


def validate_files(paths: Sequence[Path], *, engine: Engine = DEFAULT_ENGINE) -> ValidationResult:
    """Parse `paths` with the engine's parser (syntax errors name file and line) and validate."""
    from graph.release import canonical_lines, file_ntriples

    return validate_ntriples(canonical_lines([file_ntriples(Path(p)) for p in paths]), engine=engine)


def validate_graph(data: Graph, *, shapes: Graph | None = None) -> ValidationResult:
    """Validate an rdflib graph in place with pySHACL (the reference engine).

    The ontology is part of every release, so it is added to the data whole (a no-op when the
    data already holds it): pySHACL's own mixing of `ont_graph` copies only part of each term,
    which would make the shape on ontology terms report missing definitions. `shapes` replaces
    the shapes file (tests target one shape at a time).
    """
    import pyshacl  # imported here: a second of start-up that only the reference engine needs

    shapes = shapes_graph() if shapes is None else shapes
    data += ontology_graph()
    _conforms, report, _text = pyshacl.validate(
        data,
        shacl_graph=shapes,
        ont_graph=ontology_graph(),
        inference="none",
        inplace=True,
        allow_warnings=True,
        allow_infos=True,
        advanced=False,
        js=False,
        meta_shacl=False,
    )
    assert isinstance(report, Graph)
    violations = sorted(_results(report, shapes),
                        key=lambda v: (v.focus, v.path, v.shape, v.value, v.component))
    conforms = not any(v.severity == "Violation" for v in violations)
    bind(report)
    return ValidationResult(
        conforms=conforms,
        violations=violations,
        text=render_text(violations),
        report_turtle=report.serialize(format="turtle"),
    )


def _results(report: Graph, shapes: Graph) -> Iterable[Violation]:
    for result in report.subjects(RDF.type, SH.ValidationResult):
        messages = list(report.objects(result, SH.resultMessage))
        yield Violation(
            focus=show_term(report.value(result, SH.focusNode)),
            path=show_path(report, report.value(result, SH.resultPath))
            or show_path(shapes, shapes.value(report.value(result, SH.sourceShape), SH.path)),
            value=show_term(report.value(result, SH.value)),
            message=pick_message(messages),
            severity=local_name(report.value(result, SH.resultSeverity)),
            shape=show_term(report.value(result, SH.sourceShape)),
            component=show_term(report.value(result, SH.sourceConstraintComponent)),
        )


def pick_message(messages: list[Node]) -> str:
    """The English message if there is one, else any; our shapes carry English and French."""
    for lang in ("en", None):
        for m in messages:
            if isinstance(m, Literal) and (lang is None or m.language == lang):
                return str(m)
    return ""


def local_name(node: Node | None) -> str:
    return "" if node is None else str(node).rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def show_term(node: Node | None) -> str:
    """A term as short text: a prefixed name, <iri>, or the literal's N3 form."""
    if node is None:
        return ""
    if isinstance(node, URIRef):
        iri = str(node)
        best = max((ns for ns in PREFIXES.values() if iri.startswith(ns)), key=len, default=None)
        if best is not None:
            prefix = next(p for p, ns in PREFIXES.items() if ns == best)
            local = iri[len(best):]
            if local and all(c.isalnum() or c in "-_." for c in local):
                return f"{prefix}:{local}"
        return f"<{iri}>"
    if isinstance(node, Literal):
        return node.n3()
    return "[]"


def show_path(graph: Graph, path: Node | None) -> str:
    """A SHACL property path in SPARQL property-path syntax."""
    if path is None:
        return ""
    if isinstance(path, URIRef):
        return show_term(path)
    if isinstance(path, BNode):
        inverse = graph.value(path, SH.inversePath)
        if inverse is not None:
            return "^" + show_path(graph, inverse)
        alternative = graph.value(path, SH.alternativePath)
        if alternative is not None:
            return "(" + " | ".join(show_path(graph, p) for p in Collection(graph, alternative)) + ")"
        if graph.value(path, RDF.first) is not None:
            return "/".join(show_path(graph, p) for p in Collection(graph, path))
        for key, mark in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
            inner = graph.value(path, key)
            if inner is not None:
                return f"({show_path(graph, inner)}){mark}"
    return show_term(path)


def render_text(violations: Sequence[Violation]) -> str:
    """The readable report: one block per focus node, then per path its value, message and shape."""
    errors = sum(v.severity == "Violation" for v in violations)
    others = len(violations) - errors
    focus_nodes = sorted({v.focus for v in violations})
    if not violations:
        return "Conforms: the graph satisfies every shape (0 violations)."
    head = ("Conforms" if errors == 0 else "Does not conform") + (
        f": {errors} violation(s), {others} warning(s)/info(s) on {len(focus_nodes)} focus node(s)."
    )
    lines = [head]
    for focus in focus_nodes:
        lines.append("")
        lines.append(f"Focus node {focus}")
        for v in (v for v in violations if v.focus == focus):
            value = f" = {v.value}" if v.value else " (no value)"
            lines.append(f"  path {v.path or '(the node itself)'}{value}")
            lines.append(f"    {v.severity}: {v.message}")
            lines.append(f"    shape {v.shape} ({v.component})")
    return "\n".join(lines)


def check_ntriples(nt: bytes) -> None:  # lead's stand-in until H1's version lands
    """Raise DataError with the report when `nt` does not conform."""
    from graph.errors import DataError

    result = validate_ntriples(nt, engine="pyshacl")
    if not result.conforms:
        raise DataError(
            f"data does not conform to the shapes: {len(result.violations)} violation(s)\n"
            + result.text, report=result.text)
