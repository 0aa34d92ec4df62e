"""Load a file one way in a fresh process and print time and memory as one JSON line.

Run by `bench/run.py` as a subprocess so each measurement starts from an empty heap and
`ru_maxrss` is the peak of that load alone:

    python bench/loadprobe.py bare FILE.nt      # pyoxigraph Store.bulk_load: the floor
    python bench/loadprobe.py serve FILE.nt     # what `rabat-kg serve --data FILE` does at start
    python bench/loadprobe.py release FILE.nt   # the same without SHACL validation
    python bench/loadprobe.py bundled           # the bundled graph, loaded and validated
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = ("bare", "serve", "release", "bundled")


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def serve_config(data: list[str] | None) -> dict[str, Any]:
    """The app config `rabat-kg serve [--data FILE]` builds (see server/serve.py)."""
    from graph.paths import ONTOLOGY_FILE
    from server import config as defaults

    config = {k: getattr(defaults, k) for k in dir(defaults) if k.isupper()}
    if data:
        config["DATA_PATHS"] = [str(ONTOLOGY_FILE), *data]
    return config


def load(mode: str, file: str | None) -> Any:
    """Load `file` (or the bundled graph) the way `mode` names; return what keeps it alive."""
    if mode == "bare":
        import pyoxigraph as ox

        store = ox.Store()
        store.bulk_load(path=file, format=ox.RdfFormat.N_TRIPLES)
        return store, len(store)
    if mode in ("serve", "bundled"):
        from server.state import build_backend

        config = serve_config([file] if mode == "serve" and file else None)
        backend = build_backend(config)
        return backend, count(backend)
    if mode == "release":
        from graph.engine.inline import InlineBackend
        from graph.paths import ONTOLOGY_FILE
        from graph.release import make_release

        # The server's load path (as `serve --data`) minus the SHACL step.
        release = make_release([ONTOLOGY_FILE, Path(str(file))], validate=False)
        backend = InlineBackend(release.ntriples, release.version)
        return backend, count(backend)
    raise SystemExit(f"unknown mode {mode!r}; one of {', '.join(MODES)}")


def count(backend: Any) -> int:
    rows = backend.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    return int(rows[0]["n"]["value"])


def main(argv: list[str]) -> int:
    mode, file = argv[0], (argv[1] if len(argv) > 1 else None)
    # Import what the mode needs before the baseline, so only the load itself is measured.
    import psutil  # noqa: F401
    import pyoxigraph  # noqa: F401

    if mode != "bare":
        import graph.release  # noqa: F401
        import server.state  # noqa: F401
    gc.collect()
    baseline = rss_bytes()
    started = time.perf_counter()
    try:
        kept, triples = load(mode, file)
    except Exception as exc:  # a failed load is a result to report, not a crash
        print(json.dumps({"mode": mode, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}))
        return 1
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    retained = rss_bytes()
    print(json.dumps({"mode": mode, "ok": True, "seconds": seconds, "triples": triples,
                      "baseline_mb": baseline / 2**20, "peak_mb": peak / 2**20,
                      "peak_delta_mb": (peak - baseline) / 2**20,
                      "retained_delta_mb": (retained - baseline) / 2**20}))
    del kept
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
