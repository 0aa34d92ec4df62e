"""The dataset description as a page, for browsers at `/.well-known/void` and `/dataset`:
what RDF clients read in the VoID/DCAT description, said for people from the same facts
(`graph.dataset`), with links to the dumps, the endpoint and the description in each syntax.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, url_for

from graph.dataset import DATA_LICENCE, DATASET, DESCRIPTION, DUMPS, TITLE, statistics
from graph.formats import HTML, RDF_FORMATS
from graph.namespaces import KG
from server import http, i18n, site
from server.state import get_backend


def dataset_page() -> Response:
    """The page, with links to the RDF description in each syntax."""
    lang = i18n.choose_language()
    cached = http.not_modified(HTML, lang)
    if cached is not None:
        return i18n.mark_language(cached)
    backend = get_backend()
    stats = statistics(backend)
    html = render_template(
        "dataset.html", title=TITLE.get(lang, TITLE["en"]),
        description=DESCRIPTION.get(lang, DESCRIPTION["en"]), dataset_iri=str(DATASET),
        licence=str(DATA_LICENCE), licence_name=site.DATA_LICENCE_NAME, version=backend.version(),
        stats=stats, classes=class_rows(stats.classes, lang),
        dumps=[("/" + path, media) for _key, path, media in DUMPS],
        descriptions=[(f.label, f"{url_for('dataset.void')}?format={f.key}") for f in RDF_FORMATS],
        data_version=backend.version())
    response = Response(html, mimetype=HTML)
    response.vary.add("Accept")  # before Accept-Language, as on the other negotiated pages
    return i18n.mark_language(response)


def class_rows(classes: tuple[tuple[str, int], ...], lang: str) -> list[dict[str, Any]]:
    """The class partitions, ours first then by count, each with its label and link."""
    rows = [{"iri": iri, "href": site.local_href(iri), "count": n,
             "label": site.term_label(iri, lang) or site.prefixed(iri)} for iri, n in classes]
    return sorted(rows, key=lambda r: (not str(r["iri"]).startswith(str(KG)), -int(r["count"]),
                                       str(r["label"])))
