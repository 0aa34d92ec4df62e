"""UI strings in English and French, and the reader's language.

The text lives in message catalogs, server/strings/{lang}.json: the UI strings, the names of the
languages, and the labels of the standard terms our pages show often (our own terms take theirs
from the ontology). The language is chosen once per request (``?lang=``, then
``Accept-Language``, then English) and shared by every page through the ``t`` and ``lang``
template globals.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec
from urllib.parse import urlencode

from flask import Response, current_app, g, request

from graph.formats import HTML
from graph.namespaces import STANDARD_PREFIXES
from server import http

P = ParamSpec("P")

DEFAULT_LANGUAGE = "en"
CATALOGS: dict[str, dict[str, dict[str, str]]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(Path(__file__).with_name("strings").glob("*.json"))
}
STRINGS = {lang: catalog["strings"] for lang, catalog in CATALOGS.items()}
LANGUAGE_NAMES = {lang: catalog["languages"] for lang, catalog in CATALOGS.items()}


def _iri(name: str) -> str:
    """The IRI of a prefixed name: catalogs name standard terms that way ("rdfs:label")."""
    prefix, _, local = name.partition(":")
    return STANDARD_PREFIXES[prefix] + local


STANDARD_LABELS = {lang: {_iri(name): label for name, label in catalog["terms"].items()}
                   for lang, catalog in CATALOGS.items()}


def languages() -> list[str]:
    """The UI languages, default first (server/config.py)."""
    return list(current_app.config["LANGUAGES"])


def choose_language() -> str:
    """The reader's language for this request: ?lang=, then Accept-Language, then English."""
    if "kg_lang" in g:
        return str(g.kg_lang)
    offered = [lang for lang in languages() if lang in STRINGS]
    asked = (request.args.get("lang") or "").strip().lower()
    lang = asked if asked in offered else (request.accept_languages.best_match(offered) or DEFAULT_LANGUAGE)
    g.kg_lang = lang
    return lang


def translate(key: str, lang: str | None = None, **values: object) -> str:
    """The UI string for `key` in `lang` (English when missing), with {placeholders} filled."""
    lang = lang or choose_language()
    text = STRINGS.get(lang, {}).get(key) or STRINGS[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def language_name(code: str, lang: str | None = None) -> str:
    """A language code's name in the UI language (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(lang or choose_language(), {}).get(code, code)


def keep_language(href: str | None) -> str | None:
    """`href` with ?lang= added when it is a local path and this request chose its language by
    ?lang= (Accept-Language needs no help: the browser sends it with every request)."""
    if not href or not href.startswith("/") or href.startswith("//"):
        return href
    asked = (request.args.get("lang") or "").strip().lower()
    if asked not in languages() or "lang=" in href:
        return href
    path, hash_, fragment = href.partition("#")
    path += ("&" if "?" in path else "?") + "lang=" + asked
    return path + hash_ + fragment


def standard_label(iri: str, lang: str | None = None) -> str | None:
    """The label of a standard term in the UI language, or None."""
    labels = STANDARD_LABELS.get(lang or choose_language(), STANDARD_LABELS[DEFAULT_LANGUAGE])
    return labels.get(iri)


def mark_language(response: Response) -> Response:
    """Content-Language and Vary: Accept-Language on a page whose text depends on the reader."""
    response.headers["Content-Language"] = choose_language()
    http.add_vary(response, "Accept-Language")
    return response


def language_page(view: Callable[P, Response]) -> Callable[P, Response]:
    """An HTML page in the reader's language: a 304 before `view` runs when the client holds it,
    and the answer marked with its language."""
    @functools.wraps(view)
    def page(*args: P.args, **kwargs: P.kwargs) -> Response:
        cached = http.not_modified(HTML, choose_language())
        return mark_language(view(*args, **kwargs) if cached is None else cached)
    return page


def lang_url(code: str) -> str:
    """This page's path and query with `lang` set to `code` (a same-site relative link)."""
    return request.path + "?" + urlencode({**request.args.to_dict(flat=False), "lang": [code]}, doseq=True)


def template_context() -> dict[str, object]:
    """What every template gets: the translator, the language and the switch links."""
    lang = choose_language()
    return {"t": functools.partial(translate, lang=lang), "lang": lang, "ui_languages": languages(),
            "language_name": language_name, "lang_url": lang_url}
