"""Errors the library raises on purpose; the server maps each to one HTTP status.

Every error carries a stable `type` slug (the problem+json type), a human `detail`, and the
HTTP status the server answers with, so the mapping lives here and nowhere else.
"""

from __future__ import annotations


class KgError(Exception):
    """Base of the errors we expect and report cleanly."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class QuerySyntaxError(KgError):
    """The query does not parse; `line` and `column` point into the query as sent."""

    type = "query-syntax"
    title = "SPARQL syntax error"

    def __init__(self, detail: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(detail, line=line, column=column)
        self.line = line
        self.column = column


class QueryRefused(KgError):
    """The query asks for something this service never does (SERVICE, FROM, ...)."""

    type = "query-refused"
    title = "Query refused"


class UpdateRefused(KgError):
    """Any SPARQL Update: the service is read-only."""

    status = 403
    type = "update-refused"
    title = "Updates are not allowed"


class QueryTooComplex(KgError):
    """Nesting too deep (or similar) to hand to a parser safely."""

    type = "query-too-complex"
    title = "Query too complex"


class QueryEvaluationError(KgError):
    """The engine could not evaluate an accepted query (e.g. a type error it reports)."""

    type = "query-failed"
    title = "Query evaluation failed"


class QueryTimeout(KgError):
    """The query ran past its time limit and was stopped."""

    status = 503
    type = "query-timeout"
    title = "Query timed out"


class QueryResourceLimit(KgError):
    """The query exceeded its memory budget and was stopped."""

    status = 503
    type = "query-memory"
    title = "Query exceeded its memory limit"


class Overloaded(KgError):
    """No capacity to run the query now; retry later."""

    status = 503
    type = "overloaded"
    title = "Service busy"


class BackendUnavailable(KgError):
    """The remote SPARQL store cannot be reached or failed."""

    status = 502
    type = "backend-unavailable"
    title = "Store unavailable"


class BackendTimeout(KgError):
    """The remote SPARQL store did not answer in time."""

    status = 504
    type = "backend-timeout"
    title = "Store timed out"


class DataError(KgError):
    """A data release is broken (syntax) or invalid (SHACL); the message names where."""

    status = 422
    type = "invalid-data"
    title = "Invalid data"


class ParameterError(KgError):
    """A stored-query parameter is unknown, missing, ill-typed or outside its enumeration."""

    type = "bad-parameter"
    title = "Bad parameter"


class RateLimited(KgError):
    """One client sent more queries than its budget; retry after the given delay."""

    status = 429
    type = "too-many-requests"
    title = "Too many requests"


class NotAcceptable(KgError):
    """No offered format matches the request (Accept or format=), or the answer cannot be
    written in the one asked for (e.g. RDF/XML for a predicate IRI without an XML local name)."""

    status = 406
    type = "not-acceptable"
    title = "Not acceptable"
