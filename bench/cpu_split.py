"""Where the CPU of one query type goes: `python bench/cpu_split.py funder-join --duration 10`.

Starts our server on the 7k bench graph (as bench/serving.py does), sends the query type from
4 client processes for `--duration` seconds, and prints CPU milliseconds per answered request:
the web process (user and system), its children (the executors), the bench clients, and the
machine's idle time. A diagnostic for bench/RESULTS.md's throughput rows, not a target.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.measure import Distinct, alternating
from bench.mix import PROBES, query_mix
from bench.servers import graph_files, start_ours, warm

ACTIVITIES = 253  # the 7k graph of bench/serving.py


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far: the web process (user, system; its I/O thread, the main one, and its
    worker threads) and its children, this process's own, and the machine's idle and steal."""
    web = psutil.Process(pid)
    children = 0.0
    for child in web.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # (an executor that ended meanwhile)
            children += sum(child.cpu_times()[:2])
    user, system = web.cpu_times()[:2]
    io_thread = sum(sum(t[1:]) for t in web.threads() if t.id == pid)  # waitress's I/O loop
    own = psutil.Process().cpu_times()
    machine = psutil.cpu_times()
    return {"web user": user, "web system": system, "web I/O thread (of those)": io_thread,
            "executors": children, "bench clients": own.children_user + own.children_system,
            "machine idle": machine.idle, "machine steal": getattr(machine, "steal", 0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/cpu_split.py")
    parser.add_argument("key", help="a query type of bench/mix.py (e.g. funder-join, round-trip)")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rabat-kg-bench"))
    args = parser.parse_args()
    types = {qt.key: qt for qt in (*query_mix(ACTIVITIES), *PROBES)}
    if args.key not in types:
        parser.error(f"no query type {args.key!r}; one of {', '.join(types)}")
    data, _ = graph_files(args.workdir, ACTIVITIES)
    ours = start_ours(data, args.workdir / "logs", 900)
    try:
        warm(ours, ACTIVITIES)
        before = cpu_seconds(ours.proc.pid)
        result = alternating([(ours.url, Distinct(ours.endpoint, types[args.key]), 120)],
                             clients=args.clients, duration_s=args.duration, slices=1)[0]
        after = cpu_seconds(ours.proc.pid)
    finally:
        ours.stop()
    print(f"{args.key}: {result.requests_per_s:.1f}/s, {result.ok} answered, {result.errors} errors")
    for name in before:
        print(f"  {name}: {(after[name] - before[name]) / max(1, result.ok) * 1000:.2f} ms/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
