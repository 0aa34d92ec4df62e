"""The C allocator's settings for the processes that move large answers (workers, executors).

glibc serves every allocation above its mmap threshold (128 KB at start, raised as big blocks
are freed) with fresh pages from the kernel and gives them back on free, so a process that
receives or writes an 800 KB answer per request page-faults on all of it each time: measured
on the 2,160-row funder join at 701k triples, 325 faults and 1.2 ms of system time per query
in the worker that reads it, 0.2 ms with the settings below (`bench/README.md`). Keeping
blocks up to `MMAP_THRESHOLD` in the heap, and freed memory up to `TRIM_THRESHOLD` in the
process, lets the next answer reuse the same pages. What a process keeps is bounded by the
largest answers it has held (results are capped by rows), so memory stays near its peak.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed large blocks instead of unmapping them (False: not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's own libc
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc's own
    # adjustment of both thresholds, which is what keeps them where they are set
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
