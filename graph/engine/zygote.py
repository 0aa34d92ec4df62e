"""The zygote: one single-threaded process that holds the loaded store and forks executors.

`rabat-kg serve` starts it (``python -m graph.engine.zygote RUN_DIR``) before gunicorn forks
its workers. It loads the current release into a pyoxigraph Store once, then listens on a
unix socket in the private run directory. Each connection asking for an executor gets a
forked child that shares the store copy-on-write (spawn is a few ms), applies the sandbox,
says hello and answers queries on that socket until the worker hangs up or kills it.

Reloads happen here too: a builder child copies the new files into the run directory, hashing
them on the way (their version), so the zygote never reads a file while the user edits it; the
zygote bulk-loads the copies strictly into a new store (a syntax error refuses the release,
naming the user's file and line) and validates that very store with SHACL (graph/shacl.py:
SPARQL on the engine, no second copy of the data), and only if it conforms does it swap stores
and point ``current.json`` at the new version. The starting release is loaded and validated the
same way, before serving. Workers stat that file per request and retire executors of older
versions.

Forking is safe because no thread of this process outlives the call that started it:
pyoxigraph joins the threads it uses while loading before `load` returns, and the validator
joins its query threads before returning (tests/test_engine_pool.py checks).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from graph.engine import prefault, sandbox
from graph.engine.wire import FD_MARKER, AnswerBuffer, PeerClosed, recv_msg, send_fd, send_msg
from graph.errors import DataError, KgError, QueryResourceLimit

log = logging.getLogger("rabat_kg.zygote")

SOCKET_NAME = "engine.sock"
CURRENT_NAME = "current.json"
SETTINGS_NAME = "zygote.json"
REFUSED_NAME = "refused.json"  # why the zygote refused its starting release
EXIT_REFUSED = 3
PR_SET_PDEATHSIG = 1


@dataclass
class Settings:
    """How the zygote and its executors run (written by `rabat-kg serve` into the run dir)."""

    memory_mb: int = 1024
    seccomp: bool = True
    validate: bool = True
    sources: list[str] = field(default_factory=list)  # what a reload rebuilds by default
    prefixes: dict[str, str] = field(default_factory=dict)
    heavy_nice: int = 10  # CPU priority offset of heavy-lane executors
    prefault: bool = True  # executors copy the store's pages at spawn (graph/engine/prefault.py)
    answer_buffer_mb: int = 64  # shared memory for large answers (wire.AnswerBuffer); 0: none

    @classmethod
    def read(cls, run_dir: Path) -> Settings:
        path = run_dir / SETTINGS_NAME
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / SETTINGS_NAME, asdict(self))


@dataclass(frozen=True)
class Current:
    """The release being served: what ``current.json`` holds.

    `files` are the release's files in the run directory, loaded in order, each in the format
    its suffix names: copies of the user's `sources` (one each), or one canonical N-Triples
    file for a release given as such (`ZygoteProcess.start`). `triples` is 0 until the zygote
    has loaded them (it rewrites the file then).
    """

    version: str
    triples: int
    files: tuple[str, ...]
    sources: tuple[str, ...] = ()
    validated: bool = False  # the shapes accepted it (a restarted zygote need not check again)

    @classmethod
    def read(cls, run_dir: Path) -> Current:
        doc = json.loads((run_dir / CURRENT_NAME).read_text())
        files = doc["files"] if "files" in doc else [doc["file"]]  # written by an older zygote
        return cls(version=doc["version"], triples=doc["triples"], files=tuple(files),
                   sources=tuple(doc.get("sources", ())), validated=bool(doc.get("validated")))

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / CURRENT_NAME, asdict(self) | {"files": list(self.files),
                                                            "sources": list(self.sources)})

    def names(self) -> list[str]:
        """What errors call each file: the user's source it was copied from, else its own name."""
        return list(self.sources) if len(self.sources) == len(self.files) else list(self.files)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomic replace, so a reader sees the old or the new document, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def set_parent_death_signal(sig: int) -> None:
    """Ask the kernel to send `sig` when our parent exits, so nothing outlives the server."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def load_current(run_dir: Path, current: Current) -> ox.Store:
    """A new store with the release's files, loaded strictly.

    Raises:
        DataError: a file is missing or has a syntax error (naming the user's file and line).
    """
    from graph.release import load_sources

    return load_sources([run_dir / f for f in current.files], names=current.names())


def refusal(exc: KgError) -> dict[str, Any]:
    """The answer for a release the shapes (or the parser) refused."""
    return {"error": exc.type, "detail": exc.detail,
            **{k: v for k, v in exc.extra.items() if isinstance(v, (str, int))}}


def _new_run_dir(run_dir: Path | None) -> Path:
    """A fresh private (0700) run directory whose socket path fits a unix address."""
    import tempfile

    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="rabat-kg-"))
    run_dir.chmod(0o700)
    if len(str(run_dir / SOCKET_NAME)) > 100:
        raise RuntimeError(f"run directory path too long for a unix socket: {run_dir}")
    return run_dir


# --- the executor (runs in a forked child, never returns) -------------------------------


def run_executor(conn: socket.socket, store: ox.Store, version: str, settings: Settings,
                 *, lane: str = "heavy") -> None:
    """Serve queries on `conn` with the inherited store, inside the sandbox.

    Heavy-lane executors run at a lower CPU priority, so page views and lookups (the light
    lane) stay fast while a user's heavy query keeps every core busy.
    """
    code = 0
    try:
        set_parent_death_signal(signal.SIGKILL)
        if lane == "heavy" and settings.heavy_nice:
            os.nice(settings.heavy_nice)
        conn.settimeout(None)
        pidfd: int | None
        try:
            pidfd = os.pidfd_open(os.getpid())
        except (AttributeError, OSError):
            pidfd = None
        # Before the limits: the buffer's address space is not taken from the query's budget.
        answers = AnswerBuffer.create(settings.answer_buffer_mb * 1024 * 1024)
        report = sandbox.apply(settings.memory_mb, seccomp=settings.seccomp, audit=False)
        # Under the limits and the seccomp filter, but before the audit hook, which refuses
        # the /proc/self/smaps read and the ctypes call the copy needs.
        prefaulted, prefault_note = prefault.populate() if settings.prefault else (0, "off")
        sandbox.install_audit_hook()
        report.audit_hook = True
        for fd in (pidfd, answers.take_fd() if answers else None):
            if fd is not None:
                send_fd(conn, fd)
                os.close(fd)
            else:  # no pidfd on this kernel (the worker uses the pid), or no answer buffer
                conn.sendall(FD_MARKER)
        send_msg(conn, {"pid": os.getpid(), "version": version, "lane": lane,
                        "seccomp": report.seccomp,
                        "audit_hook": report.audit_hook,
                        "memory_limit": report.memory_limit_bytes, "note": report.reason,
                        "prefaulted": prefaulted, "prefault_note": prefault_note})
        code = _executor_loop(conn, store, settings, answers)
    except PeerClosed:
        code = 0
    except BaseException:  # never let a child fall back into the zygote's loop
        traceback.print_exc()
        code = 70
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _executor_loop(conn: socket.socket, store: ox.Store, settings: Settings,
                   answers: AnswerBuffer | None) -> int:
    from graph.engine.run import run_on_store

    while True:
        header, _ = recv_msg(conn)  # one frame each way: the worker waits for each answer
        op = header.get("op")
        if op == "ping":
            send_msg(conn, {"ok": True, "pid": os.getpid()})
            continue
        if op != "query":
            send_msg(conn, {"error": "bad-request", "detail": f"unknown operation {op!r}"})
            continue
        sandbox.set_cpu_deadline(float(header.get("timeout_s") or 60) + 1)
        try:
            result = run_on_store(store, header["query"], fmt=header["fmt"],
                                  max_rows=header.get("max_rows"),
                                  prefixes=settings.prefixes or None)
        except MemoryError:
            send_msg(conn, error_header(QueryResourceLimit(
                "the query needed more memory than a query may use")))
            return 0  # the heap may be fragmented past use: let a fresh executor take over
        except KgError as exc:
            send_msg(conn, error_header(exc))
            continue
        except sandbox.SandboxViolation as exc:
            send_msg(conn, {"error": "query-refused", "detail": str(exc)})
            continue
        except PermissionError as exc:  # seccomp said no (SERVICE over the network)
            send_msg(conn, {"error": "query-refused",
                            "detail": f"the query tried to reach outside the graph: {exc}"})
            continue
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            send_msg(conn, {"error": "query-failed", "detail": f"query evaluation failed: {exc}"})
            continue
        header = {"ok": True, "media_type": result.media_type, "form": result.form,
                  "count": result.count, "truncated": result.truncated,
                  "elapsed_ms": result.elapsed_ms}
        body = result.body
        if answers is not None and answers.fits(len(body)):
            answers.write(body)
            header["shared"], body = len(body), b""
        send_msg(conn, header, body)


def error_header(exc: KgError) -> dict[str, Any]:
    """The frame header describing a query error (type slug, detail, position if any)."""
    return {"error": exc.type, "detail": exc.detail,
            **{k: v for k, v in exc.extra.items() if k in ("line", "column")}}


# --- the zygote ----------------------------------------------------------------------------


class Zygote:
    """The store holder: accept, fork, reap, rebuild."""

    def __init__(self, run_dir: Path, settings: Settings) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self.current = Current.read(run_dir)
        started = time.perf_counter()
        self.store = load_current(run_dir, self.current)  # DataError: refused, like a violation
        if len(self.store) != self.current.triples:
            self.current = replace(self.current, triples=len(self.store))
            self.current.write(run_dir)
        log.info("zygote %d: loaded release %s (%d triples) in %.2f s", os.getpid(),
                 self.current.version, self.current.triples, time.perf_counter() - started)
        if settings.validate and not self.current.validated:
            started = time.perf_counter()
            validate(self.store)  # DataError: main() reports it and exits, nothing is served
            self.current = replace(self.current, validated=True)
            self.current.write(run_dir)
            log.info("zygote %d: release %s conforms to the shapes (validated in %.2f s)",
                     os.getpid(), self.current.version, time.perf_counter() - started)
        self.children: set[int] = set()
        self.builder: tuple[int, int] | None = None  # (pid, read end of its pipe)
        self.waiting: list[socket.socket] = []  # reload requesters awaiting the result
        self.stopping = False
        self.sel = selectors.DefaultSelector()

    # Setup and loop.

    def listen(self) -> socket.socket:
        path = self.run_dir / SOCKET_NAME
        path.unlink(missing_ok=True)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            lsock.bind(str(path))
        finally:
            os.umask(old)
        lsock.listen(128)
        return lsock

    def serve_forever(self) -> None:
        lsock = self.listen()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # A terminal's Ctrl-C or a service manager's SIGTERM reaches the whole process group;
        # the zygote and its executors let the server finish its requests, and stop when the
        # server says so ("stop") or dies (parent-death signal).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.sel.register(lsock, selectors.EVENT_READ, "accept")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self._lsock, self._wake = lsock, (wake_r, wake_w)
        write_json(self.run_dir / "zygote.pid.json", {"pid": os.getpid()})
        log.info("zygote %d: listening on %s", os.getpid(), self.run_dir / SOCKET_NAME)
        while not self.stopping:
            for key, _ in self.sel.select(timeout=1.0):
                if key.data == "accept":
                    self._accept(lsock)
                elif key.data == "wake":
                    try:
                        while wake_r.recv(512):
                            pass
                    except BlockingIOError:
                        pass
                elif key.data == "builder":
                    self._finish_build()
            self._reap()
        self._shutdown()

    def _shutdown(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap()
        (self.run_dir / SOCKET_NAME).unlink(missing_ok=True)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGTERM):
                log.warning("executor %d ended by signal %d", pid, os.WTERMSIG(status))

    # Requests.

    def _accept(self, lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        try:
            header, _ = recv_msg(conn, deadline=time.monotonic() + 5)
            op = header.get("op")
            if op == "executor":
                self._fork_executor(conn, str(header.get("lane") or "heavy"))
            elif op == "reload":
                self._start_build(conn, header.get("sources"))
                return  # the connection stays open until the build ends
            elif op == "status":
                send_msg(conn, self.status())
            elif op == "stop":
                self.stopping = True
                send_msg(conn, {"ok": True})
            else:
                send_msg(conn, {"error": "bad-request", "detail": f"unknown operation {op!r}"})
        except (OSError, ValueError) as exc:
            log.warning("zygote: dropped a request: %s", exc)
        conn.close()

    def status(self) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid(), "version": self.current.version,
                "triples": self.current.triples, "executors": sorted(self.children),
                "building": self.builder is not None, "sources": list(self.current.sources)}

    def _fork_executor(self, conn: socket.socket, lane: str) -> None:
        pid = os.fork()
        if pid == 0:
            self._become_child()
            run_executor(conn, self.store, self.current.version, self.settings, lane=lane)
        self.children.add(pid)

    def _become_child(self) -> None:
        """Drop everything of the zygote's loop in a fresh child."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        self.sel.close()
        self._lsock.close()
        for s in self._wake:
            s.close()
        for s in self.waiting:
            s.close()
        if self.builder is not None:
            os.close(self.builder[1])

    # Reloads.

    def _start_build(self, conn: socket.socket, sources: list[str] | None) -> None:
        if self.builder is not None:
            self.waiting.append(conn)  # one build at a time; this caller gets its result
            return
        sources = list(sources or self.current.sources or self.settings.sources)
        if not sources:
            send_msg(conn, {"error": "invalid-data", "detail": "no data files to reload from"})
            conn.close()
            return
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._become_child()
            os.close(read_fd)
            build_release(self.run_dir, sources, write_fd)
        os.close(write_fd)
        self.children.add(pid)
        self.builder = (pid, read_fd)
        self.waiting.append(conn)
        self.sel.register(read_fd, selectors.EVENT_READ, "builder")
        log.info("zygote: building a release from %s (builder %d)", ", ".join(sources), pid)

    def _finish_build(self) -> None:
        assert self.builder is not None
        _pid, read_fd = self.builder
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
        self.sel.unregister(read_fd)
        os.close(read_fd)
        self.builder = None
        try:
            outcome = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            outcome = {}
        if not outcome:
            outcome = {"error": "invalid-data", "detail": "the release builder died"}
        if outcome.get("ok"):
            outcome = self._swap(outcome)
        if not outcome.get("ok"):
            log.error("reload refused, still serving %s:\n%s", self.current.version,
                      outcome.get("detail"))
        for conn in self.waiting:
            with contextlib.suppress(OSError):
                send_msg(conn, outcome)
            conn.close()
        self.waiting = []

    def _swap(self, outcome: dict[str, Any]) -> dict[str, Any]:
        new = Current(version=outcome["version"], triples=0, files=tuple(outcome["files"]),
                      sources=tuple(outcome["sources"]))
        if new.version == self.current.version:
            log.info("reload: same data, still serving %s", new.version)
            return outcome | {"changed": False, "triples": self.current.triples}
        started = time.perf_counter()
        try:
            store = load_current(self.run_dir, new)
            new = replace(new, triples=len(store))
            if self.settings.validate:
                validate(store)
                new = replace(new, validated=True)
        except KgError as exc:  # a syntax error or a shape violation: nothing swapped
            self._remove_files(new, keep=self.current)
            return refusal(exc)
        except (OSError, MemoryError) as exc:
            self._remove_files(new, keep=self.current)
            log.error("reload: cannot load %s: %s", ", ".join(new.files), exc)
            return {"error": "invalid-data", "detail": f"cannot load the new release: {exc}"}
        old = self.current
        self.store, self.current = store, new
        new.write(self.run_dir)  # workers notice this and retire old executors
        self._remove_files(old, keep=new)
        log.info("reload: now serving %s (%d triples, loaded%s in %.2f s), was %s", new.version,
                 new.triples, " and validated" if new.validated else "",
                 time.perf_counter() - started, old.version)
        return outcome | {"changed": True, "previous": old.version, "triples": new.triples}

    def _remove_files(self, release: Current, *, keep: Current) -> None:
        """Delete a release's files from the run directory, except those `keep` still needs."""
        for name in set(release.files) - set(keep.files):
            (self.run_dir / name).unlink(missing_ok=True)


def validate(store: ox.Store) -> None:
    """SHACL on the loaded store itself (raises DataError with the report)."""
    from graph.release import check_store

    check_store(store)


def build_release(run_dir: Path, sources: list[str], out_fd: int) -> None:
    """In a builder child: copy the sources into the run dir, report through `out_fd`; never returns.

    One read of each file: hashed (the version) while copied. Parsing and validation are not
    done here: the zygote loads the copies strictly and validates that store.
    """
    code = 0
    try:
        from graph.release import copy_sources

        try:
            version, copies = copy_sources([Path(s) for s in sources], run_dir)
            outcome: dict[str, Any] = {"ok": True, "version": version,
                                       "files": [c.name for c in copies], "sources": list(sources)}
        except KgError as exc:
            outcome = refusal(exc)
        except Exception as exc:
            outcome = {"error": "invalid-data", "detail": f"release build failed: {exc!r}"}
        data = json.dumps(outcome).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view):]
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m graph.engine.zygote RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    set_parent_death_signal(signal.SIGKILL)
    run_dir = Path(args[0])
    # Everything an executor needs is imported now, before any fork: imports after the
    # sandbox is up would be refused, and would cost every executor again.
    import graph.engine.run
    import graph.intake  # noqa: F401

    try:
        zygote = Zygote(run_dir, Settings.read(run_dir))
    except KgError as exc:  # the starting release does not parse or violates the shapes: say why
        write_json(run_dir / REFUSED_NAME, refusal(exc))
        log.error("release refused:\n%s", exc.detail)
        return EXIT_REFUSED
    zygote.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --- the parent's side: start, ask, stop ----------------------------------------------------


def request(run_dir: Path, header: dict[str, Any], *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one control request (status, reload) to the zygote and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(run_dir / SOCKET_NAME))
        send_msg(sock, header)
        answer, _ = recv_msg(sock, deadline=time.monotonic() + timeout_s)
        return answer


class ZygoteProcess:
    """A zygote started from a validated release, in a private run directory it owns."""

    def __init__(self, run_dir: Path, proc: Any) -> None:
        self.run_dir = run_dir
        self.proc = proc
        self.owner = os.getpid()  # forked copies (gunicorn workers) must not stop or restart it

    @property
    def socket_path(self) -> Path:
        return self.run_dir / SOCKET_NAME

    @classmethod
    def start(cls, release: Any, settings: Settings, *, run_dir: Path | None = None,
              wait_s: float = 120.0) -> ZygoteProcess:
        """Write the release and settings into a fresh 0700 run dir, start, wait until ready."""
        from graph.release import save_ntriples

        run_dir = _new_run_dir(run_dir)
        path = save_ntriples(release, run_dir)
        current = Current(version=release.version, triples=release.triple_count, files=(path.name,),
                          sources=tuple(release.sources),
                          validated=bool(getattr(release, "validated", False)))
        return cls._launch(run_dir, current, settings, wait_s)

    @classmethod
    def start_from_sources(cls, sources: list[str], settings: Settings, *,
                           run_dir: Path | None = None, wait_s: float = 600.0) -> ZygoteProcess:
        """Copy the sources into a fresh run dir in a short-lived child, start, wait until ready.

        The serve process then forks gunicorn workers: keeping the data out of it keeps it out
        of every worker too. The zygote parses the copies: a syntax error (or a shape violation)
        raises DataError naming file and line, and nothing is served.
        """
        run_dir = _new_run_dir(run_dir)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: same code path as a reload's builder
            os.close(read_fd)
            build_release(run_dir, list(sources), write_fd)
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        outcome = json.loads(b"".join(chunks) or b"{}")
        if not outcome.get("ok"):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise DataError(outcome.get("detail") or "the release could not be built",
                            **{k: v for k, v in outcome.items() if k not in ("error", "detail", "ok")})
        current = Current(version=outcome["version"], triples=0, files=tuple(outcome["files"]),
                          sources=tuple(sources))
        return cls._launch(run_dir, current, settings, wait_s)

    @classmethod
    def _launch(cls, run_dir: Path, current: Current, settings: Settings,
                wait_s: float) -> ZygoteProcess:
        import subprocess

        settings.write(run_dir)
        current.write(run_dir)
        proc = subprocess.Popen([sys.executable, "-m", "graph.engine.zygote", str(run_dir)],
                                stdin=subprocess.DEVNULL, close_fds=True)
        zygote = cls(run_dir, proc)
        try:
            zygote.wait_ready(wait_s)
        except (RuntimeError, KgError):
            zygote.stop()
            raise
        return zygote

    def current(self) -> Current:
        """The release the engine serves now."""
        return Current.read(self.run_dir)

    def wait_ready(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                refused = self.run_dir / REFUSED_NAME
                if self.proc.returncode == EXIT_REFUSED and refused.exists():
                    doc = json.loads(refused.read_text())
                    raise DataError(doc.get("detail") or "the data does not conform to the shapes",
                                    **{k: v for k, v in doc.items() if k not in ("error", "detail")})
                raise RuntimeError(f"the query engine exited with status {self.proc.returncode}")
            try:
                request(self.run_dir, {"op": "status"}, timeout_s=2)
                return
            except (OSError, ValueError):
                time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError(f"the query engine did not start within {wait_s:.0f} s")

    def running(self) -> bool:
        return self.proc.poll() is None

    def restart_if_dead(self) -> bool:
        """Start a new zygote on the current release if this one died; True if it did."""
        if os.getpid() != self.owner or self.running():
            return False
        import subprocess

        log.error("query engine (zygote %d) died with status %s; restarting it", self.proc.pid,
                  self.proc.returncode)
        self.proc = subprocess.Popen([sys.executable, "-m", "graph.engine.zygote",
                                      str(self.run_dir)], stdin=subprocess.DEVNULL, close_fds=True)
        self.wait_ready(120.0)
        return True

    def stop(self, *, remove: bool = True) -> None:
        """Terminate the zygote (its executors follow) and remove the run directory."""
        if os.getpid() != self.owner:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                request(self.run_dir, {"op": "stop"}, timeout_s=5)
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if remove:
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)
