"""What counting the rows of a JSON answer costs the server worker (graph/engine/rows.py).

Loads an N-Triples file, has the engine write one mix query's answer as SPARQL JSON, and times
RowParts over it in the parts an executor streams (graph/engine/run.py PART_BYTES):

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
from graph.engine.rows import RowParts
from graph.engine.run import PART_BYTES


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
    body = store.query(by_key[args.query].text(1)).serialize(format=ox.QueryResultsFormat.JSON)
    parts = [body[i:i + PART_BYTES] for i in range(0, len(body), PART_BYTES)]
    started = time.perf_counter()
    for _ in range(args.rounds):
        counted = RowParts("json", None)
        for part in parts:
            counted.take(part)
        rows = counted.finish()
    took = (time.perf_counter() - started) / args.rounds * 1000
    print(f"{len(body):,} bytes, {rows[1] if rows else '?'} rows, {len(parts)} parts: "
          f"{took:.2f} ms to count")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
