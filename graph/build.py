"""Dumps of a validated release in Turtle, N-Triples and JSON-LD, byte-identical from run to run.

The graph has no blank nodes (quote selectors and statements are hash IRIs), so sorting the
canonical N-Triples fixes the order of everything; each writer below keeps that order and
writes prefixes in sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from graph.jsonld import compact_jsonld
from graph.release import make_release
from graph.turtle import turtle

STEM = "rabat-kg"


def build(out_dir: Path, *, sources: Sequence[Path]) -> list[Path]:
    """Validate `sources` as one release and write `rabat-kg.{ttl,nt,jsonld}` into `out_dir`.

    Raises:
        DataError: the sources do not parse or do not conform to the shapes (nothing is written).
    """
    release = make_release(list(sources))
    header = [f"rabat-kg release {release.version}: {release.triple_count} triples"]
    dumps = {".ttl": turtle(release.ntriples, header=header),
             ".nt": release.ntriples,  # already canonical: sorted, one triple a line
             ".jsonld": compact_jsonld(release.ntriples)}
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, body in dumps.items():
        (out_dir / f"{STEM}{suffix}").write_bytes(body)
    return [out_dir / f"{STEM}{suffix}" for suffix in dumps]
