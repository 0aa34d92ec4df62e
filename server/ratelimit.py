"""A per-client budget for the routes that run queries (/sparql, /queries/...).

A token bucket per client address (DBpedia and WDQS answer abusive clients the same way:
429 with Retry-After). The buckets live in an anonymous shared memory map created when the
app is built, before gunicorn forks its workers, so every worker spends from the same
budget. Addresses hash into a fixed table: two clients may share a bucket, never more state.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import struct
import time
import zlib

from flask import Flask, current_app, request

from graph.errors import RateLimited

SLOTS = 4096
_SLOT = struct.Struct("dd")  # tokens left, monotonic time of the last update
LIMITED_BLUEPRINTS = frozenset({"sparql", "stored"})
EXTENSION = "rabat_kg_rate"  # app.extensions key of the app's TokenBuckets


class TokenBuckets:
    """`rate` requests per second per client, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._mem = mmap.mmap(-1, SLOTS * _SLOT.size)  # MAP_SHARED: survives fork, shared
        self._lock = multiprocessing.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        offset = (zlib.crc32(client.encode()) % SLOTS) * _SLOT.size
        with self._lock:
            tokens, last = _SLOT.unpack_from(self._mem, offset)
            tokens = self.burst if last == 0.0 else min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            _SLOT.pack_into(self._mem, offset, tokens - 1.0 if allowed else tokens, now)
        return 0.0 if allowed else (1.0 - tokens) / self.rate


def init_app(app: Flask) -> None:
    """Budget the query routes when RATE_LIMIT_PER_S > 0."""
    rate = float(app.config.get("RATE_LIMIT_PER_S", 0) or 0)
    if rate <= 0:
        return
    app.extensions[EXTENSION] = TokenBuckets(rate, float(app.config["RATE_LIMIT_BURST"]))
    app.before_request(check_budget)


def check_budget() -> None:
    """Refuse with 429 + Retry-After when the client's bucket is empty (not for preflights)."""
    if request.method == "OPTIONS" or request.blueprint not in LIMITED_BLUEPRINTS:
        return
    spend(current_app.extensions[EXTENSION], request.remote_addr)


def spend(buckets: TokenBuckets, client: str | None) -> None:
    """Take one token from `client`'s bucket.

    Raises:
        RateLimited: the bucket is empty (429, Retry-After: when the next token comes).
    """
    wait = buckets.take(client or "unknown")
    if wait > 0:
        raise RateLimited(
            f"more than {buckets.rate:g} queries per second from {client} "
            f"(bursts up to {buckets.burst:g}); retry after the delay in Retry-After",
            retry_after=max(1, math.ceil(wait)))
