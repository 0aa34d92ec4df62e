"""Turn the raw measurements of a run into bench/RESULTS.md and the targets table of issue 5."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mix import PROBES, query_mix

LOOKUPS = ("timeline", "describe")
HEAVY = ("per-domain", "text-filter", "funder-join")
HTTP_OVERHEAD_MS = 2.0


@dataclass(frozen=True)
class Target:
    text: str
    measured: str
    met: bool | None  # None: could not be measured


def flat(text: Any, limit: int = 300) -> str:
    """Text safe in one Markdown table cell; long text keeps its end (where errors say what)."""
    one_line = " ".join(str(text).split())
    if len(one_line) > limit:
        one_line = "…" + one_line[-limit:]
    return one_line.replace("|", "\\|")


def num(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def size_label(size: dict[str, Any]) -> str:
    t = size["triples"]
    return f"{t / 1000:,.0f}k" if t < 10**6 else f"{t / 10**6:,.1f}M"


def rps(server: dict[str, Any], key: str) -> float | None:
    value = server.get("throughput", {}).get(key, {}).get("requests_per_s")
    return float(value) if value else None


def p50(server: dict[str, Any], key: str) -> float | None:
    value = server.get("latency", {}).get(key, {}).get("p50_ms")
    return float(value) if value is not None else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def times(x: float | None) -> str:
    """A ratio as text: `12.3x`, or a dash."""
    return f"{x:,.1f}x" if x is not None else "—"


def throughput_target(size: dict[str, Any], keys: tuple[str, ...], factor: float,
                      what: str) -> Target:
    ours, peer = size["servers"].get("ours", {}), size["servers"].get("peer", {})
    ratios = {k: ratio(rps(ours, k), rps(peer, k)) for k in keys}
    measured = ", ".join(f"{k} {times(r)}" for k, r in ratios.items())
    met = None if any(r is None for r in ratios.values()) else all(
        r >= factor for r in ratios.values() if r is not None)
    return Target(f"HTTP throughput >= {factor:g}x rdflib-endpoint on {what}, at "
                  f"{size_label(size)} triples", measured, met)


def targets(raw: dict[str, Any]) -> list[Target]:
    """Issue 5, item 5, measured."""
    sizes = raw["sizes"]
    small, large = sizes[0], sizes[-1]
    out = [throughput_target(small, LOOKUPS, 5, "simple lookups (timeline, describe)"),
           throughput_target(small, HEAVY, 30, "aggregation, text filter and join")]

    worst: tuple[float, str] | None = None
    missing = []
    for size in sizes:
        ours = size["servers"].get("ours", {})
        for key in (*LOOKUPS, *HEAVY):
            http, floor = p50(ours, key), size["inprocess"].get(key, {}).get("p50_ms")
            if http is None or floor is None:
                missing.append(f"{key}@{size_label(size)}")
                continue
            over = http - floor
            if worst is None or over > worst[0]:
                worst = (over, f"{key} at {size_label(size)}")
    if worst is None:
        out.append(Target("HTTP latency p50 <= in-process engine time + 2 ms", "not measured", None))
    else:
        measured = f"worst: {signed(worst[0])} ms ({worst[1]})"
        if missing:
            measured += f"; not measured: {', '.join(missing)}"
        out.append(Target("HTTP latency p50 <= in-process engine time + 2 ms", measured,
                          None if missing else worst[0] <= HTTP_OVERHEAD_MS))

    page = large["servers"].get("ours", {}).get("page", {})
    page_p50 = page.get("p50_ms")
    out.append(Target(f"entity page p50 <= 10 ms at {size_label(large)} triples",
                      f"{num(page_p50)} ms" if page_p50 is not None
                      else f"not measured ({flat(page.get('note') or 'no page', 120)})",
                      None if page_p50 is None else page_p50 <= 10))

    bundled = raw.get("bundled", {})
    out.append(Target("bundled graph loads and validates in <= 2 s",
                      f"{num(bundled.get('seconds'))} s" if bundled.get("ok")
                      else flat(bundled.get("error"), 160) if bundled.get("error") == "not run (--steps)"
                      else f"failed: {flat(bundled.get('error'), 160)}",
                      bundled["seconds"] <= 2 if bundled.get("ok") else None))

    bare, serve = large["load"].get("bare", {}), large["load"].get("serve", {})
    if bare.get("ok") and serve.get("ok"):
        t = serve["seconds"] / bare["seconds"]
        m = serve["peak_delta_mb"] / bare["peak_delta_mb"]
        measured = f"{serve['seconds']:.2f} s vs {bare['seconds']:.2f} s = {t:.2f}x"
        release = large["load"].get("release", {})
        if release.get("ok"):
            measured += (f" (without SHACL: {release['seconds']:.2f} s = "
                         f"{release['seconds'] / bare['seconds']:.2f}x)")
        out.append(Target(f"a {size_label(large)}-triple file loads in <= 2x pyoxigraph's bulk load",
                          measured, t <= 2))
        out.append(Target("load memory (peak) <= 2x the engine's own",
                          f"{serve['peak_delta_mb']:.0f} MB vs {bare['peak_delta_mb']:.0f} MB = {m:.2f}x",
                          m <= 2))
    else:
        why = flat(serve.get("error") or bare.get("error") or "the load step was not run", 200)
        out.append(Target(f"a {size_label(large)}-triple file loads in <= 2x pyoxigraph's bulk load",
                          why if not (serve or bare) else f"failed: {why}", None))
        out.append(Target("load memory (peak) <= 2x the engine's own", "not measured", None))
    return out


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def targets_table(raw: dict[str, Any]) -> str:
    rows = ["| Target | Measured | Met |", "| --- | --- | --- |"]
    rows += [f"| {t.text} | {t.measured} | {met_text(t.met)} |" for t in targets(raw)]
    return "\n".join(rows)


def load_section(size: dict[str, Any]) -> list[str]:
    lines = ["| Load | Time | Peak memory (over the process's baseline) | Retained | Notes |",
             "| --- | --- | --- | --- | --- |"]
    names = {"bare": "pyoxigraph `Store.bulk_load` (floor)",
             "serve": "our server's load path (`state.build_backend`, as `serve --data`)",
             "release": "… of which without SHACL (`make_release(validate=False)`, the same bulk load)"}
    for key, name in names.items():
        r = size["load"].get(key, {})
        if not r:
            lines.append(f"| {name} | not run | | | |")
        elif r.get("ok"):
            runs = r.get("runs", [])
            lines.append(f"| {name} | {r['seconds']:.2f} s | {r['peak_delta_mb']:.0f} MB "
                         f"| {r['retained_delta_mb']:.0f} MB | runs {runs}, {r['triples']:,} triples |")
        else:
            lines.append(f"| {name} | failed | | | {flat(r.get('error'))} |")
    for key, name in (("ours", "our server, launch to first /health answer"),
                      ("peer", "rdflib-endpoint, launch to first answer")):
        srv = size["servers"].get(key, {})
        mem = srv.get("memory", {})
        if "ready_s" in srv:
            lines.append(f"| {name} | {srv['ready_s']:.1f} s | {mem.get('peak_pss_mb', 0):.0f} MB "
                         f"(PSS of all {srv.get('processes')} processes) "
                         f"| {mem.get('pss_mb', 0):.0f} MB | |")
        else:
            lines.append(f"| {name} | — | | | {flat(srv.get('error'))} |")
    return lines


def latency_section(size: dict[str, Any], titles: dict[str, str]) -> list[str]:
    ours, peer = size["servers"].get("ours", {}), size["servers"].get("peer", {})
    lines = ["| Query | Rows | In-process p50 / p95 (floor) | Ours HTTP p50 / p95 | Ours - floor "
             "| Ours: engine p50 (Server-Timing) | Peer HTTP p50 / p95 | Peer / ours (p50) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, title in titles.items():
        f = size["inprocess"].get(key, {})
        o = ours.get("latency", {}).get(key, {})
        p = peer.get("latency", {}).get(key, {})
        rows = {str(x.get("rows")) for x in (f, o, p) if x.get("rows") is not None}
        rows_text = "/".join(sorted(rows)) + (" (differ!)" if len(rows) > 1 else "")
        over = (o["p50_ms"] - f["p50_ms"]) if o.get("p50_ms") is not None and f.get("p50_ms") \
            is not None else None

        def pair(x: dict[str, Any]) -> str:
            if x.get("p50_ms") is None:
                return f"— {flat(x.get('note', ''), 80)}".strip()
            return f"{num(x['p50_ms'])} / {num(x['p95_ms'])} ms (n={x['n']})"

        engine = o.get("engine_p50_ms")
        lines.append(f"| {title} | {rows_text} | {pair(f)} | {pair(o)} | "
                     f"{signed(over) + ' ms' if over is not None else '—'} | "
                     f"{num(engine) + ' ms' if engine is not None else '—'} | {pair(p)} | "
                     f"{times(ratio(p.get('p50_ms'), o.get('p50_ms')))} |")
    return lines


def throughput_section(size: dict[str, Any], titles: dict[str, str], clients: str) -> list[str]:
    ours, peer = size["servers"].get("ours", {}), size["servers"].get("peer", {})
    lines = [f"| Query ({clients} concurrent clients) | Ours req/s | Peer req/s | Ours / peer "
             "| Errors (ours / peer) |", "| --- | --- | --- | --- | --- |"]
    for key, title in titles.items():
        o = ours.get("throughput", {}).get(key, {})
        p = peer.get("throughput", {}).get(key, {})

        def cell(x: dict[str, Any]) -> str:
            v = x.get("requests_per_s")
            return num(v, 1) if v is not None else flat(x.get("note") or "—", 80)

        lines.append(f"| {title} | {cell(o)} | {cell(p)} | "
                     f"{times(ratio(rps(ours, key), rps(peer, key)))} | "
                     f"{o.get('errors', '—')} / {p.get('errors', '—')} |")
    return lines


def render(raw: dict[str, Any]) -> str:
    m = raw["machine"]
    settings = raw["settings"]
    v = m["versions"]
    titles = {q.key: q.title for q in query_mix(1)}
    latency_titles = {**{p.key: p.title for p in PROBES}, **titles}
    out = [
        "# Benchmark results",
        "",
        f"Run on **{m['date']}** with `{m['command']}` (commit {m['commit']}), "
        f"{m['elapsed_s'] / 60:.1f} minutes. How to read this file: `bench/README.md`.",
        "",
        f"- Machine: {m['cpu']}, `nproc` = {m['nproc']}, {m['ram_gb']:.1f} GB RAM, {m['os']}; "
        f"load average at start {m['loadavg']}, at end {m['loadavg_end']} "
        "(the machine may be shared: compare ratios, not absolute numbers).",
        f"- Versions: Python {m['python']}, pyoxigraph {v['pyoxigraph']}, rdflib {v['rdflib']}, "
        f"pyshacl {v['pyshacl']}, Flask {v['flask']}, waitress {v['waitress']}; "
        f"peer: {m['peer']} with its default in-memory store.",
        *wake_line(m),
        f"- Settings: throughput {settings['duration_s']} s per query with {settings['clients']} "
        f"client processes; latency up to {settings['latency_budget_s']} s or "
        f"{settings['max_samples']} samples per query; median of {settings['load_reps']} loads.",
        "",
        "## Targets (issue 5, item 5)",
        "",
        targets_table(raw),
        "",
    ]
    if raw.get("vocab_gaps"):
        out += ["Note: the generator uses terms the ontology does not declare: "
                + ", ".join(f"`{t}`" for t in raw["vocab_gaps"]), ""]
    for size in raw["sizes"]:
        label = size_label(size)
        out += [f"## {label} triples ({size['triples']:,} triples, {size['activities']:,} activities, "
                f"{size['file_mb']:.1f} MB of N-Triples)", "",
                "### Load and memory", "", *load_section(size), "",
                "### Latency (one client, sequential, distinct query texts)", "",
                *latency_section(size, latency_titles), "",
                "### Throughput", "", *throughput_section(size, titles, str(settings["clients"])), ""]
        page = size["servers"].get("ours", {}).get("page")
        if page is not None:
            text = (f"p50 {num(page['p50_ms'])} ms, p95 {num(page['p95_ms'])} ms over {page['n']} pages"
                    if page.get("p50_ms") is not None else f"not available: {page.get('note')}")
            out += ["### Entity page (`GET /doc/activity/<slug>`, Accept: text/html)", "", text, ""]
        for key in ("ours", "peer"):
            err = size["servers"].get(key, {}).get("error")
            if err:
                tail = "\n".join(err.splitlines()[-12:])
                out += [f"{'Our server' if key == 'ours' else 'rdflib-endpoint'}:", "",
                        "```text", tail, "```", ""]
    b = raw.get("bundled", {})
    out += ["## Bundled graph", "",
            (f"Loaded and validated as at server start in {b['seconds']:.2f} s "
             f"({b['triples']:,} triples, peak +{b['peak_delta_mb']:.0f} MB)." if b.get("ok")
             else f"Failed: {str(b.get('error'))[:600]}"), ""]
    return "\n".join(out)


def wake_line(m: dict[str, Any]) -> list[str]:
    """The machine's wake-up cost (bench/machine.py `wake_cost`), if the run measured it."""
    w = m.get("wake")
    if not w:
        return []
    return [f"- Wake-up cost: a round trip between two processes over a unix socket takes "
            f"{w['back_to_back_us']:.0f} us back to back and {w['after_idle_us']:.0f} us after "
            f"{w['idle_ms']:.0f} ms idle (cpuidle driver: {m.get('cpuidle', 'unknown')}). An HTTP "
            "request to our server crosses three processes; the in-process floor crosses none."]


def signed(x: float) -> str:
    """A difference with its sign (below the floor is noise in the floor, shown as such)."""
    return ("+" if x >= 0 else "\u2212") + num(abs(x))


def main(argv: list[str]) -> int:
    """Re-render a report from the raw JSON a run left in its work dir."""
    if len(argv) != 2:
        print("usage: python bench/report.py RAW.json OUT.md", file=sys.stderr)
        return 2
    raw = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(render(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
