"""Run one query on a pyoxigraph store and serialise it with the engine's own writers.

Row caps are applied without converting terms in Python: results are first written as
TSV (one line per row, lossless), counted, cut at the cap if needed, and only then
re-serialised by the engine into the requested format.
"""

from __future__ import annotations

import time

import pyoxigraph as ox

from graph.engine.base import Form, QueryResult
from graph.errors import QuerySyntaxError
from graph.formats import RDF_BY_KEY, RESULTS_BY_KEY


def parse_position(message: str) -> tuple[int | None, int | None]:
    """Line and column from an Oxigraph message such as ``error at 2:8: expected ...``."""
    import re

    m = re.search(r"at (\d+):(\d+)", message)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def _cut_lines(data: bytes, keep: int) -> tuple[bytes, int, bool]:
    """Keep a header line plus at most `keep` lines; return (data, rows, truncated)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rows = len(lines) - 1
    if rows <= keep:
        return data, rows, False
    return b"\n".join(lines[: keep + 1]) + b"\n", keep, True


def run_on_store(store: ox.Store, query: str, *, fmt: str, max_rows: int | None,
                 prefixes: dict[str, str] | None = None) -> QueryResult:
    """Evaluate `query` on `store`; `fmt` is a key of RESULTS_BY_KEY or RDF_BY_KEY."""
    started = time.perf_counter()
    try:
        answer = store.query(query)
    except SyntaxError as exc:
        line, col = parse_position(str(exc))
        raise QuerySyntaxError(str(exc), line=line, column=col) from None
    form: Form
    truncated = False
    if isinstance(answer, ox.QueryBoolean):
        rf = RESULTS_BY_KEY.get(fmt) or RESULTS_BY_KEY["json"]
        body = answer.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
        form, count, media = "ask", 1, rf.media_type
    elif isinstance(answer, ox.QuerySolutions):
        rf = RESULTS_BY_KEY.get(fmt) or RESULTS_BY_KEY["json"]
        tsv = answer.serialize(format=ox.QueryResultsFormat.TSV)
        tsv, count, truncated = _cut_lines(tsv, max_rows if max_rows is not None else 1 << 62)
        if rf.key == "tsv":
            body = tsv
        else:
            parsed = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
            body = parsed.serialize(format=getattr(ox.QueryResultsFormat, rf.oxigraph))
        form, media = "select", rf.media_type
    else:
        gf = RDF_BY_KEY.get(fmt) or RDF_BY_KEY["ttl"]
        nt = answer.serialize(format=ox.RdfFormat.N_TRIPLES)
        # N-Triples has no header line: prepend an empty one so the same cutter applies.
        cut, count, truncated = _cut_lines(b"\n" + nt, max_rows if max_rows is not None else 1 << 62)
        nt = cut[1:]
        if gf.key == "nt":
            body = nt
        else:
            triples = [q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES)]
            kwargs = {"prefixes": prefixes} if prefixes and gf.key in ("ttl", "rdf") else {}
            body = ox.serialize(triples, format=getattr(ox.RdfFormat, gf.oxigraph), **kwargs)
        form, media = ("describe" if query_is_describe(query) else "construct"), gf.media_type
    elapsed = (time.perf_counter() - started) * 1000
    return QueryResult(body=body or b"", media_type=media, form=form, count=count,
                       truncated=truncated, elapsed_ms=elapsed)


def query_is_describe(query: str) -> bool:
    """Cheap form check used only for labelling results."""
    from graph.intake import query_form

    return query_form(query) == "describe"
