"""The app's resources: the backend serving the current release, and its private run directory."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from graph.engine.base import Backend
from server.budget import MeteredBackend

EXTENSION = "rabat_kg"


@dataclass
class KgState:
    """Per-app state; derived things live here, never in app.config."""

    backend: Backend
    run_dir: Path  # private to this server: caches and scratch files, removed when it ends


def init_app(app: Flask, backend: Backend | None = None) -> None:
    """Attach a backend (the one given, or one built from the configuration) and a run directory."""
    backend = backend or build_backend(app.config)
    run_dir = app.config.get("RUN_DIR")
    if not run_dir:  # an app made in process (tests, tools): a private folder of its own
        holder = tempfile.TemporaryDirectory(prefix="rabat-kg-app-")
        app.extensions[EXTENSION + "_tmp"] = holder  # removed with the app
        run_dir = holder.name
    app.extensions[EXTENSION] = KgState(backend=backend, run_dir=Path(run_dir))


def build_backend(config: Any) -> Backend:
    """The backend for an app made without one (`rabat-kg serve` passes its executors): the
    STORE_URL remote store, else an in-process store on the data (tests, tools), no time limit."""
    if config.get("STORE_URL"):
        from graph.engine.remote import RemoteBackend
        from graph.namespaces import DATA_GRAPH

        return RemoteBackend(config["STORE_URL"], timeout=float(config.get("QUERY_TIMEOUT_S", 10.0)),
                             graph=config.get("STORE_GRAPH") or DATA_GRAPH)
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
    """The backend of the current app, metering store time for the client's budget."""
    return MeteredBackend(get_state().backend)


def cache_dir() -> Path:
    """Per-release files (dumps, validation reports), private to this server."""
    path = get_state().run_dir / "cache"
    path.mkdir(mode=0o700, exist_ok=True)
    return path
