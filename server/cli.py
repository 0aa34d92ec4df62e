"""The `rabat-kg` command: validate, build, query, serve, load, reload."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from graph.errors import KgError
from graph.paths import release_sources
from server.serve import request_reload, serve


def cmd_validate(args: argparse.Namespace) -> int:
    """SHACL over ontology + data; readable report grouped by focus node; 1 on violations."""
    from graph.checks import render_checks, run_checks
    from graph.release import make_release
    from graph.validate import progress_reporter, validate_ntriples

    # Progress: a bar on a terminal, else log lines on stderr (stdout keeps only the report).
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # The files are parsed as a server parses them: a syntax error names file and line first.
    release = make_release(args.paths, validate=False)
    result = validate_ntriples(release.ntriples, progress=progress_reporter())
    print(result.text)
    # The hygiene rules (queries/checks/*.rq) look across nodes where shapes cannot.
    checks = run_checks(release.ntriples)
    print(render_checks(checks))
    return 0 if result.conforms and all(c.passed for c in checks) else 1


def cmd_build(args: argparse.Namespace) -> int:
    """Write the validated graph as Turtle, N-Triples and JSON-LD into --out."""
    from graph.build import build

    print(*build(Path(args.out), sources=args.paths), sep="\n")  # the files written
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Run a SPARQL query over the bundled (or --data) graph, with the server's limits."""
    from graph.engine.pool import EmbeddedBackend
    from graph.errors import QuerySyntaxError
    from graph.release import write_release
    from graph.sparql_errors import explain_syntax_error, prepare_query
    from server.serve import pool_settings, server_config

    text = sys.stdin.read() if args.sparql == "-" else args.sparql
    checked = prepare_query(text)  # as on the endpoint: errors in words, predeclared prefixes
    fmt = args.format
    if checked.form in ("construct", "describe") and fmt in ("json", "csv", "tsv", "xml"):
        fmt = "ttl"
    if checked.form in ("select", "ask") and fmt in ("ttl", "nt", "jsonld", "rdf"):
        raise KgError(f"--format {fmt} is for CONSTRUCT/DESCRIBE; use json, csv, tsv or xml")
    settings = server_config(args)
    # No executor kept ready: one started in the background could outlive the temporary release.
    settings.update(WARM_EXECUTORS=0, LIGHT_BUDGET_S=settings["QUERY_TIMEOUT_S"])
    max_rows = args.max_rows if args.max_rows is not None else int(settings["MAX_ROWS"])
    with tempfile.TemporaryDirectory(prefix="rabat-kg-query-") as tmp:
        release = write_release(args.paths, Path(tmp) / "release", validate=False)
        backend = EmbeddedBackend(release, pool_settings(settings), owned=False)
        try:
            result = backend.execute(checked.text, fmt=fmt, max_rows=max_rows or None, form=checked.form)
        except QuerySyntaxError as exc:
            raise explain_syntax_error(exc.detail, checked.text, line=exc.line, column=exc.column) from None
        finally:
            backend.close()
    sys.stdout.buffer.write(result.body)
    if not result.body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    if result.truncated:
        print(f"rabat-kg query: only the first {max_rows} results are shown (--max-rows)",
              file=sys.stderr)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Push the validated graph into a remote SPARQL store."""
    from graph.engine.remote import load_into_store
    from graph.release import make_release

    release = make_release(args.paths)
    n = load_into_store(args.store, release, graph=args.graph)
    print(f"loaded {n} triples into {args.store}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rabat-kg", description=__doc__)
    from importlib.metadata import version  # the installed distribution's, as pyproject says

    parser.add_argument("--version", action="version", version=f"%(prog)s {version('rabat-kg')}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_opts(p: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int], *,
                  add: bool = True) -> None:
        """The options that choose the data (after the command's own), and the command."""
        p.add_argument("--data", nargs="+", metavar="FILE",
                       help="RDF files to use instead of the bundled data (the ontology is kept)")
        if add:
            p.add_argument("--add", action="store_true",
                           help="add the --data files to the bundled data instead of replacing it "
                                "(another progress paper's authoring file, say)")
        p.set_defaults(func=func, add=False)

    data_opts(sub.add_parser("validate", help=cmd_validate.__doc__), cmd_validate)

    p = sub.add_parser("build", help=cmd_build.__doc__)
    p.add_argument("--out", required=True, metavar="DIR")
    data_opts(p, cmd_build)

    p = sub.add_parser("query", help=cmd_query.__doc__)
    p.add_argument("sparql", help="the query text, or - to read it from standard input")
    p.add_argument("--format", default="json",
                   choices=["json", "csv", "tsv", "xml", "ttl", "nt", "jsonld", "rdf"])
    p.add_argument("--timeout", type=float, default=None,
                   help="time limit in seconds (default: the server's, RABAT_KG_QUERY_TIMEOUT_S)")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="row or triple cap (default: the server's, RABAT_KG_MAX_ROWS; 0: none)")
    data_opts(p, cmd_query, add=False)

    p = sub.add_parser("serve", help="Serve the endpoint, pages and API with a production WSGI server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--store", metavar="URL", help="serve from a remote SPARQL 1.1 endpoint")
    p.add_argument("--timeout", type=float, default=None, help="query time limit in seconds")
    data_opts(p, serve)

    p = sub.add_parser("load", help=cmd_load.__doc__)
    p.add_argument("--store", required=True, metavar="URL")
    p.add_argument("--graph", default=None, metavar="IRI",
                   help="target named graph (default: the one serve --store reads)")
    data_opts(p, cmd_load)

    p = sub.add_parser("reload", help="Ask a running server to build, validate and swap in a new release.")
    p.add_argument("--port", type=int, default=8000)
    data_opts(p, request_reload)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.paths = release_sources(args.data, add=args.add)  # the release's files, as given
    try:
        return int(args.func(args))
    except KgError as exc:
        detail = exc.detail
        line, column = exc.extra.get("line"), exc.extra.get("column")
        if line is not None and column is not None:  # compiler style: <query>:LINE:COLUMN: ...
            detail = f"<query>:{line}:{column}: " + re.sub(
                r"^syntax error at line \d+, column \d+: ", "syntax error: ", detail)
        print(f"rabat-kg {args.command}: {detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
