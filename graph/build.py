"""Dumps of a validated release in Turtle, N-Triples and JSON-LD, byte-identical from run to run.

The graph has no blank nodes (quote selectors and statements are hash IRIs), so sorting the
canonical N-Triples fixes the order of everything; each writer below keeps that order and
writes prefixes in sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyoxigraph as ox

from graph.jsonld import compact_jsonld
from graph.namespaces import PREFIXES
from graph.release import Release, make_release
from graph.turtle import turtle

STEM = "rabat-kg"


def build(out_dir: Path, *, sources: Sequence[Path]) -> list[Path]:
    """Validate `sources` as one release and write `rabat-kg.{ttl,nt,jsonld}` into `out_dir`.

    Raises:
        DataError: the sources do not parse or do not conform to the shapes (nothing is written).
    """
    release = make_release(list(sources))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, render in ((".ttl", to_turtle), (".nt", to_ntriples), (".jsonld", to_jsonld)):
        path = out_dir / f"{STEM}{suffix}"
        path.write_bytes(render(release))
        written.append(path)
    return written


def to_ntriples(release: Release) -> bytes:
    """The release's canonical N-Triples: sorted, one triple a line."""
    return release.ntriples


def _triples(release: Release) -> list[ox.Triple]:
    return [q.triple for q in ox.parse(release.ntriples, format=ox.RdfFormat.N_TRIPLES)]


def to_turtle(release: Release) -> bytes:
    """Turtle grouped by subject in sorted order, declaring (sorted) only the prefixes it uses."""
    return turtle(_triples(release), PREFIXES,
                  header=[f"rabat-kg release {release.version}: {release.triple_count} triples"])


def to_jsonld(release: Release) -> bytes:
    """Compact JSON-LD with the published context (graph/jsonld.py), in a canonical order."""
    return compact_jsonld(release.ntriples)



