"""The two servers under test, started as subprocesses on free loopback ports.

Ours is `rabat-kg serve --data FILE` (started as the tests start it); the peer is
rdflib-endpoint on the same file. Each is timed from launch to its first answer, its
memory is sampled over its whole process tree (while it starts, then between measurements),
and it is always stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from bench import generate
from bench.mix import query_mix
from graph.paths import ONTOLOGY_FILE
from graph.release import parse_file
from tests.serverproc import ROOT, free_port, stop_process

PEER_VENV = Path(os.environ.get("RABAT_KG_PEER_VENV", "/tmp/peer-venv"))


class MemorySampler(threading.Thread):
    """Peak RSS and PSS of a process and its children.

    Sampled every `interval` seconds while the server starts (until `stop`), then only when
    `sample` is called, between measurements: a sample reads the memory maps of every process
    of the tree, CPU time a server being measured would lose on a small machine.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.last_pss = 0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            pids = [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.Error:
            return
        rss = pss = 0
        for pid in pids:
            try:
                kb = rollup_kb(pid)
            except OSError:  # exited meanwhile
                continue
            rss += kb.get("Rss", 0) * 1024
            pss += kb.get("Pss", 0) * 1024
        with self._lock:
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.last_pss = pss

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """End the periodic sampling (`sample` still works)."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)


def rollup_kb(pid: int) -> dict[str, int]:
    """The kB figures of /proc/PID/smaps_rollup (Rss, Pss, ...): the kernel sums the maps."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[name] = int(fields[0])
    return out


@dataclass
class Running:
    """A server under test."""

    name: str
    url: str  # base URL
    endpoint: str  # path of the SPARQL endpoint
    proc: subprocess.Popen[bytes]
    log: Path
    ready_s: float
    memory: MemorySampler
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.memory.stop()
        stop_process(self.proc)

    def log_tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def wait_ready(proc: subprocess.Popen[bytes], urls: Sequence[str], log: Path,
               timeout: float) -> tuple[float, str]:
    """Seconds until one of `urls` answers 200, and which; raises if the process dies or hangs."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"exited with {proc.returncode}:\n{tail}")
        for url in urls:
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return time.monotonic() - started, url
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"not ready after {timeout:.0f} s (polled {', '.join(urls)})")


def launch(name: str, cmd: Sequence[str], probes: dict[str, str], port: int, log_dir: Path,
           timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Running:
    """Start `cmd`, sample its memory, and wait until one of `probes` answers.

    `probes` maps a readiness path to the SPARQL endpoint path it reveals.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "RABAT_KG_BUDGET_SECONDS": "0", **(env or {})})
    memory = MemorySampler(proc.pid)
    memory.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ready, answered = wait_ready(proc, [url + p for p in probes], log, timeout)
        memory.stop()  # from here on, sampled between measurements only
    except BaseException:
        memory.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return Running(name=name, url=url, endpoint=probes[answered[len(url):]], proc=proc, log=log,
                   ready_s=ready, memory=memory)


def start_ours(data: Path, log_dir: Path, timeout: float, tree: Path = ROOT,
               env: dict[str, str] | None = None) -> Running:
    """`rabat-kg serve --data FILE` on a free port, ready when /health answers; the code of
    the checkout `tree` (this one by default), with `env` added to its environment."""
    port = free_port()
    cmd = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data", str(data)]
    return launch("rabat-kg", cmd, {"/health": "/sparql"}, port, log_dir, timeout, env=env, cwd=tree)


def peer_command() -> list[str]:
    """How to run rdflib-endpoint: this Python if it has it, else the venv under /tmp."""
    probe = subprocess.run([sys.executable, "-c", "import rdflib_endpoint, uvicorn"],
                           capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "rdflib_endpoint"]
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "rdflib-endpoint", "uvicorn"],
                       check=True)
    return [str(python), "-m", "rdflib_endpoint"]


def start_peer(data: Path, log_dir: Path, timeout: float) -> Running:
    """rdflib-endpoint (default rdflib memory store) on the same file, ready on its first answer.

    Its CLI serves the endpoint at `/` in 0.6 and at `/sparql` in older releases: both are tried.
    """
    port = free_port()
    cmd = [*peer_command(), "serve", str(data), "--host", "127.0.0.1", "--port", str(port)]
    ask = "?" + urllib.parse.urlencode({"query": "ASK { ?s ?p ?o }"})
    return launch("rdflib-endpoint", cmd, {f"/{ask}": "/", f"/sparql{ask}": "/sparql"}, port,
                  log_dir, timeout)


def peer_version() -> str:
    cmd = peer_command()
    out = subprocess.run([cmd[0], "-c", "import importlib.metadata as m; "
                          "print(m.version('rdflib-endpoint'), m.version('rdflib'))"],
                         capture_output=True, text=True)
    parts = out.stdout.split()
    return f"rdflib-endpoint {parts[0]} (rdflib {parts[1]})" if len(parts) == 2 else "unknown"


def graph_files(workdir: Path, activities: int, seed: int = 1) -> tuple[Path, Path]:
    """(data for our server, the same with the ontology for the peer), made once per size."""
    data = workdir / f"map-{activities}-seed{seed}.nt"
    full = workdir / f"map-{activities}-seed{seed}-with-ontology.nt"
    if not data.exists():
        generate.write(activities, data, seed=seed)
    ontology = "".join(f"{t} .\n" for t in parse_file(ONTOLOGY_FILE))
    full.write_text(ontology + data.read_text(encoding="utf-8"), encoding="utf-8")
    return data, full


def warm(server: Running, activities: int, rounds: int = 3) -> None:
    """The same requests to each server before its memory is read: every query of the mix."""
    for qt in query_mix(activities):
        for i in range(rounds):
            requests.get(server.url + server.endpoint, params={"query": qt.text(i, i)},
                         headers={"Accept": qt.accept}, timeout=600)


def pss_mb(server: Running) -> float:
    server.memory.sample()
    return server.memory.last_pss / 2**20
