"""Start the real server as a subprocess on a free loopback port, and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


# Test clients all come from 127.0.0.1 and send far more than one person would: the
# per-client budget is off unless a test turns it on (the rate-limit probe does).
NO_BUDGET = {"RABAT_KG_BUDGET_SECONDS": "0"}


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test process dies, so no server outlives a killed run."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(proc: subprocess.Popen[bytes], wait_s: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `wait_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running `rabat-kg serve` process."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    backend: str = "oxigraph"

    def stop(self) -> None:
        stop_process(self.proc)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(extra_args: Sequence[str] = (), *, env: dict[str, str] | None = None,
                 log_dir: Path | None = None, wait_s: float = 90.0) -> LiveServer:
    """`rabat-kg serve --port <free>` plus `extra_args`; waits until /health answers 200."""
    port = free_port()
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log = log_dir / f"rabat-kg-serve-{port}.log"
    cmd = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           *extra_args]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, **NO_BUDGET, **(env or {})},
                                preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return LiveServer(url=url, port=port, proc=proc, log=log)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not become healthy in {wait_s}s:\n{log.read_text()}")


# --- helpers for the reliability tests (process tree, CPU, memory, a loopback canary) ---------


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (the server's executors, a release build)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found = [pid]
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.append(child)
                frontier.append(child)
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def busy_processes(root: int, window_s: float = 1.0, threshold: float = 0.2) -> dict[int, float]:
    """Processes of `root`'s tree that used more than `threshold` of a CPU over `window_s`."""
    pids = process_tree(root)
    before = {pid: cpu_seconds([pid]) for pid in pids}
    time.sleep(window_s)
    used = {pid: cpu_seconds([pid]) - before[pid] for pid in pids}
    return {pid: round(sec / window_s, 2) for pid, sec in used.items() if sec / window_s > threshold}


class Canary:
    """An HTTP listener on 127.0.0.1 that records every connection and request it gets.

    It answers like a SPARQL endpoint with a marker value, so a leak shows up both as a hit
    here and as the marker in a response.
    """

    MARKER = "canary-7f3a9c-leaked"

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        hits: list[str] = []
        body = json.dumps({"head": {"vars": ["s"]}, "results": {"bindings": [
            {"s": {"type": "literal", "value": self.MARKER}}]}}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "application/sparql-results+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: object, client_address: object) -> bool:
                hits.append(f"connection from {client_address}")
                return True

        self.hits = hits
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def executor_pids(server: LiveServer) -> list[int]:
    """The server's query executor processes (graph/engine/executor.py)."""
    from graph.engine.executor import PROCESS_NAME

    found = []
    for pid in process_tree(server.proc.pid)[1:]:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == PROCESS_NAME:
                found.append(pid)
        except OSError:
            continue
    return found
