"""Row counts and cuts in the engine's SPARQL JSON or XML results, as the bytes arrive.

Used where the answer is written (`graph.engine.run`, in one process) and where it is
received from an executor that streams it in parts (`graph.engine.pool`): there the counting
runs in the server worker while the executor is still evaluating, on another core.
"""

from __future__ import annotations

import re

COUNTED_FORMATS = ("json", "xml")  # result format keys whose rows RowCounter counts


class RowCounter:
    """Counts result rows in the engine's JSON or XML output as it is written, exactly.

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
        at = self.head.find(b'"bindings":[')
        first = at >= 0 and self.head[at + 12:at + 13] == b"{"
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
            return data[: data.index(b'"bindings":[') + 12] + b"]}}"
        at = -1
        for _ in range(keep):
            at = data.index(self.mark, at + 1)
        return data[: at + 2] + b"]}}"


class RowParts:
    """The parts of one JSON or XML answer, counted as they come, cut at `max_rows`.

    `take` says when no more parts are needed: the count passed the cap (the rows kept are
    already here) or cannot be trusted (the caller takes the line-based path instead).
    """

    def __init__(self, key: str, max_rows: int | None) -> None:
        self.counter = RowCounter(key)
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
