"""The pages' cache of derived values: one release at a time, in the app's extensions."""

from __future__ import annotations

from flask import Flask

from server.site import EXTENSION, LRU_SIZE, ReleaseCache, release_cache


def test_values_are_computed_once_per_release_and_forgotten_with_it() -> None:
    cache = ReleaseCache()
    calls: list[str] = []

    def compute(value: str) -> str:
        calls.append(value)
        return value

    assert cache.get("v1", "count", lambda: compute("a")) == "a"
    assert cache.get("v1", "count", lambda: compute("b")) == "a"
    assert cache.get("v1", ("timeline", "togo"), lambda: compute("t1"), lru=True) == "t1"
    assert cache.get("v2", "count", lambda: compute("c")) == "c"  # a new release
    assert cache.get("v2", ("timeline", "togo"), lambda: compute("t2"), lru=True) == "t2"
    assert calls == ["a", "t1", "c", "t2"]
    assert cache.version == "v2" and list(cache.values) == ["count"]


def test_the_lru_part_keeps_the_most_recent() -> None:
    cache = ReleaseCache()
    for n in range(LRU_SIZE + 10):
        cache.get("v1", ("timeline", str(n)), lambda n=n: n, lru=True)  # type: ignore[misc]
    assert len(cache.lru) == LRU_SIZE
    assert ("timeline", "0") not in cache.lru and ("timeline", str(LRU_SIZE + 9)) in cache.lru


def test_each_app_has_its_own_cache() -> None:
    one, two = Flask("one"), Flask("two")
    with one.app_context():
        first = release_cache()
        assert release_cache() is first and one.extensions[EXTENSION] is first
    with two.app_context():
        assert release_cache() is not first
