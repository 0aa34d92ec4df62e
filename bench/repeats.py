"""What the answer cache pays on repeated requests: `python bench/repeats.py`.

The throughput mix of bench/serving.py sends a distinct text each time, so it never hits the
cache. People and crawlers repeat: the same page, document, VoID or query. This starts our
server twice on the 7k bench graph, with the answer cache and without (`ANSWER_CACHE_MB=0`),
plus rdflib-endpoint for the repeated query, and measures each request sent again and again by
`--clients` client processes, in alternating turns (as bench/measure.py `alternating`). Prints a
Markdown section, which `python bench/serving.py` writes into bench/RESULTS.md, with the servers'
memory (sum of Pss) before and after.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import requests

from bench.client import Client, query_path
from bench.mix import activity_slugs, query_mix
from bench.servers import Running, graph_files, pss_mb, start_ours, start_peer, warm

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


def wait_for_report(server: Running) -> None:
    """Until the release's SHACL report is ready: pages say "pending" (and are not kept) before."""
    while requests.get(server.url + "/validation.ttl", timeout=600).status_code == 503:
        pass


def _loop(job: tuple[str, str, str, float, float]) -> tuple[int, int]:
    """One client: the same GET back to back from `start_at` until `deadline`: (ok, errors)."""
    base_url, path, accept, start_at, deadline = job
    client = Client(base_url, timeout=60)
    ok = errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < deadline:
        try:
            if client.get(path, accept).status == 200:
                ok += 1
            else:
                errors += 1
        except (TimeoutError, OSError):
            errors += 1
    client.close()
    return ok, errors


def throughput(targets: list[tuple[str, str]], accept: str, *, clients: int, duration_s: float,
               slices: int) -> list[tuple[float, int]]:
    """Requests/s and errors of each (base URL, path), in `slices` alternating turns."""
    done = [[0, 0, 0.0] for _ in targets]
    for _ in range(slices):
        for tally, (url, path) in zip(done, targets, strict=True):
            start_at = time.time() + 0.5
            deadline = start_at + duration_s / slices
            with mp.get_context("fork").Pool(clients) as pool:
                results = pool.map(_loop, [(url, path, accept, start_at, deadline)] * clients)
            tally[0] += sum(r[0] for r in results)
            tally[1] += sum(r[1] for r in results)
            tally[2] += max(time.time(), deadline) - start_at
    return [(ok / seconds, int(errors)) for ok, errors, seconds in done]


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
            targets = [(cached.url, path), (uncached.url, path)]
            is_query = path.startswith(cached.endpoint + "?")
            if is_query:
                targets.append((peer.url, path.replace(cached.endpoint, peer.endpoint, 1)))
            rates = throughput(targets, accept, clients=clients, duration_s=duration_s, slices=slices)
            (on, _), (off, _) = rates[:2]
            peer_cells = (f"{rates[2][0]:.1f} | {on / rates[2][0]:.1f}x" if is_query and rates[2][0]
                          else "- | -")
            errors = sum(e for _, e in rates)
            lines.append(f"| {label} | {on:.1f} | {off:.1f} | {on / off:.1f}x | {peer_cells} |"
                         + (f" ({errors} errors)" if errors else ""))
            print(lines[-1], flush=True)
        lines += ["", f"Memory (sum of Pss) after the warm-up and after these runs: cache on "
                      f"{before_mb[0]:.0f} -> {pss_mb(cached):.0f} MB, cache off {before_mb[1]:.0f} -> "
                      f"{pss_mb(uncached):.0f} MB (the cache holds at most ANSWER_CACHE_MB, 16 MB)."]
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
