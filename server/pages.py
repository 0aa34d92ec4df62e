"""Blueprint "pages": the HTML front of the graph (work in progress)."""

from __future__ import annotations

from flask import Blueprint

from server import i18n

bp = Blueprint("pages", __name__)
bp.app_context_processor(i18n.template_context)
