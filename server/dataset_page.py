"""The dataset description as a page, for browsers at `/.well-known/void` and `/dataset`.

What RDF clients read in the VoID/DCAT description, said for people, from the same facts
(`graph.dataset`: title, description, licence, counts per release, dumps): what the dataset
is, its licence, the release, the counts, the dumps, the endpoint, and the description itself
in each RDF syntax.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template

from graph.dataset import DATA_LICENCE, DATASET, DESCRIPTION, DUMPS, TITLE, statistics
from graph.formats import HTML, RDF_FORMATS
from graph.namespaces import KG
from server import http, i18n, site
from server.state import get_backend

STRINGS = {
    "en": {
        "iri": "Dataset IRI",
        "licence": "Licence",
        "release": "Release",
        "modified": "Last modified",
        "counts": "Counts",
        "triples": "Triples",
        "entities": "Things (IRIs of the dataset)",
        "subjects": "Distinct subjects",
        "objects": "Distinct objects",
        "classes": "Classes",
        "properties": "Properties",
        "by_class": "Members by class",
        "class": "Class",
        "members": "Members",
        "access": "Get the data",
        "dumps": "Whole-graph downloads",
        "endpoint": "SPARQL endpoint",
        "editor": "query editor and Service Description",
        "stored": "Stored queries (an API with typed parameters)",
        "vocabulary": "Vocabulary (ontology)",
        "description": "This description in RDF (VoID and DCAT)",
    },
    "fr": {
        "iri": "IRI du jeu de données",
        "licence": "Licence",
        "release": "Version",
        "modified": "Dernière modification",
        "counts": "Chiffres",
        "triples": "Triplets",
        "entities": "Éléments (IRI du jeu de données)",
        "subjects": "Sujets distincts",
        "objects": "Objets distincts",
        "classes": "Classes",
        "properties": "Propriétés",
        "by_class": "Membres par classe",
        "class": "Classe",
        "members": "Membres",
        "access": "Obtenir les données",
        "dumps": "Téléchargements du graphe entier",
        "endpoint": "Point d'accès SPARQL",
        "editor": "éditeur de requêtes et description du service",
        "stored": "Requêtes enregistrées (une API aux paramètres typés)",
        "vocabulary": "Vocabulaire (ontologie)",
        "description": "Cette description en RDF (VoID et DCAT)",
    },
}


def dataset_page(void_path: str) -> Response:
    """The page; `void_path` is where the RDF description is (for its download links)."""
    lang = i18n.choose_language()
    cached = http.not_modified(HTML, lang)
    if cached is not None:
        return i18n.mark_language(cached)
    backend = get_backend()
    stats = statistics(backend)
    html = render_template(
        "dataset.html", s={**STRINGS["en"], **STRINGS.get(lang, {})}, title=TITLE.get(lang, TITLE["en"]),
        description=DESCRIPTION.get(lang, DESCRIPTION["en"]), dataset_iri=str(DATASET),
        licence=str(DATA_LICENCE), licence_name=site.DATA_LICENCE_NAME, version=backend.version(),
        stats=stats, classes=class_rows(stats.classes, lang),
        dumps=[("/" + path, media) for _key, path, media in DUMPS],
        descriptions=[(f.label, f"{void_path}?format={f.key}") for f in RDF_FORMATS],
        data_version=backend.version())
    response = Response(html, mimetype=HTML)
    response.vary.add("Accept")
    return i18n.mark_language(response)


def class_rows(classes: tuple[tuple[str, int], ...], lang: str) -> list[dict[str, Any]]:
    """The class partitions, ours first then by count, each with its label and link."""
    rows = [{"iri": iri, "href": site.local_href(iri), "count": n,
             "label": site.term_label(iri, lang) or site.prefixed(iri)} for iri, n in classes]
    return sorted(rows, key=lambda r: (not str(r["iri"]).startswith(str(KG)), -int(r["count"]),
                                       str(r["label"])))
