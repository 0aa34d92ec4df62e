"""The one place that turns repository-relative locations into paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from graph.formats import AUTHORING

AUTHORING_SUFFIX = AUTHORING.suffix

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_DIR = ROOT / "ontology"
ONTOLOGY_FILE = ONTOLOGY_DIR / "rabat-kg.ttl"
SHAPES_FILE = ONTOLOGY_DIR / "shapes.ttl"
DATA_DIR = ROOT / "graph" / "data"
# Source documents (their extracted text) and one authoring file per document (graph/authoring.py).
SOURCES_DIR = ROOT / "graph" / "sources"
QUERIES_DIR = ROOT / "queries"
CHECKS_DIR = QUERIES_DIR / "checks"


def authoring_files() -> list[Path]:
    """The bundled authoring files (`graph/sources/*.quotes.trig`), in a stable order."""
    return sorted(SOURCES_DIR.glob(f"*{AUTHORING_SUFFIX}"))


def data_files(folder: Path | None = None) -> list[Path]:
    """Curated Turtle files, then the sources' authoring files (compiled on load): the bundled
    ones, or those of one folder (a copy of them, say)."""
    data, sources = (folder, folder) if folder else (DATA_DIR, SOURCES_DIR)
    return [*sorted(data.glob("*.ttl")), *sorted(sources.glob(f"*{AUTHORING_SUFFIX}"))]


def bundled_sources() -> list[Path]:
    """Everything the served graph is built from: the ontology and the data (shapes are not data)."""
    return [ONTOLOGY_FILE, *data_files()]


def release_sources(data: Sequence[Path] | None = None, *, add: bool = False) -> list[Path]:
    """The files of a release: the bundled sources without `data`; else the ontology and `data`,
    on top of the bundled data with `add` (another progress paper's authoring file, say)."""
    if not data:
        return bundled_sources()
    extra = [Path(p) for p in data]
    return [*bundled_sources(), *extra] if add else [ONTOLOGY_FILE, *extra]
