"""Compact JSON-LD with the one published context.

The context is our prefixes (graph/namespaces.py), published at `/context.jsonld` and written
inline into every JSON-LD document (entity documents, the dump), so a document reads with short
names (`kg:inDomain`, `country:togo`) and still parses offline, with no fetch of a remote context.
"""

from __future__ import annotations

import json
from typing import Any

from rdflib import Graph

from graph.namespaces import PREFIXES

CONTEXT_PATH = "/context.jsonld"
CONTEXT: dict[str, str] = dict(sorted(PREFIXES.items()))


def context_document() -> bytes:
    """The published context, as served at CONTEXT_PATH."""
    return (json.dumps({"@context": CONTEXT}, ensure_ascii=False, indent=1) + "\n").encode()


def compact_jsonld(ntriples: bytes) -> bytes:
    """N-Triples as compact JSON-LD with the published context; nodes sorted by @id and every
    list in one order, so the same triples always give the same bytes."""
    graph = Graph(bind_namespaces="none").parse(data=ntriples, format="nt")
    doc = json.loads(graph.serialize(format="json-ld", context=CONTEXT, auto_compact=True))
    nodes = doc.get("@graph", [doc] if "@id" in doc else [])
    nodes = [_canonical({k: v for k, v in n.items() if k != "@context"}) for n in nodes]
    out = {"@context": CONTEXT, "@graph": sorted(nodes, key=lambda n: str(n.get("@id", "")))}
    return (json.dumps(out, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()


def _canonical(value: Any) -> Any:
    """Sort every list by its JSON text, so set-like values come out in one order."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True))
    return value
