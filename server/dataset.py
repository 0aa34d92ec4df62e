"""Blueprint "dataset" (placeholder until its issue lands)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dataset", __name__)


@bp.get("/health")
def health() -> tuple[dict[str, object], int]:
    """GET /health: 200 with the release version when a real query answers."""
    from server.state import get_backend

    backend = get_backend()
    rows = backend.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    return {"status": "ok", "version": backend.version(), "triples": int(rows[0]["n"]["value"])}, 200
