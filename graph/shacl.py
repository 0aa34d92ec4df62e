"""SHACL validation run by the Oxigraph engine: each constraint of the shapes becomes a SPARQL query.

Why: pySHACL needs an rdflib copy of the whole graph (minutes and gigabytes at 700k triples),
while a release is loaded into a pyoxigraph Store anyway. So `compile_shapes` turns every
(shape, constraint) of `ontology/shapes.ttl` into one SELECT that returns the focus nodes (and
values) violating it, and `validate_store` runs them on the store that is then served. The
results are the same `ValidationResult`/`Violation` objects as `graph.validate` builds from
pySHACL's report; tests/test_shacl_engine.py proves both engines agree, result for result.

Only the part of SHACL Core our shapes use is supported. Anything else (a component, a target
kind, a path form, a datatype without a known lexical check) makes the compiler raise
`UnsupportedShape` naming the shape and the component: a constraint is never silently ignored.

Semantics follow the SHACL spec as pySHACL implements it, except where pySHACL leans on Python
and is more lenient than the spec: `sh:datatype` here requires the XSD lexical form (pySHACL
does not check xsd:gYear or xsd:gYearMonth at all and takes what int() or date.fromisoformat()
take: "1_000", "2020-W01-1"), and `sh:pattern` uses XPath regex, where "$" does not match before
a final newline as Python's does. So the release gate is stricter, never more lenient.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Union

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

from graph.paths import ONTOLOGY_FILE, SHAPES_FILE
from graph.validate import ValidationResult, Violation, local_name, pick_message, render_text, show_term

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
TYPE = f"<{RDF}type>"
SUBCLASS_OF = f"<{RDFS}subClassOf>"
Term = Union[ox.NamedNode, ox.BlankNode, ox.Literal, ox.Triple]  # noqa: UP007 - a runtime alias
VALIDATION_GRAPH = ox.NamedNode("urn:rabat-kg:validation:ontology")

# XSD types whose lexical form the engine checks by casting STR(value) (it errors when ill-formed).
CASTABLE = frozenset(XSD + t for t in (
    "boolean", "integer", "decimal", "float", "double", "date", "dateTime", "time", "gYear",
    "gYearMonth", "gMonthDay", "gMonth", "gDay", "duration", "dayTimeDuration",
    "yearMonthDuration"))
NODE_KINDS = {
    "IRI": "isIRI({v})", "BlankNode": "isBlank({v})", "Literal": "isLiteral({v})",
    "BlankNodeOrIRI": "(isBlank({v}) || isIRI({v}))",
    "BlankNodeOrLiteral": "(isBlank({v}) || isLiteral({v}))",
    "IRIOrLiteral": "(isIRI({v}) || isLiteral({v}))",
}
# Predicates of a shape that say nothing about conformance.
DESCRIPTIVE = frozenset(SH + p for p in ("name", "description", "order", "group", "message",
                                         "severity", "deactivated", "defaultValue"))
# Node-level constraints: a test of one term, usable per value node and inside sh:or/sh:not.
TERM_PARAMS = frozenset(SH + p for p in ("class", "datatype", "nodeKind", "languageIn", "pattern",
                                         "in", "minLength", "minInclusive", "hasValue", "or",
                                         "not", "node"))
COUNT_PARAMS = frozenset(SH + p for p in ("minCount", "maxCount", "uniqueLang",
                                          "qualifiedValueShape", "qualifiedMinCount"))
STRUCTURE = frozenset(SH + p for p in ("targetClass", "property", "path"))
COMPONENTS = {SH + p: f"{SH}{p[0].upper()}{p[1:]}ConstraintComponent" for p in (
    "class", "datatype", "nodeKind", "languageIn", "pattern", "in", "minLength", "minInclusive",
    "hasValue", "or", "not", "node", "minCount", "maxCount", "uniqueLang", "qualifiedMinCount")}


class UnsupportedShape(ValueError):
    """The shapes use SHACL this compiler does not implement (named: shape and component)."""


# --- The shapes graph ------------------------------------------------------------------------


class ShapesGraph:
    """A small read-only index of the parsed shapes (a few thousand triples)."""

    def __init__(self, triples: Iterable[ox.Triple]) -> None:
        self.spo: dict[Term, dict[str, list[Term]]] = defaultdict(lambda: defaultdict(list))
        self.pos: dict[str, dict[Term, list[Term]]] = defaultdict(lambda: defaultdict(list))
        for t in triples:
            self.spo[t.subject][t.predicate.value].append(t.object)
            self.pos[t.predicate.value][t.object].append(t.subject)

    def objects(self, s: Term, p: str) -> list[Term]:
        return list(self.spo.get(s, {}).get(p, ()))

    def value(self, s: Term, p: str) -> Term | None:
        values = self.objects(s, p)
        if len(values) > 1:
            raise UnsupportedShape(f"{show(s)}: more than one {show_param(p)}")
        return values[0] if values else None

    def subjects(self, p: str, o: Term | None = None) -> list[Term]:
        by_object = self.pos.get(p, {})
        if o is not None:
            return list(by_object.get(o, ()))
        return [s for subjects in by_object.values() for s in subjects]

    def predicates(self, s: Term) -> list[str]:
        return list(self.spo.get(s, {}))

    def items(self, head: Term) -> list[Term]:
        """The members of an RDF list."""
        out: list[Term] = []
        node = head
        while node != ox.NamedNode(RDF + "nil"):
            first, rest = self.value(node, RDF + "first"), self.value(node, RDF + "rest")
            if first is None or rest is None or len(out) > 10_000:
                raise UnsupportedShape(f"{show(head)}: not a well-formed RDF list")
            out.append(first)
            node = rest
        return out


def show(term: Term | None) -> str:
    return "" if term is None else str(term)


def show_iri(iri: str) -> str:
    return f"<{iri}>"


def show_param(iri: str) -> str:
    """A SHACL parameter as people write it (sh:minCount), for error messages."""
    return "sh:" + iri[len(SH):] if iri.startswith(SH) else show_iri(iri)


# --- Paths -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """A SHACL property path: an IRI, or an inverse, alternative or sequence of paths."""

    kind: str  # "iri" | "inverse" | "alternative" | "sequence"
    iri: str = ""
    parts: tuple[Path, ...] = ()

    def steps(self) -> tuple[tuple[str, bool], ...] | None:
        """The path as (predicate, inverse) steps, when it is a chain of predicates."""
        if self.kind == "iri":
            return ((self.iri, False),)
        if self.kind == "inverse" and self.parts[0].kind == "iri":
            return ((self.parts[0].iri, True),)
        if self.kind == "sequence":
            steps = [p.steps() for p in self.parts]
            return None if None in steps else tuple(s for part in steps for s in part)  # type: ignore[union-attr]
        return None

    def starts_with(self, iri: str) -> bool:
        steps = self.steps()
        return bool(steps) and steps[0] == (iri, False)  # type: ignore[index]

    def has_sequence(self) -> bool:
        return self.kind == "sequence" or any(p.has_sequence() for p in self.parts)

    def pattern(self, s: str, o: str, prefix: str = "?_p") -> str:
        """A graph pattern linking `s` to `o` by this path.

        Triple patterns and UNIONs rather than a SPARQL property path: the engine evaluates a
        sequence path inside NOT EXISTS from both ends at once (quadratic at scale).
        """
        if self.kind == "iri":
            return f"{s} {show_iri(self.iri)} {o} ."
        if self.kind == "inverse":
            return self.parts[0].pattern(o, s, prefix)
        if self.kind == "alternative":
            return " UNION ".join(f"{{ {p.pattern(s, o, f'{prefix}{i}_')} }}"
                                  for i, p in enumerate(self.parts))
        links = [s, *(f"{prefix}{i}" for i in range(1, len(self.parts))), o]
        return " ".join(f"{{ {p.pattern(links[i], links[i + 1], f'{prefix}{i}_')} }}"
                        for i, p in enumerate(self.parts))

    def text(self) -> str:
        """The path as graph.validate renders a report's sh:resultPath (prefixed names)."""
        if self.kind == "iri":
            return show_term(URIRef(self.iri))
        if self.kind == "inverse":
            return "^" + self.parts[0].text()
        if self.kind == "alternative":
            return "(" + " | ".join(p.text() for p in self.parts) + ")"
        return "/".join(p.text() for p in self.parts)

    def triples(self) -> tuple[ox.NamedNode | ox.BlankNode, list[ox.Triple]]:
        """The path as RDF (fresh blank nodes), for a report's sh:resultPath."""
        if self.kind == "iri":
            return ox.NamedNode(self.iri), []
        if self.kind == "inverse":
            inner, triples = self.parts[0].triples()
            node = ox.BlankNode()
            return node, [ox.Triple(node, ox.NamedNode(SH + "inversePath"), inner), *triples]
        heads, triples = [], []
        for part in self.parts:
            head, more = part.triples()
            heads.append(head)
            triples.extend(more)
        first, list_triples = rdf_list(heads)
        if self.kind == "sequence":
            return first, list_triples + triples
        node = ox.BlankNode()
        return node, [ox.Triple(node, ox.NamedNode(SH + "alternativePath"), first),
                      *list_triples, *triples]


def rdf_list(items: Sequence[Term]) -> tuple[ox.NamedNode | ox.BlankNode, list[ox.Triple]]:
    nodes = [ox.BlankNode() for _ in items]
    triples = []
    for i, (node, item) in enumerate(zip(nodes, items, strict=True)):
        rest = nodes[i + 1] if i + 1 < len(nodes) else ox.NamedNode(RDF + "nil")
        triples += [ox.Triple(node, ox.NamedNode(RDF + "first"), item),
                    ox.Triple(node, ox.NamedNode(RDF + "rest"), rest)]
    return (nodes[0] if nodes else ox.NamedNode(RDF + "nil")), triples


def chain_pattern(steps: Sequence[tuple[str, bool]], last: str, s: str = "?focus", depth: int = 1) -> str:
    """A chain of predicates as nested one-pattern EXISTS filters, ending at ?value.

    The engine evaluates a one-pattern EXISTS by lookup from the bound subject, but a join
    inside EXISTS from scratch for every row; nesting keeps each level to one pattern.
    """
    (iri, inverse), rest = steps[0], steps[1:]
    o = "?value" if not rest else f"?_c{depth}"
    triple = f"{o} {show_iri(iri)} {s} ." if inverse else f"{s} {show_iri(iri)} {o} ."
    if not rest:
        return f"{triple} {last}"
    return f"{triple} FILTER EXISTS {{ {chain_pattern(rest, last, o, depth + 1)} }}"


def read_path(g: ShapesGraph, node: Term, shape: Term) -> Path:
    if isinstance(node, ox.NamedNode):
        return Path("iri", iri=node.value)
    if isinstance(node, ox.BlankNode):
        keys = g.predicates(node)
        if keys == [SH + "inversePath"]:
            return Path("inverse", parts=(read_path(g, g.objects(node, SH + "inversePath")[0], shape),))
        if keys == [SH + "alternativePath"]:
            members = g.items(g.objects(node, SH + "alternativePath")[0])
            return Path("alternative", parts=tuple(read_path(g, m, shape) for m in members))
        if sorted(keys) == [RDF + "first", RDF + "rest"]:
            return Path("sequence", parts=tuple(read_path(g, m, shape) for m in g.items(node)))
        raise UnsupportedShape(f"{show(shape)}: sh:path of the form {', '.join(keys)} is not supported")
    raise UnsupportedShape(f"{show(shape)}: sh:path {show(node)} is not a path")


# --- Checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One (shape, constraint): `query` is a SELECT whose rows are its violations.

    Rows bind ?focus, and ?value when the result has an sh:value; a uniqueLang check binds
    ?lang instead (one result per language used twice, without a value, as pySHACL does).
    The parts let the runner share work between checks (see `run_checks`):

    - kind "value": `pattern` is the SELECT of the violations among all the subjects of the
      path whatever their class (the same for every label check, every source check...);
      `focus` then keeps the focus nodes of the shape.
    - kind "absent": a focus node violates when `pattern` has no match for it (minCount 1,
      qualifiedMinCount 1, hasValue).
    - kind "max", "lang" (maxCount, uniqueLang): `pattern` is the query, run only when cheap
      counts (`screens`) cannot prove there is no violation.
    - kind "whole": `pattern` is the query itself.
    """

    shape: str
    component: str
    path: Path | None
    severity: str
    messages: tuple[ox.Literal, ...]
    focus: str  # a group graph pattern binding ?focus to each focus node of the shape
    kind: str
    pattern: str
    max_count: int = 0

    @property
    def query(self) -> str:
        if self.kind in ("whole", "max", "lang"):
            return self.pattern
        if self.kind == "absent":
            return (f"SELECT DISTINCT ?focus WHERE {{ {{ {self.focus} }} "
                    f"FILTER NOT EXISTS {{ {self.pattern} }} }}")
        return f"SELECT * WHERE {{ {{ {self.pattern} }} FILTER EXISTS {{ {self.focus} }} }}"


@dataclass
class Compiler:
    """Turns the shapes graph into checks; `term_test` turns value shapes into expressions."""

    g: ShapesGraph
    checks: list[Check] = field(default_factory=list)
    _expanding: set[Term] = field(default_factory=set)

    def compile(self) -> list[Check]:
        for shape in self.all_shapes():
            self.refuse_unknown(shape)
        for shape in sorted(self.targeted(), key=str):
            if self.deactivated(shape):
                continue
            focus = self.focus_pattern(shape)
            self.node_level(shape, focus)
            for prop in self.g.objects(shape, SH + "property"):
                if not self.deactivated(prop):
                    self.property_level(prop, focus)
        return self.checks

    # Which shapes, which focus nodes.

    def all_shapes(self) -> set[Term]:
        shapes = set(self.g.subjects(RDF + "type", ox.NamedNode(SH + "NodeShape")))
        shapes |= set(self.g.subjects(RDF + "type", ox.NamedNode(SH + "PropertyShape")))
        shapes |= set(self.g.subjects(SH + "targetClass"))
        shapes |= set(self.g.subjects(SH + "path"))
        for p in ("property", "node", "not", "qualifiedValueShape"):
            shapes |= {o for s in self.g.subjects(SH + p) for o in self.g.objects(s, SH + p)}
        for s in self.g.subjects(SH + "or"):
            for head in self.g.objects(s, SH + "or"):
                shapes |= set(self.g.items(head))
        return shapes

    def targeted(self) -> list[Term]:
        return list({*self.g.subjects(SH + "targetClass")})

    def deactivated(self, shape: Term) -> bool:
        flag = self.g.value(shape, SH + "deactivated")
        return isinstance(flag, ox.Literal) and flag.value == "true"

    def refuse_unknown(self, shape: Term) -> None:
        """Every sh: predicate on a shape must be one this compiler evaluates."""
        known = DESCRIPTIVE | TERM_PARAMS | COUNT_PARAMS | STRUCTURE
        for p in self.g.predicates(shape):
            if p.startswith(SH) and p not in known:
                raise UnsupportedShape(
                    f"shape {show(shape)}: {show_param(p)} is not supported by the engine validator")
        for cls in (RDFS + "Class", "http://www.w3.org/2002/07/owl#Class"):
            if ox.NamedNode(cls) in self.g.objects(shape, RDF + "type"):
                raise UnsupportedShape(f"shape {show(shape)}: implicit class targets are not supported")
        if self.g.objects(shape, SH + "path") and self.g.objects(shape, SH + "targetClass"):
            raise UnsupportedShape(f"shape {show(shape)}: targets on a property shape are not supported")
        if self.g.objects(shape, SH + "qualifiedValueShape") and \
                not self.g.objects(shape, SH + "qualifiedMinCount"):
            raise UnsupportedShape(f"shape {show(shape)}: sh:qualifiedValueShape needs "
                                   "sh:qualifiedMinCount (sh:qualifiedMaxCount is not supported)")

    def focus_pattern(self, shape: Term) -> str:
        """A group graph pattern binding ?focus to each focus node (SHACL instances)."""
        classes = self.g.objects(shape, SH + "targetClass")
        for c in classes:
            if not isinstance(c, ox.NamedNode):
                raise UnsupportedShape(f"shape {show(shape)}: sh:targetClass {show(c)} is not an IRI")
        return " UNION ".join(f"{{ ?focus {TYPE}/{SUBCLASS_OF}* {c} }}" for c in sorted(classes, key=str))

    # Constraints.

    def base(self, shape: Term) -> dict[str, object]:
        """What every result of the shape carries: its name, severity and messages."""
        if not isinstance(shape, ox.NamedNode):
            raise UnsupportedShape(f"shape {show(shape)}: a blank-node shape (results name their shape)")
        severity = self.g.value(shape, SH + "severity") or ox.NamedNode(SH + "Violation")
        if not isinstance(severity, ox.NamedNode):
            raise UnsupportedShape(f"shape {show(shape)}: sh:severity {show(severity)}")
        messages = tuple(m for m in self.g.objects(shape, SH + "message") if isinstance(m, ox.Literal))
        return {"shape": shape.value, "severity": severity.value, "messages": messages}

    def add(self, shape: Term, param: str, path: Path | None, focus: str, kind: str,
            pattern: str, max_count: int = 0) -> None:
        self.checks.append(Check(component=COMPONENTS[param], path=path, focus=focus, kind=kind,
                                 pattern=" ".join(pattern.split()), max_count=max_count,
                                 **self.base(shape)))  # type: ignore[arg-type]

    def node_level(self, shape: Term, focus: str) -> None:
        """Constraints of a targeted node shape: the value node is the focus node itself."""
        if self.g.objects(shape, SH + "path"):
            raise UnsupportedShape(f"shape {show(shape)}: a targeted property shape")
        for p in self.g.predicates(shape):
            if p in COUNT_PARAMS:
                raise UnsupportedShape(f"shape {show(shape)}: {show_param(p)} on a node shape")
            if p in TERM_PARAMS:
                for arg in self.g.objects(shape, p):
                    test = self.term_test(shape, p, arg, "?value")
                    self.add(shape, p, None, focus, "whole", f"""SELECT DISTINCT ?focus ?value
                        WHERE {{ {focus} BIND(?focus AS ?value) FILTER(!{test}) }}""")

    def property_level(self, prop: Term, focus: str) -> None:
        path_node = self.g.value(prop, SH + "path")
        if path_node is None:
            raise UnsupportedShape(f"shape {show(prop)}: a property shape without sh:path")
        if self.g.objects(prop, SH + "property"):
            raise UnsupportedShape(f"shape {show(prop)}: nested sh:property is not supported")
        path = read_path(self.g, path_node, prop)
        values = path.pattern("?focus", "?value")
        for p in self.g.predicates(prop):
            for arg in self.g.objects(prop, p):
                if p == SH + "class":
                    # MINUS: one hash anti-join over all values, not a type lookup per value.
                    self.add(prop, p, path, focus, "value", f"""SELECT ?focus ?value WHERE {{
                        {values} MINUS {{ ?value {TYPE}/{SUBCLASS_OF}* {arg} }} }}""")
                elif p == SH + "hasValue":
                    self.min_count(prop, p, path, focus, 1, f"sameTerm(?value, {arg})")
                elif p in TERM_PARAMS and path.starts_with(RDF + "type"):
                    # Every node has a type: start from the (few) focus nodes, not all types.
                    test = self.term_test(prop, p, arg, "?value")
                    self.add(prop, p, path, focus, "whole", f"""SELECT DISTINCT ?focus ?value WHERE {{
                        {{ SELECT DISTINCT ?focus WHERE {{ {focus} }} }} {values} FILTER(!{test}) }}""")
                elif p in TERM_PARAMS:
                    test = self.term_test(prop, p, arg, "?value")
                    self.add(prop, p, path, focus, "value", f"""SELECT ?focus ?value WHERE {{
                        {values} FILTER(!{test}) }}""")
                elif p == SH + "minCount":
                    self.min_count(prop, p, path, focus, self.count(prop, p, arg), "true")
                elif p == SH + "qualifiedMinCount":
                    value_shape = self.g.value(prop, SH + "qualifiedValueShape")
                    assert value_shape is not None
                    test = self.shape_test(value_shape, "?value")
                    self.min_count(prop, p, path, focus, self.count(prop, p, arg), test)
                elif p == SH + "maxCount":
                    self.max_count(prop, p, path, focus, self.count(prop, p, arg))
                elif p == SH + "uniqueLang" and self.boolean(prop, p, arg):
                    self.add(prop, p, path, focus, "lang", f"""SELECT ?focus ?lang WHERE {{
                        {{ SELECT DISTINCT ?focus WHERE {{ {focus} }} }} {values}
                        BIND(LCASE(LANG(?value)) AS ?lang) FILTER(?lang != "") }}
                        GROUP BY ?focus ?lang HAVING (COUNT(DISTINCT ?value) > 1)""")

    def max_count(self, prop: Term, param: str, path: Path, focus: str, n: int) -> None:
        """More than `n` value nodes: one result per focus node, no value."""
        steps = path.steps()
        if steps and len(steps) == 1 and n <= 3:
            # n + 1 distinct values, looked up from each focus node (no grouping of all values).
            iri, inverse = steps[0]
            names = [f"?v{k}" for k in range(n + 1)]
            triples = " ".join(f"{v} {show_iri(iri)} ?focus ." if inverse else f"?focus {show_iri(iri)} {v} ."
                               for v in names)
            distinct = " && ".join(f"!sameTerm({a}, {b})" for k, a in enumerate(names) for b in names[k + 1:])
            query = f"""SELECT DISTINCT ?focus WHERE {{ {{ {focus} }}
                FILTER EXISTS {{ {triples} {f"FILTER({distinct})" if distinct else ""} }} }}"""
        else:
            query = f"""SELECT ?focus WHERE {{ {{ SELECT DISTINCT ?focus WHERE {{ {focus} }} }}
                {path.pattern("?focus", "?value")} }} GROUP BY ?focus HAVING (COUNT(DISTINCT ?value) > {n})"""
        self.add(prop, param, path, focus, "max", query, max_count=n)

    def min_count(self, prop: Term, param: str, path: Path, focus: str, n: int, test: str) -> None:
        """Fewer than `n` value nodes passing `test`: one result per focus node, no value."""
        if n == 0:
            return
        values = path.pattern("?focus", "?value")
        qualified = "" if test == "true" else f"FILTER({test})"
        if n == 1 and not path.has_sequence():
            self.add(prop, param, path, focus, "absent", f"{values} {qualified}")
        elif n == 1 and path.steps():
            self.add(prop, param, path, focus, "absent", chain_pattern(path.steps() or (), qualified))
        elif n == 1:  # the engine re-evaluates a join inside NOT EXISTS per row: anti-join instead
            self.add(prop, param, path, focus, "whole", f"""SELECT DISTINCT ?focus WHERE {{
                {{ {focus} }} MINUS {{ {{ {focus} }} {values} {qualified} }} }}""")
        else:
            self.add(prop, param, path, focus, "whole", f"""SELECT ?focus WHERE {{
                {{ SELECT DISTINCT ?focus WHERE {{ {focus} }} }} OPTIONAL {{ {values} {qualified} }} }}
                GROUP BY ?focus HAVING (COUNT(DISTINCT ?value) < {n})""")

    def count(self, shape: Term, param: str, arg: Term) -> int:
        if isinstance(arg, ox.Literal) and arg.datatype.value == XSD + "integer" and arg.value.isdigit():
            return int(arg.value)
        raise UnsupportedShape(f"shape {show(shape)}: {show_param(param)} {show(arg)} is not a count")

    def boolean(self, shape: Term, param: str, arg: Term) -> bool:
        if isinstance(arg, ox.Literal) and arg.datatype.value == XSD + "boolean" \
                and arg.value in ("true", "false"):
            return arg.value == "true"
        raise UnsupportedShape(f"shape {show(shape)}: {show_param(param)} {show(arg)} is not a boolean")

    # Tests of one term: SPARQL expressions that are true or false, never an error.

    def shape_test(self, shape: Term, v: str) -> str:
        """True when the term `v` conforms to the value shape `shape` (its node-level constraints)."""
        if self.deactivated(shape):
            return "true"
        if shape in self._expanding:
            raise UnsupportedShape(f"shape {show(shape)}: recursive shapes are not supported")
        for p in ("path", "property"):
            if self.g.objects(shape, SH + p):
                raise UnsupportedShape(f"shape {show(shape)}: sh:{p} in a value shape "
                                       "(sh:or, sh:not, sh:node, sh:qualifiedValueShape)")
        self._expanding.add(shape)
        try:
            tests = [self.term_test(shape, p, arg, v) for p in self.g.predicates(shape)
                     if p in TERM_PARAMS for arg in self.g.objects(shape, p)]
        finally:
            self._expanding.discard(shape)
        return "(" + " && ".join(tests) + ")" if tests else "true"

    def term_test(self, shape: Term, param: str, arg: Term, v: str) -> str:
        """The expression for one node-level constraint on `v`, wrapped so errors mean false."""
        name = param[len(SH):]
        if name == "class":
            test = f"EXISTS {{ {v} {TYPE}/{SUBCLASS_OF}* {arg} }}"
        elif name == "datatype":
            test = self.datatype_test(shape, arg, v)
        elif name == "nodeKind":
            kind = arg.value[len(SH):] if isinstance(arg, ox.NamedNode) else ""
            if kind not in NODE_KINDS:
                raise UnsupportedShape(f"shape {show(shape)}: sh:nodeKind {show(arg)}")
            test = NODE_KINDS[kind].format(v=v)
        elif name == "languageIn":
            ranges = [self.string(shape, param, r) for r in self.g.items(arg)]
            test = "(" + " || ".join(f"langMatches(LANG({v}), {r})" for r in ranges) + ")" \
                if ranges else "false"
        elif name == "pattern":
            if self.g.objects(shape, SH + "flags"):
                raise UnsupportedShape(f"shape {show(shape)}: sh:flags is not supported")
            test = f"(!isBlank({v}) && REGEX(STR({v}), {self.string(shape, param, arg)}))"
        elif name == "in":
            members = self.g.items(arg)
            test = "(" + " || ".join(f"sameTerm({v}, {m})" for m in members) + ")" \
                if members else "false"
        elif name == "minLength":
            n = self.count(shape, param, arg)
            test = f"(!isBlank({v}) && STRLEN(STR({v})) >= {n})" if n else "true"
        elif name == "minInclusive":
            if not isinstance(arg, ox.Literal):
                raise UnsupportedShape(f"shape {show(shape)}: sh:minInclusive {show(arg)}")
            test = f"(isLiteral({v}) && {v} >= {arg})"
        elif name == "hasValue":
            test = f"sameTerm({v}, {arg})"
        elif name == "or":
            test = "(" + " || ".join(self.shape_test(s, v) for s in self.g.items(arg)) + ")"
        elif name == "not":
            test = f"!{self.shape_test(arg, v)}"
        elif name == "node":
            test = self.shape_test(arg, v)
        else:  # pragma: no cover - TERM_PARAMS and this list are kept together
            raise UnsupportedShape(f"shape {show(shape)}: {show_param(param)}")
        return f"COALESCE({test}, false)"

    def datatype_test(self, shape: Term, dt: Term, v: str) -> str:
        if not isinstance(dt, ox.NamedNode):
            raise UnsupportedShape(f"shape {show(shape)}: sh:datatype {show(dt)}")
        if dt.value == RDF + "langString":
            return f"(isLiteral({v}) && LANG({v}) != \"\")"
        same = f"(isLiteral({v}) && sameTerm(DATATYPE({v}), {dt})"
        if dt.value == XSD + "string":
            return same + ")"
        if dt.value in CASTABLE:
            return same + f" && isLiteral({dt}(STR({v}))))"
        raise UnsupportedShape(f"shape {show(shape)}: sh:datatype {show(dt)} "
                               "(no lexical check for this datatype)")

    def string(self, shape: Term, param: str, arg: Term) -> str:
        if isinstance(arg, ox.Literal) and arg.language is None \
                and arg.datatype.value == XSD + "string":
            return str(arg)
        raise UnsupportedShape(f"shape {show(shape)}: {show_param(param)} {show(arg)} is not a string")


def compile_shapes(source: FilePath | str | bytes = SHAPES_FILE) -> tuple[Check, ...]:
    """The checks for a shapes graph (a Turtle file, or Turtle text/bytes)."""
    if isinstance(source, FilePath):
        triples = [q.triple for q in ox.parse(path=str(source), format=ox.RdfFormat.TURTLE)]
    else:
        data = source.encode() if isinstance(source, str) else source
        triples = [q.triple for q in ox.parse(data, format=ox.RdfFormat.TURTLE)]
    return tuple(Compiler(ShapesGraph(triples)).compile())


@functools.cache
def bundled_checks() -> tuple[Check, ...]:
    """The checks of ontology/shapes.ttl (compiled once per process: a few ms)."""
    return compile_shapes(SHAPES_FILE)


@functools.cache
def ontology_triples() -> tuple[ox.Triple, ...]:
    return tuple(q.triple for q in ox.parse(path=str(ONTOLOGY_FILE), format=ox.RdfFormat.TURTLE))


# --- Running the checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One violation found by a check, as engine terms."""

    check: Check
    focus: Term
    value: Term | None


Row = tuple[Term | None, ...]
VARS = ("focus", "value", "lang")  # what a check's rows bind
FOCUS_VALUES_MAX = 1000  # more candidate focus nodes than this: list the shape's focus nodes


class Runner:
    """Runs SELECT queries on one store, several at a time (the engine releases the GIL).

    The worker threads live only inside `many` and are joined before it returns: the zygote
    forks executors afterwards and must have no other thread then.
    """

    def __init__(self, store: ox.Store, default_graph: list[ox.NamedNode | ox.DefaultGraph] | None,
                 workers: int) -> None:
        self.store, self.default_graph, self.workers = store, default_graph, workers

    def select(self, query: str, names: Sequence[str] = VARS) -> list[Row]:
        solutions = self.store.query(query, default_graph=self.default_graph)  # type: ignore[arg-type]
        return [tuple(row[n] for n in names) for row in solutions]  # type: ignore[union-attr]

    def many(self, queries: Iterable[tuple[str, Sequence[str]]]) -> dict[str, list[Row]]:
        todo = dict(queries)
        if self.workers <= 1 or len(todo) <= 1:
            return {q: self.select(q, names) for q, names in todo.items()}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers) as pool:
            futures = {q: pool.submit(self.select, q, names) for q, names in todo.items()}
            return {q: f.result() for q, f in futures.items()}


def run_checks(store: ox.Store, checks: Sequence[Check], *, shared: bool = True,
               workers: int | None = None,
               default_graph: list[ox.NamedNode | ox.DefaultGraph] | None = None) -> list[Result]:
    """Every violation, once (a focus node reached twice by a check still gives one result).

    With `shared` (the default) the work is shared, in three rounds of parallel queries:
    each distinct "value" candidates query once for all the checks that have it, the "absent"
    checks of a focus pattern as one query, and the count screens; then the maxCount and
    uniqueLang queries the screens could not rule out; then the focus-node test of the few
    candidate rows. Without `shared` every check runs as its own `query` (the tests compare).
    """
    run = Runner(store, default_graph, workers or min(4, os.cpu_count() or 1))
    found: dict[tuple[int, Term, Term | None], Result] = {}

    def collect(i: int, rows: Iterable[Row]) -> None:
        for focus, value, lang in rows:
            assert focus is not None
            found.setdefault((i, focus, value if lang is None else lang), Result(checks[i], focus, value))

    if not shared:
        answers = run.many((c.query, VARS) for c in checks)
        for i, c in enumerate(checks):
            collect(i, answers[c.query])
        return list(found.values())

    batches: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(checks):
        if c.kind == "absent":
            batches[c.focus].append(i)
    batch_query = {focus: absent_batch(focus, [checks[i] for i in ids]) for focus, ids in batches.items()}
    answers = run.many([
        *((c.pattern, VARS) for c in checks if c.kind in ("value", "whole")),
        *((batch_query[f], ("focus", *(f"m{k}" for k in range(len(ids))))) for f, ids in batches.items()),
        *((q, ("a", "b")) for c in checks for q in screens(c)),
    ])
    for focus, ids in batches.items():
        for row in answers[batch_query[focus]]:
            collect_flags = [i for k, i in enumerate(ids) if is_true(row[k + 1])]
            for i in collect_flags:
                collect(i, [(row[0], None, None)])

    counted = [i for i, c in enumerate(checks) if c.kind in ("max", "lang") and not screened_out(c, answers)]
    answers.update(run.many((checks[i].pattern, VARS) for i in counted))
    for i, c in enumerate(checks):
        if c.kind == "whole" or i in counted:
            collect(i, answers[c.pattern])

    candidates = {i: focus_filter(c, {r[0] for r in answers[c.pattern]})
                  for i, c in enumerate(checks) if c.kind == "value" and answers[c.pattern]}
    inside = run.many(candidates.values())
    for i, (query, _) in candidates.items():
        keep = {row[0] for row in inside[query]}
        collect(i, (r for r in answers[checks[i].pattern] if r[0] in keep))
    return list(found.values())


def is_true(term: Term | None) -> bool:
    return isinstance(term, ox.Literal) and term.value == "true"


def absent_batch(focus: str, checks: Sequence[Check]) -> str:
    """One query for all the "absent" checks of a focus pattern: a flag per check."""
    binds = " ".join(f"BIND(NOT EXISTS {{ {c.pattern} }} AS ?m{k})" for k, c in enumerate(checks))
    flags = " || ".join(f"?m{k}" for k in range(len(checks)))
    names = " ".join(f"?m{k}" for k in range(len(checks)))
    return f"SELECT ?focus {names} WHERE {{ {{ {focus} }} {binds} FILTER({flags}) }}"


def screens(check: Check) -> list[str]:
    """Count queries that can prove a maxCount or uniqueLang check has no violation at all.

    maxCount n >= 1 on a chain of predicates: when each step is functional in its direction
    (as many triples as distinct subjects, or objects for an inverse step), every focus node
    has at most one value. uniqueLang on one predicate: when each language tag has as many
    values as distinct subjects, no subject uses a tag twice.
    """
    path = check.path
    if path is None:
        return []
    if check.kind == "max" and check.max_count >= 1 and path.steps():
        return [f"SELECT (COUNT(*) AS ?a) (COUNT(DISTINCT ?{'o' if inverse else 's'}) AS ?b) "
                f"WHERE {{ ?s {show_iri(iri)} ?o }}" for iri, inverse in path.steps() or ()]
    if check.kind == "lang" and path.kind == "iri":
        return [f"SELECT (COUNT(*) AS ?a) (COUNT(DISTINCT ?s) AS ?b) WHERE {{ ?s {show_iri(path.iri)} "
                f"?v BIND(LCASE(LANG(?v)) AS ?l) FILTER(?l != \"\") }} GROUP BY ?l"]
    return []


def screened_out(check: Check, answers: dict[str, list[Row]]) -> bool:
    """True when the check's screens ran and their counts prove it has no violation."""
    queries = screens(check)
    return bool(queries) and all(
        isinstance(a, ox.Literal) and isinstance(b, ox.Literal) and a.value == b.value
        for q in queries for a, b in answers[q])


def focus_filter(check: Check, terms: set[Term | None]) -> tuple[str, tuple[str, ...]]:
    """The query telling which of `terms` are focus nodes of the check's shape."""
    if len(terms) > FOCUS_VALUES_MAX or any(not isinstance(t, (ox.NamedNode, ox.Literal)) for t in terms):
        # Blank nodes cannot be named in a query; many candidates: list all focus nodes once.
        return f"SELECT DISTINCT ?focus WHERE {{ {check.focus} }}", ("focus",)
    listed = " ".join(sorted(str(t) for t in terms))
    return (f"SELECT ?focus WHERE {{ VALUES ?focus {{ {listed} }} FILTER EXISTS {{ {check.focus} }} }}",
            ("focus",))


def validate_store(store: ox.Store, *, checks: Sequence[Check] | None = None,
                   with_ontology: bool = True) -> ValidationResult:
    """Validate the store's default graph (plus the ontology, which every release contains).

    When the ontology is not all in the store, its missing triples go to a private named
    graph for the duration of the validation (the queries see both), then are removed again,
    so the store holds exactly what it held before.
    """
    checks = bundled_checks() if checks is None else checks
    added = False
    if with_ontology:
        missing = [t for t in ontology_triples()
                   if ox.Quad(t.subject, t.predicate, t.object) not in store]
        if missing:
            store.extend(ox.Quad(t.subject, t.predicate, t.object, VALIDATION_GRAPH) for t in missing)
            added = True
    try:
        results = run_checks(store, checks, default_graph=(
            [ox.DefaultGraph(), VALIDATION_GRAPH] if added else None))
    finally:
        if added:
            store.remove_graph(VALIDATION_GRAPH)
    return build_result(results)


def validate_ntriples(nt: bytes, *, checks: Sequence[Check] | None = None) -> ValidationResult:
    """Validate N-Triples bytes in a temporary store (tools and tests; servers use validate_store)."""
    store = ox.Store()
    if nt:
        store.bulk_load(nt, format=ox.RdfFormat.N_TRIPLES, lenient=True)
    return validate_store(store, checks=checks)


# --- The outcome -----------------------------------------------------------------------------


def build_result(results: Sequence[Result]) -> ValidationResult:
    """The same objects graph.validate builds from pySHACL: violations, text and a report."""
    # An ill-typed value is a result here: rdflib's traceback about it would only be log noise.
    rdflib_terms = logging.getLogger("rdflib.term")
    quiet, rdflib_terms.disabled = rdflib_terms.disabled, True
    try:
        violations = sorted((violation(r) for r in results),
                            key=lambda v: (v.focus, v.path, v.shape, v.value, v.component))
    finally:
        rdflib_terms.disabled = quiet
    conforms = not any(v.severity == "Violation" for v in violations)
    return ValidationResult(conforms=conforms, violations=violations,
                            text=render_text(violations), report_turtle=report_turtle(results, conforms))


def violation(result: Result) -> Violation:
    check = result.check
    return Violation(
        focus=show_term(to_rdflib(result.focus)),
        path=check.path.text() if check.path else "",
        value=show_term(to_rdflib(result.value)) if result.value is not None else "",
        message=pick_message([to_rdflib(m) for m in check.messages]),
        severity=local_name(URIRef(check.severity)),
        shape=show_term(URIRef(check.shape)),
        component=show_term(URIRef(check.component)),
    )


def to_rdflib(term: Term) -> Node:
    """An engine term as the rdflib term pySHACL reports: the same text through show_term.

    rdflib normalises typed literals as pySHACL's data graph does ("01" -> "1").
    """
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        dt = term.datatype.value
        return Literal(term.value, datatype=None if dt == XSD + "string" else URIRef(dt))
    raise TypeError(f"unexpected term {term!r}")


def report_turtle(results: Sequence[Result], conforms: bool) -> str:
    """An sh:ValidationReport in Turtle, with the properties pySHACL gives each result."""
    from graph.namespaces import PREFIXES

    def sh(name: str) -> ox.NamedNode:
        return ox.NamedNode(SH + name)

    report = ox.BlankNode()
    triples = [ox.Triple(report, ox.NamedNode(RDF + "type"), sh("ValidationReport")),
               ox.Triple(report, sh("conforms"),
                         ox.Literal("true" if conforms else "false",
                                    datatype=ox.NamedNode(XSD + "boolean")))]
    for r in results:
        node = ox.BlankNode()
        c = r.check
        triples += [ox.Triple(report, sh("result"), node),
                    ox.Triple(node, ox.NamedNode(RDF + "type"), sh("ValidationResult")),
                    ox.Triple(node, sh("focusNode"), r.focus),
                    ox.Triple(node, sh("resultSeverity"), ox.NamedNode(c.severity)),
                    ox.Triple(node, sh("sourceShape"), ox.NamedNode(c.shape)),
                    ox.Triple(node, sh("sourceConstraintComponent"), ox.NamedNode(c.component))]
        triples += [ox.Triple(node, sh("resultMessage"), m) for m in c.messages]
        if r.value is not None:
            triples.append(ox.Triple(node, sh("value"), r.value))
        if c.path is not None:
            head, path_triples = c.path.triples()
            triples += [ox.Triple(node, sh("resultPath"), head), *path_triples]
    return (ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=PREFIXES) or b"").decode()


# --- Command line: print the queries, or validate files -------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m graph.shacl` prints every check's query; `... FILE...` validates the files.

    Files are validated as loaded (N-Triples or Turtle by extension), with the ontology added.
    """
    import time

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        for c in bundled_checks():
            print(f"# {show_term(URIRef(c.shape))} {show_term(URIRef(c.component))} ({c.kind})\n{c.query}\n")
        return 0
    store = ox.Store()
    for path in args:
        store.bulk_load(path=path, format=ox.RdfFormat.N_TRIPLES if path.endswith(".nt")
                        else ox.RdfFormat.TURTLE)
    started = time.perf_counter()
    result = validate_store(store)
    print(result.text)
    print(f"{len(bundled_checks())} checks on {len(store)} triples in "
          f"{time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0 if result.conforms else 1


if __name__ == "__main__":
    sys.exit(main())
