"""Blueprint "stored" (placeholder until its issue lands)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stored", __name__)
