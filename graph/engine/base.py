"""The interface every backend offers to the server, and the result it returns.

The library (intake, stored queries, descriptions) and every engine import these names from
here, so neither imports the other.

Lanes: "light" for our own short queries (pages, stored queries), "user" for SPARQL of unknown
cost (it cannot take every light slot), "heavy" for what is known to be expensive (dumps); a
query past the light budget moves to the heavy lane or is stopped (graph/engine/pool.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Lane = Literal["light", "user", "heavy"]
Form = Literal["select", "ask", "construct", "describe"]
# A term as in SPARQL JSON results: {"type": "uri"|"literal"|"bnode", "value": ..., ...}
Term = dict[str, str]
Row = dict[str, Term]


@dataclass(frozen=True)
class QueryResult:
    """A complete, serialised answer: never sent before it is whole."""

    body: bytes
    media_type: str
    form: Form
    count: int  # rows (SELECT), 1 (ASK), triples (CONSTRUCT/DESCRIBE)
    truncated: bool = False
    elapsed_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What the server needs from a store: run a checked query, answer small lookups.

    The engines subclass it: they inherit `select` (through `execute`) and a no-op `close`."""

    def version(self) -> str:
        """Identifier of the data release being served (the basis of ETags)."""
        ...

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        """Run a query already accepted by `graph.intake`, serialised in format key `fmt`;
        `form` is the one intake found (it travels with the query: no second lexing)."""
        ...

    def select(self, query: str, *, lane: Lane = "light") -> list[Row]:
        """Run a SELECT (our own queries: pages, lookups) and return its rows."""
        return rows_from_json(self.execute(query, fmt="json", lane=lane).body)

    def close(self) -> None:
        """Release processes, sockets or sessions."""
        return None  # (a body: not abstract, the in-process backend has nothing to release)


def rows_from_json(body: bytes) -> list[Row]:
    """Rows of a SPARQL JSON results document."""
    return list(json.loads(body).get("results", {}).get("bindings", []))
