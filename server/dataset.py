"""Blueprint "dataset": the VoID/DCAT description (the page for browsers says the same facts),
whole-graph dumps and the health check.

Dumps are made once per data version by the engine (CONSTRUCT of everything, engine-native
writers), kept in this server's private cache folder (written atomically, removed with the
server), and sent as attachments with a fixed file name; no part of a request's path ever
names a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from graph.dataset import DATASET, DESCRIPTION, DUMPS, TITLE, Statistics, dataset_description, statistics
from graph.formats import HTML, RDF_BY_KEY, RDF_FORMATS, Format
from graph.jsonld import compact_jsonld
from graph.namespaces import KG
from server import http, i18n, site
from server.negotiation import HTML_FORMAT, negotiate
from server.state import cache_dir, get_backend, get_state

bp = Blueprint("dataset", __name__)

DUMP_FORMATS = {"dump" + f.suffix: f for f in DUMPS}
# The description in any RDF syntax, Turtle first; HTML last: chosen only when preferred to all.
DESCRIPTION_FORMATS = (*RDF_BY_KEY.values(), HTML_FORMAT)
DUMP_NAME = "rabat-kg"  # the attachment's fixed file name stem


def public_base_url() -> str:
    """Where the dumps and the endpoint are: PUBLIC_URL when configured, else the serving host."""
    configured = current_app.config.get("PUBLIC_URL")
    return str(configured).rstrip("/") + "/" if configured else request.host_url


def served_statistics() -> Statistics:
    """The counts of the served release, made once per release."""
    return site.per_version("statistics", lambda: statistics(get_backend()))


@bp.get("/health")
def health() -> tuple[dict[str, object], int]:
    """GET /health: 200 with the release being served, from what the server knows (no query)."""
    backend = get_state().backend
    body: dict[str, object] = {"status": "ok", "version": backend.version()}
    triples = getattr(backend, "triples", None)  # the built release's, or what `load` recorded
    if triples is not None:
        body["triples"] = triples
    return body, 200


@bp.get("/.well-known/void")
def void() -> Response:
    """The dataset description (VoID + DCAT) for RDF clients, the page for browsers."""
    fmt = negotiate(DESCRIPTION_FORMATS)
    if fmt is HTML_FORMAT:
        return dataset_page()
    return http.not_modified(fmt.media_type) or Response(
        dataset_description(get_backend(), public_base_url(), served_statistics()).serialize(
            format=fmt.rdflib, encoding="utf-8"), mimetype=fmt.media_type)


@bp.get("/dataset")
def dataset() -> Response:
    """The dataset's own IRI (https://w3id.org/rabat-kg/dataset) is described by the VoID: the
    page for browsers, a 303 to the RDF description for everyone else."""
    if negotiate(DESCRIPTION_FORMATS) is HTML_FORMAT:
        return dataset_page()
    return Response(status=303, headers={"Location": "/.well-known/void"})


@i18n.language_page
def dataset_page() -> Response:
    """The page, with links to the RDF description in each syntax."""
    lang = i18n.choose_language()
    stats = served_statistics()
    html = render_template(
        "dataset.html", title=TITLE.get(lang, TITLE["en"]),
        description=DESCRIPTION.get(lang, DESCRIPTION["en"]), dataset_iri=str(DATASET),
        stats=stats, classes=class_rows(stats.classes, lang), dumps=site.DUMPS,
        descriptions=[(f.label, f"{url_for('dataset.void')}?format={f.key}") for f in RDF_FORMATS],
        data_version=get_backend().version())
    response = Response(html, mimetype=HTML)
    http.add_vary(response, "Accept")  # before Accept-Language, as on the other negotiated pages
    return response


def class_rows(classes: tuple[tuple[str, int], ...], lang: str) -> list[dict[str, Any]]:
    """The class partitions, ours first then by count, each with its label and link."""
    rows = [{"iri": iri, "href": site.local_href(iri), "count": n,
             "label": site.term_label(iri, lang) or site.prefixed(iri)} for iri, n in classes]
    return sorted(rows, key=lambda r: (not str(r["iri"]).startswith(str(KG)), -int(r["count"]),
                                       str(r["label"])))


@bp.get("/dump.<suffix>")
def dump(suffix: str) -> Response:
    """The whole graph in one syntax, as a download."""
    fmt = DUMP_FORMATS.get(f"dump.{suffix}")
    if fmt is None:
        abort(404, description="dumps: " + ", ".join("/" + p for p in DUMP_FORMATS))
    version = get_backend().version()
    path = dump_file(fmt, version)
    response = send_file(path, mimetype=fmt.media_type, as_attachment=True,
                         download_name=f"{DUMP_NAME}{fmt.suffix}", conditional=True,
                         etag=f"{version}{fmt.suffix}")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def dump_file(fmt: Format, version: str) -> Path:
    """The dump of the served release in `fmt`, made once (atomically) and kept."""
    # The embedded engine's release has its canonical N-Triples already.
    release = getattr(get_state().backend, "release", None)
    if fmt.key == "nt" and release is not None and release.version == version:
        return Path(release.ntriples_file)
    if not version or not all(c.isalnum() or c in "-_" for c in version):
        abort(500)  # the version names the file: nothing but letters, digits, - and _
    path = cache_dir() / f"dump-{version}{fmt.suffix}"
    if path.exists():
        return path
    with open(cache_dir() / f"dump-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another thread may be making it: wait for it
        if not path.exists():
            engine_key = "nt" if fmt.key == "jsonld" else fmt.key  # JSON-LD: compacted from N-Triples
            body = get_backend().execute("CONSTRUCT WHERE { ?s ?p ?o }", fmt=engine_key, lane="heavy").body
            if fmt.key == "jsonld":
                body = compact_jsonld(body)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
            for other in cache_dir().glob("dump-*"):  # this server's dumps of other releases
                if version not in other.name:
                    with contextlib.suppress(OSError):
                        other.unlink()
    return path
