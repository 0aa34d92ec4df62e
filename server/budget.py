"""A per-client budget of engine time on every route that queries the store (429 past it).

As WDQS does, a client spends seconds of query time, not a count of requests: each request
that reaches the store costs the engine time of its queries plus a small fixed charge, so a
script of many cheap queries runs through while a client sending expensive ones is slowed.
A client whose bucket is empty gets 429 with Retry-After (the time to earn back the deficit).

Clients are keyed by their full address, IPv6 by its /64 (one host's usual allocation).
Buckets live in this one server process (waitress: threads, no workers to share with).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import Flask, current_app, g, has_request_context, request

from graph.engine.base import Backend, Form, Lane, QueryResult
from graph.errors import RateLimited

EXTENSION = "rabat_kg_budget"
MAX_CLIENTS = 65536  # least recently seen clients are forgotten past this (a full bucket again)
FREE_ROUTES = frozenset({"static", "dataset.health"})  # never reach the store


class Buckets:
    """Per client: up to `capacity` seconds of engine time, refilled at `refill` seconds/second."""

    def __init__(self, capacity: float, refill: float, request_cost: float) -> None:
        self.capacity, self.refill, self.request_cost = capacity, refill, request_cost
        self._left: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (left, when)
        self._lock = threading.Lock()

    def _level(self, client: str, now: float) -> float:
        left, when = self._left.get(client, (self.capacity, now))
        return min(self.capacity, left + (now - when) * self.refill)

    def wait_s(self, client: str, now: float | None = None) -> float:
        """0.0 if the client may go on, else the seconds until its budget is positive again."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level = self._level(client, now)
        return 0.0 if level > 0 else -level / self.refill + 0.001

    def spend(self, client: str, seconds: float, now: float | None = None) -> None:
        """Charge `seconds` of engine time (plus the fixed request cost)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._left[client] = (self._level(client, now) - seconds - self.request_cost, now)
            self._left.move_to_end(client)
            while len(self._left) > MAX_CLIENTS:
                self._left.popitem(last=False)


@functools.lru_cache(maxsize=4096)  # each budgeted request asks twice; ipaddress parses slowly
def client_key(address: str | None) -> str:
    """The bucket of an address: the address itself, an IPv6 address by its /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "-"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class MeteredBackend:
    """The app's backend as seen by one request: adds each query's engine time to `g`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        started = time.perf_counter()
        try:
            return self.backend.execute(query, fmt=fmt, lane=lane, max_rows=max_rows, form=form)
        finally:
            if has_request_context():  # the current request's bill of store time
                g.store_seconds = g.get("store_seconds", 0.0) + time.perf_counter() - started

    select = Backend.select  # (through this class's execute: metered too)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def init_app(app: Flask) -> None:
    """Budget the store routes when BUDGET_SECONDS > 0."""
    capacity = float(app.config.get("BUDGET_SECONDS", 0) or 0)
    if capacity <= 0:
        return
    app.extensions[EXTENSION] = Buckets(capacity, float(app.config["BUDGET_REFILL_PER_S"]),
                                        float(app.config["BUDGET_REQUEST_COST_S"]))
    app.before_request(check_budget)
    app.teardown_request(bill)


def check_budget() -> None:
    """Refuse with 429 + Retry-After while the client's budget is spent (not for preflights)."""
    if request.method == "OPTIONS" or request.endpoint in FREE_ROUTES or request.endpoint is None:
        return
    buckets: Buckets = current_app.extensions[EXTENSION]
    wait = buckets.wait_s(client_key(request.remote_addr))
    if wait > 0:
        raise RateLimited(
            "this client has used its budget of query time "
            f"({buckets.capacity:g} s, earned back at {buckets.refill:g} s per second); "
            f"retry in {math.ceil(wait)} s", retry_after=max(1, math.ceil(wait)))


def bill(_exc: BaseException | None) -> None:
    """After the request: charge what it cost the store (nothing for routes that never query)."""
    if "store_seconds" not in g:
        return
    current_app.extensions[EXTENSION].spend(client_key(request.remote_addr), g.store_seconds)
