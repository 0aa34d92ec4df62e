"""The embedded backend: queries run in sandboxed executor processes, in two lanes.

Every query takes a slot of the light lane first (our pages, stored queries, and user SPARQL
of unknown cost). One still running after the light budget moves to the heavy lane if a
heavy slot frees up within the admission wait, and is stopped with 503 otherwise, so
expensive queries cannot hold the capacity that pages and cheap lookups need. Past the time
limit the executor is killed (SIGKILL: the CPU and memory really come back) and the request
gets 503 (`QueryTimeout`); an executor that dies while answering (memory cap, crash) gives
503 (`QueryResourceLimit`) and is replaced in the background.

The answer is read completely before it is returned, so nothing is ever sent truncated.

Reloads: `swap` points the backend at a new release's executors; the old ones finish what
they are answering and exit, and the old release's files are removed when the last is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph import errors
from graph.engine import wire
from graph.engine.base import Form, Lane, QueryResult, Row, rows_from_json
from graph.engine.executor import ExecutorSettings
from graph.release import BuiltRelease, build_in_child, source_version

log = logging.getLogger("rabat_kg.engine")

ERRORS_BY_TYPE: dict[str, type[errors.KgError]] = {
    cls.type: cls for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.KgError) and cls is not errors.KgError
}


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and limits of the executor pool."""

    light: int = 4  # queries of unknown cost at once
    heavy: int = 2  # long queries at once
    light_budget_s: float = 0.5  # a query still running then moves to the heavy lane
    timeout_s: float = 10.0
    admission_wait_s: float = 0.75
    spawn_timeout_s: float = 30.0
    retry_after_s: int = 2
    warm: int = 2  # executors started with a release, before traffic
    memory_mb: int = 1024
    seccomp: bool = True
    landlock: bool = True
    prefixes: dict[str, str] = field(default_factory=dict)


class Executor:
    """One executor process, used by one thread at a time."""

    def __init__(self, proc: subprocess.Popen[bytes], hello: dict[str, Any]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.hello = hello
        assert proc.stdin is not None and proc.stdout is not None
        self.inp = proc.stdin.fileno()
        self.out = proc.stdout.fileno()

    @classmethod
    def start(cls, settings: ExecutorSettings, timeout_s: float) -> Executor:
        env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "graph.engine.executor", settings.to_json(), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
            cwd=Path(__file__).resolve().parent.parent.parent)
        assert proc.stdout is not None
        try:
            hello, _ = wire.read_frame(proc.stdout.fileno(), time.monotonic() + timeout_s)
        except (OSError, ValueError) as exc:
            proc.kill()
            proc.wait()
            raise errors.BackendUnavailable(
                f"the query engine did not start ({exc.__class__.__name__}); retry shortly") from None
        return cls(proc, hello)

    def send(self, header: dict[str, Any]) -> None:
        wire.write_frame(self.inp, header)

    def ready(self, timeout_s: float) -> bool:
        return wire.ready(self.out, timeout_s)

    def receive(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        return wire.read_frame(self.out, deadline)

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.proc.kill()
        self.close()

    def close(self) -> None:
        """Hang up (the executor exits at end of input) and reap."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ReleaseExecutors:
    """The idle executors of one release; its files go when it is retired and drained."""

    def __init__(self, release: BuiltRelease, settings: PoolSettings, *, owned: bool) -> None:
        self.release = release
        self.settings = ExecutorSettings(store=str(release.store_dir), memory_mb=settings.memory_mb,
                                         seccomp=settings.seccomp, landlock=settings.landlock,
                                         prefixes=settings.prefixes)
        self.spawn_timeout_s = settings.spawn_timeout_s
        self.idle: list[Executor] = []
        self.busy = 0
        self.retired = False
        self.owned = owned  # remove the release's files once retired and drained
        self.lock = threading.Lock()

    def take(self) -> Executor:
        with self.lock:
            self.busy += 1
            if self.idle:
                return self.idle.pop()
        try:
            return Executor.start(self.settings, self.spawn_timeout_s)
        except BaseException:
            self._done()
            raise

    def give_back(self, ex: Executor | None) -> None:
        """Return an executor after use (None: it was killed)."""
        with self.lock:
            keep = ex is not None and not self.retired
            if keep:
                self.idle.append(ex)  # type: ignore[arg-type]
        if ex is not None and not keep:
            ex.close()
        self._done()

    def add_idle(self, count: int) -> None:
        """Start `count` executors now (before traffic, or to replace killed ones)."""
        started = [Executor.start(self.settings, self.spawn_timeout_s) for _ in range(count)]
        with self.lock:
            if not self.retired:
                self.idle.extend(started)
                return
        for ex in started:
            ex.close()

    def retire(self) -> None:
        """No new queries: close the idle executors; the busy ones close when given back."""
        with self.lock:
            self.retired = True
            idle, self.idle = self.idle, []
        for ex in idle:
            ex.close()
        self._done(0)

    def _done(self, step: int = 1) -> None:
        with self.lock:
            self.busy -= step
            drained = self.retired and self.busy == 0
        if drained and self.owned:
            shutil.rmtree(self.release.directory, ignore_errors=True)


class EmbeddedBackend:
    """The Backend of `rabat-kg serve`: a built release, served by executor processes."""

    def __init__(self, release: BuiltRelease, settings: PoolSettings, *, owned: bool = True) -> None:
        self.settings = settings
        self.lanes = {"light": threading.BoundedSemaphore(settings.light),
                      "heavy": threading.BoundedSemaphore(settings.heavy)}
        self.current = ReleaseExecutors(release, settings, owned=owned)
        self.current.add_idle(settings.warm)
        self._reloading = threading.Lock()
        self._builds = 0

    # Backend interface.

    def version(self) -> str:
        return self.current.release.version

    @property
    def release(self) -> BuiltRelease:
        return self.current.release

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        header = {"op": "query", "query": query, "fmt": fmt, "form": form, "max_rows": max_rows,
                  "timeout_s": self.settings.timeout_s}
        answer, body = self._run(lane, header)
        return QueryResult(body=body, media_type=answer["media_type"], form=answer["form"],
                           count=answer["count"], truncated=answer["truncated"],
                           elapsed_ms=answer["elapsed_ms"], extra={"version": answer["version"]})

    def select(self, query: str, *, lane: Lane = "light") -> list[Row]:
        return rows_from_json(self.execute(query, fmt="json", lane=lane).body)

    def close(self) -> None:
        self.current.retire()

    def swap(self, release: BuiltRelease) -> BuiltRelease:
        """Serve `release` from now on; returns the one it replaces (retired, draining)."""
        fresh = ReleaseExecutors(release, self.settings, owned=True)
        fresh.add_idle(self.settings.warm)
        old, self.current = self.current, fresh
        old.retire()
        return old.release

    def reload(self, paths: list[Path] | None = None, *, validate: bool = True) -> dict[str, Any]:
        """Build `paths` (default: the served release's sources) and swap to it if it is valid.

        One reload at a time: an overlapping one is refused, never given another's outcome.
        Returns the outcome: ok, changed, version, triples, previous, or detail (why refused).
        """
        if not self._reloading.acquire(blocking=False):
            return {"ok": False, "detail": "another reload is in progress; try again when it ends"}
        try:
            served = self.current.release
            paths = list(paths) if paths else [Path(p) for p in served.sources]
            try:
                if source_version(paths) == served.version:
                    return {"ok": True, "changed": False, "version": served.version,
                            "triples": served.triples}
                self._builds += 1
                target = served.directory.parent / f"{served.directory.name.split('.')[0]}.{self._builds}"
                built = build_in_child(paths, target, validate=validate)
            except errors.DataError as exc:
                return {"ok": False, "detail": exc.detail}
            old = self.swap(built)
            log.info("now serving release %s (%d triples), was %s", built.version, built.triples,
                     old.version)
            return {"ok": True, "changed": True, "version": built.version, "triples": built.triples,
                    "previous": old.version}
        finally:
            self._reloading.release()

    # Lanes.

    def _admit(self, lane: str) -> None:
        if not self.lanes[lane].acquire(timeout=self.settings.admission_wait_s):
            raise errors.Overloaded(
                f"all {lane} query slots are busy; retry in a moment",
                retry_after=self.settings.retry_after_s)

    def _run(self, lane: str, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        s = self.settings
        held = "heavy" if lane == "heavy" else "light"
        self._admit(held)
        started = time.monotonic()
        deadline = started + s.timeout_s
        releases = self.current
        try:
            ex: Executor | None = releases.take()
        except BaseException:
            self.lanes[held].release()
            raise
        try:
            assert ex is not None
            ex.send(header)
            if held == "light" and not ex.ready(s.light_budget_s):
                held = self._move_to_heavy(ex, deadline)
            answer, body = ex.receive(deadline)
        except TimeoutError:
            self._lost(releases, ex, f"ran past the time limit after {time.monotonic() - started:.2f} s")
            ex = None
            raise errors.QueryTimeout(
                f"the query ran longer than the {s.timeout_s:g} s limit and was stopped; "
                "make it more selective (LIMIT does not bound ORDER BY or GROUP BY)",
                retry_after=s.retry_after_s) from None
        except errors.Overloaded:
            self._lost(releases, ex, f"found no heavy slot after {time.monotonic() - started:.2f} s")
            ex = None
            raise
        except (wire.PeerClosed, OSError, ValueError):
            self._lost(releases, ex, f"stopped while answering after {time.monotonic() - started:.2f} s")
            ex = None
            raise errors.QueryResourceLimit(
                "the query process stopped before answering: the query exceeded its memory "
                "limit or crashed the engine", retry_after=s.retry_after_s) from None
        except BaseException:
            self._lost(releases, ex, f"was interrupted after {time.monotonic() - started:.2f} s")
            ex = None
            raise
        finally:
            self.lanes[held].release()
            if ex is not None:
                releases.give_back(ex)
        if "error" in answer:
            raise error_from(answer, s.retry_after_s)
        answer["version"] = releases.release.version
        return answer, body

    def _move_to_heavy(self, ex: Executor, deadline: float) -> str:
        """The query outlived the light budget: hold a heavy slot instead, or give up."""
        waited_until = time.monotonic() + self.settings.admission_wait_s
        while not self.lanes["heavy"].acquire(timeout=0.05):
            if ex.ready(0):
                return "light"  # it finished meanwhile
            if time.monotonic() >= min(waited_until, deadline):
                raise errors.Overloaded(
                    "the query runs long and every slot for long queries is busy; retry later "
                    "or make it more selective", retry_after=self.settings.retry_after_s)
        self.lanes["light"].release()
        return "heavy"

    def _lost(self, releases: ReleaseExecutors, ex: Executor | None, why: str) -> None:
        """Kill an executor that cannot be reused, and start a replacement in the background."""
        if ex is None:
            releases.give_back(None)
            return
        code = ex.proc.poll()
        peak = peak_memory_mb(ex.pid)
        ex.kill()
        log.warning("query stopped: executor %d %s (exit %s, peak memory %s MB)", ex.pid, why,
                    code if code is not None else "-9, killed", peak if peak is not None else "?")
        releases.give_back(None)
        threading.Thread(target=self._replace, args=(releases,), daemon=True).start()

    def _replace(self, releases: ReleaseExecutors) -> None:
        try:
            releases.add_idle(1)
        except errors.KgError as exc:
            log.error("could not start a replacement executor: %s", exc)


def peak_memory_mb(pid: int) -> int | None:
    """A live process's peak resident memory (VmHWM), for the log line of a stopped query."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def error_from(answer: dict[str, Any], retry_after: int) -> errors.KgError:
    """The library error an executor's error frame stands for."""
    cls = ERRORS_BY_TYPE.get(str(answer.get("error")), errors.QueryEvaluationError)
    detail = str(answer.get("detail") or "query failed")
    if cls is errors.QuerySyntaxError:
        return errors.QuerySyntaxError(detail, line=answer.get("line"), column=answer.get("column"))
    if cls.status == 503:
        return cls(detail, retry_after=retry_after)
    return cls(detail)


