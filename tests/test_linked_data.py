"""Dereferencing over real HTTP: /id 303s by content negotiation, /doc documents, /def terms,
and every entity IRI of the served graph resolving to data that parses and describes it."""

from __future__ import annotations

import json
import re

import pytest
import requests
from rdflib import OWL, RDF, RDFS, Graph, URIRef
from rdflib.compare import isomorphic

from graph.namespaces import ID, KG, PREFIXES

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
RAPPER = ("application/rdf+xml, text/rdf;q=0.6, application/n-triples, text/turtle, "
          "application/x-turtle, application/turtle, text/n3, */*;q=0.1")
TOGO = "country/togo"

# (Accept, expected document path suffix)
MATRIX = [
    ("text/html", ""),
    (BROWSER, ""),
    ("*/*", ""),
    ("text/turtle", ".ttl"),
    ("application/x-turtle", ".ttl"),
    ("application/ld+json", ".jsonld"),
    ("application/json", ".jsonld"),
    ("application/n-triples", ".nt"),
    ("application/rdf+xml", ".rdf"),
    ("text/turtle;q=0.5, application/rdf+xml", ".rdf"),
    ("text/html;q=0.1, text/turtle", ".ttl"),
    (RAPPER, ".ttl"),  # equal quality: the server prefers Turtle
]
MEDIA = {".ttl": "text/turtle", ".jsonld": "application/ld+json", ".nt": "application/n-triples",
         ".rdf": "application/rdf+xml", "": "text/html"}
RDFLIB = {".ttl": "turtle", ".jsonld": "json-ld", ".nt": "nt", ".rdf": "xml"}


def get(url: str, accept: str | None = None, **kw: object) -> requests.Response:
    headers = {"Accept": accept} if accept is not None else {}
    return requests.get(url, headers=headers, allow_redirects=False, timeout=30, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("accept", "suffix"), MATRIX)
def test_id_redirects_by_accept(base_url: str, accept: str, suffix: str) -> None:
    r = get(f"{base_url}/id/{TOGO}", accept)
    assert r.status_code == 303
    assert r.headers["Location"] == f"/doc/{TOGO}{suffix}"
    assert "Accept" in r.headers["Vary"]
    link = r.headers["Link"]
    for s, media in MEDIA.items():
        assert f'</doc/{TOGO}{s}>; rel="alternate"; type="{media}"' in link
    assert f'</doc/{TOGO}{suffix}>; rel="describedby"' in link


@pytest.mark.parametrize(("accept", "suffix"), MATRIX)
def test_doc_negotiates_the_same_way(base_url: str, accept: str, suffix: str) -> None:
    r = get(f"{base_url}/doc/{TOGO}", accept)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == MEDIA[suffix]
    assert "Accept" in r.headers["Vary"]
    if suffix:
        assert r.headers["Content-Location"] == f"/doc/{TOGO}{suffix}"
        g = Graph().parse(data=r.content, format=RDFLIB[suffix])
        assert (URIRef(ID + TOGO), None, None) in g


def test_no_accept_header_gets_html(base_url: str) -> None:
    r = requests.get(f"{base_url}/id/{TOGO}", headers={"Accept": None}, allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == f"/doc/{TOGO}"


@pytest.mark.parametrize("key", ["ttl", "jsonld", "nt", "rdf"])
def test_format_parameter_overrides_accept(base_url: str, key: str) -> None:
    r = get(f"{base_url}/id/{TOGO}?format={key}", BROWSER)
    assert r.status_code == 303 and r.headers["Location"] == f"/doc/{TOGO}.{key}"
    doc = get(f"{base_url}/doc/{TOGO}?format={key}", BROWSER)
    assert doc.status_code == 200 and doc.headers["Content-Type"].startswith(MEDIA["." + key])


def test_lang_survives_the_redirect_to_html_only(base_url: str) -> None:
    assert get(f"{base_url}/id/{TOGO}?lang=fr", "text/html").headers["Location"] == f"/doc/{TOGO}?lang=fr"
    assert get(f"{base_url}/id/{TOGO}?lang=xx", "text/html").headers["Location"] == f"/doc/{TOGO}"
    assert get(f"{base_url}/id/{TOGO}?lang=fr", "text/turtle").headers["Location"] == f"/doc/{TOGO}.ttl"


@pytest.mark.parametrize("path", [f"/id/{TOGO}", f"/doc/{TOGO}"])
def test_nothing_acceptable_is_406_with_the_offer(base_url: str, path: str) -> None:
    r = get(base_url + path, "image/png")
    assert r.status_code == 406
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "text/turtle" in r.text and "text/html" in r.text
    bad = get(base_url + path + "?format=bogus", "text/turtle")
    assert bad.status_code == 406


@pytest.mark.parametrize("suffix", [".ttl", ".jsonld", ".nt", ".rdf"])
def test_suffix_fixes_the_representation(base_url: str, suffix: str) -> None:
    r = get(f"{base_url}/doc/{TOGO}{suffix}", "text/html")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == MEDIA[suffix]
    g = Graph().parse(data=r.content, format=RDFLIB[suffix])
    togo = URIRef(ID + TOGO)
    assert (togo, URIRef(KG + "iso3166Alpha2"), None) in g
    assert 'rel="alternate"' in r.headers["Link"]


@pytest.mark.parametrize("path", [
    "/id/country/no-such-country",           # well-formed, not in the graph
    "/doc/country/no-such-country",
    "/doc/country/no-such-country.ttl",
    "/id/planet/earth",                      # unknown type
    "/id/country/Togo",                      # slugs are lower-case
    "/id/country/togo_",                     # not a slug character
    "/doc/country/togo.exe",                 # unknown suffix
    "/doc/country/togo.ttl.ttl",
    "/id/country/togo/extra",
    "/def/NoSuchTerm",
    "/def/Country%3E",
])
def test_unknown_or_malformed_is_404(base_url: str, path: str) -> None:
    program = get(base_url + path, "text/turtle")
    assert program.status_code == 404
    assert program.headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(program.text)["status"] == 404
    person = get(base_url + path, BROWSER)
    assert person.status_code == 404
    assert person.headers["Content-Type"].startswith("text/html")


def test_def_terms_redirect_to_the_ontology(base_url: str) -> None:
    r = get(f"{base_url}/def/Country", BROWSER)
    assert r.status_code == 303 and r.headers["Location"] == "/ontology#Country"
    r = get(f"{base_url}/def/Country", "text/turtle")
    assert r.status_code == 303 and r.headers["Location"] == "/ontology.ttl"
    onto = get(base_url + r.headers["Location"], "text/turtle")
    g = Graph().parse(data=onto.content, format="turtle")
    assert (URIRef(KG + "Country"), None, None) in g
    assert get(f"{base_url}/def", BROWSER).headers["Location"] == "/ontology"


def test_data_document_keeps_the_canonical_base_and_caps_nothing_small(base_url: str) -> None:
    r = get(f"{base_url}/doc/{TOGO}.nt")
    assert "127.0.0.1" not in r.text and "localhost" not in r.text
    assert f"<{ID}{TOGO}>" in r.text
    assert "capped" not in r.text


def entity_iris(base_url: str) -> list[str]:
    """Every IRI under {BASE}id/ that is a subject in the dump, without fragments."""
    dump = requests.get(f"{base_url}/dump.nt", timeout=60)
    assert dump.status_code == 200
    g = Graph().parse(data=dump.content, format="nt")
    iris = {str(s).split("#", 1)[0] for s in g.subjects() if isinstance(s, URIRef) and str(s).startswith(ID)}
    return sorted(iris)


def test_every_entity_dereferences_and_its_data_describes_it(base_url: str) -> None:
    iris = entity_iris(base_url)
    context = requests.get(base_url + "/context.jsonld", timeout=30).json()["@context"]
    assert len(iris) > 100  # the bundled graph: countries, activities, quotes, ...
    failures: list[str] = []
    with requests.Session() as s:
        for iri in iris:
            path = "/" + iri[len("https://w3id.org/rabat-kg/"):]
            subject = URIRef(iri)
            for accept, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld")):
                r = s.get(base_url + path, headers={"Accept": accept}, allow_redirects=False, timeout=30)
                if r.status_code != 303:
                    failures.append(f"{path} {accept}: {r.status_code}")
                    continue
                doc = s.get(base_url + r.headers["Location"], headers={"Accept": accept}, timeout=30)
                try:
                    g = Graph().parse(data=doc.content, format=fmt)
                except Exception as exc:  # report every failure, not just the first
                    failures.append(f"{path} {fmt}: does not parse: {exc}")
                    continue
                if (subject, None, None) not in g:
                    failures.append(f"{path} {fmt}: no triple with the entity as subject")
                if fmt == "json-ld" and doc.json().get("@context") != context:
                    failures.append(f"{path} json-ld: not the published context")
                if fmt == "turtle":
                    failures += [f"{path} turtle: declares {p}: but no IRI is in {ns}"
                                 for p, ns in declared_prefixes(doc.text).items()
                                 if not any(str(t).startswith(ns) for tr in g for t in tr)
                                 and not any(str(getattr(o, "datatype", None) or "").startswith(ns)
                                             for o in g.objects())]
            page = s.get(base_url + path, headers={"Accept": "text/html"}, timeout=30)
            if page.status_code != 200 or iri not in page.text:
                failures.append(f"{path} html: {page.status_code}")
    assert not failures, "\n".join(failures[:40])


PREFIX_LINE = re.compile(r"^@prefix ([A-Za-z][\w.-]*)?: <([^>]*)> \.$", re.M)


def declared_prefixes(turtle: str) -> dict[str, str]:
    return {m.group(1) or "": m.group(2) for m in PREFIX_LINE.finditer(turtle)}


@pytest.mark.parametrize("path", [TOGO, "domain/5", "quote/domain-5-reference-countries",
                                  "organisation/european-union", "dialogue/rabat-process"])
def test_turtle_declares_only_the_prefixes_it_uses(base_url: str, path: str) -> None:
    """Each declared prefix is needed: without its line the document no longer parses."""
    r = get(f"{base_url}/doc/{path}.ttl")
    assert r.status_code == 200, r.text
    declared = declared_prefixes(r.text)
    assert "kg" in declared and len(declared) < len(PREFIXES)
    assert list(declared) == sorted(declared)
    for prefix, ns in declared.items():
        without = r.text.replace(f"@prefix {prefix}: <{ns}> .\n", "")
        with pytest.raises(Exception):  # noqa: B017 - rdflib raises its parser's own errors
            Graph().parse(data=without, format="turtle")
    nt = Graph().parse(data=get(f"{base_url}/doc/{path}.nt").content, format="nt")
    assert isomorphic(Graph().parse(data=r.content, format="turtle"), nt)


def test_jsonld_is_compact_with_the_published_context(base_url: str) -> None:
    ctx = get(f"{base_url}/context.jsonld")
    assert ctx.status_code == 200 and ctx.headers["Content-Type"].startswith("application/ld+json")
    context = ctx.json()["@context"]
    assert context["kg"] == str(KG) and context["country"] == ID + "country/"
    r = get(f"{base_url}/doc/{TOGO}.jsonld")
    doc = r.json()
    assert doc["@context"] == context
    togo = next(n for n in doc["@graph"] if n["@id"] == TOGO.replace("/", ":"))
    assert togo["@type"] == "kg:Country"
    assert togo["kg:iso3166Alpha2"] == "TG"
    nt = Graph().parse(data=get(f"{base_url}/doc/{TOGO}.nt").content, format="nt")
    assert isomorphic(Graph().parse(data=r.content, format="json-ld"), nt)


def test_incoming_reified_statements_say_what_they_state(base_url: str) -> None:
    g = Graph().parse(data=get(f"{base_url}/doc/{TOGO}.ttl").content, format="turtle")
    togo = URIRef(ID + TOGO)
    statements = set(g.subjects(RDF.object, togo))
    assert statements
    for st in statements:
        subject = g.value(st, RDF.subject)
        assert subject is not None and g.value(st, RDF.predicate) is not None
        assert g.value(subject, RDFS.label) is not None  # the subject is named, not just linked
    page = requests.get(f"{base_url}/doc/{TOGO}", timeout=30).text
    incoming = page[page.index('id="incoming"'):]
    assert "Reference country" in incoming or "reference country" in incoming
    assert "Domain 5" in incoming or "Return, readmission" in incoming


def test_version_iri_answers_the_ontology_of_that_version(base_url: str) -> None:
    onto = Graph().parse(data=get(f"{base_url}/ontology.ttl").content, format="turtle")
    version_iri = onto.value(URIRef(str(KG).rstrip("/")), OWL.versionIRI)
    assert version_iri is not None and str(version_iri).startswith(str(KG))
    path = "/" + str(version_iri)[len("https://w3id.org/rabat-kg/"):]
    r = get(base_url + path, "text/turtle")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle")
    assert isomorphic(Graph().parse(data=r.content, format="turtle"), onto)
    page = get(base_url + path, BROWSER)
    assert page.status_code == 200 and "kg:Country" in page.text
    assert get(f"{base_url}/def/9.9.9", "text/turtle").status_code == 404


@pytest.mark.parametrize("path,params", [
    ("/ontology.ttl", {}), ("/shapes.ttl", {}), ("/.well-known/void", {}), ("/sparql", {}),
    ("/dump.ttl", {}), ("/def/0.1.0", {}), ("/doc/domain/5.ttl", {}),
    ("/sparql", {"query": "CONSTRUCT WHERE { ?s a <https://w3id.org/rabat-kg/def/Domain> ; ?p ?o }"}),
    ("/queries/construct-country-activities", {}),
])
def test_no_turtle_document_declares_a_prefix_it_does_not_use(base_url: str, path: str,
                                                              params: dict[str, str]) -> None:
    """Issue 17: every Turtle the server writes (documents, descriptions, dumps, answers)."""
    from graph.turtle import used_prefixes

    r = requests.get(base_url + path, params=params, headers={"Accept": "text/turtle"}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle"), r.text[:300]
    declared = declared_prefixes(r.text)
    body = PREFIX_LINE.sub("", r.text)
    unused = set(declared) - used_prefixes(body)
    assert not unused, f"{path}: declares {sorted(unused)} without using them"
    Graph().parse(data=r.content, format="turtle")
