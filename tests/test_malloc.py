"""The allocator setting of workers and executors (graph/engine/malloc.py), in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.serverproc import ROOT

# Receives an 800 KB answer 200 times, as a worker does, and reports its minor page faults.
PROBE = """
import json, resource, sys
from graph.engine.malloc import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def answer(i):
    return bytes([i % 251]) * 800_000
def receive(i):
    body = answer(i) + b"x"  # two large blocks at once, both freed before the next round
    del body
for i in range(20):
    receive(i)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(200):
    receive(i)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"kept": kept, "faults": faults}))
"""


def probe(mode: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again() -> None:
    default, kept = probe("default"), probe("keep")
    assert kept["kept"] is True
    # the default allocator maps and unmaps (some of) these blocks: ~195 faults each time
    assert int(default["faults"]) > 1000, default  # type: ignore[call-overload]
    assert int(kept["faults"]) < 50, kept  # type: ignore[call-overload]
