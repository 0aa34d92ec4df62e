"""Run one query on a pyoxigraph store and serialise it with the engine's own writers.

Row caps are applied without converting terms in Python. SELECT results in JSON or XML (what
clients ask for) are written once, into a sink that counts rows in the bytes as the engine
writes them (graph.engine.rows) and stops the engine one row past the cap. Other formats are
first written as TSV or N-Triples (one line per row or triple, lossless) into a sink that
stops one line past the cap, then re-serialised by the engine. Either way a capped query
never materialises a huge result.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyoxigraph as ox

from graph.engine.base import Form, QueryResult
from graph.engine.rows import COUNTED_FORMATS, RowParts
from graph.errors import QuerySyntaxError
from graph.formats import RDF_BY_KEY, RESULTS_BY_KEY


def parse_position(message: str) -> tuple[int | None, int | None]:
    """Line and column from an Oxigraph message such as ``error at 2:8: expected ...``."""
    m = re.search(r"at (\d+):(\d+)", message)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


class _CapReached(Exception):
    """Raised from inside the engine's writer to stop evaluation once the cap is passed."""


class _Sink(io.RawIOBase):
    """A write target for the engine's serialiser: each chunk goes to `take`, and the engine
    stops (`_CapReached`) once `take` says no more is needed.

    The engine writes in chunks as it evaluates, so a capped query over a huge (or endless)
    result stops as soon as the cap is passed, instead of materialising everything first.
    """

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = data if isinstance(data, bytes) else bytes(data)  # the engine writes bytes
        if not self.take(chunk):
            raise _CapReached
        return len(chunk)

    def take(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once no more is needed."""
        raise NotImplementedError


class _LineCappedSink(_Sink):
    """Keeps at most `limit` lines (stopping the engine one line past them)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.chunks: list[bytes] = []
        self.lines = 0

    def take(self, chunk: bytes) -> bool:
        self.chunks.append(chunk)
        self.lines += chunk.count(b"\n")
        return self.lines <= self.limit


def _serialize_capped(answer: Any, fmt: Any, header_lines: int,
                      max_rows: int | None) -> tuple[bytes, int, bool]:
    """Serialise line-based output (TSV, N-Triples), keeping `header_lines` + `max_rows` lines.

    Returns (data, rows, truncated).
    """
    if max_rows is None:
        data = answer.serialize(format=fmt) or b""
        return data, data.count(b"\n") - header_lines, False
    sink = _LineCappedSink(header_lines + max_rows)
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


class _PartsSink(_Sink):
    """Hands the engine's writes to a RowParts, until it has enough (past the cap, or a count
    that cannot be trusted)."""

    def __init__(self, parts: RowParts) -> None:
        super().__init__()
        self.parts = parts

    def take(self, chunk: bytes) -> bool:
        return self.parts.take(chunk)


def _serialize_rows(answer: Any, key: str, max_rows: int | None) -> tuple[bytes, int, bool] | None:
    """JSON or XML results written once by the engine, counted (and cut) as they are written.

    None when the count cannot be trusted (only where JSON is counted by byte searches: a row
    binding nothing, graph.engine.rows); the caller then uses the line-based path.
    """
    fmt = getattr(ox.QueryResultsFormat, RESULTS_BY_KEY[key].oxigraph)
    parts = RowParts(key, max_rows)
    with contextlib.suppress(_CapReached):
        answer.serialize(_PartsSink(parts), format=fmt)
    return parts.finish()


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
        if rf.key in COUNTED_FORMATS and again is not None:
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
