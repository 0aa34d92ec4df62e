"""An executor: one process that answers queries on a release's store, inside the sandbox.

Executors are forked by CPython's fork server (which has imported pyoxigraph: milliseconds,
not a new interpreter). `run` opens the release's store, applies the sandbox, says hello, then
answers one query at a time on its pipe until it closes: a JSON header in, a JSON header and
the answer's bytes out (no pickles cross the sandbox's border). An executor whose server is
gone sees its pipe close, or is stopped by the kernel's CPU limit if busy.

A small release is loaded into memory (faster); a large one is read from the on-disk store,
shared by every executor through the page cache (`PoolSettings.memory_store_max_triples`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from graph.engine import sandbox
from graph.engine.run import run_on_store
from graph.errors import KgError, QueryEvaluationError, QueryResourceLimit
from graph.release import BuiltRelease

PROCESS_NAME = "rabat-kg-exec"  # (a process name has at most 15 bytes)


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and limits of the executor pool (`rabat-kg serve` passes server/config.py's); here,
    as each executor gets them with its release, pickled to the fork server (which imports this)."""

    light: int = 6  # short queries at once (pages, lookups, and every query's first moments)
    heavy: int = 2  # long queries at once
    reserved: int = 1  # light slots user SPARQL can never take: pages and stored queries keep them
    light_budget_s: float = 0.25  # a query still running then moves to the heavy lane
    timeout_s: float = 10.0
    admission_wait_s: float = 0.75
    spawn_timeout_s: float = 30.0
    warm: int = 2  # executors kept ready (started with a release, refilled in the background)
    memory_store_max_triples: int = 200_000  # larger releases are read from the on-disk store
    memory_mb: int = 1024
    seccomp: bool = True
    landlock: bool = True
    prefixes: dict[str, str] = field(default_factory=dict)


def run(settings: PoolSettings, release: BuiltRelease, conn: Any) -> None:
    """The executor's life: answer queries arriving on `conn` until it closes."""
    os.environ.pop("RUST_BACKTRACE", None)  # one log line per aborted query, not a backtrace
    Path("/proc/self/comm").write_text(PROCESS_NAME)  # what `ps` and the tests see
    in_memory = release.triples <= settings.memory_store_max_triples
    if in_memory:
        store = ox.Store()
        store.bulk_load(path=str(release.ntriples_file), format=ox.RdfFormat.N_TRIPLES, lenient=True)
    else:
        store = ox.Store.read_only(str(release.store_dir))
    # What the engine prints when it aborts (an allocation over the memory cap) would add lines
    # to the server's log for every such query: the server logs one line per stopped query.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    readable = sandbox.readable_roots([str(release.store_dir)]) if settings.landlock else None
    report = sandbox.apply(settings.memory_mb, seccomp=settings.seccomp, readable=readable)
    send(conn, {"pid": os.getpid(), "store": "memory" if in_memory else "disk", "sandbox": report})
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        sandbox.set_cpu_deadline(settings.timeout_s + 1)
        try:  # the request: run_on_store's query, fmt, max_rows and form
            result = run_on_store(store, **request, prefixes=settings.prefixes)
        except MemoryError:
            send(conn, {"error": QueryResourceLimit.type, "extra": {},
                        "detail": "the query exceeded its memory limit and was stopped"})
            return  # the heap may be in any state: a fresh executor takes over
        except KgError as exc:  # its extra: a syntax error's line and column
            send(conn, {"error": exc.type, "detail": exc.detail, "extra": exc.extra})
        except (OSError, ValueError, RuntimeError) as exc:
            send(conn, {"error": QueryEvaluationError.type, "detail": str(exc), "extra": {}})
        else:
            send(conn, {"media_type": result.media_type, "form": result.form, "count": result.count,
                        "truncated": result.truncated, "elapsed_ms": result.elapsed_ms}, result.body)


def send(conn: Any, header: dict[str, Any], body: bytes = b"") -> None:
    """One answer in one message: the JSON header (which has no raw newline), a newline, the body.
    An error's header names a library error (graph.errors: type, detail, extra) the pool raises."""
    conn.send_bytes(json.dumps(header).encode() + b"\n" + body)
