"""`rabat-kg serve` and `rabat-kg reload`: waitress in front, executor processes behind.

Why waitress (README, "How serving works"): its I/O thread reads each request whole and writes
answers out of buffers, so slow or non-reading clients hold a socket and a buffer, never a
thread, and one first-come queue of tasks serves kept-alive connections fairly.

Start-up: a private run directory (removed when the server ends, however it ends: a later
start removes what a killed server left, never another live server's), the release built in
a child process (parse + SHACL; invalid data -> the report, exit 1, nothing served), executor
processes on it (graph/engine/pool.py), then the app. With `--store URL` there is no release
and no executor: the app talks HTTP to the remote store.

Reloads: SIGHUP, or `rabat-kg reload --port P`, which reaches the server through a unix
socket in its run directory (found through a per-port state file).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import resource
import shutil
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server.config import from_environment

log = logging.getLogger("rabat_kg.serve")

CONTROL_SOCKET = "control.sock"
LOCK_FILE = "run.lock"
RELEASE_DIR = "release"
BIRTH_S = 60.0  # a run directory without its lock file yet is left alone this long
# An answer up to this size is written by waitress's I/O thread in one send, header and body
# together, once its worker thread is done (README, "Decisions": "waitress sends small answers
# whole"); a larger one is flushed by the worker as it is written, as waitress does by default.
SEND_WHOLE_BYTES = 18000


def state_dir() -> Path:
    """Private folder of this user's servers: run directories and per-port state files."""
    path = Path(tempfile.gettempdir()) / f"rabat-kg-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        raise RuntimeError(f"{path} is not a private directory of this user")
    return path


def state_file(port: int) -> Path:
    return state_dir() / f"serve-{port}.json"


@contextlib.contextmanager
def run_dir() -> Iterator[Path]:
    """A server's private directory, locked (flock) for as long as the server lives."""
    remove_stale_run_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=state_dir()))
    with open(path / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def remove_stale_run_dirs() -> None:
    """Remove run directories whose server is gone (their lock is free), and their state files."""
    for path in state_dir().glob("run-*"):
        try:
            with open(path / LOCK_FILE) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its server lives
        except FileNotFoundError:  # being made right now, or its server died at birth
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > BIRTH_S:
                    shutil.rmtree(path, ignore_errors=True)
            continue
        except OSError:  # its server lives (BlockingIOError), or not ours to read
            continue
        shutil.rmtree(path, ignore_errors=True)
    for statefile in state_dir().glob("serve-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            if not Path(json.loads(statefile.read_text())["run_dir"] or "/nonexistent").exists():
                statefile.unlink()


def server_config(args: argparse.Namespace) -> dict[str, Any]:
    """The app config for this command line: defaults, RABAT_KG_* environment, flags."""
    config = from_environment()
    if getattr(args, "data", None):
        config["DATA_PATHS"] = [str(p.resolve()) for p in args.paths]  # build: another cwd
    if getattr(args, "store", None):
        config["STORE_URL"] = args.store
    if getattr(args, "timeout", None):
        config["QUERY_TIMEOUT_S"] = float(args.timeout)
    return config


def pool_settings(config: dict[str, Any]) -> Any:
    """The executor pool's settings from the app config."""
    from graph.engine.pool import PoolSettings
    from graph.namespaces import PREFIXES

    return PoolSettings(
        light=int(config["LIGHT_EXECUTORS"]), heavy=int(config["HEAVY_EXECUTORS"]),
        reserved=int(config["RESERVED_LIGHT"]),
        light_budget_s=float(config["LIGHT_BUDGET_S"]), timeout_s=float(config["QUERY_TIMEOUT_S"]),
        admission_wait_s=float(config["ADMISSION_WAIT_S"]), memory_mb=int(config["WORKER_MEMORY_MB"]),
        seccomp=bool(config["ENGINE_SECCOMP"]), landlock=bool(config["ENGINE_LANDLOCK"]),
        warm=int(config["WARM_EXECUTORS"]), prefixes=dict(PREFIXES),
        memory_store_max_triples=int(config["ENGINE_MEMORY_STORE_MAX_TRIPLES"]))


def start_engine(config: dict[str, Any], run_dir: Path) -> Any:
    """Build the release in a child (fail closed: DataError) and start executors on it.

    The app's modules are imported while the child builds: on two cores, start-up is the
    longer of the two rather than their sum.
    """
    import multiprocessing.forkserver

    from graph.engine.pool import EmbeddedBackend
    from graph.paths import bundled_sources
    from graph.release import finish_build, start_build

    paths = [Path(p) for p in config["DATA_PATHS"]] if config.get("DATA_PATHS") else bundled_sources()
    build = start_build(paths, run_dir / RELEASE_DIR,
                        validate=bool(config.get("VALIDATE_ON_START", True)))
    # The fork server (pool.py set what it imports) starts now: executors fork from it later.
    multiprocessing.forkserver.ensure_running()
    import waitress  # noqa: F401 (imported now, used by serve)

    import server.framing
    import server.pages
    import server.sparql
    import server.stored  # noqa: F401

    release = finish_build(build)
    log.info("release %s: %d triples from %d files%s", release.version, release.triples,
             len(paths), ", validated" if release.validated else "")
    return EmbeddedBackend(release, pool_settings(config))


def start_control(path: Path, backend: Any) -> socketserver.ThreadingUnixStreamServer:
    """`rabat-kg reload` talks to the server here: one JSON request, one JSON answer."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                request = json.loads(self.rfile.readline())
                outcome = backend.reload([Path(p) for p in request.get("sources") or []] or None)
            except (ValueError, AttributeError) as exc:
                outcome = {"ok": False, "detail": f"bad control request: {exc}"}
            log_reload(outcome)
            self.wfile.write(json.dumps(outcome).encode() + b"\n")

    control = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    control.daemon_threads = True
    os.chmod(path, 0o600)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    return control


def raise_fd_limit() -> None:
    """Let waitress hold its connection limit of sockets (plus their spilled buffers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:  # (soft is then below hard, so finite)
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536 if hard == resource.RLIM_INFINITY else hard, hard))


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; 1 if the data or the engine cannot start."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notices
    config = server_config(args)
    statefile = state_file(args.port)
    backend: Any = None
    with contextlib.ExitStack() as cleanup:  # (undone in reverse order)
        run = cleanup.enter_context(run_dir())
        cleanup.callback(forget_state, statefile)
        config["RUN_DIR"] = str(run)
        if not config.get("STORE_URL"):
            backend = start_engine(config, run)  # DataError -> the CLI prints it, exit 1
            cleanup.callback(backend.close)
            cleanup.callback(start_control(run / CONTROL_SOCKET, backend).server_close)
        import waitress  # (imported while the release was built, if there is one)

        from server import create_app
        from server.framing import ProblemChannel

        app = create_app(config, backend=backend)
        raise_fd_limit()
        server = waitress.create_server(
            app, host=args.host, port=args.port, threads=int(config["THREADS"]),
            connection_limit=int(config["CONNECTION_LIMIT"]),
            channel_timeout=int(config["CHANNEL_TIMEOUT_S"]), cleanup_interval=5,
            max_request_header_size=int(config["MAX_HEADER_BYTES"]),
            max_request_body_size=int(config["MAX_REQUEST_BYTES"]),
            outbuf_high_watermark=64 * 1024 * 1024, send_bytes=SEND_WHOLE_BYTES, ident="rabat-kg",
            expose_tracebacks=False)
        server.channel_class = ProblemChannel  # framing errors in the app's form
        statefile.write_text(json.dumps({"pid": os.getpid(), "port": args.port, "run_dir": str(run),
                                         "store": config.get("STORE_URL")}))

        def hup(_sig: int, _frame: Any) -> None:
            if backend is None:
                log.warning("SIGHUP: serving a remote store; nothing to reload here "
                            "(use `rabat-kg load`)")
                return
            threading.Thread(target=lambda: log_reload(backend.reload()), daemon=True).start()

        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
        signal.signal(signal.SIGHUP, hup)
        log.info("serving on http://%s:%d/ (waitress, %d threads)", args.host, args.port,
                 int(config["THREADS"]))
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        server.close()
    return 0


def forget_state(statefile: Path) -> None:
    """Remove this server's state file (not a later server's on the same port)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(statefile.read_text()).get("pid") == os.getpid():
            statefile.unlink()


def log_reload(outcome: dict[str, Any]) -> None:
    if outcome.get("ok"):
        log.info("reload: %s", describe_reload(outcome))
    else:
        log.warning("reload %s", describe_reload(outcome))


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
    try:
        state = json.loads(state_file(args.port).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        print(f"rabat-kg reload: no rabat-kg server is running on port {args.port}",
              file=sys.stderr)
        return 1
    if not state.get("run_dir") or state.get("store"):
        print("rabat-kg reload: that server serves a remote store; push data with "
              "`rabat-kg load --store URL` instead", file=sys.stderr)
        return 1
    # Absolute: the server runs in another directory.
    sources = [str(p.resolve()) for p in args.paths] if args.data else None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(float(os.environ.get("RABAT_KG_RELOAD_TIMEOUT_S", 600)))
            sock.connect(str(Path(state["run_dir"]) / CONTROL_SOCKET))
            sock.sendall(json.dumps({"op": "reload", "sources": sources}).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline())
    except (OSError, ValueError) as exc:
        print(f"rabat-kg reload: the server did not answer: {exc}", file=sys.stderr)
        return 1
    ok = bool(answer.get("ok"))
    print(f"rabat-kg reload: {describe_reload(answer)}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
