"""A stored query's parameter values as the request gives them (API and page alike).

Format keys (`format`, `output`, `results`) choose the representation and are not parameters.
On the HTML page the reader's `lang=` (the site's language switch adds it to every link) is not
a parameter either unless the query declares one of that name; the API still refuses it.
"""

from __future__ import annotations

from flask import request

from graph.errors import ParameterError
from graph.queries import StoredQuery
from server.negotiation import FORMAT_PARAMS


def request_values(query: StoredQuery, *, reader_lang: bool = False) -> dict[str, str]:
    """The query-string values for the query's parameters; `reader_lang`: drop an undeclared
    `lang=`, which is the reader's language.

    Raises:
        ParameterError: a parameter given twice (names the query does not declare are
            `bind_query`'s to refuse).
    """
    values: dict[str, str] = {}
    for name, value in request.args.items(multi=True):
        if name in FORMAT_PARAMS or (reader_lang and name == "lang" and query.param("lang") is None):
            continue
        if name in values:
            raise ParameterError(f"parameter {name!r} is given more than once", parameter=name)
        values[name] = value
    return values
