"""Run one query on a pyoxigraph store and serialise it with the engine's own writers.

Row caps are applied without converting terms in Python. SELECT results in JSON or XML (what
clients ask for) are written once, into a sink that counts rows in the bytes as they stream
and stops the engine one row past the cap. Other formats are first written as TSV or
N-Triples (one line per row or triple, lossless) into a sink that stops one line past the
cap, then re-serialised by the engine. Either way a capped query never materialises a huge
result.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pyoxigraph as ox

from graph.engine.base import Form, QueryResult
from graph.errors import QuerySyntaxError
from graph.formats import RDF_BY_KEY, RESULTS_BY_KEY


def parse_position(message: str) -> tuple[int | None, int | None]:
    """Line and column from an Oxigraph message such as ``error at 2:8: expected ...``."""
    m = re.search(r"at (\d+):(\d+)", message)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


class _CapReached(Exception):
    """Raised from inside the engine's writer to stop evaluation once the cap is passed."""


class _Counter(Protocol):
    """Counts rows in an answer's bytes as the engine writes them."""

    exact: bool  # False: the count cannot be trusted (the caller takes another path)

    @property
    def rows(self) -> int: ...

    def feed(self, chunk: bytes) -> None: ...


class _LineCounter:
    """Lines of line-based output (TSV rows, N-Triples triples): one per newline, exact."""

    exact = True

    def __init__(self) -> None:
        self.rows = 0

    def feed(self, chunk: bytes) -> None:
        self.rows += chunk.count(b"\n")


class _CappedSink(io.RawIOBase):
    """A write target that stops the engine once its counter passes `limit` (or gives up).

    The engine writes in chunks as it evaluates, so a capped query over a huge (or endless)
    result stops as soon as one row more than the cap exists, instead of materialising
    everything first.
    """

    def __init__(self, counter: _Counter, limit: int) -> None:
        super().__init__()
        self.counter = counter
        self.limit = limit
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = data if isinstance(data, bytes) else bytes(data)  # the engine writes bytes
        self.chunks.append(chunk)
        self.counter.feed(chunk)
        if not self.counter.exact or self.counter.rows > self.limit:
            raise _CapReached
        return len(chunk)


def _serialize_capped(answer: Any, fmt: Any, header_lines: int,
                      max_rows: int | None) -> tuple[bytes, int, bool]:
    """Serialise line-based output (TSV, N-Triples), keeping `header_lines` + `max_rows` lines.

    Returns (data, rows, truncated).
    """
    if max_rows is None:
        data = answer.serialize(format=fmt) or b""
        return data, data.count(b"\n") - header_lines, False
    sink = _CappedSink(_LineCounter(), header_lines + max_rows)
    with contextlib.suppress(_CapReached):
        answer.serialize(sink, format=fmt)
    data = b"".join(sink.chunks)
    keep = header_lines + max_rows
    if data.count(b"\n") <= keep:
        return data, data.count(b"\n") - header_lines, False
    end = -1
    for _ in range(keep):
        end = data.index(b"\n", end + 1)
    return data[: end + 1], max_rows, True


class TripleStream:
    """Triples from anywhere (a remote store's answer) with the engine's `serialize` method."""

    def __init__(self, triples: Iterable[ox.Triple]) -> None:
        self.triples = triples

    def serialize(self, output: Any = None, format: Any = None) -> bytes | None:
        return ox.serialize(self.triples, output, format=format)


class _RowCounter:
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


def _serialize_rows(answer: Any, key: str, max_rows: int | None) -> tuple[bytes, int, bool] | None:
    """JSON or XML results written once by the engine, counted (and cut) as they stream.

    None when the count cannot be trusted (a row binding nothing); the caller then uses the
    line-based path.
    """
    fmt = getattr(ox.QueryResultsFormat, RESULTS_BY_KEY[key].oxigraph)
    counter = _RowCounter(key)
    sink = _CappedSink(counter, max_rows if max_rows is not None else 2**62)
    with contextlib.suppress(_CapReached):
        answer.serialize(sink, format=fmt)
    if not counter.exact:
        return None
    data = b"".join(sink.chunks)
    if max_rows is not None and counter.rows > max_rows:
        return counter.cut(data, max_rows), max_rows, True
    return data, counter.rows, False


def serialize_answer(answer: Any, *, fmt: str, max_rows: int | None,
                     prefixes: dict[str, str] | None = None,
                     again: Callable[[], Any] | None = None) -> tuple[bytes, str, str, int, bool]:
    """Serialise a query answer into format key `fmt`, keeping at most `max_rows` rows/triples.

    `answer` is a QueryBoolean, QuerySolutions, QueryTriples or TripleStream; `again` gives a
    fresh copy of it, for the rare result whose rows cannot be counted in its JSON or XML
    (without it such a result goes the line-based way from the start). Returns
    (body, media type, kind "ask"|"select"|"graph", count, truncated).
    """
    if isinstance(answer, ox.QueryBoolean):
        rf = RESULTS_BY_KEY.get(fmt) or RESULTS_BY_KEY["json"]
        body = answer.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
        return body or b"", rf.media_type, "ask", 1, False
    if isinstance(answer, ox.QuerySolutions):
        rf = RESULTS_BY_KEY.get(fmt) or RESULTS_BY_KEY["json"]
        if rf.key in ("json", "xml") and again is not None:
            # The common case: the engine writes the asked format once, no second pass.
            direct = _serialize_rows(answer, rf.key, max_rows)
            if direct is not None:
                return direct[0], rf.media_type, "select", direct[1], direct[2]
            answer = again()
        tsv, count, truncated = _serialize_capped(answer, ox.QueryResultsFormat.TSV, 1, max_rows)
        if rf.key == "tsv":
            body = tsv
        else:
            parsed = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
            body = parsed.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
        return body or b"", rf.media_type, "select", count, truncated
    gf = RDF_BY_KEY.get(fmt) or RDF_BY_KEY["ttl"]
    nt, count, truncated = _serialize_capped(answer, ox.RdfFormat.N_TRIPLES, 0, max_rows)
    if gf.key == "nt":
        body = nt
    else:
        triples = (q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES))
        body = ox.serialize(triples, format=getattr(ox.RdfFormat, gf.oxigraph),
                            prefixes=prefixes if prefixes and gf.key in ("ttl", "rdf") else None)
    return body or b"", gf.media_type, "graph", count, truncated


def run_on_store(store: ox.Store, query: str, *, fmt: str, max_rows: int | None,
                 prefixes: dict[str, str] | None = None) -> QueryResult:
    """Evaluate `query` on `store`; `fmt` is a key of RESULTS_BY_KEY or RDF_BY_KEY."""
    started = time.perf_counter()
    try:
        answer = store.query(query)
    except SyntaxError as exc:
        line, col = parse_position(str(exc))
        raise QuerySyntaxError(str(exc), line=line, column=col) from None
    body, media, kind, count, truncated = serialize_answer(
        answer, fmt=fmt, max_rows=max_rows, prefixes=prefixes, again=lambda: store.query(query))
    form: Form = kind if kind != "graph" else (  # type: ignore[assignment]
        "describe" if query_is_describe(query) else "construct")
    elapsed = (time.perf_counter() - started) * 1000
    return QueryResult(body=body, media_type=media, form=form, count=count,
                       truncated=truncated, elapsed_ms=elapsed)


def query_is_describe(query: str) -> bool:
    """Cheap form check used only for labelling results."""
    from graph.intake import query_form

    return query_form(query) == "describe"
