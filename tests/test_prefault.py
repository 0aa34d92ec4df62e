"""Executors copy the store's pages at spawn (graph/engine/prefault.py), with real forks.

The mechanism is checked on its own (a forked child writing to memory it shares with its
parent: a fault per page, or none once populated) and in the executors the zygote forks (their
hello says how much they populated; off when the setting says so).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import pytest

from graph.engine import prefault
from graph.engine.pool import PooledBackend, PoolSettings
from graph.engine.zygote import Settings, ZygoteProcess
from tests.test_engine_pool import make_release
from tests.test_sandbox import in_child

PAGE = os.sysconf("SC_PAGE_SIZE")
SMAPS = b"""\
55d0c0000000-55d0c2000000 rw-p 00000000 00:00 0                          [heap]
Size:              32768 kB
Rss:               32000 kB
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
Size:               4096 kB
Rss:                4096 kB
7f0000400000-7f0000800000 r--p 00000000 08:01 1234                       /usr/lib/libfoo.so
Size:               4096 kB
Rss:                4096 kB
7f0000800000-7f0000900000 rw-p 00001000 08:01 1234                       /usr/lib/libfoo.so
Size:               1024 kB
Rss:                1024 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  20 kB
"""


def kernel_supports_populate() -> bool:
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (5, 14)


def test_only_private_anonymous_mappings_and_the_heap_are_chosen() -> None:
    chosen = prefault.private_anonymous_mappings(SMAPS)
    assert [(m.start, m.size, m.resident) for m in chosen] == [
        (0x55D0C0000000, 32 << 20, 32000 << 10),
        (0x7F0000000000, 4 << 20, 4 << 20),
    ]


def faults_writing(buf: bytearray, *, populate_first: bool) -> dict[str, Any]:
    """In a child: minor faults while writing one byte per page of `buf` (shared with us)."""

    def probe() -> dict[str, Any]:
        populated, note = prefault.populate() if populate_first else (0, "")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for i in range(0, len(buf), PAGE):
            buf[i] = 2
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return {"faults": after - before, "populated": populated, "note": note}

    return in_child(probe)


@pytest.mark.skipif(not kernel_supports_populate(), reason="MADV_POPULATE_WRITE needs Linux 5.14")
def test_a_populated_child_writes_shared_memory_without_faults() -> None:
    pages = 8192  # 32 MB at 4 KB pages, resident in this process (filled, not just reserved)
    buf = bytearray(b"\x01") * (pages * PAGE)
    plain = faults_writing(buf, populate_first=False)
    populated = faults_writing(buf, populate_first=True)
    assert plain["faults"] >= pages * 0.9, plain  # copy-on-write, one page at a time
    assert populated["note"] == "" and populated["populated"] >= len(buf), populated
    assert populated["faults"] < pages * 0.02, populated


def test_too_little_memory_available_skips_the_copy() -> None:
    def probe() -> dict[str, Any]:
        prefault.available_bytes = lambda: 1 << 20  # this child only
        done, note = prefault.populate()
        return {"done": done, "note": note}

    out = in_child(probe)
    assert out["done"] == 0 and out["note"].startswith("skipped: copying"), out
    assert (prefault.available_bytes() or 0) > 0  # what the real machine says


def test_a_cgroup_limit_is_read_in_either_version(tmp_path: Path) -> None:
    v2 = tmp_path / "app"
    v2.mkdir()
    (v2 / "memory.max").write_text("1073741824\n")
    (v2 / "memory.current").write_text("268435456\n")
    assert prefault.cgroup_headroom("0::/app\n", str(tmp_path)) == 768 << 20
    v1 = tmp_path / "memory" / "box"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("536870912\n")
    (v1 / "memory.usage_in_bytes").write_text("134217728\n")
    assert prefault.cgroup_headroom("5:cpu:/x\n4:memory:/box\n0::/\n", str(tmp_path)) == 384 << 20
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert prefault.cgroup_headroom("4:memory:/box\n", str(tmp_path)) is None
    (v2 / "memory.max").write_text("max\n")
    assert prefault.cgroup_headroom("0::/app\n", str(tmp_path)) is None


@pytest.mark.skipif(not kernel_supports_populate(), reason="MADV_POPULATE_WRITE needs Linux 5.14")
@pytest.mark.parametrize("enabled", [True, False])
def test_executors_say_what_they_populated(enabled: bool) -> None:
    zygote = ZygoteProcess.start(make_release(2000, version=f"prefault-{enabled}"),
                                 Settings(memory_mb=256, prefault=enabled))
    backend = PooledBackend(zygote.run_dir, PoolSettings(heavy=1, light=1))
    try:
        backend.warm_up()
        for lane in ("heavy", "light"):
            hello = backend.lanes[lane].idle[0].hello
            if enabled:
                assert hello["prefault_note"] == "" and hello["prefaulted"] > 1 << 20, hello
            else:
                assert hello["prefaulted"] == 0 and hello["prefault_note"] == "off", hello
        # and they answer as before
        assert backend.execute("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
                               fmt="json").count == 1
    finally:
        backend.close()
        zygote.stop()
