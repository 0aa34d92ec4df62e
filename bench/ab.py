"""A/B of running servers: the same mix queries sent to each in turn, request by request.

    python bench/ab.py --urls http://127.0.0.1:8811,http://127.0.0.1:8812 \
        --activities 29219 --queries funder-join,timeline --requests 200 [--throughput 4]

For each query: every server's HTTP p50, its own engine p50 (`Server-Timing`) and the
difference, from requests alternating between the servers (so the machine's drift falls on
all of them); with `--throughput S`, completed req/s with 4 clients, alternating in two turns
of S/2 seconds each. Servers of the same code differ from one start to another by 1-2 ms on
20 ms queries at 701k triples: compare HTTP minus engine across servers, or alternate within
one server, before believing an engine-time difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.client import Client
from bench.mix import PROBES, query_mix


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--urls", required=True, help="server base URLs, comma-separated")
    p.add_argument("--activities", type=int, default=253, help="activities of the served graph "
                   "(bench/generate.py --activities; 253 is 7k triples, 29219 is 701k)")
    p.add_argument("--queries", default="round-trip,timeline,funder-join",
                   help="mix query keys, comma-separated")
    p.add_argument("--requests", type=int, default=200, help="latency samples per server")
    p.add_argument("--throughput", type=float, default=0.0, help="seconds of throughput per query")
    a = p.parse_args(argv)
    urls = [u.strip().rstrip("/") for u in a.urls.split(",") if u.strip()]
    mix = {q.key: q for q in [*PROBES, *query_mix(a.activities)]}
    unknown = [k for k in a.queries.split(",") if k not in mix]
    if unknown:
        p.error(f"unknown query {', '.join(unknown)}; known: {', '.join(mix)}")
    clients = [Client(u) for u in urls]
    for key in a.queries.split(","):
        qt = mix[key]
        http: dict[str, list[float]] = {u: [] for u in urls}
        engine: dict[str, list[float]] = {u: [] for u in urls}
        for i in range(a.requests + 2):  # two warm-up rounds
            for url, client in zip(urls, clients, strict=True):
                reply = client.query("/sparql", qt.text(i), qt.accept)
                if reply.status != 200:
                    print(f"{key} {url}: HTTP {reply.status}", file=sys.stderr)
                    return 1
                if i >= 2:
                    http[url].append(reply.seconds * 1000)
                    engine[url].append(reply.engine_ms or 0.0)
        for url in urls:
            h, e = statistics.median(http[url]), statistics.median(engine[url])
            print(f"{key:12s} {url}  http p50 {h:7.2f} ms  engine p50 {e:7.2f} ms  "
                  f"http - engine {h - e:5.2f} ms")
        if a.throughput > 0:
            tps = measure.alternating([(u, "/sparql", 30.0) for u in urls], qt, clients=4,
                                      duration_s=a.throughput, slices=2)
            print(f"{key:12s} throughput: " + ", ".join(
                f"{u} {tp.requests_per_s:,.0f} req/s ({tp.errors} errors)"
                for u, tp in zip(urls, tps, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
