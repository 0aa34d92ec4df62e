"""The serving benchmark of issue 15: memory, reloads, start-up and throughput, side by side
with rdflib-endpoint (the Python peer) on the same files.

    python bench/serving.py                # about 10 minutes on 2 cores; writes bench/RESULTS.md
    python bench/serving.py --quick        # smoke run; writes /tmp/rabat-kg-bench/RESULTS-serving-quick.md

Memory is the sum of Pss over each server's process tree (bench/servers.py `MemorySampler`),
read after the same warm-up requests to both. Throughput is `--clients` client processes
sending back to back for `--duration` seconds per query type and server, in alternating turns
(bench/measure.py `alternating`). Graphs come from bench/generate.py (synthetic, MAP-shaped).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import requests

from bench.machine import describe
from bench.measure import Distinct, alternating
from bench.mix import query_mix
from bench.repeats import repeat_section
from bench.servers import Running, graph_files, pss_mb, start_ours, start_peer, warm
from tests.serverproc import free_port

BENCH_DIR = Path(__file__).resolve().parent


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def startup_s(reps: int) -> list[float]:
    """Seconds from `rabat-kg serve` (bundled graph) to its first /health 200."""
    out = []
    for _ in range(reps):
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=BENCH_DIR.parent)
        try:
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        out.append(time.monotonic() - started)
                        break
                except requests.RequestException:
                    time.sleep(0.02)
                if time.monotonic() - started > 120:
                    raise RuntimeError("no /health in 120 s")
        finally:
            proc.terminate()
            proc.wait(30)
    return out


def reload_memory(server: Running, workdir: Path, activities: int, times: int) -> list[float]:
    """Our server's Pss after each of `times` reloads of a same-size release (other seeds)."""
    after = []
    for k in range(times):
        data, _ = graph_files(workdir, activities, seed=2 + k)
        port = server.url.rsplit(":", 1)[1]
        proc = subprocess.run([sys.executable, "-m", "server.cli", "reload", "--port", port,
                               "--data", str(data)], capture_output=True, text=True,
                              cwd=BENCH_DIR.parent, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        warm(server, activities)
        time.sleep(2)
        after.append(pss_mb(server))
        log(f"  after reload {k + 1}: {after[-1]:.0f} MB")
    return after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--slices", type=int, default=3,
                        help="turns per server, alternating (the machine drifts over minutes)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rabat-kg-bench"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    small, memory_size = (253, 2900)
    duration = 2.0 if args.quick else args.duration
    out = args.out or (args.workdir / "RESULTS-serving-quick.md" if args.quick
                       else BENCH_DIR / "RESULTS.md")
    lines: list[str] = []
    logs = args.workdir / "logs"
    logs.mkdir(exist_ok=True)

    log("start-up of the bundled graph")
    starts = startup_s(1 if args.quick else 3)
    log(f"  {starts}")

    log("memory serving the bundled graph")
    bundled = _start_bundled(logs)
    try:
        warm(bundled, small)
        bundled_mb = pss_mb(bundled)
    finally:
        bundled.stop()
    log(f"  {bundled_mb:.0f} MB")

    results: dict[str, Any] = {}
    for label, activities in (("7k", small), ("70k", memory_size)):
        data, full = graph_files(args.workdir, activities)
        log(f"{label}: {activities} activities, starting both servers")
        ours = start_ours(data, logs, 900)
        peer = start_peer(full, logs, 900)
        try:
            warm(ours, activities)
            warm(peer, activities, rounds=1)
            mem = (pss_mb(ours), pss_mb(peer))
            log(f"  memory ours {mem[0]:.0f} MB, peer {mem[1]:.0f} MB")
            rates = {}
            if label == "7k":
                for qt in query_mix(activities):
                    if qt.kind == "probe":
                        continue
                    t = alternating([(ours.url, Distinct(ours.endpoint, qt), 120),
                                     (peer.url, Distinct(peer.endpoint, qt), 120)],
                                    clients=args.clients, duration_s=duration,
                                    slices=1 if args.quick else args.slices)
                    rates[qt.key] = (qt, t[0], t[1])
                    log(f"  {qt.key}: ours {t[0].requests_per_s:.1f}/s ({t[0].errors} errors), "
                        f"peer {t[1].requests_per_s:.1f}/s ({t[1].errors} errors)")
            reloads = []
            if label == "70k":
                reloads = reload_memory(ours, args.workdir, activities, 1 if args.quick else 3)
            results[label] = {"memory": mem, "rates": rates, "reloads": reloads,
                              "triples": sum(1 for _ in full.open())}
        finally:
            ours.stop()
            peer.stop()

    lines += report(results, starts, bundled_mb, duration, args.clients, args.slices)
    log("repeated requests, the answer cache on and off (bench/repeats.py)")
    lines += ["", *repeat_section(args.workdir, clients=args.clients, duration_s=duration / 2,
                                  slices=1 if args.quick else args.slices)]
    out.write_text("\n".join(lines) + "\n")
    log(f"wrote {out}")
    return 0


def _start_bundled(logs: Path) -> Running:
    """Our server on the bundled graph (no --data)."""
    from bench.servers import launch

    port = free_port()
    cmd = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return launch("rabat-kg", cmd, {"/health": "/sparql"}, port, logs, 600)


def machine_line() -> str:
    m = describe()
    return "Machine: " + ", ".join(f"{k} {v}" for k, v in m.items() if not isinstance(v, dict))


def report(results: dict[str, Any], starts: list[float], bundled_mb: float, duration: float,
           clients: int, slices: int) -> list[str]:
    r7, r70 = results["7k"], results["70k"]
    mem_ratio = r70["memory"][0] / r70["memory"][1]
    base = r70["memory"][0]
    drift = max(abs(x - base) / base for x in r70["reloads"]) if r70["reloads"] else 0.0
    lines = [
        "# Benchmark results: serving (issue 15)",
        "",
        f"Written by `python bench/serving.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        machine_line(),
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
        f"| bundled graph: first /health within 3 s of `rabat-kg serve` | median "
        f"{statistics.median(starts):.2f} s ({', '.join(f'{s:.2f}' for s in starts)}) | "
        f"{'yes' if statistics.median(starts) <= 3 else 'no'} |",
        f"| memory serving the bundled graph at most 200 MB (sum of Pss) | {bundled_mb:.0f} MB | "
        f"{'yes' if bundled_mb <= 200 else 'no'} |",
        f"| memory at {r70['triples']:,} triples at most 1.5x rdflib-endpoint's | ours "
        f"{r70['memory'][0]:.0f} MB, peer {r70['memory'][1]:.0f} MB: {mem_ratio:.2f}x | "
        f"{'yes' if mem_ratio <= 1.5 else 'no'} |",
        f"| memory unchanged (+-10%) after three reloads of a same-size release | "
        f"{', '.join(f'{x:.0f}' for x in r70['reloads'])} MB after each (was {base:.0f}): "
        f"{drift * 100:.1f}% at most | {'yes' if drift <= 0.10 else 'no'} |",
    ]
    for qt, ours, peer in r7["rates"].values():
        need = 3 if qt.kind == "lookup" else 20
        ratio = ours.requests_per_s / peer.requests_per_s if peer.requests_per_s else float("inf")
        lines.append(f"| throughput at {r7['triples']:,} triples, {qt.title}: at least {need}x | "
                     f"ours {ours.requests_per_s:.1f}/s ({ours.errors} errors), peer "
                     f"{peer.requests_per_s:.1f}/s ({peer.errors} errors): {ratio:.1f}x | "
                     f"{'yes' if ratio >= need and not ours.errors else 'no'} |")
    lines += ["", f"Throughput: {clients} client processes, {duration:g} s per query type and "
              f"server in {slices} alternating turns; memory read after the same warm-up requests "
              "(the whole mix, 3 rounds ours, 1 round the peer's)."]
    return lines


if __name__ == "__main__":
    sys.exit(main())
