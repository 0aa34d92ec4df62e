"""Blueprint "sparql" (placeholder until its issue lands)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sparql", __name__)
