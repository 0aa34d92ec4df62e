"""HTTP policies for every route: CORS, security headers, caching, compression."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the response hooks (placeholder until the endpoint issue lands)."""
