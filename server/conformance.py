"""The SHACL report of the served release, computed once per data version and shared.

Validation (pySHACL) is slow and holds the GIL, so it never runs in a request: the first page
that needs the report starts a background thread, which fetches the whole graph from the backend
and runs `graph.validate.validate_ntriples` in a child process (`python -m server.conformance`:
N-Triples on stdin, the result pickled on stdout). Until it is ready, pages say "pending".
Graphs over LIVE_VALIDATION_MAX_TRIPLES are not validated live (a release served from the
bundled engine was validated when it was loaded; pages say so).
"""

from __future__ import annotations

import itertools
import logging
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from graph.engine.base import Backend
from graph.validate import ValidationResult, validate_ntriples
from server import http, site
from server.state import get_backend

log = logging.getLogger("rabat_kg.conformance")

PAGE_WAIT_S = 20.0  # how long /validation waits for a report being computed
# The report of a small release is ready within moments of the first request that asked for
# it: entity pages wait for it until this long after it started, rather than show "pending"
# (not this long each: on a loaded machine every page would take that long until it ends).
PENDING_WAIT_S = 2.0
_starting = threading.Lock()  # one computation per release, even when two first requests race


@dataclass
class State:
    """Where the report of one version stands."""

    version: str
    done: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    report: ValidationResult | None = None
    reason: str | None = None  # why there is no report (too large, failed)
    validated_at_load: bool = False


def state() -> State:
    """The state for the served version, starting the computation on first use."""
    with _starting:
        return site.per_version("conformance", _start)


def _start() -> State:
    backend = get_backend()
    config = current_app.config
    current = State(backend.version(),
                    validated_at_load=bool(config["VALIDATE_ON_START"]) and not config["STORE_URL"])
    limit = int(config["LIVE_VALIDATION_MAX_TRIPLES"])
    count = site.triple_count()
    if count > limit:
        current.reason = (f"live validation is not run on graphs of more than {limit} triples "
                          f"(this one has {count})")
        current.done.set()
        return current
    threading.Thread(target=_compute, args=(current, backend, float(config["VALIDATION_TIMEOUT_S"])),
                     name=f"validate-{current.version}", daemon=True).start()
    return current


def status_for(iri: str) -> dict[str, Any]:
    """The entity's conformance for its page: conforms / violations / pending / unknown (a page
    saying "pending", or that the report could not be had, is marked provisional)."""
    try:
        st = state()
    except Exception as exc:  # the page must render even if the report cannot be had
        log.warning("no conformance state", exc_info=True)
        http.provisional()
        return {"state": "unknown", "reason": f"the report could not be had: {exc}", "results": []}
    waited = time.monotonic() - st.started
    if st.report is None and not st.done.wait(timeout=max(0.0, PENDING_WAIT_S - waited)):
        http.provisional()
        return {"state": "pending", "reason": None, "results": []}
    if st.report is None:
        return {"state": "conforms-at-load" if st.validated_at_load else "unknown", "reason": st.reason,
                "results": []}
    results = [v for v in st.report.violations
               if (focus := v.focus_iri or "") == iri or focus.startswith(iri + "#")]
    violated = any(v.severity == "Violation" for v in results)
    return {"state": "violations" if violated else "conforms", "reason": None, "results": results}


def grouped(result: ValidationResult) -> list[dict[str, Any]]:
    """Results grouped by focus node (the report is sorted by it), each with its node's link."""
    return [{"focus": focus, "href": site.local_href(iri) if iri else None, "results": list(vs)}
            for (focus, iri), vs in itertools.groupby(result.violations, lambda v: (v.focus, v.focus_iri))]


def _compute(st: State, backend: Backend, timeout_s: float) -> None:
    try:
        nt = backend.execute("CONSTRUCT WHERE { ?s ?p ?o }", fmt="nt", lane="light", max_rows=None).body
        proc = subprocess.run([sys.executable, "-m", "server.conformance"], input=nt,
                              capture_output=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or "failed")
        st.report = pickle.loads(proc.stdout)  # as `main` wrote it
    except Exception as exc:  # never let a failed validation break the pages
        log.error("validation of release %s failed: %s", st.version, exc)
        st.reason = f"the validation report could not be computed: {exc}"
    finally:
        st.done.set()


def main() -> int:
    """The child process: validate N-Triples from stdin, write the result (pickled) on stdout."""
    sys.stdout.buffer.write(pickle.dumps(validate_ntriples(sys.stdin.buffer.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
