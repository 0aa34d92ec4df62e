"""Give a freshly forked executor its own copy of the store's pages before it answers.

An executor is forked from the zygote and shares the loaded store copy-on-write. Reading the
store writes to it (pyoxigraph updates counters in the structures it walks), so the first
queries of every executor copy each page they touch, one page fault at a time, while a user
waits. Measured at 701k triples with `bench/forkcost.py` (a fork of a process that
bulk-loaded the benchmark's file, running the funder join): the child's first run took
37.5 ms and 6,737 faults against 20.5 ms in the parent (14-17 ms once warm), its tenth still
22.4 ms and 2,473 faults; after `populate()` (0.15 s, 276 MB) the child ran it as fast as the
parent from the first run. A long-lived executor ends up with private copies of what it reads
anyway; this pays that up front, at spawn (before the executor says hello, so during a
worker's warm-up), instead of on the request path.

`madvise(MADV_POPULATE_WRITE)` (Linux 5.14+) breaks the sharing of a whole mapping at once in
the kernel. Only private anonymous mappings that are mostly resident are populated (the heap,
the store's large allocations), not thread stacks or reserved address space that was never
used: an executor holds at most a copy of what the zygote holds resident. That is a copy of
the store per executor (at 701k triples, 307 MB each, eight executors with two workers), so an
executor populates only while the machine has at least RESERVE_FACTOR times that much memory
available; otherwise it shares pages until written, as without this module.
"""

from __future__ import annotations

import ctypes
import errno
import re
import sys
from dataclasses import dataclass

MADV_POPULATE_WRITE = 23  # <linux/mman.h>
MIN_RESIDENT_SHARE = 0.5  # populate a mapping only if at least this much of it is resident
# Populate only with this many times the copy's size available (two workers spawn at once).
RESERVE_FACTOR = 2.0
_MAPPING = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


@dataclass(frozen=True)
class Mapping:
    start: int
    size: int
    resident: int


def private_anonymous_mappings(smaps: bytes) -> list[Mapping]:
    """The writable private anonymous mappings (and the heap) in a /proc/PID/smaps text."""
    found: list[Mapping] = []
    current: tuple[int, int] | None = None
    for line in smaps.splitlines():
        m = _MAPPING.match(line)
        if m:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            wanted = m.group(3) == b"rw-p" and m.group(4).strip() in (b"", b"[heap]")
            current = (lo, hi - lo) if wanted else None
        elif current is not None and line.startswith(b"Rss:"):
            found.append(Mapping(current[0], current[1], int(line.split()[1]) * 1024))
            current = None
    return found


def populate() -> tuple[int, str]:
    """Make this process's mostly resident private memory its own: (bytes populated, note).

    The note is empty when every chosen mapping was populated, else why not (too little memory
    available, an old kernel, not Linux): the executor then works as before, copying pages as
    queries touch them.
    """
    if not sys.platform.startswith("linux"):
        return 0, "not Linux"
    try:
        with open("/proc/self/smaps", "rb") as fh:
            mappings = private_anonymous_mappings(fh.read())
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as exc:
        return 0, f"cannot read the memory map: {exc}"
    chosen = [m for m in mappings if m.resident >= MIN_RESIDENT_SHARE * m.size]
    wanted = sum(m.size for m in chosen)
    available = available_bytes()
    if available is not None and available < RESERVE_FACTOR * wanted:
        return 0, (f"skipped: copying {wanted >> 20} MB needs {RESERVE_FACTOR:g} times that "
                   f"available, the machine has {available >> 20} MB")
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise.restype = ctypes.c_int
    done = 0
    for mapping in chosen:
        if libc.madvise(mapping.start, mapping.size, MADV_POPULATE_WRITE) == 0:
            done += mapping.size
            continue
        code = ctypes.get_errno()
        if code == errno.EINVAL:  # the kernel predates MADV_POPULATE_WRITE (5.14)
            return done, "MADV_POPULATE_WRITE is not supported by this kernel"
        # Anything else (the mapping changed since smaps was read): skip that mapping only.
    return done, ""


def available_bytes() -> int | None:
    """Memory this process may still take: the machine's MemAvailable, or less if its cgroup
    has a limit (a container's). None if neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            headroom = cgroup_headroom(fh.read())
    except OSError:
        headroom = None
    if headroom is not None:
        found.append(headroom)
    return min(found) if found else None


def cgroup_headroom(cgroup: str, root: str = "/sys/fs/cgroup") -> int | None:
    """Limit minus usage of the memory cgroup named in a /proc/PID/cgroup text (v2 or v1),
    None without a limit."""
    for entry in cgroup.splitlines():  # "0::/path" (v2) or "4:memory:/path" (v1)
        _, controllers, path = entry.split(":", 2)
        if controllers == "":
            base, files = f"{root}{path.rstrip('/')}", ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = f"{root}/memory{path.rstrip('/')}"
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        try:
            with open(f"{base}/{files[0]}", "rb") as fh:
                limit = fh.read().strip()
            if limit == b"max" or int(limit) >= 1 << 60:  # v1 says "no limit" with a huge number
                continue
            with open(f"{base}/{files[1]}", "rb") as fh:
                return int(limit) - int(fh.read())
        except (OSError, ValueError):
            continue
    return None
