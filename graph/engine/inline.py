"""An in-process Oxigraph backend: no worker processes, no time limit.

Used by unit tests (Flask's test client) and tools that need no limits. The served endpoint
and `rabat-kg query` use the embedded backend (graph/engine/pool.py), which runs the same
`run_on_store` function in killable, sandboxed executor processes.
"""

from __future__ import annotations

import pyoxigraph as ox

from graph.engine.base import Backend, Form, Lane, QueryResult
from graph.engine.run import run_on_store
from graph.namespaces import PREFIXES


class InlineBackend(Backend):
    """A pyoxigraph in-memory store loaded from a release's N-Triples (already parsed once)."""

    def __init__(self, ntriples: bytes, version: str) -> None:
        self.store = ox.Store()
        self.store.bulk_load(ntriples, format=ox.RdfFormat.N_TRIPLES, lenient=True)
        self._version = version
        self.triples = len(self.store)

    def version(self) -> str:
        return self._version

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        return run_on_store(self.store, query, fmt=fmt, max_rows=max_rows, form=form,
                            prefixes=PREFIXES)

