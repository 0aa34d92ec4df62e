"""Blueprint "pages" (placeholder until its issue lands)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
