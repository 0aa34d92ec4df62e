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
    """The backend for a config, in order of precedence.

    STORE_URL: a remote SPARQL 1.1 store over HTTP. ENGINE_RUN_DIR (set by `rabat-kg serve`):
    executors of the running zygote, killable and sandboxed. Otherwise an in-process Oxigraph
    store on the configured data (tests through Flask's client, tools).
    """
    timeout = float(config.get("QUERY_TIMEOUT_S", 10.0))
    if config.get("STORE_URL"):
        from graph.engine.remote import RemoteBackend
        from graph.namespaces import DATA_GRAPH

        return RemoteBackend(config["STORE_URL"], timeout=timeout,
                             graph=config.get("STORE_GRAPH") or DATA_GRAPH)
    if config.get("ENGINE_RUN_DIR"):
        from graph.engine.pool import PooledBackend, PoolSettings

        return PooledBackend(config["ENGINE_RUN_DIR"], PoolSettings(
            heavy=int(config.get("HEAVY_EXECUTORS", 2)),
            light=int(config.get("LIGHT_EXECUTORS", 2)),
            timeout_s=timeout,
            admission_wait_s=float(config.get("ADMISSION_WAIT_S", 0.75))))
    from pathlib import Path

    from graph.engine.inline import InlineBackend
    from graph.paths import bundled_sources
    from graph.release import load_release

    paths = [Path(p) for p in config["DATA_PATHS"]] if config.get("DATA_PATHS") else bundled_sources()
    release, store = load_release(paths, validate=config.get("VALIDATE_ON_START", True))
    return InlineBackend.from_store(store, release.version)


def get_state() -> KgState:
    """The state of the current app."""
    state: KgState = current_app.extensions[EXTENSION]
    return state


def get_backend() -> Backend:
    """The backend of the current app."""
    return get_state().backend


def backend_of(app: Flask) -> Backend:
    """The backend of `app` (outside a request: the SPARQL fast path)."""
    state: KgState = app.extensions[EXTENSION]
    return state.backend
