"""What the answer cache pays on repeated requests: `python bench/repeats.py`.

The throughput mix of bench/serving.py sends a distinct text each time, so it never hits the
cache. People and crawlers repeat: the same page, document, VoID or query. This starts our
server twice on the 7k bench graph, with the answer cache and without (`ANSWER_CACHE_MB=0`),
plus rdflib-endpoint for the repeated query, and measures each request sent again and again by
`--clients` client processes, in alternating turns (bench/measure.py `alternating`). Prints a
Markdown section, which `python bench/serving.py` writes into bench/RESULTS.md, with the servers'
memory (sum of Pss) before and after.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import requests

from bench.client import query_path
from bench.measure import Same, alternating
from bench.mix import activity_slugs, query_mix
from bench.servers import Running, graph_files, pss_mb, start_ours, start_peer, warm
from server.config import ANSWER_CACHE_MB

ACTIVITIES = 253  # the 7k graph of bench/serving.py
HTML, TURTLE = "text/html", "text/turtle"


def repeated_requests(endpoint: str) -> list[tuple[str, str, str]]:
    """(label, path, Accept) of what is measured; the last one is also sent to the peer."""
    slug = activity_slugs(ACTIVITIES)[0]
    funder = next(qt for qt in query_mix(ACTIVITIES) if qt.key == "funder-join")
    return [("an entity page (HTML)", f"/doc/activity/{slug}", HTML),
            ("an entity document (Turtle)", f"/doc/activity/{slug}.ttl", TURTLE),
            ("the VoID description (Turtle)", "/.well-known/void", TURTLE),
            ("the OpenAPI document", "/openapi.json", "application/json"),
            ("the same funder join", query_path(endpoint, funder.text(0, 0)), funder.accept)]


def wait_for_report(server: Running, timeout_s: float = 600) -> None:
    """Until the release's SHACL report is ready: pages say "pending" (and are not kept) before.
    Polls with a pause, so the wait does not load the server computing the report."""
    deadline = time.monotonic() + timeout_s
    while requests.get(server.url + "/validation.ttl", timeout=timeout_s).status_code == 503:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no SHACL report from {server.url} after {timeout_s:.0f} s")
        time.sleep(0.2)


def repeat_section(workdir: Path, *, clients: int, duration_s: float, slices: int) -> list[str]:
    """The measurements, as a Markdown section for bench/RESULTS.md."""
    data, full = graph_files(workdir, ACTIVITIES)
    logs = workdir / "logs"
    servers: list[Running] = []
    try:
        cached = start_ours(data, logs, 900)
        servers.append(cached)
        uncached = start_ours(data, logs, 900, env={"RABAT_KG_ANSWER_CACHE_MB": "0"})
        servers.append(uncached)
        peer = start_peer(full, logs, 900)
        servers.append(peer)
        for server in (cached, uncached):
            warm(server, ACTIVITIES)
            wait_for_report(server)
        before_mb = pss_mb(cached), pss_mb(uncached)
        lines = ["## Repeated requests: the answer cache", "",
                 "`python bench/repeats.py`: the same request again and again, on the 7k bench graph; "
                 "our server with the answer cache and without it (`RABAT_KG_ANSWER_CACHE_MB=0`), "
                 f"rdflib-endpoint for the query; {clients} client processes, {duration_s:g} s per "
                 f"request and server in {slices} alternating turns. (The throughput rows above send "
                 "a distinct text each time: the cache never answers them.)", "",
                 "| repeated request | cache on /s | cache off /s | on/off | rdflib-endpoint /s | on/peer |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for label, path, accept in repeated_requests(cached.endpoint):
            targets = [(cached.url, Same(path, accept), 60.0), (uncached.url, Same(path, accept), 60.0)]
            is_query = path.startswith(cached.endpoint + "?")
            if is_query:  # the same text at the peer's endpoint
                peer_path = path.replace(cached.endpoint, peer.endpoint, 1)
                targets.append((peer.url, Same(peer_path, accept), 60.0))
            rates = alternating(targets, clients=clients, duration_s=duration_s, slices=slices)
            on, off = rates[0].requests_per_s, rates[1].requests_per_s
            peer_rate = rates[2].requests_per_s if is_query else 0.0
            peer_cells = f"{peer_rate:.1f} | {on / peer_rate:.1f}x" if peer_rate else "- | -"
            errors = sum(r.errors for r in rates)
            lines.append(f"| {label} | {on:.1f} | {off:.1f} | {on / off:.1f}x | {peer_cells} |"
                         + (f" ({errors} errors)" if errors else ""))
            print(lines[-1], flush=True)
        lines += ["", f"Memory (sum of Pss) after the warm-up and after these runs: cache on "
                      f"{before_mb[0]:.0f} -> {pss_mb(cached):.0f} MB, cache off {before_mb[1]:.0f} -> "
                      f"{pss_mb(uncached):.0f} MB (the cache holds at most ANSWER_CACHE_MB, "
                      f"{ANSWER_CACHE_MB:g} MB)."]
        return lines
    finally:
        for server in servers:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/repeats.py")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per request and server")
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rabat-kg-bench"))
    args = parser.parse_args()
    lines = repeat_section(args.workdir, clients=args.clients, duration_s=args.duration, slices=args.slices)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
