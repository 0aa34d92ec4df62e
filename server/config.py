"""Server defaults; override with RABAT_KG_* environment variables or a test config."""

from __future__ import annotations

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
# Executor processes per gunicorn worker and lane; how long a request waits for one (then 503).
HEAVY_EXECUTORS = 2
LIGHT_EXECUTORS = 2
ADMISSION_WAIT_S = 0.75
# Second guard in executors: seccomp filter refusing non-local sockets.
ENGINE_SECCOMP = True
# Executors copy the store's pages when forked instead of page by page while answering
# (graph/engine/prefault.py): each holds its own copy of the store's memory.
ENGINE_PREFAULT = True
# Named graph a remote store serves the data from (None: graph.namespaces.DATA_GRAPH).
STORE_GRAPH: str | None = None

# Public base URL of this server for absolute links in VoID/DCAT (dumps, endpoint);
# None: the host that served the request. Data IRIs always stay https://w3id.org/rabat-kg/.
PUBLIC_URL: str | None = None
# The live SHACL report (/validation, conformance badges) is computed per release by a child
# process; above this size it is skipped and the page says why.
LIVE_VALIDATION_MAX_TRIPLES = 200_000
VALIDATION_TIMEOUT_S = 600.0

# Per-client budget on the query routes (429 + Retry-After past it); 0 turns it off.
RATE_LIMIT_PER_S = 20.0
RATE_LIMIT_BURST = 40.0

# Answer plain `GET /sparql?query=` requests without Flask's dispatch (server/fastpath.py).
FAST_SPARQL = True

# HTTP caching of results, pages and dumps (seconds).
CACHE_MAX_AGE = 300

# UI languages, first is the default.
LANGUAGES = ["en", "fr"]
