"""Did a change make serving faster? `python bench/paired.py OLD_TREE [NEW_TREE] --types funder-join`.

Starts our server from two checkouts at once (e.g. `git worktree add /tmp/old HEAD~1` and this
one) on the 7k bench graph and measures each query type in short alternating turns, so the
machine's drift (on the 2-core bench machine, throughput moves by 15-20% between runs minutes
apart) falls on both alike. Prints each throughput and the ratio new/old; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.measure import Distinct, alternating
from bench.mix import query_mix
from bench.servers import graph_files, start_ours, warm
from tests.serverproc import ROOT

ACTIVITIES = 253  # the 7k graph of bench/serving.py


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/paired.py")
    parser.add_argument("old", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("new", type=Path, nargs="?", default=ROOT, help="default: this checkout")
    parser.add_argument("--types", default="funder-join,timeline,describe",
                        help="query types of bench/mix.py, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per type and server")
    parser.add_argument("--slices", type=int, default=10, help="alternating turns per server")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rabat-kg-bench"))
    args = parser.parse_args()
    types = {qt.key: qt for qt in query_mix(ACTIVITIES)}
    keys = args.types.split(",")
    if unknown := [k for k in keys if k not in types]:
        parser.error(f"no query type {', '.join(unknown)}; one of {', '.join(types)}")
    data, _ = graph_files(args.workdir, ACTIVITIES)
    old = start_ours(data, args.workdir / "logs", 900, tree=args.old.resolve())
    try:
        new = start_ours(data, args.workdir / "logs", 900, tree=args.new.resolve())
        try:
            warm(old, ACTIVITIES)
            warm(new, ACTIVITIES)
            for key in keys:
                qt = types[key]
                before, after = alternating([(old.url, Distinct(old.endpoint, qt), 120),
                                             (new.url, Distinct(new.endpoint, qt), 120)],
                                            clients=4, duration_s=args.duration,
                                            slices=args.slices)
                print(f"{key}: old {before.requests_per_s:.1f}/s ({before.errors} errors), "
                      f"new {after.requests_per_s:.1f}/s ({after.errors} errors): "
                      f"{after.requests_per_s / max(before.requests_per_s, 1e-9):.2f}x", flush=True)
        finally:
            new.stop()
    finally:
        old.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
