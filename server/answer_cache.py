"""Finished answers kept in memory, keyed by their strong ETag.

A GET's ETag is made from the release version and everything the answer depends on (path,
arguments, negotiated format, language, coding: `server.http.etag_for`), so an answer under one
tag is the same bytes until the release changes: a repeated page, document or query is sent
from here without running its view or reaching the store. An entry lives no longer than the
`max-age` proxies are told (a query calling NOW() or RAND() is as fresh here as in a proxy);
a new release empties the cache. Bounded by total bytes, least recently used first out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import NamedTuple


class Answer(NamedTuple):
    """A finished 200 answer: its headers (as sent, less per-request ones) and body."""

    headers: list[tuple[str, str]]
    body: bytes
    stored: float  # time.monotonic() when kept


class AnswerCache:
    """An LRU of answers by ETag for one release at a time, at most `max_bytes` of bodies."""

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
        if len(body) > self.max_entry_bytes:
            return
        with self._lock:
            if version != self._version:  # a new release: nothing kept can be served again
                self._entries.clear()
                self._bytes, self._version = 0, version
            if tag in self._entries:
                self._drop(tag)
            self._entries[tag] = Answer(headers, body, time.monotonic())
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bodies' total size."""
        return self._bytes

    def _drop(self, tag: str) -> None:
        self._bytes -= len(self._entries.pop(tag).body)
