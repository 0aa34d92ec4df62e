"""The one place that turns repository-relative locations into paths."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_DIR = ROOT / "ontology"
ONTOLOGY_FILE = ONTOLOGY_DIR / "rabat-kg.ttl"
SHAPES_FILE = ONTOLOGY_DIR / "shapes.ttl"
DATA_DIR = ROOT / "graph" / "data"
QUERIES_DIR = ROOT / "queries"


def data_files() -> list[Path]:
    """The bundled data files, in a stable order."""
    return sorted(DATA_DIR.glob("*.ttl"))


def bundled_sources() -> list[Path]:
    """Everything the served graph is built from: the ontology and the data (shapes are not data)."""
    return [ONTOLOGY_FILE, *data_files()]
