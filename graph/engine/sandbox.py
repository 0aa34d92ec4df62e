"""The second guard around every query process: no network, no files, bounded memory and CPU.

The intake refuses SERVICE, FROM and updates before a query reaches an engine. This module
makes the executor process unable to do harm even if such a query slips through:

* a seccomp-BPF filter makes ``socket()`` fail with EPERM for every address family except
  AF_UNIX (so Oxigraph's own HTTP client cannot reach anything for ``SERVICE``), and refuses
  ``io_uring_setup`` (a way around ``socket()``) and every syscall of a foreign ABI;
* Landlock (Linux >= 5.13) lets the process read only its store and the interpreter's files,
  write nowhere, and (ABI >= 4) neither bind nor connect TCP ports;
* ``RLIMIT_AS`` caps the address space at its size after the sandbox is set + a budget, and
  ``RLIMIT_CPU`` is set before each query as a deadline the kernel enforces even if no
  parent is left to kill the process.

Every step is independent: where one is unavailable it is logged and the rest applies.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import re
import resource
import struct
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# <linux/prctl.h>, <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
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

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
LIBC.syscall.restype = ctypes.c_long


# Per machine: the audit arch the filter expects, the socket() syscall number.
ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
IO_URING_SETUP = 425  # on both


def _filter_program(machine: str) -> bytes:
    """The BPF program: socket(non-AF_UNIX) and io_uring_setup -> EPERM, foreign ABI -> EPERM."""
    audit_arch, socket_nr = ARCHES[machine]

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        ins(BPF_JEQ_K, 1, 0, audit_arch),  # native ABI: go on
        ins(BPF_RET_K, 0, 0, eperm),  # any foreign ABI (i386 on x86_64): refuse
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if machine == "x86_64":  # refuse the x32 ABI's syscall numbers too
        prog += [ins(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), ins(BPF_RET_K, 0, 0, eperm)]
    prog += [
        ins(BPF_JEQ_K, 0, 1, IO_URING_SETUP),
        ins(BPF_RET_K, 0, 0, eperm),
        ins(BPF_JEQ_K, 0, 3, socket_nr),
        ins(BPF_LD_W_ABS, 0, 0, OFFSET_ARG0),  # low 32 bits of the domain (little-endian)
        ins(BPF_JEQ_K, 1, 0, AF_UNIX),
        ins(BPF_RET_K, 0, 0, eperm),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(prog)


def install_seccomp() -> str:
    """Install the socket filter on this process (inherited by its threads and children);
    "" on success, else the reason it could not be installed."""
    if sys.platform != "linux":
        return f"seccomp needs Linux (this is {sys.platform})"
    if sys.byteorder != "little":
        return "seccomp filter written for little-endian machines"
    if platform.machine() not in ARCHES:
        return f"no seccomp syscall table for {platform.machine()}"
    program = _filter_program(platform.machine())
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buf))  # 8 bytes an instruction
    if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}"
    if LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"prctl(PR_SET_SECCOMP) failed: {os.strerror(ctypes.get_errno())}"
    return ""


def status_kib(key: str, pid: int | str = "self") -> int:
    """A memory figure of /proc/PID/status in KiB (VmSize, VmHWM); OSError if unreadable."""
    found = re.search(rf"^{key}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    if found is None:
        raise OSError(f"no {key} in /proc/{pid}/status")
    return int(found.group(1))


def limit_memory(budget_mb: int) -> int:
    """Cap the address space at its current size + `budget_mb` (soft and hard limit alike: nothing
    in the process can raise it again); return the cap in bytes."""
    cap = (status_kib("VmSize") + budget_mb * 1024) * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def set_cpu_deadline(seconds: float) -> None:
    """Let the kernel stop this process after `seconds` more CPU time (SIGXCPU): a backstop for
    the parent's wall-clock kill that holds even if the parent died."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(time.process_time() + seconds) + 1  # (the CPU time of all its threads so far)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def readable_roots(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Where a query process may still read: its store, the interpreter and our own code."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(__file__).resolve().parent.parent.parent), *extra}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    roots.discard("/")
    return tuple(sorted({os.path.realpath(r) for r in roots if os.path.exists(r)}))


# <linux/landlock.h>
LANDLOCK_SYSCALLS = (444, 445, 446)  # create_ruleset, add_rule, restrict_self: on every arch
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_READ_FILE, FS_READ_DIR = 1, 4, 8
FS_ALL_V1 = (1 << 13) - 1  # execute .. make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def install_landlock(readable: Iterable[str]) -> tuple[int, str]:
    """Allow reading only beneath `readable`, writing nowhere, no TCP (where the ABI has it);
    (ABI applied, "") or (0, the reason it was not)."""
    if sys.platform != "linux" or platform.machine() not in ARCHES:
        return 0, f"no Landlock on {sys.platform}/{platform.machine()}"
    create, add_rule, restrict = LANDLOCK_SYSCALLS
    abi = LIBC.syscall(create, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        return 0, f"Landlock unavailable: {os.strerror(ctypes.get_errno())}"
    handled = FS_ALL_V1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) | (
        FS_IOCTL_DEV if abi >= 5 else 0)
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = LIBC.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        return 0, f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    try:
        for root in readable:
            fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            try:
                access = FS_READ_FILE | FS_EXECUTE | (FS_READ_DIR if os.path.isdir(root) else 0)
                rule = _PathBeneath(access, fd)
                if LIBC.syscall(add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                                ctypes.byref(rule), 0) != 0:
                    return 0, f"landlock_add_rule({root}) failed: {os.strerror(ctypes.get_errno())}"
            finally:
                os.close(fd)
        if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            return 0, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}"
        if LIBC.syscall(restrict, ruleset, 0) != 0:
            return 0, f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return int(abi), ""


def apply(memory_mb: int | None, *, seccomp: bool = True,
          readable: Iterable[str] | None = None) -> dict[str, Any]:
    """Apply every guard this machine supports, in the order that keeps them effective;
    `readable`: the paths the process may still read (None: no file restriction). Returns what
    was applied, for the executor's hello: seccomp, landlock (the ABI, 0 if none),
    memory_limit_bytes and the reasons the others were not."""
    report: dict[str, Any] = {"seccomp": False, "landlock": 0,
                              "memory_limit_bytes": limit_memory(memory_mb) if memory_mb else None}
    reasons = []
    if readable is not None:
        report["landlock"], reason = install_landlock(readable)
        reasons.append(reason)
    if seccomp:
        reason = install_seccomp()
        report["seccomp"] = not reason
        reasons.append(reason)
    report["reason"] = "; ".join(reason for reason in reasons if reason)
    return report
