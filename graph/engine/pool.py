"""The pooled backend: each server worker runs queries in executor processes of the zygote.

Two lanes, each a bounded set of executor connections: "heavy" for user SPARQL and "light"
for pages, stored queries and ASK, so heavy queries cannot starve page views. A request
waits a short while for a free executor of its lane, else it is refused with 503
(`Overloaded`, retry later). The worker waits for the answer up to the time limit; past it
the executor is killed (SIGKILL through its pidfd: the CPU and memory really come back) and
the request gets 503 (`QueryTimeout`). An executor that dies while answering (its memory
cap, a crash) gives 503 (`QueryResourceLimit`). Replacements are forked lazily.

The answer is read completely before it is returned, so nothing is ever sent truncated. The
executor counts and cuts the rows as the engine writes them (graph.engine.rows) and hands the
answer over whole: in its frame, or from 64 KB in its shared `AnswerBuffer` (graph.engine.wire).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph import errors
from graph.engine.base import Lane, QueryResult, Row, rows_from_json
from graph.engine.wire import AnswerBuffer, PeerClosed, recv_fd, recv_msg, send_msg
from graph.engine.zygote import CURRENT_NAME, SOCKET_NAME, request

log = logging.getLogger("rabat_kg.pool")

ERRORS_BY_TYPE: dict[str, type[errors.KgError]] = {
    cls.type: cls for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.KgError) and cls is not errors.KgError
}


_NOTED: set[str] = set()  # kinds of prefault notes this process has logged


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and limits of one worker's pool."""

    heavy: int = 2
    light: int = 2
    timeout_s: float = 10.0
    admission_wait_s: float = 0.75
    spawn_timeout_s: float = 15.0
    max_uses: int = 1000  # recycle an executor after this many queries
    retry_after_s: int = 2


class Executor:
    """One connection to one executor process (used by one thread at a time)."""

    def __init__(self, sock: socket.socket, pidfd: int | None, hello: dict[str, Any],
                 answers: AnswerBuffer | None = None) -> None:
        self.sock = sock
        self.pidfd = pidfd
        self.answers = answers  # where the executor leaves large answers (wire.AnswerBuffer)
        self.pid = int(hello["pid"])
        self.version = str(hello["version"])
        self.hello = hello
        self.uses = 0

    def call(self, header: dict[str, Any], deadline: float) -> tuple[dict[str, Any], bytes]:
        """Send a request and return the answer: its frame's header, and its body (from the
        answer buffer when the frame says so)."""
        self.uses += 1
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        send_msg(self.sock, header)
        answer, body = recv_msg(self.sock, deadline=deadline)
        if "shared" in answer:
            if self.answers is None:
                raise ValueError("an answer in a buffer this executor never shared")
            body = self.answers.read(answer["shared"])
        return answer, body

    def alive(self) -> bool:
        """False once the process has exited (its pidfd turns readable)."""
        if self.pidfd is None:
            try:
                os.kill(self.pid, 0)
                return True
            except ProcessLookupError:
                return False
        return not select.select([self.pidfd], [], [], 0)[0]

    def kill(self, wait_s: float = 2.0) -> bool:
        """SIGKILL the process and wait until it is gone; True if seen gone."""
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        gone = False
        if self.pidfd is not None:
            gone = bool(select.select([self.pidfd], [], [], wait_s)[0])
        self.close()
        return gone

    def close(self) -> None:
        try:
            self.sock.close()
            if self.answers is not None:
                self.answers.close()
                self.answers = None
        finally:
            if self.pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.pidfd)
                self.pidfd = None


class LaneSlots:
    """A bounded set of executors for one lane: a semaphore plus the idle ones."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.slots = threading.BoundedSemaphore(size)
        self.idle: list[Executor] = []
        self.lock = threading.Lock()

    def take_idle(self, version: str) -> Executor | None:
        with self.lock:
            while self.idle:
                ex = self.idle.pop()
                if ex.version == version and ex.alive():
                    return ex
                ex.close()
        return None

    def put_idle(self, ex: Executor) -> None:
        with self.lock:
            self.idle.append(ex)

    def close_all(self) -> None:
        with self.lock:
            for ex in self.idle:
                ex.close()
            self.idle.clear()


class PooledBackend:
    """Backend for a server worker: queries run in sandboxed executors forked by the zygote."""

    def __init__(self, run_dir: str | Path, settings: PoolSettings | None = None) -> None:
        self.run_dir = Path(run_dir)
        self._current_path = str(self.run_dir / CURRENT_NAME)  # stat()ed on every request
        self.settings = settings or PoolSettings()
        self._pid = -1
        self._stamp: tuple[int, int, int] | None = None
        self._version = ""
        self._stamp_lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        """Fresh lanes for this process (a fork inherits none of its parent's executors)."""
        self._pid = os.getpid()
        self.lanes = {"heavy": LaneSlots("heavy", self.settings.heavy),
                      "light": LaneSlots("light", self.settings.light)}

    def _lane(self, lane: str) -> LaneSlots:
        if os.getpid() != self._pid:
            self._reset()
        return self.lanes["light" if lane == "light" else "heavy"]

    # Backend interface.

    def version(self) -> str:
        """The release the zygote serves now; one stat() per call, reread when it changes."""
        try:
            st = os.stat(self._current_path)
        except FileNotFoundError:
            raise errors.BackendUnavailable("the query engine has no release loaded") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            import json

            with self._stamp_lock:
                with open(self._current_path) as fh:
                    self._version = json.load(fh)["version"]
                self._stamp = stamp
        return self._version

    def execute(self, query: str, *, fmt: str, lane: Lane = "heavy",
                max_rows: int | None = None) -> QueryResult:
        header, body = self._run(lane, {"op": "query", "query": query, "fmt": fmt,
                                        "max_rows": max_rows, "timeout_s": self.settings.timeout_s})
        return QueryResult(body=body, media_type=header["media_type"], form=header["form"],
                           count=header["count"], truncated=header["truncated"],
                           elapsed_ms=header["elapsed_ms"],
                           extra={"version": header["version"], "executor": header["pid"],
                                  "shared": "shared" in header})

    def select(self, query: str, *, lane: Lane = "light") -> list[Row]:
        return rows_from_json(self.execute(query, fmt="json", lane=lane).body)

    def close(self) -> None:
        if os.getpid() == self._pid:
            for slots in self.lanes.values():
                slots.close_all()

    # Pool.

    def warm_up(self) -> None:
        """Fork every executor this worker may use and run a query on each, before traffic."""
        for name in ("light", "heavy"):
            slots = self._lane(name)
            taken: list[Executor] = []
            try:
                for _ in range(slots.size):
                    taken.append(self._checkout(slots))
            finally:
                for ex in taken:
                    try:
                        ex.call({"op": "ping"}, time.monotonic() + self.settings.spawn_timeout_s)
                    except (OSError, ValueError):
                        ex.kill(wait_s=0.5)
                        self._release(slots)
                    else:
                        self._checkin(slots, ex, self._current_or(ex.version))

    def _run(self, lane: str, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        slots = self._lane(lane)
        ex = self._checkout(slots)
        limit = self.settings.timeout_s
        try:
            answer, body = ex.call(header, time.monotonic() + limit)
        except TimeoutError:
            gone = ex.kill()
            self._release(slots)
            log.warning("query stopped after %.1f s (executor %d killed%s)", limit, ex.pid,
                        "" if gone else ", exit not yet seen")
            raise errors.QueryTimeout(
                f"the query ran longer than the {limit:g} s limit and was stopped; "
                "make it more selective (LIMIT does not bound ORDER BY or GROUP BY)",
                retry_after=self.settings.retry_after_s) from None
        except (PeerClosed, OSError, ValueError):
            ex.kill(wait_s=0.5)
            self._release(slots)
            if not self._engine_alive():
                raise errors.BackendUnavailable(
                    "the query engine stopped while answering; it is being restarted",
                    retry_after=self.settings.retry_after_s) from None
            raise errors.QueryResourceLimit(
                "the query process stopped before answering: the query exceeded its memory "
                "limit or crashed the engine", retry_after=self.settings.retry_after_s) from None
        except BaseException:
            ex.kill(wait_s=0.5)
            self._release(slots)
            raise
        if "error" in answer:
            if answer["error"] == errors.QueryResourceLimit.type:
                ex.close()  # it exits after a MemoryError
                self._release(slots)
            else:
                self._checkin(slots, ex, self._current_or(ex.version))
            raise error_from(answer, self.settings.retry_after_s)
        answer["version"], answer["pid"] = ex.version, ex.pid
        self._checkin(slots, ex, self._current_or(ex.version))
        return answer, body

    def _current_or(self, default: str) -> str:
        try:
            return self.version()
        except errors.KgError:
            return default

    def _checkout(self, slots: LaneSlots) -> Executor:
        if not slots.slots.acquire(timeout=self.settings.admission_wait_s):
            raise errors.Overloaded(
                f"all {slots.size} {slots.name} query slots of this server process are busy; "
                "retry in a moment", retry_after=self.settings.retry_after_s)
        try:
            return slots.take_idle(self.version()) or self._spawn(slots.name)
        except BaseException:
            slots.slots.release()
            raise

    def _checkin(self, slots: LaneSlots, ex: Executor, version: str) -> None:
        try:
            if ex.version == version and ex.uses < self.settings.max_uses:
                slots.put_idle(ex)
            else:
                ex.close()  # retired: an older release, or used enough
        finally:
            slots.slots.release()

    def _release(self, slots: LaneSlots) -> None:
        slots.slots.release()

    def _engine_alive(self) -> bool:
        """Whether the zygote answers (asked only after an executor died mid-query)."""
        try:
            return bool(request(self.run_dir, {"op": "status"}, timeout_s=2).get("ok"))
        except (OSError, ValueError):
            return False

    def _spawn(self, lane: str) -> Executor:
        """Ask the zygote for a new executor of `lane` (a fork: a few ms)."""
        deadline = time.monotonic() + self.settings.spawn_timeout_s
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        pidfd: int | None = None
        answers: AnswerBuffer | None = None
        try:
            sock.settimeout(self.settings.spawn_timeout_s)
            sock.connect(str(self.run_dir / SOCKET_NAME))
            send_msg(sock, {"op": "executor", "lane": lane})
            pidfd = recv_fd(sock, deadline=deadline)
            answer_fd = recv_fd(sock, deadline=deadline)
            answers = AnswerBuffer.attach(answer_fd) if answer_fd is not None else None
            hello, _ = recv_msg(sock, deadline=deadline)
        except (OSError, ValueError) as exc:
            sock.close()
            if answers is not None:
                answers.close()
            if pidfd is not None:
                os.close(pidfd)
            raise errors.BackendUnavailable(
                f"the query engine is not answering ({exc.__class__.__name__}); retry shortly",
                retry_after=self.settings.retry_after_s) from None
        note = str(hello.get("prefault_note") or "off")
        kind = note.split(":")[0]
        if kind != "off" and kind not in _NOTED:
            _NOTED.add(kind)  # once per worker and kind: the next executors say the same
            log.warning("executor %s shares the store's pages until written: %s",
                        hello.get("pid"), note)
        return Executor(sock, pidfd, hello, answers)


def error_from(answer: dict[str, Any], retry_after: int) -> errors.KgError:
    """The library error an executor's error frame stands for."""
    cls = ERRORS_BY_TYPE.get(str(answer.get("error")), errors.KgError)
    detail = str(answer.get("detail") or "query failed")
    if cls is errors.QuerySyntaxError:
        return errors.QuerySyntaxError(detail, line=answer.get("line"), column=answer.get("column"))
    if cls.status == 503:
        return cls(detail, retry_after=retry_after)
    return cls(detail)
