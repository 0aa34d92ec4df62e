"""Content negotiation, shared by the endpoint, stored queries, entity documents and dumps.

One helper decides the representation: an explicit `?format=` key wins (for links and
downloads), else the Accept header with q-values and wildcards (Werkzeug's parser, not a
hand-rolled one), else the first offered type. No match is a 406 that lists what is offered.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from graph.errors import KgError
from graph.formats import HTML, RDF_FORMATS, RESULT_FORMATS, Format

HTML_FORMAT = Format("html", HTML, ".html", "", "", "HTML")
_ALL = {f.key: f for f in (*RESULT_FORMATS, *RDF_FORMATS, HTML_FORMAT)}


class NotAcceptable(KgError):
    """Nothing offered matches the Accept header (or the format key)."""

    status = 406
    type = "not-acceptable"
    title = "Not acceptable"


def negotiate(offered: Sequence[Format], *, format_param: str | None = None) -> Format:
    """Pick one of `offered` (first = default) for the current request.

    Raises:
        NotAcceptable: a `format` key or Accept header that matches nothing offered.
    """
    keys = {f.key: f for f in offered}
    if format_param is None:
        format_param = request.args.get("format") or request.args.get("output") or None
    if format_param:
        fmt = keys.get(format_param.strip().lower())
        if fmt is None:
            # `?format=` may also carry a media type, as some clients send.
            fmt = next((f for f in offered if format_param in (f.media_type, *f.aliases)), None)
        if fmt is None:
            raise NotAcceptable(f"format {format_param!r} is not offered here; use one of: "
                                + ", ".join(f.key for f in offered), offered=_describe(offered))
        return fmt
    accept = request.accept_mimetypes
    if not accept:
        return offered[0]
    by_type: dict[str, Format] = {}
    for f in offered:
        by_type.setdefault(f.media_type, f)
        for alias in f.aliases:
            by_type.setdefault(alias, f)
    best = accept.best_match(list(by_type))
    if best is None or accept[best] <= 0:
        raise NotAcceptable("none of the requested media types is offered; offered: "
                            + ", ".join(f.media_type for f in offered), offered=_describe(offered))
    return by_type[best]


def _describe(offered: Sequence[Format]) -> list[dict[str, str]]:
    return [{"format": f.key, "mediaType": f.media_type} for f in offered]


def format_by_key(key: str) -> Format:
    """Any known representation by its short key (json, ttl, html, ...)."""
    return _ALL[key]
