"""A data release: files parsed, validated with SHACL, given a version, and built for serving.

A release is what a server serves. It is built completely before anything swaps to it, so a
file with a syntax error or a shape violation never replaces a good release. The version is a
hash of the source files' bytes and formats (`source_version`), the basis of every ETag.

`write_release` builds one into a directory: canonical N-Triples (sorted, de-duplicated: the
dumps) and an on-disk Oxigraph store (what the executors open read-only).
Servers run it in a child process (`start_build`, ``python -m graph.release``) so that
parsing and pySHACL's copy of the data leave the server's memory when the build ends; a long
validation shows its progress on the child's stderr (the server's log or terminal).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyoxigraph as ox

from graph.errors import DataError
from graph.formats import Format, rdf_format_for_path
from graph.paths import AUTHORING_SUFFIX


@dataclass(frozen=True)
class Release:
    """A release: its version, canonical N-Triples, triple count and sources."""

    version: str
    ntriples: bytes
    triple_count: int
    sources: tuple[str, ...] = ()
    validated: bool = False  # True once the SHACL shapes accepted it


def parse_file(path: Path) -> list[ox.Triple]:
    """One source file's triples, as a release loads them (authoring files compiled)."""
    return [q.triple for q in ox.parse(file_ntriples(path), format=ox.RdfFormat.N_TRIPLES)]


def file_ntriples(path: Path) -> bytes:
    """One RDF file as N-Triples, written by the engine straight from its parser.

    An authoring file (quotes with the statements they support, graph/authoring.py) is
    compiled, its quotes checked verbatim.
    """
    if path.name.endswith(AUTHORING_SUFFIX):
        from graph.authoring import compile_source

        return compile_source(path)
    fmt = source_format(path)
    try:
        quads = ox.parse(path=str(path), format=getattr(ox.RdfFormat, fmt.oxigraph))
        return ox.serialize(without_triple_terms(path, quads), format=ox.RdfFormat.N_TRIPLES) or b""
    except SyntaxError as exc:
        raise DataError(f"{path}: {exc}", file=str(path)) from None
    except OSError as exc:
        raise unreadable(path, exc) from None


def without_triple_terms(path: Path, quads: Iterable[ox.Quad]) -> Iterator[ox.Quad]:
    """The quads, refusing a triple term (RDF 1.2 / RDF-star) as authoring files do: SHACL and
    every served format are RDF 1.1."""
    for quad in quads:
        if isinstance(quad.subject, ox.Triple) or isinstance(quad.object, ox.Triple):
            from graph.authoring import Source

            raise Source(path).error("quoted triples (RDF-star) are not allowed", "<<")
        yield quad


def canonical_lines(chunks: Sequence[bytes]) -> bytes:
    """Sorted, de-duplicated N-Triples lines (UTF-8 byte order is code point order)."""
    lines = sorted({line for chunk in chunks for line in chunk.splitlines()})
    return b"\n".join(lines) + b"\n" if lines else b""


def make_release(paths: Sequence[Path], *, validate: bool = True) -> Release:
    """Parse and canonicalise `paths`, validate them against the shapes unless told not to
    (progress on stderr), return the release. Its version is `source_version(paths)`, the one a
    server loading the same files reports.

    Raises:
        DataError: on a syntax error (file and line) or a SHACL violation (focus node,
            path and message, in `extra["report"]`).
    """
    nt = canonical_lines([file_ntriples(Path(path)) for path in paths])
    if validate:
        from graph.validate import check_ntriples, progress_reporter

        check_ntriples(nt, progress=progress_reporter())
    return Release(version=source_version(paths), ntriples=nt, triple_count=nt.count(b"\n"),
                   sources=tuple(str(p) for p in paths), validated=bool(validate))


def source_format(path: Path | str) -> Format:
    """The RDF format of a source file, by its suffix; an unknown suffix is a DataError."""
    try:
        return rdf_format_for_path(Path(path).name)
    except ValueError as exc:
        raise DataError(str(exc), file=str(path)) from None


def source_version(paths: Sequence[Path | str]) -> str:
    """The version of the release made of `paths`: their bytes and formats, in order.

    Raises:
        DataError: a file is missing or unreadable, or its suffix names no RDF format.
    """
    h = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        except OSError as exc:
            raise unreadable(path, exc) from None
        h.update(source_format(path).key.encode() + b"\n")  # digests have a fixed length
    return h.hexdigest()[:16]


def unreadable(path: Path | str, exc: OSError) -> DataError:
    """A source file that cannot be read (missing, a directory, no permission), named."""
    return DataError(f"{path}: cannot read: {exc.strerror or exc}", file=str(path))


@dataclass(frozen=True)
class BuiltRelease:
    """A release written into its own directory, ready to serve (see `write_release`)."""

    directory: Path
    version: str
    triples: int
    sources: tuple[str, ...] = ()
    validated: bool = False

    @property
    def store_dir(self) -> Path:
        return self.directory / "store"

    @property
    def ntriples_file(self) -> Path:
        return self.directory / "data.nt"


def write_release(paths: Sequence[Path], directory: Path, *, validate: bool = True) -> BuiltRelease:
    """Build `paths` into `directory` (created; must not exist): N-Triples and the store.

    Raises:
        DataError: a syntax error (file and line) or a shape violation (the report); nothing
            is left in `directory` then.
    """
    directory = Path(directory)
    directory.mkdir(parents=True)
    try:
        release = make_release(paths, validate=validate)
        built = BuiltRelease(directory=directory, version=release.version, triples=release.triple_count,
                             sources=release.sources, validated=release.validated)
        built.ntriples_file.write_bytes(release.ntriples)
        store = ox.Store(str(built.store_dir))
        store.bulk_load(path=str(built.ntriples_file), format=ox.RdfFormat.N_TRIPLES, lenient=True)
        store.flush()
        del store  # closes the database: executors open it read-only
        return built
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def start_build(paths: Sequence[Path], directory: Path, *,
                validate: bool = True) -> subprocess.Popen[bytes]:
    """Start `write_release` in a child process (``python -m graph.release``); see finish_build."""
    cmd = [sys.executable, "-m", "graph.release", str(directory),
           *([] if validate else ["--no-validate"]), *map(str, paths)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)


def finish_build(proc: subprocess.Popen[bytes]) -> BuiltRelease:
    """Wait for a build started by `start_build`: the release, or its DataError."""
    out, _ = proc.communicate()
    try:
        outcome = pickle.loads(out) if proc.returncode == 0 else None  # our own child's
    except (pickle.UnpicklingError, EOFError):  # it crashed while writing, or wrote something else
        outcome = None
    if isinstance(outcome, dict):
        return BuiltRelease(**outcome)
    detail, extra = outcome or (f"the release build failed (exit {proc.returncode})", {})
    raise DataError(detail, **extra)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m graph.release DIR [--no-validate] FILE...``: the outcome, pickled, on stdout."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    parser = argparse.ArgumentParser(prog="python -m graph.release")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--no-validate", action="store_true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        built = write_release(args.files, args.directory, validate=not args.no_validate)
        outcome: object = asdict(built)  # (a BuiltRelease here would be __main__'s class)
    except DataError as exc:
        outcome = (exc.detail, exc.extra)
    sys.stdout.buffer.write(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
