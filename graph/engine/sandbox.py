"""The second guard around every query process: no network, no files, bounded memory and CPU.

The intake refuses SERVICE, FROM and updates before a query reaches an engine. This module
makes the executor process unable to do harm even if such a query slips through:

* a seccomp-BPF filter makes ``socket()`` fail with EPERM for every address family except
  AF_UNIX (so Oxigraph's own HTTP client cannot reach anything for ``SERVICE``), and refuses
  ``io_uring_setup`` (a way around ``socket()``) and every syscall of a foreign ABI;
* a Python audit hook refuses ``open`` outside the interpreter's own read-only files, and
  connecting, resolving names, spawning programs and loading libraries;
* ``RLIMIT_AS`` caps the address space at its size after the sandbox is set + a budget, and
  ``RLIMIT_CPU`` is set before each query as a deadline the kernel enforces even if no
  parent is left to kill the process.

Every step is independent: where seccomp is unavailable it is logged and the rest applies.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import resource
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# <linux/prctl.h>, <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_GET_SECCOMP = 21
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
AF_UNIX = 1
X32_SYSCALL_BIT = 0x40000000
# seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16


@dataclass(frozen=True)
class Arch:
    """Syscall numbers the filter needs, per machine."""

    audit_arch: int
    socket: int
    io_uring_setup: int
    x32: bool = False


ARCHES = {
    "x86_64": Arch(audit_arch=0xC000003E, socket=41, io_uring_setup=425, x32=True),
    "aarch64": Arch(audit_arch=0xC00000B7, socket=198, io_uring_setup=425),
}

# Audit events refused in a query process (https://docs.python.org/3/library/audit_events.html).
REFUSED_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request", "http.client.connect",
    "ftplib.connect", "smtplib.connect", "subprocess.Popen", "os.system", "os.exec",
    "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.dlopen",
    "ctypes.call_function", "webbrowser.open", "shutil.copyfile", "os.startfile",
})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class SandboxViolation(PermissionError):
    """Something in a query process tried to leave the sandbox."""


@dataclass
class SandboxReport:
    """What was applied, for the executor's hello message and the logs."""

    seccomp: bool = False
    audit_hook: bool = False
    memory_limit_bytes: int | None = None
    reason: str = ""


def _filter_program(arch: Arch) -> bytes:
    """The BPF program: socket(non-AF_UNIX) and io_uring_setup -> EPERM, foreign ABI -> EPERM."""

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        ins(BPF_JEQ_K, 1, 0, arch.audit_arch),  # native ABI: go on
        ins(BPF_RET_K, 0, 0, eperm),  # any foreign ABI (i386 on x86_64): refuse
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if arch.x32:
        prog += [ins(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), ins(BPF_RET_K, 0, 0, eperm)]
    prog += [
        ins(BPF_JEQ_K, 0, 1, arch.io_uring_setup),
        ins(BPF_RET_K, 0, 0, eperm),
        ins(BPF_JEQ_K, 0, 3, arch.socket),
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_ARG0),  # low 32 bits of the domain (little-endian)
        ins(BPF_JEQ_K, 1, 0, AF_UNIX),
        ins(BPF_RET_K, 0, 0, eperm),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(prog)


def install_seccomp() -> str:
    """Install the socket filter on this process (inherited by its threads and children).

    Returns "" on success, else the reason it could not be installed.
    """
    if sys.platform != "linux":
        return f"seccomp needs Linux (this is {sys.platform})"
    if sys.byteorder != "little":
        return "seccomp filter written for little-endian machines"
    arch = ARCHES.get(platform.machine())
    if arch is None:
        return f"no seccomp syscall table for {platform.machine()}"
    program = _filter_program(arch)
    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"prctl(PR_SET_SECCOMP) failed: {os.strerror(ctypes.get_errno())}"
    return ""


def readable_roots() -> tuple[str, ...]:
    """Where a query process may still read: the interpreter's and our own code, read-only."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(__file__).resolve().parent.parent.parent)}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    roots.discard("/")
    return tuple(sorted(os.path.realpath(r) for r in roots))


def _audit_hook(roots: tuple[str, ...]) -> Any:
    prefixes = tuple(r.rstrip("/") + "/" for r in roots)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            if path is None or isinstance(path, int):
                return  # an already-open descriptor
            text = os.fsdecode(path) if isinstance(path, (str, bytes)) else str(path)
            real = os.path.realpath(text)
            writing = bool(isinstance(flags, int) and flags & WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+"))
            if writing or not real.startswith(prefixes):
                raise SandboxViolation(f"file access refused in a query process: {text}")
        elif event in REFUSED_EVENTS:
            raise SandboxViolation(f"{event} refused in a query process")

    return hook


def install_audit_hook(roots: Iterable[str] | None = None) -> None:
    """Refuse file and network access from Python code (irreversible for this process)."""
    sys.addaudithook(_audit_hook(tuple(roots) if roots is not None else readable_roots()))


def address_space_bytes() -> int:
    """Current virtual memory size of this process (VmSize)."""
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def limit_memory(budget_mb: int) -> int:
    """Cap the address space at its current size + `budget_mb`; return the cap in bytes.

    Soft and hard limit alike, so nothing in the process can raise it again.
    """
    cap = address_space_bytes() + budget_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def set_cpu_deadline(seconds: float) -> None:
    """Let the kernel stop this process after `seconds` more CPU time (SIGXCPU).

    A backstop for the parent's wall-clock kill: it holds even if the parent died.
    """
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(spent + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def apply(memory_mb: int | None, *, seccomp: bool = True, audit: bool = True) -> SandboxReport:
    """Apply every guard this machine supports, in the order that keeps them effective."""
    report = SandboxReport()
    if memory_mb:
        report.memory_limit_bytes = limit_memory(memory_mb)
    if seccomp:
        reason = install_seccomp()
        report.seccomp = not reason
        if reason:
            report.reason = reason
            log.warning("query sandbox: seccomp unavailable (%s); audit hook and limits still apply",
                        reason)
    if audit:
        install_audit_hook()
        report.audit_hook = True
    return report
