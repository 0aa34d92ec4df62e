"""Run the latency benchmark and write bench/RESULTS-latency.md (bench/README.md says what each number means).

    python bench/run.py            # ~7k and ~700k triples, about 12 minutes
    python bench/run.py --quick    # a one-minute smoke run (results go to the work dir)
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyoxigraph as ox

from bench import generate, machine, measure, report
from bench.client import Client
from bench.mix import PROBES, ROUND_TRIP, QueryType, activity_slugs, query_mix
from bench.servers import Running, peer_version, start_ours, start_peer
from bench.vocab import missing_terms
from graph.paths import ONTOLOGY_FILE

BENCH_DIR = Path(__file__).resolve().parent
PROBE = BENCH_DIR / "loadprobe.py"
STEPS = frozenset({"load", "inprocess", "ours", "peer", "bundled"})


@dataclass
class Settings:
    """Sizes, durations and bounds of one run (the flags)."""

    sizes: list[int]
    duration_s: float
    throughput_slices: int  # turns per server in which each query's duration is taken
    latency_budget_s: float
    max_samples: int
    clients: int
    load_reps: int
    peer_max_triples: int
    peer_timeout_s: float
    peer_load_timeout_s: float
    peer_budget_s: float
    server_timeout_s: float
    page_samples: int
    seed: int
    workdir: Path
    out: Path
    steps: frozenset[str] = STEPS


@dataclass
class SizeResult:
    """Everything measured on one graph."""

    target_triples: int
    activities: int
    triples: int
    file: str
    file_mb: float
    load: dict[str, Any] = field(default_factory=dict)
    inprocess: dict[str, dict[str, Any]] = field(default_factory=dict)
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def activities_for(triples: int, seed: int) -> int:
    """How many activities give about `triples` triples (measured on a sample, then scaled)."""
    sample = 2000
    fixed = sum(1 for _ in generate.triples(0, seed))
    per_activity = (sum(1 for _ in generate.triples(sample, seed)) - fixed) / sample
    return max(1, round((triples - fixed) / per_activity))


@dataclass(frozen=True)
class Dataset:
    """A generated graph: `data` is what `serve --data` gets (the server adds the ontology);
    `full` is the ontology plus the data, the same triples, for the floor and the peer."""

    data: Path
    full: Path
    activities: int
    triples: int


def dataset(target: int, s: Settings) -> Dataset:
    """The generated files for a size (re-used when they exist: generation is deterministic)."""
    from graph.release import parse_file

    n = activities_for(target, s.seed)
    data = s.workdir / f"map-{n}-seed{s.seed}.nt"
    full = s.workdir / f"map-{n}-seed{s.seed}-with-ontology.nt"
    if not data.exists():
        log(f"generating {n} activities -> {data}")
        tmp = data.with_suffix(".tmp")
        generate.write(n, tmp, seed=s.seed)
        tmp.rename(data)
    # The ontology changes while the project grows: always rebuild the full file.
    ontology = "".join(f"{t} .\n" for t in parse_file(ONTOLOGY_FILE))
    with full.open("w", encoding="utf-8") as out:
        out.write(ontology)
        with data.open(encoding="utf-8") as fh:
            for line in fh:
                out.write(line)
    store = ox.Store()
    store.bulk_load(path=str(full), format=ox.RdfFormat.N_TRIPLES)
    return Dataset(data=data, full=full, activities=n, triples=len(store))


def probe(mode: str, file: Path | None, timeout: float) -> dict[str, Any]:
    """One load in a fresh process (bench/loadprobe.py)."""
    cmd = [sys.executable, str(PROBE), mode, *([str(file)] if file else [])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             cwd=BENCH_DIR.parent)
    except subprocess.TimeoutExpired:
        return {"mode": mode, "ok": False, "error": f"did not finish within {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"mode": mode, "ok": False,
                "error": f"exit {out.returncode}: {(out.stderr or out.stdout)[-1500:]}"}
    return dict(json.loads(lines[-1]))


def median_probe(mode: str, file: Path | None, reps: int, timeout: float) -> dict[str, Any]:
    """The run with the median time of `reps` loads (all must succeed)."""
    runs = []
    for _ in range(reps):
        result = probe(mode, file, timeout)
        if not result.get("ok"):
            return result
        runs.append(result)
    runs.sort(key=lambda r: r["seconds"])
    chosen = dict(runs[len(runs) // 2])
    chosen["runs"] = [round(r["seconds"], 3) for r in runs]
    return chosen


def measure_loads(ds: Dataset, s: Settings) -> dict[str, Any]:
    """Bare bulk load of ontology + data against the server's load path of the same triples.

    The server's path validates with SHACL, which takes minutes on a large graph: it is
    repeated only on small graphs.
    """
    reps, timeout = s.load_reps, s.server_timeout_s
    loads = {"bare": median_probe("bare", ds.full, reps, timeout)}
    log(f"  bare bulk load: {loads['bare'].get('seconds', loads['bare'].get('error'))}")
    loads["serve"] = median_probe("serve", ds.data, reps if ds.triples < 100_000 else 1, timeout)
    log(f"  server load path: {loads['serve'].get('seconds', loads['serve'].get('error'))}")
    loads["release"] = median_probe("release", ds.data, 1, timeout)
    log(f"  release without SHACL: {loads['release'].get('seconds', loads['release'].get('error'))}")
    return loads


def stats_dict(st: measure.Stats) -> dict[str, Any]:
    return {"n": len(st.samples), "p50_ms": st.p50, "p95_ms": st.p95, "rows": st.rows,
            "errors": st.errors, "note": st.note, "engine_p50_ms": st.engine_p50}


def floor_store(file: Path) -> ox.Store:
    """The bare engine with the whole file (ontology included), for the in-process floor."""
    store = ox.Store()
    store.bulk_load(path=str(file), format=ox.RdfFormat.N_TRIPLES)
    return store


def measure_inprocess(file: Path, n: int, s: Settings) -> dict[str, dict[str, Any]]:
    """The floor on its own (when our server is not measured in this run)."""
    store = floor_store(file)
    out = {}
    for qt in [*PROBES, *query_mix(n)]:
        st = measure.inprocess(store, qt, budget_s=s.latency_budget_s, max_samples=s.max_samples)
        out[qt.key] = stats_dict(st)
        p50 = f"{st.p50:.2f}" if st.p50 is not None else "—"
        log(f"  in-process {qt.key}: p50 {p50} ms, {st.rows} rows {st.note[:120]}")
    del store
    gc.collect()
    return out


@dataclass
class Side:
    """One server under test at one size, and what has been measured of it."""

    server: Running
    peer: bool
    client: Client
    budget_s: float | None  # the peer's time budget for this size (its own measurements only)
    result: dict[str, Any] = field(default_factory=dict)
    spent_s: float = 0.0  # time taken by this server's measurements so far

    def out_of_time(self, needed_s: float = 0.0) -> bool:
        return self.budget_s is not None and self.spent_s + needed_s > self.budget_s


def start_side(kind: str, file: Path, s: Settings) -> Side | dict[str, Any]:
    """A started server (a Side), or the result saying why it did not start."""
    peer = kind == "peer"
    started = time.monotonic()
    try:
        server = (start_peer(file, s.workdir, s.peer_load_timeout_s) if peer
                  # the answer cache off: pages are sampled again and again, and this report
                  # measures what serving costs over the engine, not a repeat
                  else start_ours(file, s.workdir, s.server_timeout_s,
                                  env={"RABAT_KG_ANSWER_CACHE_MB": "0"}))
    except Exception as exc:  # reported, not raised: the other measurements still count
        log(f"  {kind} did not start: {exc}")
        return {"error": f"did not start: {str(exc)[-1500:]}", "waited_s": time.monotonic() - started}
    log(f"  {server.name} ready in {server.ready_s:.1f} s")
    client = Client(server.url, timeout=s.peer_timeout_s if peer else 60.0)
    # Wake every worker up (lazy imports, first connections) before anything is timed.
    measure.over_http(client, server.endpoint, ROUND_TRIP, budget_s=1.0, max_samples=200, warmup=0)
    return Side(server, peer, client, s.peer_budget_s if peer else None,
                {"ready_s": server.ready_s, "latency": {}, "throughput": {}, "notes": server.notes})


def measure_latency(side: Side, qt: QueryType, s: Settings,
                    floor: ox.Store | None) -> measure.Stats | None:
    """Latency of one query on one server (paired with the floor for ours); None if skipped."""
    server, result = side.server, side.result
    if side.out_of_time():
        result["latency"][qt.key] = {"n": 0, "note": "skipped: the peer's time budget is used up"}
        return None
    started = time.monotonic()
    if floor is not None:  # twice the budget: it holds two samples per round
        floor_st, st = measure.paired(floor, side.client, server.endpoint, qt,
                                      budget_s=2 * s.latency_budget_s, max_samples=s.max_samples)
        result.setdefault("floor", {})[qt.key] = stats_dict(floor_st)
        log(f"  in-process {qt.key}: p50 {'—' if floor_st.p50 is None else round(floor_st.p50, 2)}"
            f" ms, rows {floor_st.rows} {floor_st.note[:120]}")
    else:
        st = measure.over_http(side.client, server.endpoint, qt, budget_s=s.latency_budget_s,
                               max_samples=s.max_samples, warmup=1 if side.peer else 2)
    side.spent_s += time.monotonic() - started
    result["latency"][qt.key] = stats_dict(st)
    log(f"  {server.name} {qt.key}: p50 {'—' if st.p50 is None else round(st.p50, 2)} ms,"
        f" rows {st.rows}, errors {st.errors} {st.note[:120]}")
    return st


def why_no_throughput(side: Side, st: measure.Stats, s: Settings) -> str:
    """Why this query's throughput is not measured on this server ("" when it is)."""
    if not st.ok:
        return "not measured: the query did not answer"
    if st.p50 is not None and st.p50 > 1000 * s.duration_s / 4:
        return f"not measured: one request takes {st.p50 / 1000:.1f} s"
    if side.out_of_time(s.duration_s + 2 * s.throughput_slices):
        return "skipped: the peer's time budget is used up"
    return ""


def finish_side(side: Side) -> dict[str, Any]:
    """Close the client and add the server's memory and process count to its result."""
    side.client.close()
    server, result = side.server, side.result
    server.memory.sample()
    result["memory"] = {"peak_rss_mb": server.memory.peak_rss / 2**20,
                        "peak_pss_mb": server.memory.peak_pss / 2**20,
                        "pss_mb": server.memory.last_pss / 2**20}
    try:
        import psutil

        result["processes"] = 1 + len(psutil.Process(server.proc.pid).children(recursive=True))
    except Exception:  # the count is informative only
        result["processes"] = None
    return result


def run_servers(ds: Dataset, s: Settings, floor: ox.Store | None) -> dict[str, dict[str, Any]]:
    """Both servers up at once, measured query by query; every server is stopped at the end.

    Latency runs on one server, then the other (ours paired with the in-process floor); then
    throughput on one, then the other (in `--slices` alternating turns), seconds apart, so a
    ratio does not join figures taken minutes apart on a machine whose speed drifts.
    """
    n = ds.activities
    out: dict[str, dict[str, Any]] = {}
    sides: dict[str, Side] = {}
    wanted = [("ours", ds.data)] if "ours" in s.steps else []
    if "peer" not in s.steps:
        out["peer"] = {"error": "not run (--steps)"}
    elif ds.triples > s.peer_max_triples:
        out["peer"] = {"error": f"not run at this size (--peer-max-triples {s.peer_max_triples})"}
    else:
        wanted.append(("peer", ds.full))
    try:
        for kind, file in wanted:
            started = start_side(kind, file, s)
            if isinstance(started, Side):
                sides[kind] = started
            else:
                out[kind] = started
        for qt in [*PROBES, *query_mix(n)]:
            for side in sides.values():  # memory between measurements, never during one
                side.server.memory.sample()
            measured = []
            for kind, side in sides.items():
                st = measure_latency(side, qt, s, floor if kind == "ours" else None)
                if qt.kind == "probe" or st is None:
                    continue
                if reason := why_no_throughput(side, st, s):
                    side.result["throughput"][qt.key] = {"note": reason}
                else:
                    measured.append(side)
            if not measured:
                continue
            tps = measure.alternating(
                [(x.server.url, measure.Distinct(x.server.endpoint, qt), x.client.timeout) for x in measured],
                clients=s.clients, duration_s=s.duration_s, slices=s.throughput_slices)
            for side, tp in zip(measured, tps, strict=True):
                side.spent_s += tp.seconds
                side.result["throughput"][qt.key] = asdict(tp)
                log(f"  {side.server.name} {qt.key}: {tp.requests_per_s:.1f} req/s ({tp.errors} errors)")
        if "ours" in sides:
            ours = sides["ours"]
            st = measure.pages(ours.client, activity_slugs(n, 200), budget_s=s.latency_budget_s,
                               max_samples=s.page_samples)
            ours.result["page"] = stats_dict(st)
            log(f"  entity page: p50 {st.p50} ms {st.note}")
        for kind, side in sides.items():
            out[kind] = finish_side(side)
    finally:
        for side in sides.values():
            side.server.stop()
    return out


def bench_size(target: int, s: Settings) -> SizeResult:
    ds = dataset(target, s)
    n = ds.activities
    res = SizeResult(target_triples=target, activities=n, triples=ds.triples, file=str(ds.full),
                     file_mb=ds.full.stat().st_size / 2**20)
    log(f"size {ds.triples} triples ({n} activities)")
    if "load" in s.steps:
        res.load = measure_loads(ds, s)
    if "ours" in s.steps or "peer" in s.steps:
        # the floor is measured alongside our server's latency (measure.paired)
        floor = floor_store(ds.full) if "inprocess" in s.steps and "ours" in s.steps else None
        res.servers = run_servers(ds, s, floor)
        res.inprocess = res.servers.get("ours", {}).pop("floor", {}) if floor is not None else {}
        del floor
        gc.collect()
    if "inprocess" in s.steps and not res.inprocess:
        res.inprocess = measure_inprocess(ds.full, n, s)
    return res


def parse_args(argv: list[str] | None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one-minute smoke run (small sizes, 1 s)")
    p.add_argument("--sizes", help="target triple counts, comma-separated (default 7000,700000)")
    p.add_argument("--duration", type=float, help="seconds of throughput per query (default 10)")
    p.add_argument("--slices", type=int, help="turns per server in which the throughput "
                                             "duration is taken, alternating (default 1)")
    p.add_argument("--latency-budget", type=float, help="seconds of latency samples per query")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--load-reps", type=int)
    p.add_argument("--peer-max-triples", type=int, help="largest graph to serve with the peer")
    p.add_argument("--peer-timeout", type=float, default=60.0, help="per-request limit (peer)")
    p.add_argument("--peer-load-timeout", type=float, default=300.0)
    p.add_argument("--peer-budget", type=float, help="seconds for all peer measurements of a size")
    p.add_argument("--server-timeout", type=float, default=600.0, help="our server's start limit")
    p.add_argument("--steps", default=",".join(sorted(STEPS)),
                   help="what to run, comma-separated (default: all of them)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/rabat-kg-bench"))
    p.add_argument("--out", type=Path, help="report file (default bench/RESULTS-latency.md; "
                                            "with --quick, WORKDIR/RESULTS-quick.md)")
    a = p.parse_args(argv)
    if a.slices is not None and a.slices < 1:
        p.error(f"--slices must be at least 1, not {a.slices}")
    steps = frozenset(x.strip() for x in a.steps.split(",") if x.strip())
    if not steps <= STEPS:
        p.error(f"unknown --steps {', '.join(sorted(steps - STEPS))}; known: {', '.join(sorted(STEPS))}")
    quick = a.quick
    sizes = ([int(x) for x in a.sizes.split(",")] if a.sizes
             else [7_000, 20_000] if quick else [7_000, 700_000])
    a.workdir.mkdir(parents=True, exist_ok=True)
    return Settings(
        sizes=sorted(sizes),
        duration_s=a.duration or (1.0 if quick else 10.0),
        throughput_slices=a.slices or 1,
        latency_budget_s=a.latency_budget or (0.3 if quick else 3.0),
        max_samples=30 if quick else 300,
        clients=a.clients,
        load_reps=a.load_reps or (1 if quick else 3),
        peer_max_triples=a.peer_max_triples or (10_000 if quick else 10**9),
        peer_timeout_s=a.peer_timeout,
        peer_load_timeout_s=a.peer_load_timeout,
        peer_budget_s=a.peer_budget or (60.0 if quick else 180.0),
        server_timeout_s=a.server_timeout,
        page_samples=30 if quick else 300,
        seed=a.seed,
        workdir=a.workdir,
        out=a.out or (a.workdir / "RESULTS-quick.md" if quick else BENCH_DIR / "RESULTS-latency.md"),
        steps=steps,
    )


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    started = time.monotonic()
    info = machine.describe()
    info["peer"] = peer_version()
    info["command"] = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    log(f"machine: {info['cpu']} x{info['nproc']}, {info['ram_gb']:.1f} GB; load {info['loadavg']}")
    vocab_gaps = missing_terms(ONTOLOGY_FILE)
    if vocab_gaps:
        log(f"note: generator terms not in the ontology: {vocab_gaps}")
    sizes = [bench_size(t, s) for t in s.sizes]
    bundled: dict[str, Any] = {"ok": False, "error": "not run (--steps)"}
    if "bundled" in s.steps:
        log("bundled graph: load and validate")
        bundled = median_probe("bundled", None, s.load_reps, s.server_timeout_s)
    info["loadavg_end"] = machine.loadavg()
    info["elapsed_s"] = time.monotonic() - started
    raw = {"machine": info, "settings": {k: str(v) for k, v in asdict(s).items()},
           "sizes": [asdict(r) for r in sizes], "bundled": bundled, "vocab_gaps": vocab_gaps}
    raw_path = s.workdir / (s.out.stem + ".json")
    raw_path.write_text(json.dumps(raw, indent=1, default=str))
    text = report.render(raw)
    s.out.write_text(text)
    print(report.targets_table(raw))
    log(f"wrote {s.out} and {raw_path} in {info['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
