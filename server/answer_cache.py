"""Finished answers kept in memory, keyed by their strong ETag.

A GET's ETag is made from the release version and everything the answer depends on (path,
arguments, negotiated format, language, coding: `server.http.etag_for`), so an answer under one
tag is the same bytes until the release changes: a repeated page, document or query is sent
from here without running its view or reaching the store. An entry lives no longer than the
`max-age` proxies are told (a query calling NOW() or RAND() is as fresh here as in a proxy);
a new release empties the cache. Bounded by the memory its entries take (bodies, headers and
the Python objects holding them: a small answer counts about 3 KB, so many tiny ones cannot
exceed the bound), least recently used first out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import NamedTuple

# What an entry costs beyond its text, in CPython objects (str, tuple, list, the dict's slot):
# per header, and per entry. tests/test_answer_cache.py checks with tracemalloc that what
# thousands of tiny answers really hold stays within what they are counted for.
HEADER_OVERHEAD = 180
ENTRY_OVERHEAD = 400


class Answer(NamedTuple):
    """A finished 200 answer: its headers (as sent, less per-request ones) and body."""

    headers: list[tuple[str, str]]
    body: bytes
    stored: float  # time.monotonic() when kept
    size: int  # the memory it is counted for


def entry_size(headers: list[tuple[str, str]], body: bytes) -> int:
    """The memory an entry is counted for: its body, its headers and their objects."""
    return len(body) + sum(len(n) + len(v) + HEADER_OVERHEAD for n, v in headers) + ENTRY_OVERHEAD


class AnswerCache:
    """An LRU of answers by ETag for one release at a time, counted at most `max_bytes`."""

    def __init__(self, max_bytes: int, max_age_s: float) -> None:
        self.max_bytes, self.max_age_s = max_bytes, max_age_s
        self.max_entry_bytes = max_bytes // 16  # one large dump-sized answer never evicts the rest
        self._entries: OrderedDict[str, Answer] = OrderedDict()
        self._bytes = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def get(self, version: str, tag: str) -> Answer | None:
        """The answer kept under `tag` for this release, if it is still fresh."""
        with self._lock:
            if version != self._version:
                return None
            answer = self._entries.get(tag)
            if answer is None:
                return None
            if time.monotonic() - answer.stored > self.max_age_s:
                self._drop(tag)
                return None
            self._entries.move_to_end(tag)
            return answer

    def put(self, version: str, tag: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Keep an answer (unless it is larger than a sixteenth of the cache)."""
        size = entry_size(headers, body)
        if size > self.max_entry_bytes:
            return
        with self._lock:
            if version != self._version:  # a new release: nothing kept can be served again
                self._entries.clear()
                self._bytes, self._version = 0, version
            if tag in self._entries:
                self._drop(tag)
            self._entries[tag] = Answer(headers, body, time.monotonic(), size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The memory the entries are counted for."""
        return self._bytes

    def _drop(self, tag: str) -> None:
        self._bytes -= self._entries.pop(tag).size
