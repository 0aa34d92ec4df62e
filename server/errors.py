"""Error responses: problem+json for programs, plain text or HTML for people."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register error handlers (placeholder until the endpoint issue lands)."""
