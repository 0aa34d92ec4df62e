"""What the pages share and compute once per release (the ontology and shapes as documents,
counts, the data date, timelines), links and prefixed names, and the site's constants.

Derived values live in the app's `ReleaseCache` (`app.extensions`), which holds one release at
a time: a reload (a new `backend.version()`) is picked up by the next request, and nothing is
read from disk per request.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import pyoxigraph as ox
from flask import current_app, url_for

from graph import dataset
from graph import describe as d
from graph.formats import Format
from graph.namespaces import BASE, ID, KG, KGSH, PREFIXES, STANDARD_PREFIXES
from graph.paths import ONTOLOGY_FILE
from server import i18n
from server.state import get_backend

T = TypeVar("T")

# The licence of the data and the dumps, as graph/dataset.py declares them (pages, citations).
DATA_LICENCE = str(dataset.DATA_LICENCE)
DATA_LICENCE_NAME = "CC BY 4.0"
# The whole-graph dumps: (path, media type). Fixed paths, never built from input.
DUMPS: tuple[tuple[str, str], ...] = tuple(("/dump" + f.suffix, f.media_type) for f in dataset.DUMPS)
WIKIDATA = STANDARD_PREFIXES["wd"]  # its IRIs are shown as "Wikidata Q945"

EXTENSION = "rabat_kg.release_cache"
LRU_SIZE = 256


class ReleaseCache:
    """What the pages derive from one release, kept in `app.extensions` for the app's life: a few
    small values (counts, documents, views) and the last LRU_SIZE per-argument ones (timelines,
    maps). A new release (a reload) empties it on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: str | None = None
        self.values: dict[str, Any] = {}
        self.lru: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def get(self, version: str, key: Any, compute: Callable[[], T], *, lru: bool = False) -> T:
        """The value under `key` (in the LRU part with `lru`), computed without the lock held."""
        table: dict[Any, Any] = self.lru if lru else self.values
        with self.lock:
            if version != self.version:
                self.version = version
                self.values.clear()
                self.lru.clear()
            elif key in table:
                if lru:
                    self.lru.move_to_end(key)
                return table[key]  # type: ignore[no-any-return]
        value = compute()
        with self.lock:
            if version == self.version:  # not if another release came meanwhile
                table[key] = value
                while len(self.lru) > LRU_SIZE:
                    self.lru.popitem(last=False)
        return value


def release_cache() -> ReleaseCache:
    """The app's cache of derived values (created on first use)."""
    cache: ReleaseCache = current_app.extensions.setdefault(EXTENSION, ReleaseCache())
    return cache


def per_version(name: str, compute: Callable[[], T]) -> T:
    """`compute()` once per release (a few small values: counts, documents, views)."""
    return release_cache().get(get_backend().version(), name, compute)


def per_version_lru(name: str, arg: str, compute: Callable[[], T]) -> T:
    """`compute()` once per (release, arg), keeping the last few hundred (timelines, counts)."""
    return release_cache().get(get_backend().version(), (name, arg), compute, lru=True)


def template_context() -> dict[str, object]:
    return {"prefixed": prefixed, "licence_url": DATA_LICENCE, "licence_name": DATA_LICENCE_NAME}


def local_href(iri: str) -> str | None:
    """Where a link to `iri` goes: a local path for our IRIs, the IRI for other http(s) IRIs,
    None for anything else (javascript:, data:, mailto:, urn: ... are shown as text)."""
    if iri.startswith(ID):
        entity, _, frag = iri.partition("#")
        ref = d.ref_for_iri(entity)
        if ref is None:
            return None
        return f"/id/{ref.path}" + ("#" + re.sub(r"[^A-Za-z0-9_.~-]", "", frag) if frag else "")
    for ns, page in ((str(KG), "/ontology"), (str(KGSH), "/shapes")):
        if iri.startswith(ns):
            name = iri[len(ns):]
            return f"{page}#{name}" if d.TERM.fullmatch(name) else None
    if iri == BASE + "def":
        return "/ontology"
    if re.match(r"https?://[^\s<>\"]+$", iri):
        return iri
    return None


def editor_link(query: str) -> str:
    """A link that opens `query` in the query editor: YASGUI fills a tab from `#query=` (the
    fragment never reaches the server, so the request line stays short however long the query)."""
    return url_for("sparql.endpoint") + "#" + urlencode({"query": query}, quote_via=quote)


def external_name(iri: str) -> str | None:
    """The name of an external identifier ("Wikidata Q945"), or None for other IRIs."""
    local = iri[len(WIKIDATA):]
    if iri.startswith(WIKIDATA) and re.fullmatch(r"[A-Za-z0-9_-]+", local):
        return f"Wikidata {local}"
    return None


def prefixed(iri: str) -> str:
    """A prefixed name for `iri` when one of our prefixes fits, else the IRI."""
    prefix, ns = max(((p, ns) for p, ns in PREFIXES.items() if iri.startswith(ns)),
                     key=lambda pair: len(pair[1]), default=("", ""))
    local = iri[len(ns):]
    if not ns or not re.fullmatch(r"[A-Za-z0-9_.-]*(#[A-Za-z0-9_.-]+)?", local):
        return iri
    return f"{prefix}:{local}"


def value_cell(v: d.Value, label: Callable[[str], str]) -> dict[str, Any]:
    """A value as `_value.html` shows it: an IRI as a link (http(s) or local only) named by
    `label`, a blank node, or text with its language and datatype."""
    if v.is_iri:
        return {"kind": "iri", "iri": v.value, "href": local_href(v.value), "text": label(v.value)}
    if v.kind == "bnode":
        return {"kind": "bnode", "text": "_:" + v.value, "href": None}
    return {"kind": "literal", "text": v.value, "href": None, "lang": v.lang,
            "datatype": prefixed(v.datatype) if v.datatype else None}


# --- Ontology ------------------------------------------------------------------------------------


def ontology() -> d.Ontology:
    return per_version("ontology", lambda: d.read_ontology(d.parse_turtle_file(str(ONTOLOGY_FILE))))


def term_label(iri: str, lang: str) -> str | None:
    """The label of an ontology term (ours, or a standard one we name in i18n)."""
    return ontology().label(iri, lang) or i18n.standard_label(iri, lang)


def rdf_file_bytes(path: Path, fmt: Format) -> bytes:
    """One of our Turtle files (ontology, shapes) in `fmt`: the file itself for Turtle."""
    if fmt.key == "ttl":
        return per_version(path.name, path.read_bytes)

    def convert() -> bytes:
        kwargs: dict[str, Any] = {"prefixes": PREFIXES} if fmt.key == "rdf" else {}
        return ox.serialize(d.parse_turtle_file(str(path)), format=getattr(ox.RdfFormat, fmt.oxigraph),
                            **kwargs) or b""
    return per_version(f"{path.name}.{fmt.key}", convert)


# --- Counts and dates --------------------------------------------------------------------------------


def _rows(name: str, query: str, arg: str | None = None) -> list[dict[str, dict[str, str]]]:
    """The rows of a light query, once per release (and `arg`, among the last few hundred)."""
    def compute() -> list[dict[str, dict[str, str]]]:
        return get_backend().select(query, lane="light")
    return per_version(name, compute) if arg is None else per_version_lru(name, arg, compute)


def class_counts() -> dict[str, int]:
    """Instances per class (rdf:type)."""
    rows = _rows("class-counts", "SELECT ?cls (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?cls } GROUP BY ?cls")
    return {r["cls"]["value"]: int(r["n"]["value"]) for r in rows if "cls" in r}


def triple_count() -> int:
    return int(_rows("triples", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"])


def data_date() -> str | None:
    """The date of the data: the latest dcterms:modified in the graph (the ontology header's,
    unless the data says more), so a citation of a release is stable."""
    modified = STANDARD_PREFIXES["dcterms"] + "modified"
    rows = _rows("data-date", f"SELECT (MAX(STR(?d)) AS ?m) WHERE {{ ?x <{modified}> ?d }}")
    return (rows[0].get("m", {}).get("value") if rows else None) or None


def timeline(ref: d.EntityRef) -> tuple[list[d.TimelineItem], bool]:
    return d.timeline_items(_rows("timeline", d.timeline_query(ref), ref.iri))


def incoming_counts(ref: d.EntityRef) -> dict[str, int]:
    rows = _rows("incoming", d.incoming_counts_query(ref), ref.iri)
    return {r["p"]["value"]: int(r["n"]["value"]) for r in rows if "p" in r}
