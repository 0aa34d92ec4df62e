"""Shared fixtures: the real server over HTTP (on each backend), and artifact folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graph.paths import SOURCES_DIR, data_files
from tests.serverproc import ROOT, LiveServer, start_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# Tests using live_server / base_url run once per backend listed here: the embedded store by
# default. What differs for a remote store is checked side by side in test_remote_serving.py
# (and test_remote.py); RABAT_KG_BACKENDS=oxigraph,virtuoso runs the whole HTTP suite on both.
BACKENDS = [b.strip() for b in os.environ.get("RABAT_KG_BACKENDS", "oxigraph").split(",")
            if b.strip()]


@pytest.fixture(scope="session")
def app() -> Flask:
    """The app on the in-process backend (the bundled graph): for view logic, no server."""
    from server import create_app

    return create_app({"TESTING": True, "BUDGET_SECONDS": 0})


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A private Virtuoso on free loopback ports (tests/virtuoso.py), stopped at the end."""
    from tests.virtuoso import start_virtuoso

    server = start_virtuoso(tmp_path_factory.mktemp("virtuoso"))
    yield server
    server.stop()


def load_store(store_url: str, env: dict[str, str], extra_args: list[str] | None = None) -> str:
    """`rabat-kg load --store URL` as a user runs it; returns its output, fails the test if it fails."""
    proc = subprocess.run([sys.executable, "-m", "server.cli", "load", "--store", store_url,
                           *(extra_args or [])], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"rabat-kg load failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """`rabat-kg serve` on a free port: the embedded store, or Virtuoso via `--store`.

    Both serve the bundled graph: for Virtuoso it is pushed first with `rabat-kg load`.
    """
    if request.param == "oxigraph":
        server = start_server()
    elif request.param == "virtuoso":
        virtuoso = request.getfixturevalue("virtuoso_server")
        load_store(virtuoso.sparql_url, virtuoso.load_env())
        server = start_server(["--store", virtuoso.sparql_url])
    else:
        raise ValueError(f"unknown backend {request.param!r} in RABAT_KG_BACKENDS")
    server.backend = request.param
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the bundled data files, for tests that publish new releases."""
    folder = tmp_path / "data"
    folder.mkdir()
    for path in data_files():
        shutil.copy(path, folder / path.name)
    for text in SOURCES_DIR.glob("*.txt"):  # the authoring files' source texts, beside them
        shutil.copy(text, folder / text.name)
    return folder


@pytest.fixture()
def reload_server(data_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on `data_dir`, so a test can change the files and reload."""
    s = start_server(["--data", *map(str, data_files(data_dir))], log_dir=tmp_path)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[LiveServer]:
    """A server on the small endpoint fixture with the fixture stored queries (typed params)."""
    fixtures = Path(__file__).resolve().parent / "fixtures"
    server = start_server(["--data", str(fixtures / "endpoint-small.ttl")],
                          env={"RABAT_KG_QUERIES_DIR": json.dumps(str(fixtures / "queries")),
                               "RABAT_KG_VALIDATE_ON_START": "false"})
    yield server
    server.stop()
