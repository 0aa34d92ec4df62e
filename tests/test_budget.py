"""The per-client budget of query time (server/budget.py): arithmetic and client keys."""

from __future__ import annotations

import pytest

from server.budget import Buckets, client_key


def test_cheap_requests_run_through_and_expensive_ones_run_out() -> None:
    buckets = Buckets(capacity=30.0, refill=0.5, request_cost=0.002)
    now = 100.0
    for _ in range(1000):  # 1,000 queries of 1 ms in 2 s: 3 s of budget, far from 30
        assert buckets.wait_s("a", now) == 0.0
        buckets.spend("a", 0.001, now)
        now += 0.002
    for _ in range(8):  # queries that each run to a 10 s limit, back to back: -10 + 5 each
        buckets.spend("b", 10.0, now)
        now += 10.0
    assert buckets.wait_s("b", now - 10.0) > 0  # right after the eighth: 30 - 80 + 35 < 0
    # ... until it earns time back: Retry-After is exactly the deficit over the refill rate
    wait = buckets.wait_s("b", now)
    assert buckets.wait_s("b", now + wait) == 0.0


def test_a_client_is_never_slowed_by_another() -> None:
    buckets = Buckets(capacity=1.0, refill=0.1, request_cost=0.0)
    buckets.spend("greedy", 5.0, 0.0)
    assert buckets.wait_s("greedy", 0.0) > 0
    assert buckets.wait_s("polite", 0.0) == 0.0


@pytest.mark.parametrize("a,b,same", [
    ("127.0.0.1", "127.0.17.12", False),  # issue 18: these shared a bucket
    ("10.0.0.1", "10.0.0.1", True),
    ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one host's allocation
    ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
    ("::ffff:192.0.2.1", "192.0.2.1", True),  # an IPv4-mapped address is the IPv4 client
])
def test_clients_are_keyed_by_full_address_ipv6_by_64(a: str, b: str, same: bool) -> None:
    assert (client_key(a) == client_key(b)) is same
