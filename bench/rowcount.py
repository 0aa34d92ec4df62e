"""What counting the rows of a JSON answer costs an executor (graph/engine/rows.py).

Loads an N-Triples file, has the engine write one mix query's answer as SPARQL JSON, and times
RowParts over it in the pieces the engine writes (as graph/engine/run.py counts them), with
the C scanner (when built) and with the byte searches of a build without it:

    python bench/rowcount.py --file /tmp/rabat-kg-bench/map-29219-seed1-with-ontology.nt \
        --activities 29219 --query funder-join
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyoxigraph as ox

from bench.mix import add_graph_arguments, query_mix
from graph.engine.rows import NATIVE, RowParts


class Writes:
    """Keeps the pieces the engine writes."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_graph_arguments(p)
    p.add_argument("--query", default="funder-join", help="a mix query key")
    p.add_argument("--rounds", type=int, default=100)
    args = p.parse_args(argv)
    by_key = {qt.key: qt for qt in query_mix(args.activities)}
    if args.query not in by_key or args.rounds < 1:
        p.error(f"unknown query {args.query!r} (known: {', '.join(by_key)})"
                if args.query not in by_key else "--rounds must be at least 1")
    store = ox.Store()
    store.bulk_load(path=str(args.file), format=ox.RdfFormat.N_TRIPLES)
    writes = Writes()
    store.query(by_key[args.query].text(1)).serialize(writes, format=ox.QueryResultsFormat.JSON)
    parts = writes.pieces
    size = sum(map(len, parts))
    for name, native in (("C scanner", True), ("byte searches", False)):
        if native and not NATIVE:
            print("C scanner: not built")
            continue
        started = time.perf_counter()
        for _ in range(args.rounds):
            counted = RowParts("json", None, native=native)
            for part in parts:
                counted.take(part)
            rows = counted.finish()
        took = (time.perf_counter() - started) / args.rounds * 1000
        print(f"{name}: {size:,} bytes, {rows[1] if rows else '?'} rows, {len(parts)} writes: "
              f"{took:.2f} ms to count")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
