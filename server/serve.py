"""`rabat-kg serve` and `rabat-kg reload`: gunicorn in front, the query engine behind.

Start-up, in the serve (gunicorn master) process, before any worker exists:
1. build the release (parse + SHACL); invalid data -> the report, exit 1, nothing served;
2. start the zygote (graph.engine.zygote) on that release in a private run directory;
3. load the app once (preload) with a PooledBackend pointing at the run directory; every
   forked worker opens its own executors, warms up, and only then accepts connections.
With `--store URL` there is no zygote: each worker talks HTTP to the remote store.

Reloads: SIGHUP to this process, or `rabat-kg reload --port P`, asks the zygote to build
and validate a new release and swap to it; a refused release leaves the old one served.
`rabat-kg reload` finds the run directory through a state file keyed by port.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from graph.engine.malloc import keep_freed_memory
from graph.engine.zygote import ZygoteProcess
from server.worker import LingeringThreadWorker

log = logging.getLogger("rabat_kg.serve")


def state_dir() -> Path:
    """Private folder for the per-port state files (created 0700, must be ours)."""
    path = Path(tempfile.gettempdir()) / f"rabat-kg-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        raise RuntimeError(f"{path} is not a private directory of this user")
    return path


def state_file(port: int) -> Path:
    return state_dir() / f"serve-{port}.json"


class _Arbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master, where SIGHUP means "reload the data", not "restart the workers"."""

    pending: list[socket.socket]

    def handle_hup(self) -> None:
        zygote: ZygoteProcess | None = self.app.zygote
        if zygote is None:
            self.log.warning("SIGHUP: serving a remote store; nothing to reload here "
                             "(use `rabat-kg load`)")
            return
        self.log.info("SIGHUP: building and validating a new data release")
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(str(zygote.socket_path))
            from graph.engine.wire import send_msg

            send_msg(sock, {"op": "reload"})
            self.pending = [*getattr(self, "pending", []), sock]
        except OSError as exc:
            self.log.error("SIGHUP: cannot reach the query engine: %s", exc)

    def manage_workers(self) -> None:
        super().manage_workers()
        zygote: ZygoteProcess | None = self.app.zygote
        if zygote is not None:
            try:
                zygote.restart_if_dead()
            except RuntimeError as exc:
                self.log.error("query engine restart failed: %s", exc)
        self._collect_reloads()

    def _collect_reloads(self) -> None:
        """Log the outcome of SIGHUP reloads without ever blocking the master loop."""
        from graph.engine.wire import recv_msg

        for sock in list(getattr(self, "pending", [])):
            if not select.select([sock], [], [], 0)[0]:
                continue
            self.pending.remove(sock)
            try:
                answer, _ = recv_msg(sock, deadline=time.monotonic() + 5)
                self.log.info("reload: %s", describe_reload(answer))
            except (OSError, ValueError) as exc:
                self.log.error("reload: no answer from the query engine: %s", exc)
            finally:
                sock.close()


class _App(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], config: dict[str, Any],
                 zygote: ZygoteProcess | None) -> None:
        self.options = options
        self.app_config = config
        self.zygote = zygote
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app

        return create_app(self.app_config)

    def run(self) -> None:
        _Arbiter(self).run()


def warm_worker(worker: Any) -> None:
    """gunicorn post_worker_init: executors forked and one real request answered, then traffic.

    Only for the embedded engine: a remote store that hangs must not stall a worker's boot.
    """
    keep_freed_memory()  # large answers pass through every worker: reuse, don't page-fault
    app = worker.wsgi
    started = time.perf_counter()
    try:
        from server.state import EXTENSION

        backend = app.extensions[EXTENSION].backend
        if not hasattr(backend, "warm_up"):
            return
        backend.warm_up()
        status = app.test_client().get("/health").status_code
        worker.log.info("worker %d warm in %.0f ms (/health %d)", os.getpid(),
                        (time.perf_counter() - started) * 1000, status)
    except Exception as exc:  # a cold worker still serves; it warms on first use
        worker.log.warning("worker %d warm-up failed: %s", os.getpid(), exc)


def close_worker(_arbiter: Any, worker: Any) -> None:
    """gunicorn worker_exit: hang up on the executors (they exit on end of stream)."""
    from server.state import EXTENSION

    with contextlib.suppress(Exception):
        worker.wsgi.extensions[EXTENSION].backend.close()


def server_config(args: argparse.Namespace) -> dict[str, Any]:
    """The app config for this command line: defaults, RABAT_KG_* environment, flags."""
    from flask import Config

    from server import config as defaults

    config = Config(str(Path.cwd()))
    config.from_object(defaults)
    config.from_prefixed_env("RABAT_KG")
    if getattr(args, "data", None):
        from graph.paths import ONTOLOGY_FILE

        config["DATA_PATHS"] = [str(ONTOLOGY_FILE), *(str(Path(p).resolve()) for p in args.data)]
    if getattr(args, "store", None):
        config["STORE_URL"] = args.store
    if getattr(args, "timeout", None):
        config["QUERY_TIMEOUT_S"] = float(args.timeout)
    return dict(config)


def start_engine(config: dict[str, Any]) -> ZygoteProcess:
    """Validate the data (fail closed) and start the zygote on it."""
    from graph.engine.zygote import Settings
    from graph.namespaces import PREFIXES
    from graph.paths import bundled_sources
    paths = [Path(p).resolve() for p in config["DATA_PATHS"]] if config.get("DATA_PATHS") \
        else bundled_sources()
    validate = bool(config.get("VALIDATE_ON_START", True))
    started = time.perf_counter()
    settings = Settings(memory_mb=int(config.get("WORKER_MEMORY_MB", 1024)),
                        seccomp=bool(config.get("ENGINE_SECCOMP", True)),
                        prefault=bool(config.get("ENGINE_PREFAULT", True)), validate=validate,
                        sources=[str(p) for p in paths], prefixes=dict(PREFIXES))
    # A child copies the files into the run directory (hashing them: the version); the zygote
    # bulk-loads those copies once, strictly, and validates that very store before serving it
    # (fail closed: DataError with file and line, or the SHACL report).
    zygote = ZygoteProcess.start_from_sources([str(p) for p in paths], settings)
    current = zygote.current()
    log.info("release %s: %d triples from %d files, ready in %.2f s", current.version,
             current.triples, len(paths), time.perf_counter() - started)
    return zygote


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; 1 if the data or the engine cannot start."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    config = server_config(args)
    zygote = None
    if not config.get("STORE_URL"):
        try:
            zygote = start_engine(config)  # DataError -> the CLI prints it and exits 1
        except RuntimeError as exc:
            print(f"rabat-kg serve: the query engine did not start: {exc}", file=sys.stderr)
            return 1
        config["ENGINE_RUN_DIR"] = str(zygote.run_dir)
    heavy = int(config.get("HEAVY_EXECUTORS", 2))
    light = int(config.get("LIGHT_EXECUTORS", 2))
    workers = args.workers or max(2, os.cpu_count() or 1)
    options = {
        "bind": f"{args.host}:{args.port}", "workers": workers,
        "worker_class": LingeringThreadWorker,
        "threads": heavy + light + 2, "preload_app": True, "accesslog": None,
        "timeout": max(30, int(float(config["QUERY_TIMEOUT_S"]) * 3)), "graceful_timeout": 15,
        "post_worker_init": warm_worker, "worker_exit": close_worker,
        "limit_request_line": 0,  # the app answers 414 with a hint to POST (MAX_QUERY_STRING_BYTES)
        "control_socket_disable": True,  # one fixed socket path would clash between servers
    }
    owner = os.getpid()
    statefile = state_file(args.port)
    statefile.write_text(json.dumps({
        "pid": owner, "port": args.port, "host": args.host,
        "run_dir": str(zygote.run_dir) if zygote else None,
        "store": config.get("STORE_URL")}))
    try:
        _App(options, config, zygote).run()
    finally:
        if os.getpid() == owner:  # gunicorn workers unwind through here too: leave it to us
            if zygote is not None:
                zygote.stop()
            statefile.unlink(missing_ok=True)
    return 0


def describe_reload(answer: dict[str, Any]) -> str:
    """One human line (plus the report) for a reload outcome."""
    if answer.get("ok"):
        if not answer.get("changed", True):
            return f"no change: already serving release {answer['version']}"
        return (f"now serving release {answer['version']} ({answer['triples']} triples), "
                f"was {answer.get('previous')}")
    return f"refused, the previous release is still served:\n{answer.get('detail')}"


def request_reload(args: argparse.Namespace) -> int:
    """`rabat-kg reload`: ask the server on --port to rebuild; 0 if swapped, 1 if refused."""
    from graph.engine.zygote import request

    path = state_file(args.port)
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        print(f"rabat-kg reload: no rabat-kg server is running on port {args.port}",
              file=sys.stderr)
        return 1
    if not state.get("run_dir"):
        print("rabat-kg reload: that server serves a remote store; push data with "
              "`rabat-kg load --store URL` instead", file=sys.stderr)
        return 1
    sources = None
    if getattr(args, "data", None):
        from graph.paths import ONTOLOGY_FILE

        sources = [str(ONTOLOGY_FILE), *(str(Path(p).resolve()) for p in args.data)]
    try:
        answer = request(Path(state["run_dir"]), {"op": "reload", "sources": sources},
                         timeout_s=float(os.environ.get("RABAT_KG_RELOAD_TIMEOUT_S", 600)))
    except (OSError, ValueError) as exc:
        print(f"rabat-kg reload: the query engine did not answer: {exc}", file=sys.stderr)
        return 1
    text = describe_reload(answer)
    if answer.get("ok"):
        print(f"rabat-kg reload: {text}")
        return 0
    print(f"rabat-kg reload: {text}", file=sys.stderr)
    return 1
