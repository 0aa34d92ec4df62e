"""Where and with what a run happened: date, machine, load, versions, commit."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rabat-kg", "pyoxigraph", "rdflib", "pyshacl", "flask", "werkzeug", "waitress",
            "requests", "psutil")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# A child that echoes what it reads on the socket whose descriptor it is given, until EOF.
_ECHO = ("import socket, sys\ns = socket.socket(fileno=int(sys.argv[1]))\n"
         "while (d := s.recv(64)):\n    s.sendall(d)\n")


def wake_cost(samples: int = 100, idle_s: float = 0.02) -> dict[str, float]:
    """A round trip between two processes over a unix socket: back to back and after idling.

    Every HTTP request to our server crosses three processes (client, server worker, query
    executor), each asleep until the one before it writes. On a VM whose idle CPUs halt, a
    wake-up after a pause costs far more than one right after the last, and the in-process
    floor pays none: this shows the machine's side of "HTTP - floor".
    """
    mine, theirs = socket.socketpair()
    child = subprocess.Popen([sys.executable, "-c", _ECHO, str(theirs.fileno())],
                             stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
    theirs.close()
    try:
        mine.sendall(b"x")
        mine.recv(64)  # the child is up
        out = {"idle_ms": idle_s * 1000}
        for name, pause in (("back_to_back_us", 0.0), ("after_idle_us", idle_s)):
            took = []
            for _ in range(samples):
                if pause:
                    time.sleep(pause)
                started = time.perf_counter()
                mine.sendall(b"x")
                mine.recv(64)
                took.append((time.perf_counter() - started) * 1e6)
            out[name] = statistics.median(took)
        return out
    finally:
        mine.close()
        child.wait(timeout=10)


def cpuidle_driver() -> str:
    """The kernel's cpuidle driver (haltpoll on KVM guests), if it says."""
    try:
        return Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
    except OSError:
        return "unknown"


def describe() -> dict[str, Any]:
    import psutil

    commit = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
        "ram_gb": psutil.virtual_memory().total / 2**30,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {p: version(p) for p in PACKAGES},
        "commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}",
        "loadavg": loadavg(),
        "cpuidle": cpuidle_driver(),
        "wake": wake_cost(),
    }
