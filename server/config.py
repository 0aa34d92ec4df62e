"""Server defaults; override with RABAT_KG_* environment variables or a test config."""

from __future__ import annotations

import json
import os
from typing import Any

# Data: None means the bundled graph (ontology + graph/data/*.ttl).
DATA_PATHS: list[str] | None = None
# Remote SPARQL 1.1 store URL; when set, everything is served from it.
STORE_URL: str | None = None
VALIDATE_ON_START = True

# Query limits (issue "Reliability and security").
QUERY_TIMEOUT_S = 10.0
MAX_ROWS = 10_000
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_STRING_BYTES = 8 * 1024
MAX_NESTING = 64
WORKER_MEMORY_MB = 1024
# Queries at once in each lane (graph/engine/pool.py): every query starts light and moves to
# the heavy lane when it runs past LIGHT_BUDGET_S; a request waits ADMISSION_WAIT_S for a slot.
LIGHT_EXECUTORS = 6
HEAVY_EXECUTORS = 2
RESERVED_LIGHT = 1  # light slots user SPARQL never takes: pages and stored queries keep them
LIGHT_BUDGET_S = 0.25
ADMISSION_WAIT_S = 0.75
WARM_EXECUTORS = 2  # kept ready (started with each release, replaced in the background)
# Releases up to this size are loaded into each executor's memory; larger ones are read from
# the on-disk store all executors share (graph/engine/executor.py).
ENGINE_MEMORY_STORE_MAX_TRIPLES = 200_000
# Second guard in executors: seccomp (no sockets but AF_UNIX) and Landlock (read-only files).
ENGINE_SECCOMP = True
ENGINE_LANDLOCK = True

# waitress (server/serve.py): worker threads, open connections, idle close, request limits.
THREADS = 8
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT_S = 30
MAX_HEADER_BYTES = 64 * 1024  # larger: 431 from waitress (the app answers 414 from 8 KiB)
MAX_REQUEST_BYTES = 1024 * 1024  # larger: 413 from waitress (the app answers 413 from 64 KiB)
# Named graph a remote store serves the data from (None: graph.namespaces.DATA_GRAPH).
STORE_GRAPH: str | None = None

# Public base URL of this server for absolute links in VoID/DCAT (dumps, endpoint);
# None: the host that served the request. Data IRIs always stay https://w3id.org/rabat-kg/.
PUBLIC_URL: str | None = None
# The live SHACL report (/validation, conformance badges) is computed per release by a child
# process; above this size it is skipped and the page says why.
LIVE_VALIDATION_MAX_TRIPLES = 200_000
VALIDATION_TIMEOUT_S = 600.0

# Per-client budget of store time on every route that queries it (server/budget.py): up to
# BUDGET_SECONDS, earned back at BUDGET_REFILL_PER_S, each request also costing
# BUDGET_REQUEST_COST_S; 429 + Retry-After past it. BUDGET_SECONDS = 0 turns it off.
BUDGET_SECONDS = 30.0
BUDGET_REFILL_PER_S = 0.5
BUDGET_REQUEST_COST_S = 0.002

# HTTP caching of results, pages and dumps (seconds).
CACHE_MAX_AGE = 300
# Answers kept in memory by ETag, each for at most CACHE_MAX_AGE (server/answer_cache.py);
# 0 turns the cache off.
ANSWER_CACHE_MB = 16

# UI languages, first is the default.
LANGUAGES = ["en", "fr"]


def from_environment() -> dict[str, Any]:
    """These defaults, each overridden by its RABAT_KG_<NAME> environment variable: JSON if it
    parses, else text, as Flask's `from_prefixed_env` reads them. Read without Flask, so that
    `rabat-kg serve` starts building the release before Flask is imported."""
    config = {name: value for name, value in globals().items() if name.isupper()}
    for name, text in os.environ.items():
        if name.startswith("RABAT_KG_"):
            try:
                config[name.removeprefix("RABAT_KG_")] = json.loads(text)
            except ValueError:
                config[name.removeprefix("RABAT_KG_")] = text
    return config
