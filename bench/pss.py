"""Memory of a running server: the sum of Pss over its process tree, once it answers /health.

    python bench/pss.py FILE.nt

Pss splits pages shared by several processes (the interpreter and libraries the executors share
copy-on-write) among them, so the sum is the memory the whole server really holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.servers import rollup_kb
from tests.serverproc import process_tree, start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="an RDF file to serve with --data")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after /health")
    args = parser.parse_args()
    server = start_server(["--data", args.data], wait_s=600)
    try:
        time.sleep(args.settle)
        rows = []
        for pid in process_tree(server.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                rows.append((rollup_kb(pid).get("Pss", 0) // 1024, pid, cmd[:70]))
            except OSError:
                continue
        for mb, pid, cmd in sorted(rows, reverse=True):
            print(f"{mb:6d} MB  {pid:7d}  {cmd}")
        print(f"total {sum(r[0] for r in rows)} MB in {len(rows)} processes")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
