"""Errors the library raises on purpose; the server maps each to one HTTP status.

Every error carries a stable `type` slug (the problem+json type), a human `detail`, and the
HTTP status the server answers with, so the mapping lives here and nowhere else.
"""

from __future__ import annotations


class KgError(Exception):
    """Base of the errors we expect and report cleanly. A subclass states its HTTP status,
    problem type slug and title in its class line: `class E(KgError, status=503, ...)`."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init_subclass__(cls, *, status: int | None = None, type: str | None = None,
                          title: str | None = None) -> None:
        super().__init_subclass__()
        cls.status = status or cls.status
        cls.type = type or cls.type
        cls.title = title or cls.title

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class QuerySyntaxError(KgError, type="query-syntax", title="SPARQL syntax error"):
    """The query does not parse; `line` and `column` point into the query as sent."""

    def __init__(self, detail: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(detail, line=line, column=column)
        self.line = line
        self.column = column


class QueryRefused(KgError, type="query-refused", title="Query refused"):
    """The query asks for something this service never does (SERVICE, FROM, ...)."""


class UpdateRefused(KgError, status=403, type="update-refused", title="Updates are not allowed"):
    """Any SPARQL Update: the service is read-only."""


class QueryTooComplex(KgError, type="query-too-complex", title="Query too complex"):
    """Nesting too deep (or similar) to hand to a parser safely."""


class QueryEvaluationError(KgError, type="query-failed", title="Query evaluation failed"):
    """The engine could not evaluate an accepted query (e.g. a type error it reports)."""


class QueryTimeout(KgError, status=503, type="query-timeout", title="Query timed out"):
    """The query ran past its time limit and was stopped."""


class QueryResourceLimit(KgError, status=503, type="query-memory", title="Query exceeded its memory limit"):
    """The query exceeded its memory budget and was stopped."""


class Overloaded(KgError, status=503, type="overloaded", title="Service busy"):
    """No capacity to run the query now; retry later."""


class BackendUnavailable(KgError, status=502, type="backend-unavailable", title="Store unavailable"):
    """The remote SPARQL store cannot be reached or failed."""


class BackendTimeout(KgError, status=504, type="backend-timeout", title="Store timed out"):
    """The remote SPARQL store did not answer in time."""


class DataError(KgError, status=422, type="invalid-data", title="Invalid data"):
    """A data release is broken (syntax) or invalid (SHACL); the message names where."""


class ParameterError(KgError, type="bad-parameter", title="Bad parameter"):
    """A stored-query parameter is unknown, missing, ill-typed or outside its enumeration."""


class RateLimited(KgError, status=429, type="too-many-requests", title="Too many requests"):
    """One client sent more queries than its budget; retry after the given delay."""


class NotAcceptable(KgError, status=406, type="not-acceptable", title="Not acceptable"):
    """No offered format matches the request (Accept or format=), or the answer cannot be
    written in the one asked for (e.g. RDF/XML for a predicate IRI without an XML local name)."""
