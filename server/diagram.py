"""The diagram of the ontology's classes and their relations, drawn on the server as inline SVG.

Boxes are our classes (and the outside classes a drawn relation needs); a solid arrow goes from a
property's domain to its range, labelled with the property; a dashed arrow with an open head from
a class to its superclass. Layout: layers by longest path along the arrows (cycles broken
where found), boxes ordered within a layer by the mean position of their neighbours (a few
sweeps), so arrows mostly point down and cross little. Properties without a declared domain or
range cannot be drawn as an arrow and are listed beside the diagram instead. The markup is
templates/diagram.svg; here is the layout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from graphlib import TopologicalSorter

from flask import render_template

from graph import describe as d
from graph.namespaces import KG
from server import site

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 34, 34, 84, 20
MAX_ROW = 6


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str  # the property's label; "" for a subclass arrow


def _layers(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """Longest-path layering over an acyclic copy of the edges (back edges of a DFS dropped)."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.source != e.target:
            out[e.source].append(e.target)
    state: dict[str, int] = {}
    preds: dict[str, set[str]] = {n: set() for n in nodes}  # the edges kept, target -> sources

    def visit(n: str) -> None:
        state[n] = 1
        for m in sorted(out[n]):
            if state.get(m) == 1:
                continue  # a back edge: the cycle is broken here
            preds[m].add(n)
            if m not in state:
                visit(m)
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n)
    depth: dict[str, int] = {}
    for n in TopologicalSorter(preds).static_order():
        depth[n] = max((depth[p] + 1 for p in preds[n]), default=0)
    # every depth up to the deepest has a node (its predecessor on a longest path)
    return [sorted(n for n in nodes if depth[n] == i) for i in range(max(depth.values(), default=-1) + 1)]


def _order(layers: list[list[str]], edges: list[Edge]) -> None:
    """Barycentre sweeps, down then up, in place."""
    nbrs: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        nbrs[e.source].add(e.target)
        nbrs[e.target].add(e.source)
    for sweep in range(6):
        step = 1 if sweep % 2 == 0 else -1  # down from the layer above, then up from the one below
        for i in range(1, len(layers)) if step == 1 else range(len(layers) - 2, -1, -1):
            pos = {n: k for k, n in enumerate(layers[i - step])}
            current = {n: k for k, n in enumerate(layers[i])}

            def key(n: str, pos: dict[str, int] = pos, current: dict[str, int] = current) -> float:
                near = [pos[m] for m in nbrs[n] if m in pos]
                return sum(near) / len(near) if near else float(current[n])

            layers[i].sort(key=key)


def draw_ontology(onto: d.Ontology, lang: str) -> tuple[str, list[dict[str, str]]]:
    """The class diagram of `onto` in `lang` (SVG), and the properties with no domain or no range."""
    ours = sorted(onto.classes)
    edges: list[Edge] = []
    undrawn: list[dict[str, str]] = []
    for iri, term in sorted(onto.properties.items()):
        if not any(k.endswith("ObjectProperty") for k in term.kinds):
            continue
        label = onto.label(iri, lang) or term.name
        if not term.domains or not term.ranges:
            undrawn.append({"text": label, "href": f"#{term.name}"})
            continue
        edges += [Edge(s, t, label) for s in term.domains for t in term.ranges]
    nodes = set(ours) | {e.source for e in edges} | {e.target for e in edges}
    edges += [Edge(c, s, "") for c in ours for s in onto.classes[c].supers if s in nodes]
    layers = _layers(sorted(nodes), edges)
    _order(layers, edges)
    # a wide layer wraps onto several rows, so the boxes keep a readable size
    layers = [layer[i:i + MAX_ROW] for layer in layers for i in range(0, len(layer), MAX_ROW)]
    width = max(len(layer) for layer in layers) * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    height = len(layers) * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD
    at: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        x0 = (width - (len(layer) * (BOX_W + GAP_X) - GAP_X)) / 2  # the row centred
        for k, n in enumerate(layer):
            at[n] = (x0 + k * (BOX_W + GAP_X), PAD + i * (BOX_H + GAP_Y))
    boxes = []
    for n in sorted(nodes):
        ours_ = n in onto.classes
        text = (onto.label(n, lang) or n) if ours_ else site.term_label(n, lang) or site.prefixed(n)
        local = n[len(str(KG)):] if ours_ else ""
        x, y = at[n]
        boxes.append({"iri": n, "local": local, "name": local or text, "text": text,
                      "x": round(x), "y": round(y),
                      "cx": round(x + BOX_W / 2), "cy": round(y + BOX_H / 2 + 5)})  # the label's middle
    svg = render_template("diagram.svg", width=width, height=height, box_w=BOX_W, box_h=BOX_H,
                          edges=[_edge(e, at) for e in edges], boxes=boxes)
    return svg, undrawn


def _edge(e: Edge, at: dict[str, tuple[float, float]]) -> dict[str, object]:
    """Where an arrow goes (an SVG path) and where its label sits."""
    (sx, sy), (tx, ty) = at[e.source], at[e.target]
    if e.source == e.target:  # a property from a class to itself: a loop on the right
        x, y = sx + BOX_W, sy + BOX_H / 2
        path = (f"M{x:.0f},{y - 8:.0f} C{x + 40:.0f},{y - 30:.0f} {x + 40:.0f},{y + 30:.0f} "
                f"{x:.0f},{y + 8:.0f}")
        lx, ly = x + 34, y - 16
    else:
        x1, x2 = sx + BOX_W / 2, tx + BOX_W / 2
        if ty > sy:
            y1, y2 = sy + BOX_H, ty
        elif ty < sy:
            y1, y2 = sy, ty + BOX_H
        else:  # same layer: side to side
            y1 = y2 = sy + BOX_H / 2
            x1, x2 = (sx + BOX_W, tx) if tx > sx else (sx, tx + BOX_W)
        path = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2
    return {"label": e.label, "path": path, "lx": round(lx), "ly": round(ly)}
