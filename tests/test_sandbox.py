"""The query sandbox, in real forked processes: no network, no files, bounded memory and CPU.

Each probe runs in a child process (the sandbox cannot be undone) and reports back through a
pipe; the canary is a TCP listener on loopback that records any connection.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyoxigraph as ox
import pytest

from graph.engine import sandbox


class Canary:
    """A loopback listener that counts connections (and what they sent)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(4096))
            except OSError:
                self.hits.append(b"")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture()
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


def in_child(probe: Callable[[], dict[str, Any]], *, timeout_s: float = 20) -> dict[str, Any]:
    """Run `probe` in a forked child; return its dict, or how the child died."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            out = json.dumps(probe()).encode()
        except BaseException as exc:
            out = json.dumps({"crashed": f"{type(exc).__name__}: {exc}"}).encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout_s
    chunks = []
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("probe child did not finish")
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return json.loads(b"".join(chunks) or b"{}")


def attempt(fn: Callable[[], object]) -> str:
    """'ok' or the exception's class name."""
    try:
        fn()
        return "ok"
    except BaseException as exc:
        return type(exc).__name__


SERVICE_QUERY = "SELECT * WHERE {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}"


def test_engine_reaches_the_canary_without_the_sandbox(canary: Canary) -> None:
    """Control: proves the SERVICE probe below can fail (Oxigraph does make the request)."""

    def probe() -> dict[str, Any]:
        return {"query": attempt(lambda: list(ox.Store().query(
            SERVICE_QUERY.format(port=canary.port))))}

    in_child(probe)
    time.sleep(0.3)
    assert canary.hits, "without the sandbox Oxigraph should have called the canary"


def test_service_cannot_reach_the_network_in_the_sandbox(canary: Canary) -> None:
    def probe() -> dict[str, Any]:
        report = sandbox.apply(256)
        return {"seccomp": report["seccomp"], "query": attempt(lambda: list(ox.Store().query(
            SERVICE_QUERY.format(port=canary.port))))}

    out = in_child(probe)
    time.sleep(0.3)
    assert canary.hits == []
    assert out["seccomp"] is True
    assert out["query"] == "PermissionError"


def test_seccomp_blocks_every_socket_family_but_unix() -> None:
    def probe() -> dict[str, Any]:
        reason = sandbox.install_seccomp()  # the filter alone
        libc = ctypes.CDLL(None, use_errno=True)
        return {
            "reason": reason,
            "inet": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
            "inet_udp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
            "inet6": attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)),
            "netlink": attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
            "unix": attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()),
            "socketpair": attempt(lambda: [s.close() for s in socket.socketpair()]),
            # io_uring_setup(1, NULL): EFAULT if allowed (bad pointer), EPERM if filtered.
            "io_uring_errno": (libc.syscall(425, 1, None), ctypes.get_errno())[1],
        }

    out = in_child(probe)
    assert out["reason"] == ""
    assert out["inet"] == out["inet_udp"] == out["inet6"] == out["netlink"] == "PermissionError"
    assert out["unix"] == "ok" and out["socketpair"] == "ok"
    if platform.machine() in sandbox.ARCHES:
        assert out["io_uring_errno"] == 1  # EPERM


def test_landlock_refuses_files_outside_the_store_and_every_write(canary: Canary, tmp_path) -> None:
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / "data").write_text("readable")

    def probe() -> dict[str, Any]:
        abi, reason = sandbox.install_landlock(sandbox.readable_roots([str(store_dir)]))
        return {
            "abi": abi, "reason": reason,
            "store": attempt(lambda: open(store_dir / "data").read()),
            "passwd": attempt(lambda: open("/etc/passwd").read()),
            "os_open": attempt(lambda: os.open("/etc/hostname", os.O_RDONLY)),
            "write_store": attempt(lambda: open(store_dir / "new", "w")),
            "write_tmp": attempt(lambda: open("/tmp/rabat-kg-sandbox-probe", "w")),
            "own_code": attempt(lambda: open(sandbox.__file__).read()),
            "connect": attempt(lambda: socket.create_connection(("127.0.0.1", canary.port), 1)),
        }

    out = in_child(probe)
    time.sleep(0.2)
    if out["abi"] == 0:
        pytest.skip(f"Landlock is not available on this kernel: {out['reason']}")
    assert out["store"] == out["own_code"] == "ok"
    assert out["passwd"] == out["os_open"] == "PermissionError"
    assert out["write_store"] == out["write_tmp"] == "PermissionError"
    if out["abi"] >= 4:
        assert out["connect"] == "PermissionError"
        assert canary.hits == []
    assert not os.path.exists("/tmp/rabat-kg-sandbox-probe")


def test_memory_cap_turns_a_big_allocation_into_memory_error() -> None:
    def probe() -> dict[str, Any]:
        cap = sandbox.limit_memory(64)
        small = attempt(lambda: bytearray(16 * 1024 * 1024))
        big = attempt(lambda: bytearray(256 * 1024 * 1024))
        return {"cap": cap, "small": small, "big": big}

    out = in_child(probe)
    assert out["small"] == "ok"
    assert out["big"] == "MemoryError"


def test_cpu_deadline_stops_a_process_nobody_kills() -> None:
    def probe() -> dict[str, Any]:
        sandbox.set_cpu_deadline(0.5)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            pass
        return {"finished": True}

    started = time.monotonic()
    out = in_child(probe)
    assert out.get("signal") in (signal.SIGXCPU, signal.SIGKILL)
    assert time.monotonic() - started < 5


def test_a_real_executor_cannot_reach_the_canary(canary: Canary, tmp_path) -> None:
    """The same probe through the pool: a query process on a built release, sandboxed."""
    from graph import errors
    from graph.engine.pool import EmbeddedBackend, PoolSettings
    from tests.test_engine import built

    backend = EmbeddedBackend(built(tmp_path, 10), PoolSettings(warm=1, memory_mb=256))
    try:
        hello = backend.current.idle[0].hello
        assert hello["sandbox"]["seccomp"] is True
        assert hello["sandbox"]["memory_limit_bytes"] > 0
        with pytest.raises(errors.KgError):
            backend.execute(SERVICE_QUERY.format(port=canary.port), fmt="json")
        time.sleep(0.3)
        assert canary.hits == []
        # The executor is still usable after the refusal.
        assert backend.execute("ASK { ?s ?p ?o }", fmt="json").count == 1
    finally:
        backend.close()
