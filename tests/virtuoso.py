"""A throwaway Virtuoso (Debian virtuoso-opensource) for the remote-backend tests.

Started in the foreground with its own database in a temporary folder and a generated
virtuoso.ini on free loopback ports, never the system instance on 1111/8890 (the tests
use only the ports they chose). Loading uses the production path: the Graph Store Protocol
(/sparql-graph-crud-auth) and SPARQL Update (/sparql-auth), both with HTTP digest
authentication as the fresh database's dba account; no grants are changed, so the anonymous
/sparql endpoint the server reads from stays read-only, as it would in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.serverproc import _die_with_parent, free_port

VIRTUOSO = shutil.which("virtuoso-t") or "/usr/bin/virtuoso-t"
# A fresh database's administrator; the server listens on 127.0.0.1 only.
DBA_USER, DBA_PASSWORD = "dba", "dba"

INI = """\
[Database]
DatabaseFile = {dir}/virtuoso.db
ErrorLogFile = {dir}/virtuoso.log
LockFile = {dir}/virtuoso.lck
TransactionFile = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 20
CheckpointInterval = 0
O_DIRECT = 0
CaseMode = 2
MaxStaticCursorRows = 5000
AllowOSCalls = 0
DirsAllowed = {dir}
NumberOfBuffers = 20000
MaxDirtyBuffers = 12000
ThreadsPerQuery = 2
AsyncQueueMaxThreads = 4

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {dir}
MaxClientConnections = 20
ServerThreads = 20
MaxKeepAlives = 20
KeepAliveTimeout = 10
Charset = UTF-8
EnabledGzipContent = 1

[Client]
SQL_PREFETCH_ROWS = 100
SQL_PREFETCH_BYTES = 16000
SQL_QUERY_TIMEOUT = 0
SQL_TXN_TIMEOUT = 0

[SPARQL]
; far above the server's own row cap, so Virtuoso never cuts a result silently
ResultSetMaxRows = 1000000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime = 30
"""


@dataclass
class VirtuosoServer:
    """A running virtuoso-t and where to reach it."""

    dir: Path
    sql_port: int
    http_port: int
    proc: subprocess.Popen[bytes]

    @property
    def sparql_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/sparql"

    @property
    def update_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/sparql-auth"

    @property
    def gsp_url(self) -> str:
        """Virtuoso's SPARQL 1.1 Graph Store Protocol endpoint (digest authentication)."""
        return f"http://127.0.0.1:{self.http_port}/sparql-graph-crud-auth"

    def load_env(self) -> dict[str, str]:
        """Environment for `rabat-kg load --store sparql_url` (see graph.engine.remote)."""
        return {"RABAT_KG_STORE_UPDATE_URL": self.update_url,
                "RABAT_KG_STORE_GSP_URL": self.gsp_url,
                "RABAT_KG_STORE_USER": DBA_USER, "RABAT_KG_STORE_PASSWORD": DBA_PASSWORD}

    def log_text(self) -> str:
        path = self.dir / "virtuoso.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): the store accepts connections but never answers."""
        self.proc.send_signal(signal.SIGSTOP)
        # The stop reaches each thread asynchronously (on a loaded machine a thread can still
        # answer a request sent right after the signal): wait until the kernel shows all stopped.
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
            except FileNotFoundError:  # a thread ended while we looked: look again
                continue
            if all(state == "T" for state in states):
                return
            time.sleep(0.01)
        raise AssertionError(f"Virtuoso (pid {self.proc.pid}) did not stop within 30 s")

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"virtuoso-t exited with {proc.returncode}")
        try:
            if requests.get(url, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"Virtuoso did not answer at {url} within {wait_s:.0f} s")


def start_virtuoso(directory: Path, *, wait_s: float = 120.0,
                   sql_port: int | None = None, http_port: int | None = None) -> VirtuosoServer:
    """Start virtuoso-t in `directory` on free loopback ports and wait until SPARQL answers.

    Passing the ports of a stopped server restarts it on the same database.
    """
    if not shutil.which(VIRTUOSO):
        import pytest

        pytest.skip(f"{VIRTUOSO} is missing: install Debian's virtuoso-opensource "
                    "(or run with RABAT_KG_BACKENDS=oxigraph)")
    if not os.path.exists(VIRTUOSO):
        raise RuntimeError("virtuoso-t not found: apt-get install virtuoso-opensource "
                           "(or run with RABAT_KG_BACKENDS=oxigraph)")
    directory.mkdir(parents=True, exist_ok=True)
    sql_port = sql_port or free_port()
    http_port = http_port or free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(INI.format(dir=directory, sql_port=sql_port, http_port=http_port))
    with (directory / "stdout.log").open("ab") as out:
        proc = subprocess.Popen([VIRTUOSO, "+foreground", "+configfile", str(ini)],
                                cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    server = VirtuosoServer(dir=directory, sql_port=sql_port, http_port=http_port, proc=proc)
    try:
        wait_ready(server.sparql_url, proc, wait_s)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"{exc}\n{server.log_text()[-3000:]}") from None
    return server
