"""An executor: one process that answers queries on a release's store, inside the sandbox.

`python -m graph.engine.executor SETTINGS_JSON` opens the release's on-disk Oxigraph store
read-only, applies the sandbox (graph/engine/sandbox.py), says hello, and then answers one
query frame at a time on stdin/stdout (graph/engine/wire.py) until stdin closes. The server
kills it when a query runs past its time limit; the kernel's CPU limit and the parent-death
signal stop it even if the server is gone. Many executors share one store on disk (the
operating system's page cache), so each costs little memory.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ExecutorSettings:
    """What an executor needs; passed as JSON on its command line."""

    store: str
    memory_mb: int = 1024
    seccomp: bool = True
    landlock: bool = True
    prefixes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent exits (and exit now if it already has)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def error_header(exc: Exception) -> dict[str, Any]:
    """An error frame for a library error (graph.errors), as the pool rebuilds it."""
    from graph.errors import KgError, QuerySyntaxError

    header: dict[str, Any] = {"error": getattr(exc, "type", "query-failed"), "detail": str(exc)}
    if isinstance(exc, QuerySyntaxError):
        header.update(line=exc.line, column=exc.column)
    elif not isinstance(exc, KgError):
        header["error"] = "query-failed"
    return header


def serve(settings: ExecutorSettings, inp: int, out: int) -> int:
    """Answer query frames until `inp` closes."""
    import pyoxigraph as ox

    from graph.engine import sandbox, wire
    from graph.engine.run import run_on_store
    from graph.errors import KgError, QueryResourceLimit

    store = ox.Store.read_only(settings.store)
    readable = sandbox.readable_roots([settings.store]) if settings.landlock else None
    report = sandbox.apply(settings.memory_mb, seccomp=settings.seccomp, readable=readable)
    wire.write_frame(out, {"pid": os.getpid(), "sandbox": asdict(report)})
    while True:
        try:
            request, _ = wire.read_frame(inp)
        except wire.PeerClosed:
            return 0
        if request.get("op") == "ping":
            wire.write_frame(out, {"ok": True})
            continue
        sandbox.set_cpu_deadline(float(request.get("timeout_s", 10.0)) + 1)
        try:
            result = run_on_store(store, request["query"], fmt=request["fmt"],
                                  max_rows=request.get("max_rows"), form=request.get("form"),
                                  prefixes=settings.prefixes)
        except MemoryError:
            wire.write_frame(out, error_header(QueryResourceLimit(
                "the query exceeded its memory limit and was stopped")))
            return 1  # the heap may be in any state: a fresh executor takes over
        except (KgError, OSError, ValueError, RuntimeError) as exc:
            wire.write_frame(out, error_header(exc))
            continue
        wire.write_frame(out, {"media_type": result.media_type, "form": result.form,
                               "count": result.count, "truncated": result.truncated,
                               "elapsed_ms": result.elapsed_ms}, result.body)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = ExecutorSettings(**json.loads(args[0]))
    die_with_parent(int(args[1]) if len(args) > 1 else os.getppid())
    # Frames go on a private copy of stdout; anything printed goes to stderr (the server's log).
    out = os.dup(1)
    os.dup2(2, 1)
    os.environ.pop("RUST_BACKTRACE", None)  # one log line per aborted query, not a backtrace
    return serve(settings, 0, out)


if __name__ == "__main__":
    sys.exit(main())
