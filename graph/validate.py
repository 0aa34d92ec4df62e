"""SHACL validation with pySHACL: the shapes file over ontology + data, with a report people can read.

The one validator: a release is refused on its report (`check_ntriples`), `rabat-kg validate`
prints it and the live report page (server/conformance.py) shows it. pySHACL gets Graph objects
only (never a path or a URL; the shapes have no owl:imports), so validation fetches nothing.
A large release takes minutes, so `run_pyshacl` goes one targeted shape at a time and calls
`progress(done, total)` after each (`progress_reporter` displays it).
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH, XSD
from rdflib.term import Node

from graph.errors import DataError
from graph.namespaces import PREFIXES, bind
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE

Progress = Callable[[int, int], None]  # progress(done, total): shapes validated out of total
BAR_WIDTH = 30

log = logging.getLogger("rabat_kg.validate")

# What every run passes pySHACL: no inference (the data carries its superclass types), no
# SHACL-AF or JS, warnings and infos do not break conformance (we count severities ourselves).
PYSHACL_OPTIONS = {"inference": "none", "inplace": True, "advanced": False, "use_js": False,
                   "allow_warnings": True, "allow_infos": True, "abort_on_first": False}


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
    focus_iri: str | None  # the focus node's IRI (None for a blank node or a literal)


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
    return bind(parse_rdflib(SHAPES_FILE.read_bytes(), ox.RdfFormat.TURTLE))


@functools.cache
def ontology_graph() -> Graph:
    """The parsed ontology, given to pySHACL as the ontology graph (class hierarchy for sh:class)."""
    return parse_rdflib(ONTOLOGY_FILE.read_bytes(), ox.RdfFormat.TURTLE)


def parse_rdflib(data: bytes, fmt: ox.RdfFormat) -> Graph:
    """An rdflib graph parsed by Oxigraph, which is faster than rdflib's parsers (start-up waits
    for this parse); terms as rdflib's parsers make them: a plain literal has no datatype."""
    graph = Graph(bind_namespaces="none")
    graph.addN((_rdflib_term(q.subject), _rdflib_term(q.predicate), _rdflib_term(q.object), graph)
               for q in ox.parse(data, format=fmt))
    return graph


def _rdflib_term(term: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    assert isinstance(term, ox.Literal), "RDF-star is refused before validation"
    datatype = URIRef(term.datatype.value)
    plain = term.language or datatype == XSD.string
    return Literal(term.value, lang=term.language, datatype=None if plain else datatype)


def validate_ntriples(nt: bytes, *, progress: Progress | None = None) -> ValidationResult:
    """Validate a graph given as N-Triples (a release's bytes), plus the ontology."""
    return validate_graph(parse_rdflib(nt, ox.RdfFormat.N_TRIPLES), progress=progress)


def check_ntriples(nt: bytes, *, progress: Progress | None = None) -> None:
    """Validate N-Triples and refuse them with the report if they violate a shape.

    Raises:
        DataError: the data violates a shape; the detail and `extra["report"]` hold the
            report grouped by focus node (path, value, message, shape).
    """
    result = validate_ntriples(nt, progress=progress)
    if not result.conforms:
        raise DataError(f"data does not conform to the shapes: {len(result.violations)} "
                        f"violation(s)\n{result.text}", report=result.text)


def validate_graph(data: Graph, *, shapes: Graph | None = None,
                   progress: Progress | None = None) -> ValidationResult:
    """Validate an rdflib graph in place with pySHACL.

    The ontology is part of every release, so it is added to the data whole (a no-op when the
    data already holds it): pySHACL's own mixing of `ont_graph` copies only part of each term,
    which would make the shape on ontology terms report missing definitions. `shapes` replaces
    the shapes file (tests target one shape at a time).
    """
    shapes = shapes_graph() if shapes is None else shapes
    data += ontology_graph()
    report = run_pyshacl(data, shapes, progress)
    violations = sorted(_results(report, shapes),
                        key=lambda v: (v.focus, v.path, v.shape, v.value, v.component))
    return ValidationResult(conforms=not any(v.severity == "Violation" for v in violations),
                            violations=violations, text=render_text(violations),
                            report_turtle=bind(report).serialize(format="turtle"))


def run_pyshacl(data: Graph, shapes: Graph, progress: Progress | None = None) -> Graph:
    """pySHACL's report on `data`, built one targeted shape at a time (`progress` after each).

    One Validator prepares the data graph once; each run is limited to one shape (`use_shapes`)
    of the whole harvested shapes graph, so the merged sh:ValidationReport is the one a single
    run gives: a shape without a target never yields a result by itself.
    """
    import pyshacl  # imported here: a second of start-up that only validation needs
    from pyshacl.graph_abstraction import DataGraph
    from pyshacl.monkey import apply_patches
    from pyshacl.validator import assign_baked_in

    apply_patches()  # what pyshacl.validate does before any run
    assign_baked_in()
    validator = pyshacl.Validator(DataGraph.from_rdflib(data), shacl_graph=shapes,
                                  ont_graph=ontology_graph(), options=dict(PYSHACL_OPTIONS))
    # The shapes that select focus nodes by themselves (sh:targetClass, ..., implicit targets).
    targeted = [s.node for s in validator.shacl_graph.shapes
                if any(next(iter(found), None) is not None for found in s.target())]
    # A blank-node shape cannot be named in use_shapes: then one run of every shape.
    runs: list[list[str] | None] = (
        [[str(node)] for node in targeted]
        if targeted and all(isinstance(n, URIRef) for n in targeted) else [None])
    report = Graph(bind_namespaces="none")
    head = BNode()
    conforms = True
    if progress is not None:
        progress(0, len(runs))
    for done, use_shapes in enumerate(runs, 1):
        validator.options["use_shapes"] = use_shapes
        part_conforms, part, _text = validator.run()
        conforms = conforms and bool(part_conforms)
        heads = set(part.subjects(RDF.type, SH.ValidationReport))  # one per run: merged into `head`
        report += ((head if s in heads else s, p, o) for s, p, o in part)
        if progress is not None:
            progress(done, len(runs))
    report.set((head, SH.conforms, Literal(conforms)))
    return report


def _results(report: Graph, shapes: Graph) -> Iterable[Violation]:
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        yield Violation(
            focus=show_term(focus), focus_iri=str(focus) if isinstance(focus, URIRef) else None,
            path=show_path(report, report.value(result, SH.resultPath))
            or show_path(shapes, shapes.value(report.value(result, SH.sourceShape), SH.path)),
            value=show_term(report.value(result, SH.value)),
            message=pick_message(list(report.objects(result, SH.resultMessage))),
            severity=str(report.value(result, SH.resultSeverity)).removeprefix(str(SH)),
            shape=show_term(report.value(result, SH.sourceShape)),
            component=show_term(report.value(result, SH.sourceConstraintComponent)),
        )


def pick_message(messages: list[Node]) -> str:
    """The English message if there is one, else any; our shapes carry English and French."""
    literals = [m for m in messages if isinstance(m, Literal)]
    english = [m for m in literals if m.language == "en"]
    return str((english or literals)[0]) if literals else ""


def show_term(node: Node | None) -> str:
    """A term as short text: a prefixed name, <iri>, or the literal's N3 form."""
    if node is None:
        return ""
    if isinstance(node, URIRef):
        iri = str(node)
        prefix, ns = max(((p, ns) for p, ns in PREFIXES.items() if iri.startswith(ns)),
                         key=lambda pair: len(pair[1]), default=("", ""))
        local = iri[len(ns):]
        if ns and local and all(c.isalnum() or c in "-_." for c in local):
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
    """The readable report of results sorted by focus node: one block per focus node, then per
    path its value, message and shape."""
    if not violations:
        return "Conforms: the graph satisfies every shape (0 violations)."
    errors = sum(v.severity == "Violation" for v in violations)
    lines = [("Conforms" if errors == 0 else "Does not conform")
             + f": {errors} violation(s), {len(violations) - errors} warning(s)/info(s) on "
             f"{len({v.focus for v in violations})} focus node(s)."]
    for focus, results in itertools.groupby(violations, key=lambda v: v.focus):
        lines += ["", f"Focus node {focus}"]
        for v in results:
            value = f" = {v.value}" if v.value else " (no value)"
            lines += [f"  path {v.path or '(the node itself)'}{value}", f"    {v.severity}: {v.message}",
                      f"    shape {v.shape} ({v.component})"]
    return "\n".join(lines)


# --- Progress ---------------------------------------------------------------------------------


def progress_reporter(label: str = "SHACL validation", *, stream: TextIO | None = None,
                      quiet_s: float = 2.0) -> Progress:
    """The default display of `progress`: a bar on a terminal, else log lines.

    `stream` is where the bar goes (standard error by default) and decides: a terminal gets
    `label [#####.....] done/total shapes` redrawn in place; otherwise `log` gets a line each
    tenth of the shapes, once `quiet_s` seconds have passed (the bundled graph logs nothing).
    """
    out = sys.stderr if stream is None else stream
    started: float | None = None
    logged_tenths = 0

    def bar(done: int, total: int) -> None:  # (total >= 1: run_pyshacl makes one run at least)
        filled = BAR_WIDTH * done // total
        end = "\n" if done >= total else ""
        out.write(f"\r{label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} shapes{end}")
        out.flush()

    def log_line(done: int, total: int) -> None:
        nonlocal started, logged_tenths
        now = time.monotonic()
        started = now if started is None else started
        if 10 * done // total > logged_tenths and now - started >= quiet_s:
            logged_tenths = 10 * done // total
            log.info("%s: %d/%d shapes (%d%%), %.1f s", label, done, total, 100 * done // total,
                     now - started)

    return bar if out.isatty() else log_line
