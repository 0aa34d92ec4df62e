"""A data release: files parsed, validated with SHACL, canonicalised, and given a version.

A release is what a server serves. It is built completely before anything swaps to it, so
a file with a syntax error or a shape violation never replaces a good release. Validation
runs on a pyoxigraph store (graph/shacl.py): ideally the very store that is then served
(`load_release`, and the zygote, which loads a release once and validates it before serving).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyoxigraph as ox

from graph.errors import DataError
from graph.formats import rdf_format_for_path


@dataclass(frozen=True)
class Release:
    """Validated data as canonical N-Triples, with a content-derived version."""

    version: str
    ntriples: bytes
    triple_count: int
    sources: tuple[str, ...] = field(default=())
    validated: bool = False  # True once the SHACL shapes accepted it


def parse_file(path: Path) -> list[ox.Triple]:
    """Parse one RDF file with the engine's parser; a syntax error names file and line."""
    fmt = rdf_format_for_path(path.name)
    try:
        return [q.triple for q in ox.parse(path=str(path), format=getattr(ox.RdfFormat, fmt.oxigraph))]
    except SyntaxError as exc:
        raise DataError(f"{path}: {exc}", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}", file=str(path)) from None


def file_ntriples(path: Path) -> bytes:
    """One RDF file as N-Triples, written by the engine straight from its parser.

    No Python object per triple: this is the fast path of `make_release` (about 2x faster
    than parse_file + canonical_ntriples at 700k triples).
    """
    try:
        fmt = rdf_format_for_path(path.name)
    except ValueError as exc:
        raise DataError(str(exc), file=str(path)) from None
    try:
        return ox.serialize(ox.parse(path=str(path), format=getattr(ox.RdfFormat, fmt.oxigraph)),
                            format=ox.RdfFormat.N_TRIPLES) or b""
    except SyntaxError as exc:
        raise DataError(f"{path}: {exc}", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}", file=str(path)) from None


def canonical_lines(chunks: Sequence[bytes]) -> bytes:
    """Sorted, de-duplicated N-Triples lines (UTF-8 byte order is code point order)."""
    lines: set[bytes] = set()
    for chunk in chunks:
        if chunk and not chunk.endswith(b"\n"):
            chunk += b"\n"
        lines.update(chunk.splitlines(keepends=True))
    return b"".join(sorted(lines))


def canonical_ntriples(triples: Sequence[ox.Triple]) -> bytes:
    """Sorted, de-duplicated N-Triples: byte-identical for the same graph without blank nodes."""
    return canonical_lines([ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""])


def make_release(paths: Sequence[Path], *, validate: bool = True) -> Release:
    """Parse `paths`, validate them against the shapes, and return the release.

    Validation loads the data into a temporary store; to validate the store you then serve,
    use `load_release`, or give the unvalidated release to the zygote (it validates on load).

    Raises:
        DataError: on a syntax error (file and line) or a SHACL violation (focus node,
            path and message, in `extra["report"]`).
    """
    release = build_release(paths)
    if validate:
        check_store(load_store(release.ntriples))
        release = replace(release, validated=True)
    return release


def build_release(paths: Sequence[Path]) -> Release:
    """Parse and canonicalise `paths` (syntax errors name file and line); no validation."""
    nt = canonical_lines([file_ntriples(Path(path)) for path in paths])
    version = hashlib.sha256(nt).hexdigest()[:16]
    count = nt.count(b"\n")
    return Release(version=version, ntriples=nt, triple_count=count,
                   sources=tuple(str(p) for p in paths))


def load_release(paths: Sequence[Path], *, validate: bool = True) -> tuple[Release, ox.Store]:
    """The release and the store holding it, validated on that store: one copy of the data."""
    release = build_release(paths)
    store = load_store(release.ntriples)
    if validate:
        check_store(store)
        release = replace(release, validated=True)
    return release, store


def load_store(source: bytes | Path) -> ox.Store:
    """An in-memory store with canonical N-Triples (bytes or a file), already parsed once."""
    store = ox.Store()
    if isinstance(source, bytes):
        if source:
            store.bulk_load(source, format=ox.RdfFormat.N_TRIPLES, lenient=True)
    else:
        store.bulk_load(path=str(source), format=ox.RdfFormat.N_TRIPLES, lenient=True)
    return store


def check_store(store: ox.Store) -> None:
    """Validate the store against the shapes (with the ontology); refuse it with the report.

    Raises:
        DataError: the data violates a shape; the detail and `extra["report"]` hold the
            report grouped by focus node (path, value, message, shape).
    """
    from graph.shacl import validate_store

    result = validate_store(store)
    if not result.conforms:
        raise DataError(
            f"data does not conform to the shapes: {len(result.violations)} violation(s)\n"
            + result.text,
            report=result.text,
        )


def release_file_name(version: str) -> str:
    """Name of a saved release in a run directory: one file per version."""
    return f"release-{version}.nt"


def save_ntriples(release: Release, directory: Path) -> Path:
    """Write the release's N-Triples into `directory` atomically (temp, fsync, rename).

    A reader (the zygote loading a reload) sees the whole file or none of it.
    """
    path = Path(directory) / release_file_name(release.version)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(release.ntriples)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
