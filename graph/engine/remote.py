"""A remote SPARQL 1.1 store (Virtuoso, Fuseki, GraphDB, QLever...) as a backend, over HTTP.

Queries already accepted by the intake are POSTed as a form with ``default-graph-uri`` set
to the graph we loaded, so the store's own graphs (Virtuoso keeps thousands of system
triples, and its default graph is the union of all graphs) never appear in answers.

Answers are asked for in lossless formats and re-serialised by Oxigraph: SELECT/ASK as
SPARQL XML, CONSTRUCT/DESCRIBE as N-Triples. The row cap and every output format then
behave exactly as with the embedded engine, and a remote store's quirks (Virtuoso's
``nodeID://`` blank nodes, ``typed-literal``) stop at this module. A store that answers with
partial results (Virtuoso's "anytime" mode, flagged by ``X-SQL-State``) is treated as a
timeout: nothing incomplete is passed on.

Failures map to the library errors (502, 504, 400: see `_post`). Nothing is remembered between
requests, so service comes back as soon as the store does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

import pyoxigraph as ox
import requests

from graph.engine.base import Backend, Form, Lane, QueryResult, rows_from_json
from graph.engine.run import serialize_answer
from graph.errors import (
    BackendTimeout,
    BackendUnavailable,
    KgError,
    QueryEvaluationError,
    QuerySyntaxError,
)
from graph.formats import RDF_BY_KEY
from graph.namespaces import DATA_GRAPH, META_GRAPH, PREFIXES

# Where `rabat-kg load` puts the data, and where it records the release version.
VERSION_PREDICATE = "http://www.w3.org/2002/07/owl#versionInfo"
TRIPLES_PREDICATE = "http://rdfs.org/ns/void#triples"  # recorded by `load`: /health reads it

CONNECT_TIMEOUT_S = 3.0
RESULTS_XML = "application/sparql-results+xml"
GRAPH_ACCEPT = ("application/n-triples, text/plain;q=0.9, text/turtle;q=0.8, "
                "application/rdf+xml;q=0.5, application/ld+json;q=0.4")
_BNODE_XML = re.compile(rb"<bnode>([^<]*)</bnode>")
_BNODE_OK = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_LINE = re.compile(r"line (\d+)")
_NEAR = re.compile(r"at '([^']{1,80})'")
_CLIENT_STATE = re.compile(r"\b(22\d\d\d|37000)\b|\bSR098\b")


def locate_error(query: str, message: str) -> tuple[int | None, int | None]:
    """Line and column of a store's syntax error in the query as sent.

    Virtuoso names the line and the token it stopped at (`line 5: syntax error at '?x'`);
    the column is where that token first appears on that line, else the line's start.

    >>> locate_error("SELECT * WHERE { ?s ?p ?o ?x }", "line 1: syntax error at '?x' before '}'")
    (1, 27)
    """
    m = _LINE.search(message)
    if not m or int(m.group(1)) <= 0:
        return None, None
    line = int(m.group(1))
    lines = query.split("\n")
    if line > len(lines):
        return len(lines), len(lines[-1]) + 1
    near = _NEAR.search(message)
    col = lines[line - 1].find(near.group(1)) + 1 if near else 0
    return line, col if col > 0 else 1


def _safe_bnode(match: re.Match[bytes]) -> bytes:
    """A blank node label any parser accepts, one-to-one on a store's labels.

    Virtuoso's ``nodeID://b10000`` becomes ``vb10000`` (it uses that form for every blank
    node); other invalid labels are hex-escaped behind an ``x``.
    """
    label = match.group(1)
    if _BNODE_OK.fullmatch(label) and not label.endswith(b"."):
        return match.group(0)
    rest = label.removeprefix(b"nodeID://")
    if rest != label and _BNODE_OK.fullmatch(rest) and not rest.endswith(b"."):
        return b"<bnode>v" + rest + b"</bnode>"
    escaped = b"".join(bytes([c]) if chr(c).isalnum() else b"_%02x" % c for c in label)
    return b"<bnode>x" + escaped + b"</bnode>"


def fix_results_xml(body: bytes) -> bytes:
    """Rewrite blank node labels such as Virtuoso's ``nodeID://b10000`` into valid ones."""
    return _BNODE_XML.sub(_safe_bnode, body) if b"<bnode>" in body else body


class RemoteBackend(Backend):
    """Backend on a SPARQL 1.1 Protocol endpoint; one HTTP session per thread."""

    def __init__(self, url: str, *, timeout: float = 10.0, graph: str = DATA_GRAPH,
                 version_ttl_s: float = 5.0) -> None:
        self.url = url
        self.timeout = float(timeout)
        self.graph = graph
        self.version_ttl_s = version_ttl_s
        self._local = threading.local()
        self._version: tuple[float, str] | None = None
        self.triples: int | None = None  # as `load` recorded it (read with the version)
        self._virtuoso = False

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "rabat-kg"
        return session

    def _post(self, query: str, accept: str, *, dataset: bool = True) -> requests.Response:
        data = {"query": query}
        if dataset:
            data["default-graph-uri"] = self.graph
        if self._virtuoso:  # Virtuoso stops the query itself (milliseconds)
            data["timeout"] = str(int(self.timeout * 1000))
        try:
            response = self._session().post(
                self.url, data=data, headers={"Accept": accept},
                timeout=(CONNECT_TIMEOUT_S, self.timeout))
        except requests.Timeout:
            raise BackendTimeout(
                f"the SPARQL store at {self.url} did not answer within {self.timeout:g} s",
                retry_after=5) from None
        except requests.RequestException as exc:
            raise BackendUnavailable(
                f"the SPARQL store at {self.url} cannot be reached ({_reason(exc)})",
                retry_after=5) from None
        self._virtuoso = response.headers.get("Server", "").startswith("Virtuoso")
        if response.headers.get("X-SQL-State"):  # Virtuoso "anytime": partial results
            raise BackendTimeout(
                f"the SPARQL store at {self.url} stopped the query at its time limit "
                f"({response.headers.get('X-SQL-State')}); no partial results are served",
                retry_after=5)
        if response.status_code == 400:
            text = response.text.strip()[:2000]
            line, column = locate_error(query, text)
            raise QuerySyntaxError(f"the SPARQL store refused the query: {text}", line=line,
                                   column=column)
        if response.status_code != 200 and _CLIENT_STATE.search(response.text[:2000]):
            # Virtuoso reports data exceptions (SQL state class 22, e.g. SR098, a regular
            # expression that does not compile) as 500: they are the query's fault, not ours.
            raise QueryEvaluationError(
                f"the SPARQL store could not evaluate the query: {response.text.strip()[:500]}")
        if response.status_code != 200:
            raise BackendUnavailable(
                f"the SPARQL store at {self.url} answered {response.status_code}: "
                f"{response.text.strip()[:300]}", retry_after=5)
        return response

    def execute(self, query: str, *, fmt: str, lane: Lane = "light",
                max_rows: int | None = None, form: Form | None = None) -> QueryResult:
        started = time.perf_counter()
        if form is None:  # callers ask a graph format of graph queries only
            form = "construct" if fmt in RDF_BY_KEY else "select"
        try:
            if form in ("select", "ask"):
                response = self._post(query, RESULTS_XML)
                answer: Any = ox.parse_query_results(fix_results_xml(response.content),
                                                     format=ox.QueryResultsFormat.XML)
            else:
                response = self._post(query, GRAPH_ACCEPT)
                media = response.headers.get("Content-Type", "")  # (parameters and case allowed)
                graph_format = ox.RdfFormat.from_media_type(media)
                if graph_format is None:
                    raise BackendUnavailable(f"the SPARQL store at {self.url} answered a graph query "
                                             f"with {media.split(';')[0].strip().lower()!r}")
                answer = (q.triple for q in ox.parse(response.content, format=graph_format))
            body, media, form, count, truncated = serialize_answer(
                answer, fmt=fmt, max_rows=max_rows, form=form, prefixes=PREFIXES)
        except SyntaxError as exc:
            if "UTF-8" in str(exc):
                # Virtuoso writes lone surrogates (e.g. from BIND("\\uD800" ...)) as bytes that
                # are not UTF-8: the query asked for a value no result format can carry.
                raise QueryEvaluationError(
                    "the query produced a string that is not valid Unicode (a lone surrogate?)"
                ) from None
            raise BackendUnavailable(
                f"the SPARQL store at {self.url} sent an answer that does not parse: {exc}",
                retry_after=5) from None
        return QueryResult(body=body, media_type=media, form=form, count=count,
                           truncated=truncated or bool(response.headers.get("X-SPARQL-MaxRows")),
                           elapsed_ms=(time.perf_counter() - started) * 1000)

    def version(self) -> str:
        """The version `load_into_store` recorded, else a hash of the triple count.

        Cached for a few seconds: it is asked for on every request (ETags).
        """
        now = time.monotonic()
        if self._version and now - self._version[0] < self.version_ttl_s:
            return self._version[1]
        response = self._post(
            f"SELECT ?v ?n WHERE {{ GRAPH <{META_GRAPH}> {{ <{self.graph}> <{VERSION_PREDICATE}> ?v "
            f"OPTIONAL {{ <{self.graph}> <{TRIPLES_PREDICATE}> ?n }} }} }}",
            "application/sparql-results+json", dataset=False)
        rows = rows_from_json(response.content)
        self.triples = int(rows[0]["n"]["value"]) if rows and "n" in rows[0] else None
        if rows and "v" in rows[0]:
            version = rows[0]["v"]["value"]
        else:
            count = self.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"]
            version = "n" + hashlib.sha256(f"{self.url} {count}".encode()).hexdigest()[:15]
        self._version = (now, version)
        return version

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "unknown host"
    return exc.__class__.__name__


# --- loading ------------------------------------------------------------------------------


def _blank_groups(lines: Iterable[str]) -> list[list[str]]:
    """N-Triples lines in groups: one per line without blank nodes, one per set of lines that
    share blank nodes (an INSERT request gives its blank nodes fresh identities, so a blank node
    split across two requests would become two nodes)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups: list[list[str]] = []
    with_bnodes: list[tuple[str, str]] = []
    for line in lines:
        labels = re.findall(r"(?:^|\s)(_:[^\s]+)", line)
        if not labels:
            groups.append([line])
            continue
        root = find(labels[0])
        for other in labels[1:]:
            parent[find(other)] = root
        with_bnodes.append((labels[0], line))
    sharing: dict[str, list[str]] = {}
    for label, line in with_bnodes:
        sharing.setdefault(find(label), []).append(line)
    return groups + list(sharing.values())


class _Refused(KgError):
    """The store refused one request of a load (kept apart: a smaller request may pass)."""


def load_into_store(url: str, release: Any, graph: str | None = None, *,
                    update_url: str | None = None, gsp_url: str | None = None,
                    auth: Any = None, chunk_triples: int = 1000,
                    gsp_chunk_triples: int = 100_000, timeout: float = 300.0) -> int:
    """Replace graph `graph` (default DATA_GRAPH) in the store with the release; return count.

    The data goes into a staging graph, then replaces the served graph in one SPARQL ``MOVE``
    (readers never see a half-loaded graph); the version is recorded in META_GRAPH. Transfer:
    Graph Store Protocol POSTs when a `gsp_url` is given (faster), else SPARQL Update in
    chunks; blank nodes never straddle two requests.

    Endpoints and credentials: `update_url` (default `url`), `gsp_url`, `auth`, or the
    environment: RABAT_KG_STORE_UPDATE_URL, RABAT_KG_STORE_GSP_URL, RABAT_KG_STORE_USER and
    RABAT_KG_STORE_PASSWORD (HTTP digest, as Virtuoso's /sparql-auth and
    /sparql-graph-crud-auth want).
    """
    graph = graph or DATA_GRAPH
    update_url = update_url or os.environ.get("RABAT_KG_STORE_UPDATE_URL") or url
    gsp_url = gsp_url or os.environ.get("RABAT_KG_STORE_GSP_URL") or None
    if auth is None and os.environ.get("RABAT_KG_STORE_USER"):
        auth = requests.auth.HTTPDigestAuth(os.environ["RABAT_KG_STORE_USER"],
                                            os.environ.get("RABAT_KG_STORE_PASSWORD", ""))
    staging = f"{graph}/staging-{release.version}"
    session = requests.Session()

    def send(to: str, body: bytes, content_type: str, params: dict[str, str] | None = None) -> None:
        try:
            response = session.post(to, data=body, params=params, auth=auth, timeout=timeout,
                                    headers={"Content-Type": content_type})
        except requests.RequestException as exc:
            raise BackendUnavailable(f"the SPARQL store at {to} cannot be reached "
                                     f"({_reason(exc)})") from None
        if response.status_code not in (200, 201, 204):
            raise _Refused(f"the SPARQL store at {to} refused a request "
                           f"({response.status_code}): {response.text.strip()[:500]}",
                           status=response.status_code)

    def update(text: str) -> None:
        send(update_url, text.encode(), "application/sparql-update; charset=utf-8")

    def insert(groups: list[list[str]]) -> None:
        """INSERT ... WHERE {} (Virtuoso refuses blank nodes in INSERT DATA); halve on refusal.

        Stores cap a request in different ways (Virtuoso: the SQL it compiles an update to);
        a refused request is split until it passes or is a single group.
        """
        triples = "\n".join(line for group in groups for line in group)
        try:
            update(f"INSERT {{ GRAPH <{staging}> {{\n{triples}\n}} }} WHERE {{}}")
        except _Refused:
            if len(groups) < 2:
                raise
            insert(groups[:len(groups) // 2])
            insert(groups[len(groups) // 2:])

    update(f"DROP SILENT GRAPH <{staging}>")
    try:
        for groups in _packed(_blank_groups(release.ntriples.decode().splitlines()),
                              gsp_chunk_triples if gsp_url else chunk_triples):
            if gsp_url:
                body = "".join(line + "\n" for group in groups for line in group)
                send(gsp_url, body.encode(), "application/n-triples", {"graph": staging})
            else:
                insert(groups)
        update(f"MOVE SILENT GRAPH <{staging}> TO GRAPH <{graph}>")
    except BaseException:
        with contextlib.suppress(KgError):
            update(f"DROP SILENT GRAPH <{staging}>")
        raise
    update(f"DELETE WHERE {{ GRAPH <{META_GRAPH}> {{ <{graph}> <{VERSION_PREDICATE}> ?v }} }}")
    update(f"DELETE WHERE {{ GRAPH <{META_GRAPH}> {{ <{graph}> <{TRIPLES_PREDICATE}> ?n }} }}")
    update(f'INSERT DATA {{ GRAPH <{META_GRAPH}> {{ <{graph}> <{VERSION_PREDICATE}> '
           f'"{release.version}" ; <{TRIPLES_PREDICATE}> {int(release.triple_count)} }} }}')
    counting = RemoteBackend(url, graph=graph, timeout=timeout)
    count = int(counting.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"])
    if count != release.triple_count:
        raise KgError(f"the store holds {count} triples in <{graph}> after loading, "
                      f"expected {release.triple_count}")
    return count


def _packed(groups: list[list[str]], size: int) -> list[list[list[str]]]:
    """Groups packed into lists of at most `size` lines (a bigger group goes alone)."""
    packed: list[list[list[str]]] = []
    lines = 0
    for group in groups:
        if packed and lines + len(group) <= size:
            packed[-1].append(group)
            lines += len(group)
        else:
            packed.append([group])
            lines = len(group)
    return packed
