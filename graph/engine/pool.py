"""The embedded backend: queries run in sandboxed executor processes, in two lanes.

Every query starts in the light lane (user SPARQL may take all its slots but `reserved`); one
still running after the light budget moves to the heavy lane if a heavy slot frees up within
the admission wait, else it is stopped with 503, so expensive queries cannot hold what pages
need. Past the time limit the executor is killed (SIGKILL: CPU and memory really come back),
503 `QueryTimeout`; one that dies while answering (memory cap, crash) gives 503
`QueryResourceLimit`. Answers are read whole before they are returned: nothing is sent truncated.

Reloads point the backend at a new release's executors; the old ones finish what they are
answering and exit, and the old release's files are removed when the last is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import select
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from graph import errors
from graph.engine import executor
from graph.engine.base import Backend, Form, Lane, QueryResult
from graph.engine.executor import PoolSettings
from graph.engine.sandbox import status_kib
from graph.release import BuiltRelease, finish_build, source_version, start_build

log = logging.getLogger("rabat_kg.engine")
HEAVY_NICE = 10  # CPU priority of an executor once its query runs long
EXITS = {-6: "the engine aborted (an allocation over the memory cap)",
         -9: "killed", -24: "over its CPU-time limit", 1: "out of memory"}
IDLE_CLOSE_S = 30.0  # an executor beyond the ready ones, idle this long, is closed (its memory)
RETRY_AFTER_S = 2  # what a client refused for lack of capacity is told to wait

ERRORS_BY_TYPE: dict[str, type[errors.KgError]] = {  # the library's errors, however derived
    cls.type: cls for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.KgError) and cls is not errors.KgError
}


# Executors are forked by CPython's fork server, which imports the engine once (see executor.py).
_PROCESSES = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload(["graph.engine.executor"])  # (it imports run and sandbox)


class Executor:
    """One executor process and its pipe, used by one thread at a time."""

    def __init__(self, settings: PoolSettings, release: BuiltRelease) -> None:
        """Start the process and wait for its hello (BackendUnavailable if it does not come)."""
        ours, theirs = _PROCESSES.Pipe()
        self.process: Any = _PROCESSES.Process(target=executor.run, args=(settings, release, theirs),
                                               daemon=True, name="rabat-kg-executor")
        try:
            self.process.start()
            theirs.close()
            if not ours.poll(settings.spawn_timeout_s):
                raise TimeoutError("no hello")
            self.hello = json.loads(ours.recv_bytes())
        except (OSError, EOFError, ValueError) as exc:
            with contextlib.suppress(Exception):
                self.process.kill()
                self.process.join(5)
            ours.close()
            raise errors.BackendUnavailable(
                f"the query engine did not start ({exc.__class__.__name__}); retry shortly") from None
        self.conn = ours
        self.pid = int(self.process.pid)  # type: ignore[arg-type]
        self.idle_since = time.monotonic()
        self.poller = select.poll()  # one registration, not a selector per wait
        self.poller.register(ours.fileno(), select.POLLIN)

    def ready(self, timeout_s: float) -> bool:
        """Whether the answer has begun (or the process ended) within `timeout_s`."""
        return bool(self.poller.poll(max(0, int(timeout_s * 1000))))

    def receive(self, deadline: float, *, begun: bool = False) -> tuple[dict[str, Any], bytes]:
        """The answer's header and body (`begun`: `ready` said so already: one system call less,
        each a turn of the server's GIL); TimeoutError past `deadline`, EOFError if it died."""
        if not begun and not self.ready(deadline - time.monotonic()):
            raise TimeoutError("no answer before the deadline")
        header, _, body = self.conn.recv_bytes().partition(b"\n")  # one message: see executor
        return json.loads(header), body

    def close(self) -> None:
        """Hang up (the executor exits at the end of its input) and reap."""
        self.conn.close()
        self.process.join(5)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(5)


class ReleaseExecutors:
    """The executors of one release: `warm` kept idle (refilled in the background, so a
    request rarely waits for a start), at most `keep` idle; its files go when it is retired
    and drained."""

    def __init__(self, release: BuiltRelease, settings: PoolSettings, *, owned: bool) -> None:
        self.release = release
        self.settings = settings
        self.keep = max(settings.warm, settings.light + settings.heavy)
        # The ready executors start before traffic: a release's first queries need not wait.
        self.idle = [Executor(settings, release) for _ in range(settings.warm)]
        self.busy = 0
        self.starting = 0
        self.retired = False
        self.owned = owned  # remove the release's files once retired and drained
        self.lock = threading.Lock()

    def take(self) -> Executor:
        with self.lock:
            self.busy += 1
            ex = self.idle.pop() if self.idle else None
            # Beyond `warm`, executors idle since the last burst go (the oldest are at the front).
            now = time.monotonic()
            stale = [e for e in self.idle[: max(0, len(self.idle) - self.settings.warm)]
                     if now - e.idle_since > IDLE_CLOSE_S]
            if stale:
                self.idle = [e for e in self.idle if e not in stale]
        for old in stale:
            old.close()
        self.refill()
        if ex is not None:
            return ex
        try:
            return Executor(self.settings, self.release)
        except BaseException:
            self._done()
            raise

    def give_back(self, ex: Executor, *, reusable: bool) -> None:
        """Return an executor after use; one not `reusable` (killed, or it ran long: its priority
        and memory are not for the next query) is closed and replaced in the background."""
        with self.lock:
            kept = reusable and not self.retired and len(self.idle) < self.keep
            if kept:
                ex.idle_since = time.monotonic()
                self.idle.append(ex)
        if not kept:
            ex.close()
        self._done()
        if not reusable:
            self.refill()

    def refill(self) -> None:
        """Start executors in the background until `warm` are idle or starting."""
        with self.lock:
            missing = self.settings.warm - len(self.idle) - self.starting
            if self.retired or missing <= 0:
                return
            self.starting += missing
        for _ in range(missing):
            threading.Thread(target=self._start_one, daemon=True).start()

    def _start_one(self) -> None:
        ex: Executor | None = None
        try:
            ex = Executor(self.settings, self.release)
        except errors.KgError as exc:
            if not self.retired:  # (while the server stops, starts fail as they may)
                log.error("could not start an executor: %s", exc)
        with self.lock:
            self.starting -= 1
            if ex is not None and not self.retired:
                self.idle.append(ex)
                return
        if ex is not None:
            ex.close()
        self._done(0)  # a retired release's files go when its last start is over too

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
            drained = self.retired and self.busy == 0 and self.starting == 0
        if drained and self.owned:
            shutil.rmtree(self.release.directory, ignore_errors=True)


class EmbeddedBackend(Backend):
    """The Backend of `rabat-kg serve`: a built release, served by executor processes."""

    def __init__(self, release: BuiltRelease, settings: PoolSettings, *, owned: bool = True) -> None:
        self.settings = settings
        self.lanes = {"light": threading.BoundedSemaphore(settings.light),
                      "heavy": threading.BoundedSemaphore(settings.heavy),
                      # user queries may fill all but `reserved` light slots: pages keep those
                      "user": threading.BoundedSemaphore(max(1, settings.light - settings.reserved))}
        self.current = ReleaseExecutors(release, settings, owned=owned)
        self._reloading = threading.Lock()
        self._builds = 0

    def version(self) -> str:
        return self.current.release.version

    @property
    def release(self) -> BuiltRelease:
        return self.current.release

    @property
    def triples(self) -> int:
        return self.current.release.triples

    def close(self) -> None:
        self.current.retire()

    def reload(self, paths: list[Path] | None = None, *, validate: bool = True) -> dict[str, Any]:
        """Build `paths` (default: the served release's sources) and swap to it if it is valid;
        the outcome: ok, changed, version, triples, previous, or detail (why refused). One reload
        at a time: an overlapping one is refused, never given another's outcome."""
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
                built = finish_build(start_build(paths, target, validate=validate))
            except errors.DataError as exc:
                return {"ok": False, "detail": exc.detail}
            old, self.current = self.current, ReleaseExecutors(built, self.settings, owned=True)
            old.retire()  # its busy executors finish their answers, then its files go
            return {"ok": True, "changed": True, "version": built.version, "triples": built.triples,
                    "previous": served.version}
        finally:
            self._reloading.release()

    def _admit(self, lane: str) -> list[str]:
        """Take the slots `lane` starts with: a user query takes a user slot and a light one."""
        wanted = {"heavy": ["heavy"], "user": ["user", "light"]}.get(lane, ["light"])
        held: list[str] = []
        for name in wanted:
            if not self.lanes[name].acquire(timeout=self.settings.admission_wait_s):
                self._free(held)
                raise errors.Overloaded(
                    f"all {name} query slots are busy; retry in a moment",
                    retry_after=RETRY_AFTER_S)
            held.append(name)
        return held

    def _free(self, held: list[str]) -> None:
        for name in held:
            self.lanes[name].release()
        held.clear()

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        s = self.settings
        held = self._admit(lane)
        started = time.monotonic()
        deadline = started + s.timeout_s
        releases = self.current
        try:
            ex = releases.take()
        except BaseException:
            self._free(held)
            raise
        lost = ""  # why the executor cannot be reused
        try:
            ex.conn.send_bytes(json.dumps({"query": query, "fmt": fmt, "form": form,
                                           "max_rows": max_rows}).encode())
            begun = "light" in held and ex.ready(min(s.light_budget_s, s.timeout_s))
            if "light" in held and not begun:
                self._move_to_heavy(ex, held, deadline)
            answer, body = ex.receive(deadline, begun=begun)
        except TimeoutError:
            lost = "ran past the time limit"
            raise errors.QueryTimeout(
                f"the query ran longer than the {s.timeout_s:g} s limit and was stopped; "
                "make it more selective (LIMIT does not bound ORDER BY or GROUP BY)",
                retry_after=RETRY_AFTER_S) from None
        except errors.Overloaded:
            lost = "found no slot for long queries"
            raise
        except (EOFError, OSError, ValueError):
            lost = "stopped while answering"
            raise errors.QueryResourceLimit(
                "the query process stopped before answering: the query exceeded its memory "
                "limit or crashed the engine", retry_after=RETRY_AFTER_S) from None
        except BaseException:
            lost = "was interrupted"
            raise
        finally:
            if lost:
                self._kill(ex, f"{lost} after {time.monotonic() - started:.2f} s")
            ran_long = "light" not in held  # a heavy query, or one moved there
            self._free(held)
            releases.give_back(ex, reusable=not (lost or ran_long))
        if "error" in answer:  # the library error the executor's error frame stands for
            cls = ERRORS_BY_TYPE.get(answer["error"], errors.QueryEvaluationError)
            if cls.status == 503:
                answer["extra"]["retry_after"] = RETRY_AFTER_S
            raise cls(answer["detail"] or "query failed", **answer["extra"])
        return QueryResult(body=body, media_type=answer["media_type"], form=answer["form"],
                           count=answer["count"], truncated=answer["truncated"],
                           elapsed_ms=answer["elapsed_ms"],
                           extra={"version": releases.release.version})

    def _move_to_heavy(self, ex: Executor, held: list[str], deadline: float) -> None:
        """The query outlived the light budget: give its light slots back at once and wait
        (running) for a heavy slot; Overloaded if none frees up within the admission wait. Its
        executor yields the CPU to the light lane from now on (nice 10) and is retired after."""
        self._free(held)
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, ex.pid, HEAVY_NICE)
        waited_until = min(time.monotonic() + self.settings.admission_wait_s, deadline)
        while not self.lanes["heavy"].acquire(timeout=0.05):
            if ex.ready(0):
                return  # it finished meanwhile
            if time.monotonic() >= waited_until:
                raise errors.Overloaded(
                    "the query runs long and every slot for long queries is busy; retry later "
                    "or make it more selective", retry_after=RETRY_AFTER_S)
        held.append("heavy")

    def _kill(self, ex: Executor, why: str) -> None:
        """Kill an executor that cannot be reused, and log how it ended."""
        peak = None
        with contextlib.suppress(OSError):  # peak resident memory, for the log line
            peak = status_kib("VmHWM", ex.pid) // 1024
        if why.startswith("stopped"):  # it died (its pipe closed): wait to read how
            ex.process.join(1.0)
        code = ex.process.exitcode
        with contextlib.suppress(Exception):
            ex.process.kill()  # SIGKILL; give_back reaps it
        log.warning("query stopped: executor %d %s: %s%s", ex.pid, why, EXITS.get(
            code, f"exit {code}") if code is not None else "killed",
            f", peak memory {peak} MB" if peak is not None else "")
