"""The app's one resource: the backend serving the current release (in app.extensions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from graph.engine.base import Backend

EXTENSION = "rabat_kg"


@dataclass
class KgState:
    """Per-app state; derived things live here, never in app.config."""

    backend: Backend


def init_app(app: Flask, backend: Backend | None = None) -> None:
    """Attach a backend: the one given, or one built from the app's configuration."""
    if backend is None:
        backend = build_backend(app.config)
    app.extensions[EXTENSION] = KgState(backend=backend)


def build_backend(config: Any) -> Backend:
    """The default backend for a config: remote store if STORE_URL, else in-process Oxigraph."""
    if config.get("STORE_URL"):
        from graph.engine.remote import RemoteBackend  # type: ignore[import-not-found]

        return RemoteBackend(config["STORE_URL"], timeout=config["QUERY_TIMEOUT_S"])
    from pathlib import Path

    from graph.engine.inline import InlineBackend
    from graph.paths import bundled_sources
    from graph.release import make_release

    paths = [Path(p) for p in config["DATA_PATHS"]] if config.get("DATA_PATHS") else bundled_sources()
    release = make_release(paths, validate=config.get("VALIDATE_ON_START", True))
    return InlineBackend(release.ntriples, release.version)


def get_state() -> KgState:
    """The state of the current app."""
    state: KgState = current_app.extensions[EXTENSION]
    return state


def get_backend() -> Backend:
    """The backend of the current app."""
    return get_state().backend
