"""Row counts and cuts in the engine's SPARQL JSON or XML results, as the engine writes them.

`graph.engine.run` feeds each piece the engine writes to a RowParts, which stops the engine
one row past the cap. JSON is counted by `JsonScanner`, a small C scanner (`_rowscan.c`,
built with the package) that follows the strings: exact for every answer, 0.24 ms for the
838 KB of the benchmark's funder join at 701k triples where CPython's byte searches take
about 1 ms (`python bench/rowcount.py`). Where it could not be built (no C compiler),
`MarkCounter`'s byte-search rule counts JSON instead and hands the rare answer it cannot
count back to the caller. XML is always counted by `MarkCounter`, exactly.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Protocol

_rowscan: ModuleType | None
try:
    from graph.engine import _rowscan
except ImportError:  # built without a C compiler: MarkCounter counts JSON too
    _rowscan = None

COUNTED_FORMATS = ("json", "xml")  # result format keys whose rows a RowCounter counts
NATIVE = _rowscan is not None  # whether JSON rows are counted by the C scanner
_BINDINGS_OPEN = re.compile(rb'"bindings"\s*:\s*\[')


class RowCounter(Protocol):
    """What counts the rows of one answer, fed in the pieces it is written in."""

    @property
    def rows(self) -> int:
        """The rows seen so far."""
        ...

    @property
    def exact(self) -> bool:
        """False once the count cannot be trusted (the caller then takes the line-based path)."""
        ...

    def feed(self, chunk: bytes) -> None:
        """Count the rows in the next piece of the answer."""
        ...

    def cut(self, data: bytes, keep: int) -> bytes:
        """The document holding only the first `keep` rows (valid, closed)."""
        ...


def row_counter(key: str, native: bool | None = None) -> RowCounter:
    """A counter for result format `key` ("json" or "xml"); `native`: the C scanner for JSON
    (default: when it was built)."""
    if key == "json" and (NATIVE if native is None else native):
        return JsonScanner()
    return MarkCounter(key)


class JsonScanner:
    """Counts JSON result rows by following the strings (and their escapes): a row is an
    object opening right after `[` or `,`. Exact for any answer the engine writes."""

    exact = True

    def __init__(self) -> None:
        if _rowscan is None:
            raise RuntimeError("the C row scanner was not built")
        self.scan = _rowscan.json_rows
        # in a string, after a backslash, after `[` or `,`, rows so far
        self.state: tuple[bool, bool, bool, int] = (False, False, False, 0)

    @property
    def rows(self) -> int:
        return self.state[3]

    def feed(self, chunk: bytes) -> None:
        self.state = self.scan(chunk, *self.state)[:4]

    def cut(self, data: bytes, keep: int) -> bytes:
        start = self.scan(data, False, False, False, 0, keep)[4]  # where row keep + 1 opens
        if start < 0:
            raise ValueError(f"no row {keep + 1} to cut before")
        return data[: start if keep == 0 else start - 1] + b"]}}"  # without its `,`


def _without_rows(data: bytes) -> bytes:
    """A JSON answer's head with an empty bindings array."""
    opened = _BINDINGS_OPEN.search(data)
    if opened is None:
        raise ValueError("not a SPARQL JSON results document: no bindings array")
    return data[: opened.end()] + b"]}}"


class MarkCounter:
    """Counts result rows in the engine's JSON or XML output by byte searches, as it is written:
    always for XML (exact), for JSON only where the C scanner was not built.

    XML: every row is a `<result>` element, and `<` is always escaped in text. JSON: rows are
    the objects of the bindings array, so after the first each starts right after `}},{"`
    (the end of the previous row's last binding and of that row). A quote inside a string is
    escaped, so a string can only hold those bytes if it ends with `}},{`, and its closing
    quote is then followed by `}` or `,`; a row binding nothing is `{}`. Both show as
    `{"}`, `{",` or `{}` somewhere in the output: when any of these occurs the count is not
    trusted (`exact` is False) and the caller takes the line-based path. Two passes of C-speed
    searches per write, instead of re-serialising the whole result.
    """

    _JSON_ODD = re.compile(rb'\{(?:"[},]|\})')

    def __init__(self, key: str) -> None:
        self.json = key == "json"
        self.mark = b'}},{"' if self.json else b"<result>"
        # Each write is searched with the last bytes of the one before (the longest pattern
        # minus one): a match across two writes is seen, and none is seen twice.
        self.keep = len(self.mark) - 1
        self.tail = b""
        self.marks = 0
        self.exact = True
        self.head = b""  # JSON: the first bytes, up to the first row (is there one?)

    @property
    def rows(self) -> int:
        if not self.json:
            return self.marks
        opened = _BINDINGS_OPEN.search(self.head)
        first = opened is not None and self.head[opened.end():opened.end() + 1] == b"{"
        return self.marks + 1 if first else 0

    def feed(self, chunk: bytes) -> None:
        """Count the rows starting in `chunk` (or across the previous write and it)."""
        # The seam (end of the last write + start of this one) is searched on its own, so the
        # chunk itself is never copied; a mark is longer than either half of the seam, so no
        # mark is counted both in the seam and in the chunk.
        seam = self.tail + chunk[: self.keep]
        self.marks += chunk.count(self.mark) + seam.count(self.mark) - self.tail.count(self.mark)
        if self.json:
            if self.exact and (self._JSON_ODD.search(chunk) or self._JSON_ODD.search(seam)):
                self.exact = False
            if len(self.head) < 4096:
                self.head += chunk[:4096]
        self.tail = seam[-self.keep:] if len(chunk) < self.keep else chunk[-self.keep:]

    def cut(self, data: bytes, keep: int) -> bytes:
        """The document holding only the first `keep` rows (valid, closed)."""
        if not self.json:
            at = -1
            for _ in range(keep + 1):
                at = data.index(b"<result>", at + 1)
            return data[:at] + b"</results></sparql>"
        if keep == 0:
            return _without_rows(data)
        at = -1
        for _ in range(keep):
            at = data.index(self.mark, at + 1)
        return data[: at + 2] + b"]}}"


class RowParts:
    """The parts of one JSON or XML answer, counted as they come, cut at `max_rows`.

    `take` says when no more parts are needed: the count passed the cap (the rows kept are
    already here) or cannot be trusted (the caller takes the line-based path instead).
    """

    def __init__(self, key: str, max_rows: int | None, native: bool | None = None) -> None:
        self.counter = row_counter(key, native)
        self.max_rows = max_rows
        self.parts: list[bytes] = []
        self.enough = False

    def take(self, part: bytes) -> bool:
        """Keep and count `part`; False once no more parts are needed."""
        if not self.enough:
            self.parts.append(part)
            self.counter.feed(part)
            over = self.max_rows is not None and self.counter.rows > self.max_rows
            self.enough = over or not self.counter.exact
        return not self.enough

    def finish(self) -> tuple[bytes, int, bool] | None:
        """(document, rows, truncated), or None when the rows could not be counted."""
        if not self.counter.exact:
            return None
        data = b"".join(self.parts)
        rows = self.counter.rows
        if self.max_rows is not None and rows > self.max_rows:
            return self.counter.cut(data, self.max_rows), self.max_rows, True
        return data, rows, False
