"""Run one query on a pyoxigraph store and serialise it with the engine's own writers.

One row-cap mechanism for every form and format: the answer is first written as TSV (results)
or N-Triples (graphs), one line per row or triple and lossless, into a sink that stops the
engine one line past the cap; the kept lines are then written in the asked format by the
engine. A capped query never materialises a huge result.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from typing import Any, BinaryIO, cast

import pyoxigraph as ox

from graph.engine.base import Form, QueryResult
from graph.errors import QuerySyntaxError
from graph.formats import RDF_BY_KEY, RESULTS_BY_KEY
from graph.turtle import turtle


def parse_position(message: str) -> tuple[int | None, int | None]:
    """Line and column from an Oxigraph message such as ``error at 2:8: expected ...``."""
    m = re.search(r"at (\d+):(\d+)", message)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


class _CapReached(Exception):
    """Raised from inside the engine's writer to stop evaluation once the cap is passed."""


class _LineSink(io.RawIOBase):
    """A write target for the engine's serialiser that keeps at most `limit` lines.

    The engine writes in chunks as it evaluates, so raising from `write` stops a capped query
    over a huge (or endless) result as soon as the cap is passed.
    """

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.limit = limit
        self.chunks: list[bytes] = []
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.lines += chunk.count(b"\n")
        if self.limit is not None and self.lines > self.limit:
            raise _CapReached
        return len(chunk)


def capped_lines(answer: Any, fmt: Any, header_lines: int,
                 max_rows: int | None) -> tuple[bytes, int, bool]:
    """Line-based output (TSV, N-Triples) with at most `header_lines` + `max_rows` lines.

    Returns (data, rows, truncated).
    """
    keep = None if max_rows is None else header_lines + max_rows
    sink = _LineSink(keep)
    with contextlib.suppress(_CapReached):
        if isinstance(answer, (ox.QuerySolutions, ox.QueryTriples)):
            answer.serialize(cast(BinaryIO, sink), format=fmt)
        else:  # triples from elsewhere (a remote store's answer)
            ox.serialize(answer, cast(BinaryIO, sink), format=fmt)
    data = b"".join(sink.chunks)
    if keep is None or sink.lines <= keep:
        return data, sink.lines - header_lines, False  # (the sink counted the lines)
    end = -1
    for _ in range(keep):
        end = data.index(b"\n", end + 1)
    return data[: end + 1], max_rows or 0, True


def serialize_answer(answer: Any, *, fmt: str, max_rows: int | None, form: Form | None = None,
                     prefixes: dict[str, str] | None = None) -> tuple[bytes, str, Form, int, bool]:
    """Serialise a query answer into format key `fmt`, keeping at most `max_rows` rows/triples.

    `answer` is a QueryBoolean, QuerySolutions, QueryTriples or an iterable of triples; `form`
    (from intake) labels a graph answer as CONSTRUCT or DESCRIBE. Returns (body, media type,
    form, count, truncated).
    """
    if isinstance(answer, (ox.QueryBoolean, ox.QuerySolutions)):
        rf = RESULTS_BY_KEY.get(fmt) or RESULTS_BY_KEY["json"]
        if isinstance(answer, ox.QueryBoolean):
            body = answer.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
            return body or b"", rf.media_type, "ask", 1, False
        tsv, count, truncated = capped_lines(answer, ox.QueryResultsFormat.TSV, 1, max_rows)
        if rf.key == "tsv":
            body = tsv
        else:
            parsed = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
            body = parsed.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
        return body or b"", rf.media_type, "select", count, truncated
    gf = RDF_BY_KEY.get(fmt) or RDF_BY_KEY["ttl"]
    nt, count, truncated = capped_lines(answer, ox.RdfFormat.N_TRIPLES, 0, max_rows)
    triples = (q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES))
    if gf.key == "nt":
        body = nt
    elif gf.key == "ttl":
        body = turtle(nt, prefixes or {})  # declares only the prefixes it uses
    else:
        body = ox.serialize(triples, format=getattr(ox.RdfFormat, gf.oxigraph),
                            prefixes=prefixes if gf.key == "rdf" else None)
    graph_form: Form = "describe" if form == "describe" else "construct"
    return body or b"", gf.media_type, graph_form, count, truncated


def run_on_store(store: ox.Store, query: str, *, fmt: str, max_rows: int | None,
                 form: Form | None = None, prefixes: dict[str, str] | None = None) -> QueryResult:
    """Evaluate `query` on `store`; `fmt` is a key of RESULTS_BY_KEY or RDF_BY_KEY."""
    started = time.perf_counter()
    try:
        answer = store.query(query)
    except SyntaxError as exc:
        line, col = parse_position(str(exc))
        raise QuerySyntaxError(str(exc), line=line, column=col) from None
    body, media, result_form, count, truncated = serialize_answer(
        answer, fmt=fmt, max_rows=max_rows, form=form, prefixes=prefixes)
    elapsed = (time.perf_counter() - started) * 1000
    return QueryResult(body=body, media_type=media, form=result_form, count=count,
                       truncated=truncated, elapsed_ms=elapsed)
