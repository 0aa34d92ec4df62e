"""What a freshly forked executor pays for copy-on-write, with and without prefaulting.

Loads an N-Triples file into a pyoxigraph store, runs mix queries in this process, then in a
forked child as it is (pages shared until written) and in a forked child that first calls
`graph.engine.prefault.populate()`, as executors do. Prints each query's time and minor page
faults, run by run, so the first queries of a fresh fork can be seen against the parent's:

    python bench/forkcost.py --file /tmp/rabat-kg-bench/map-29219-seed1-with-ontology.nt \
        --activities 29219 --queries funder-join,timeline --runs 10

(`bench/run.py` writes that file; `bench/generate.py` makes the data alone.)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyoxigraph as ox

from bench.mix import QueryType, add_graph_arguments, query_mix
from graph.engine import prefault


def run_queries(store: ox.Store, queries: list[QueryType], runs: int, label: str) -> None:
    """Each query `runs` times (a distinct text each), printing ms/faults per run."""
    number = 0
    for qt in queries:
        cells = []
        for i in range(runs):
            number += 1
            text = qt.text(number, value_index=i)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            store.query(text).serialize(format=ox.QueryResultsFormat.JSON)
            took = (time.perf_counter() - started) * 1000
            cells.append(f"{took:.1f}/{resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}")
        print(f"{label:<16} {qt.key:<12} " + " ".join(cells), flush=True)


def in_fork(store: ox.Store, queries: list[QueryType], runs: int, *, populate: bool) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            label = "child"
            if populate:
                started = time.perf_counter()
                done, note = prefault.populate()
                print(f"populated {done / 2**20:.0f} MB in {time.perf_counter() - started:.2f} s"
                      f"{' (' + note + ')' if note else ''}", flush=True)
                label = "child, populated"
            run_queries(store, queries, runs, label)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_graph_arguments(p)
    p.add_argument("--queries", default="funder-join,timeline", help="mix query keys")
    p.add_argument("--runs", type=int, default=10, help="runs of each query per process")
    args = p.parse_args(argv)
    by_key = {qt.key: qt for qt in query_mix(args.activities)}
    unknown = [k for k in args.queries.split(",") if k not in by_key]
    if unknown or args.runs < 1:
        p.error(f"unknown query keys {unknown} (known: {', '.join(by_key)})" if unknown
                else "--runs must be at least 1")
    queries = [by_key[k] for k in args.queries.split(",")]
    store = ox.Store()
    store.bulk_load(path=str(args.file), format=ox.RdfFormat.N_TRIPLES)
    print(f"{len(store):,} triples; each cell is ms/minor faults of one run", flush=True)
    run_queries(store, queries, args.runs, "parent")
    in_fork(store, queries, args.runs, populate=False)
    in_fork(store, queries, args.runs, populate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
