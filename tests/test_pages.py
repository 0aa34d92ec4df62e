"""The HTML pages over real HTTP: home, entity pages (labels, provenance, timeline, incoming links,
downloads, editor link, citation, conformance), search, ontology, shapes and validation, in
English and French. Expectations are read from the served graph's own dump, not written here."""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from rdflib import OWL, RDF, RDFS, Graph, Literal, Namespace, URIRef

from graph.namespaces import ID, KG
from graph.paths import ONTOLOGY_FILE
from graph.search import fold
from server.pages import SEARCH_MAX_LEN

OA = Namespace("http://www.w3.org/ns/oa#")
KGN = Namespace(str(KG))
HTML = "text/html"


class Page(HTMLParser):
    """A parsed page: links, elements by id, <link rel=alternate>, the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.alternates: list[tuple[str, str]] = []  # (type, href)
        self.ids: dict[str, str] = {}
        self.attrs_by_id: dict[str, dict[str, str]] = {}
        self.buttons: list[dict[str, str]] = []
        self.html_lang = ""
        self.scripts: list[dict[str, str]] = []
        self._open: list[tuple[str, str | None, list[str]]] = []  # (tag, id, text parts)
        self._a: list[tuple[str, list[str]]] = []
        self.text_parts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.html_lang = a.get("lang", "")
        if tag == "link" and a.get("rel") == "alternate":
            self.alternates.append((a.get("type", ""), a.get("href", "")))
        if tag == "button":
            self.buttons.append(a)
        if tag == "script":
            self.scripts.append(a)
        if tag == "a":
            self._a.append((a.get("href", ""), []))
        if tag in ("br", "img", "input", "link", "meta"):
            return
        if a.get("id"):
            self.attrs_by_id[a["id"]] = a
        self._open.append((tag, a.get("id"), []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._a:
            href, parts = self._a.pop()
            self.links.append((href, " ".join("".join(parts).split())))
        while self._open:
            open_tag, el_id, parts = self._open.pop()
            text = "".join(parts)
            if el_id:
                self.ids[el_id] = " ".join(text.split())
            if self._open:
                self._open[-1][2].append(text)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        if self._open:
            self._open[-1][2].append(data)
        for _, parts in self._a:
            parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def hrefs(self) -> list[str]:
        return [h for h, _ in self.links]


def page(url: str, accept_language: str | None = None, **params: str) -> tuple[requests.Response, Page]:
    headers = {"Accept": HTML}
    if accept_language:
        headers["Accept-Language"] = accept_language
    r = requests.get(url, headers=headers, params=params or None, timeout=30)
    return r, Page(r.text)


@pytest.fixture(scope="module")
def dump(base_url: str) -> Graph:
    r = requests.get(f"{base_url}/dump.nt", timeout=60)
    assert r.status_code == 200
    return Graph().parse(data=r.content, format="nt")


def local(iri: str) -> str:
    return "/" + iri[len("https://w3id.org/rabat-kg/"):]


def label(g: Graph, node: URIRef, lang: str) -> str | None:
    for o in g.objects(node, RDFS.label):
        if isinstance(o, Literal) and o.language == lang:
            return str(o)
    return None


def quotes_of(g: Graph, entity: URIRef) -> list[URIRef]:
    """Quotes whose body is the entity or that the entity is stated in."""
    found = set(g.subjects(OA.hasBody, entity)) | set(g.objects(entity, KGN.statedIn))
    return sorted(q for q in found if isinstance(q, URIRef))


def exact_texts(g: Graph, quote: URIRef) -> list[str]:
    return [str(e) for t in g.objects(quote, OA.hasTarget) for s in g.objects(t, OA.hasSelector)
            for e in g.objects(s, OA.exact)]


# --- Home -------------------------------------------------------------------------------------------


def test_home_says_what_the_graph_covers(base_url: str, dump: Graph) -> None:
    r, p = page(base_url + "/")
    assert r.status_code == 200
    assert r.headers["Content-Language"] == "en" and "Accept-Language" in r.headers["Vary"]
    assert p.html_lang == "en"
    assert f"{len(dump):,}".replace(",", " ") in p.text
    counts: dict[str, int] = defaultdict(int)
    for o in dump.objects(None, RDF.type):
        if str(o).startswith(str(KG)):
            counts[str(o)[len(str(KG)):]] += 1
    browse = {h: t for h, t in p.links if h.startswith("/search?class=")}
    assert len(browse) == len(counts)
    for name, n in counts.items():
        text = next(t for h, t in browse.items() if h.startswith(f"/search?class={name}&"))
        assert text.endswith(f" {n}"), (name, text, n)
    hrefs = p.hrefs()
    for target in ("/sparql", "/queries", "/ontology", "/validation", "/.well-known/void", "/dump.ttl",
                   "/dump.nt", "/dump.jsonld"):
        assert any(h == target or h.startswith(target + "?") for h in hrefs), target
    assert p.scripts == [{"src": "/static/site.js"}]  # no inline script, no CDN


def test_home_in_french_by_accept_language_and_by_parameter(base_url: str) -> None:
    r, p = page(base_url + "/", "fr-FR,fr;q=0.9,en;q=0.5")
    assert r.headers["Content-Language"] == "fr" and p.html_lang == "fr"
    assert ("/?lang=fr", "Accueil") in p.links
    r, p = page(base_url + "/", "fr", lang="en")  # ?lang= wins over the header
    assert r.headers["Content-Language"] == "en" and ("/?lang=en", "Home") in p.links
    assert any(h.startswith("/?lang=fr") for h, t in p.links if t == "FR")


# --- Entity pages -------------------------------------------------------------------------------------


def activities(g: Graph) -> list[URIRef]:
    return sorted(s for s in g.subjects(RDF.type, KGN.Activity) if isinstance(s, URIRef))


def test_every_activity_page_shows_where_it_comes_from(base_url: str, dump: Graph) -> None:
    acts = activities(dump)
    assert acts
    for act in acts:
        r, p = page(base_url + local(str(act)))
        assert r.status_code == 200, act
        assert p.ids["title"] == label(dump, act, "en")
        quotes = quotes_of(dump, act)
        assert quotes, f"{act} has no quote in the graph"
        for q in quotes:
            for text in exact_texts(dump, q):
                assert " ".join(text.split()) in p.ids["provenance"], (act, text)
            for doc in {d for t in dump.objects(q, OA.hasTarget) for d in dump.objects(t, OA.hasSource)}:
                assert local(str(doc)) in p.hrefs(), (act, doc)


def test_entity_page_parts(base_url: str, dump: Graph) -> None:
    act = activities(dump)[0]
    r, p = page(base_url + local(str(act)))
    iri = str(act)
    assert p.ids["iri"] == iri
    assert {"type": "button", "class": "copy", "data-copy": iri} .items() <= p.buttons[0].items()
    path = local(str(act)).replace("/id/", "/doc/")
    for suffix, media in ((".ttl", "text/turtle"), (".jsonld", "application/ld+json"),
                          (".nt", "application/n-triples"), (".rdf", "application/rdf+xml")):
        assert path + suffix in p.hrefs()
        assert (media, path + suffix) in p.alternates
        assert f'<{path}{suffix}>; rel="alternate"; type="{media}"' in r.headers["Link"]
    editor = p.attrs_by_id["open-in-editor"]["href"]
    assert editor.startswith("/sparql#")  # the editor (YASGUI) reads the query from the fragment
    query = parse_qs(urlsplit(editor).fragment)["query"][0]
    assert f"<{iri}>" in query and query.startswith("PREFIX")
    assert " ".join(query.split()) in p.ids["query"]  # the same query is shown on the page
    version = requests.get(f"{base_url}/health", timeout=10).json()["version"]
    assert version in p.ids["cite"] and iri in p.ids["cite"] and "CC BY 4.0" in p.ids["cite"]
    assert p.ids["conformance"]
    for o in dump.objects(act, KGN.country):
        assert local(str(o)) in p.hrefs()  # links stay on this host
    assert not any(h.startswith("https://w3id.org/") for h in p.hrefs())


def test_statement_markers_point_to_their_quote(base_url: str, dump: Graph) -> None:
    """A value of a statement supported by a quote carries a [n] link to that quote's block."""
    act = activities(dump)[0]
    _, p = page(base_url + local(str(act)))
    refs = [h for h, t in p.links if re.fullmatch(r"#q\d+", h)]
    assert refs, "no statement is linked to its quote"
    for ref in refs:
        assert ref[1:] in p.ids


def test_entity_page_in_french(base_url: str, dump: Graph) -> None:
    act = next(a for a in activities(dump) if label(dump, a, "fr"))
    r, p = page(base_url + local(str(act)), "fr")
    assert r.headers["Content-Language"] == "fr"
    assert p.ids["title"] == label(dump, act, "fr")
    assert "label-fallback" not in p.ids
    assert label(dump, act, "en") in p.ids["labels"]  # every language listed
    assert "Télécharger cette description" in p.text


def test_country_timeline_and_incoming_links(base_url: str, dump: Graph) -> None:
    togo = URIRef(ID + "country/togo")
    linked = set(dump.subjects(KGN.country, togo))
    acts = {a for a in linked if {KGN.Activity, KGN.Event} & set(dump.objects(a, RDF.type))}
    dated = {a: str(d) for a in acts for p in (KGN.date, KGN.startDate) for d in dump.objects(a, p)}
    assert dated
    r, p = page(base_url + "/id/country/togo")
    timeline = p.ids["timeline"]
    for act, date in dated.items():
        assert date in timeline, (act, date)
        assert local(str(act)) in p.hrefs()
    times = re.findall(r"<time>([^<]*)</time>", r.text)
    firsts = [t.split()[0] for t in times]
    assert len(times) >= len(dated) and firsts == sorted(firsts)
    incoming = p.ids["incoming"]
    country_label = "country"
    assert f"{country_label} ({len(linked)})" in incoming


def test_external_identifiers_are_named(base_url: str, dump: Graph) -> None:
    """Each same-as link of the graph appears by its scheme's name ("Wikidata Q945"), with its
    ISO codes, on the thing's page."""
    same = [(s, o) for s, o in dump.subject_objects(URIRef("https://schema.org/sameAs"))
            if str(o).startswith("http://www.wikidata.org/entity/")]
    assert same
    for thing, wd in same:
        _, p = page(base_url + local(str(thing)))
        qid = str(wd).rsplit("/", 1)[1]
        assert (str(wd), f"Wikidata {qid}") in p.links, thing
        for code in dump.objects(thing, KGN.iso3166Alpha2):
            assert f"ISO 3166-1 alpha-2 {code}" in p.ids["identifiers"]


def test_incoming_statements_show_subject_and_property(base_url: str, dump: Graph) -> None:
    togo = URIRef(ID + "country/togo")
    statements = set(dump.subjects(RDF.object, togo))
    assert statements
    _, p = page(base_url + "/id/country/togo")
    incoming = p.ids["incoming"]
    for st in statements:
        subject = dump.value(st, RDF.subject)
        predicate = dump.value(st, RDF.predicate)
        name = label(dump, subject, "en")
        prop = label(ontology_graph(), predicate, "en")
        assert name and name in incoming, st
        assert prop and f"{name} — {prop} — this" in incoming, st


ISO_TABLE = Path(__file__).resolve().parent.parent / "server/static/vendor/i18n-iso-countries/codes.json"
MARK = re.compile(r'<(?:path|circle) class="([^"]*)" data-code="(\d{3})"')


def map_marks(html: str) -> dict[str, set[str]]:
    """The countries a page's map marks: numeric code -> CSS classes."""
    svg = html[html.index('<svg class="worldmap"'):]
    svg = svg[:svg.index("</svg>")]
    return {code: set(cls.split()) for cls, code in MARK.findall(svg)}


def test_home_map_marks_every_country_by_its_role(base_url: str, dump: Graph) -> None:
    """Each country of the graph is on the map (by the numeric code its alpha-3 code has in the ISO
    table) with its roles, or named among those the map cannot show."""
    numeric = {row[1]: row[2] for row in json.loads(ISO_TABLE.read_text())}
    r, p = page(base_url + "/")
    marks = map_marks(r.text)
    missing = p.ids.get("map-missing", "")
    reference = set(dump.objects(None, KGN.referenceCountry))
    countries = set(dump.subjects(RDF.type, KGN.Country))
    assert len(countries) > 50
    for c in countries:
        a3 = str(dump.value(c, KGN.iso3166Alpha3))
        code = numeric.get(a3)
        if code not in marks:
            assert label(dump, c, "en") in missing, (c, a3)
            continue
        roles = {"partner": (c, KGN.partnerOf, None) in dump,
                 "observer": (c, KGN.observerOf, None) in dump, "reference": c in reference}
        assert {k for k, on in roles.items() if on} == marks[code] - {"dot"}, c
    assert len(marks) >= len(countries) - 3
    assert "<script" not in r.text.split('<svg class="worldmap"')[1].split("</svg>")[0]
    domains = p.ids["reference-countries"]
    for c in reference:
        assert label(dump, c, "en") in domains


def test_country_page_map_marks_that_country(base_url: str, dump: Graph) -> None:
    r, p = page(base_url + "/id/country/togo")
    marks = map_marks(r.text)
    assert [code for code, cls in marks.items() if "focus" in cls] == ["768"]
    acts = {a for a in dump.subjects(KGN.country, URIRef(ID + "country/togo"))
            if (a, RDF.type, KGN.Activity) in dump}
    assert acts
    shown = p.ids["map-activities"]
    for a in acts:
        assert label(dump, a, "en") in shown


def test_ontology_diagram_draws_every_class_and_relation(base_url: str) -> None:
    onto = ontology_graph()
    r, _ = page(base_url + "/ontology")
    svg = r.text[r.text.index('<svg class="diagram"'):]
    svg = svg[:svg.index("</svg>")]
    names = set(re.findall(r'<g class="class" data-name="([^"]+)"', svg))
    classes = {str(c)[len(str(KG)):] for c in onto.subjects(RDF.type, OWL.Class)
               if str(c).startswith(str(KG))}
    assert classes and names == classes
    rel_labels = set(re.findall(r'<text class="rel-label"[^>]*>([^<]+)</text>', svg))
    for prop in onto.subjects(RDF.type, OWL.ObjectProperty):
        if onto.value(prop, RDFS.domain) is not None and onto.value(prop, RDFS.range) is not None:
            assert label(onto, prop, "en") in rel_labels, prop


def test_links_are_only_local_or_http(base_url: str, dump: Graph) -> None:
    _, p = page(base_url + "/id/country/togo")
    for href in p.hrefs():
        assert href.startswith(("/", "#", "http://", "https://")), href


# --- Search ---------------------------------------------------------------------------------------------


def test_search_html_and_json(base_url: str) -> None:
    r, p = page(base_url + "/search", q="TOGO")
    assert r.status_code == 200 and "/id/country/togo" in p.hrefs()
    j = requests.get(f"{base_url}/search", params={"q": "togo"}, headers={"Accept": "application/json"},
                     timeout=30)
    assert j.status_code == 200 and j.headers["Content-Type"].startswith("application/json")
    doc = j.json()
    assert ID + "country/togo" in [x["iri"] for x in doc["results"]]
    togo = next(x for x in doc["results"] if x["iri"] == ID + "country/togo")
    assert togo["page"] == "/id/country/togo" and "en" in togo["labels"]


def test_search_matches_french_labels(base_url: str, dump: Graph) -> None:
    act = next(a for a in activities(dump) if label(dump, a, "fr"))
    word = max(re.findall(r"\w+", label(dump, act, "fr") or ""), key=len)
    j = requests.get(f"{base_url}/search", params={"q": word.upper(), "format": "json"}, timeout=30).json()
    assert str(act) in [x["iri"] for x in j["results"]]


def search_json(base_url: str, q: str, lang: str = "en") -> list[dict[str, object]]:
    r = requests.get(f"{base_url}/search", params={"q": q, "format": "json", "lang": lang}, timeout=30)
    assert r.status_code == 200, r.text
    results: list[dict[str, object]] = r.json()["results"]
    return results


@pytest.mark.parametrize("q", ["cote d'ivoire", "COTE D\u2019IVOIRE", "Côte", "ivoire"])
def test_search_ignores_case_and_accents(base_url: str, q: str) -> None:
    assert ID + "country/cote-d-ivoire" in [x["iri"] for x in search_json(base_url, q)]


def test_search_ignores_accents_of_french_labels(base_url: str, dump: Graph) -> None:
    """A French label with accents is found by the same words typed without them."""
    import unicodedata
    accented = [(s, str(o)) for s, o in dump.subject_objects(RDFS.label)
                if isinstance(o, Literal) and o.language == "fr" and str(s).startswith(ID)
                and any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", str(o)))
                and len(str(o)) <= SEARCH_MAX_LEN]  # longer ones are refused (400)
    assert accented
    for thing, text in accented[:10]:
        plain = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        hits = search_json(base_url, plain.upper(), lang="fr")
        assert str(thing) in [x["iri"] for x in hits], (plain, thing)


def test_search_text_that_folds_to_nothing_finds_nothing(base_url: str) -> None:
    assert search_json(base_url, "\u0301\u0300") == []


def test_search_ranks_exact_labels_first_and_quotes_last(base_url: str, dump: Graph) -> None:
    hits = search_json(base_url, "togo")
    assert hits[0]["iri"] == ID + "country/togo"
    quotes = [str(KG) + "Quote" in x["types"] for x in hits]  # type: ignore[operator]
    assert any(quotes) and quotes == sorted(quotes)  # every quote after every other thing


def test_search_shows_the_label_that_matched_in_its_language(base_url: str, dump: Graph) -> None:
    """A thing found by its French label is shown with that label, marked French, to an English
    reader (and by its English label when that is what matched)."""
    countries = [c for c in dump.subjects(RDF.type, KGN.Country)
                 if label(dump, c, "fr") and label(dump, c, "en")
                 # the French label must not match the English one (search ignores accents)
                 and fold(label(dump, c, "fr") or "") not in fold(label(dump, c, "en") or "")]
    assert countries
    for country in countries[:5]:
        fr = label(dump, country, "fr") or ""
        hit = next(x for x in search_json(base_url, fr, lang="en") if x["iri"] == str(country))
        assert (hit["label"], hit["labelLanguage"]) == (fr, "fr")
        en = label(dump, country, "en") or ""
        hit = next(x for x in search_json(base_url, en, lang="en") if x["iri"] == str(country))
        assert (hit["label"], hit["labelLanguage"]) == (en, "en")
    fr = label(dump, countries[0], "fr") or ""
    _, p = page(base_url + "/search", q=fr, lang="en")
    assert (local(str(countries[0])), fr) in [(h.split("?", 1)[0], t) for h, t in p.links]


def test_search_by_class_and_browse(base_url: str, dump: Graph) -> None:
    j = requests.get(f"{base_url}/search", params={"q": "o", "class": "Country", "format": "json"},
                     timeout=30).json()
    assert j["results"] and all(KG + "Country" in x["types"] for x in j["results"])
    countries = {str(s) for s in dump.subjects(RDF.type, KGN.Country)}
    j = requests.get(f"{base_url}/search", params={"class": "Country", "format": "json"}, timeout=30).json()
    assert {x["iri"] for x in j["results"]} == countries and j["more"] is False


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 201}, {"q": "a\x01b"}, {"class": "Bogus"},
                                    {"class": "Country<script>"}, {"class": "Country", "page": "0"},
                                    {"class": "Country", "page": "x"}])
def test_search_bad_input_is_400(base_url: str, params: dict[str, str]) -> None:
    r = requests.get(f"{base_url}/search", params=params, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_search_text_is_a_literal_not_query_syntax(base_url: str) -> None:
    for q in ('") } SELECT * WHERE { ?s ?p ?o } #', "\\", '"', "}}}", "?s"):
        r = requests.get(f"{base_url}/search", params={"q": q, "format": "json"}, timeout=30)
        assert r.status_code == 200, q
        for hit in r.json()["results"]:  # only labels that hold the text itself
            assert any(q.lower() in v.lower() for vs in hit["labels"].values() for v in vs), (q, hit)


# --- Ontology, shapes, validation -------------------------------------------------------------------------


@functools.cache
def ontology_graph() -> Graph:
    return Graph().parse(ONTOLOGY_FILE, format="turtle")


def test_ontology_page_documents_every_term(base_url: str) -> None:
    onto = ontology_graph()
    r, p = page(base_url + "/ontology")
    assert r.status_code == 200
    terms = {s for s in onto.subjects() if isinstance(s, URIRef) and str(s).startswith(str(KG))}
    assert len(terms) > 20
    for term in terms:
        name = str(term)[len(str(KG)):]
        assert name in p.ids, name
        for lab in onto.objects(term, RDFS.label):
            assert str(lab).lower() in p.ids[name].lower(), (name, lab)
    sub = p.ids["NationalMeasure"]
    assert "Subclass of" in sub and "activity" in sub
    _, fr = page(base_url + "/ontology", "fr")
    assert "Sous-classe de" in fr.ids["NationalMeasure"]


@pytest.mark.parametrize(("accept", "fmt"), [("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                                             ("application/n-triples", "nt"), ("application/rdf+xml", "xml")])
def test_ontology_by_conneg_is_the_ontology(base_url: str, accept: str, fmt: str) -> None:
    r = requests.get(f"{base_url}/ontology", headers={"Accept": accept}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(accept)
    assert "Accept" in r.headers["Vary"]
    g = Graph().parse(data=r.content, format=fmt)
    assert len(g) == len(ontology_graph())


def test_shapes_page_and_turtle(base_url: str) -> None:
    from rdflib.namespace import SH

    from graph.paths import SHAPES_FILE

    shapes = Graph().parse(SHAPES_FILE, format="turtle")
    r, p = page(base_url + "/shapes")
    assert r.status_code == 200
    for node in shapes.subjects(RDF.type, SH.NodeShape):
        assert str(node).rsplit("/", 1)[-1] in p.ids
    t = requests.get(f"{base_url}/shapes", headers={"Accept": "text/turtle"}, timeout=30)
    assert len(Graph().parse(data=t.content, format="turtle")) == len(shapes)


def test_validation_report_page_and_turtle(base_url: str) -> None:
    r, p = page(base_url + "/validation")
    assert r.status_code == 200
    assert p.ids["verdict"]
    t = requests.get(f"{base_url}/validation", headers={"Accept": "text/turtle"}, timeout=60)
    assert t.status_code == 200 and t.headers["Content-Type"].startswith("text/turtle")
    from rdflib.namespace import SH

    g = Graph().parse(data=t.content, format="turtle")
    report = next(g.subjects(RDF.type, SH.ValidationReport))
    conforms = g.value(report, SH.conforms)
    assert conforms is not None
    assert ("✓" in p.ids["verdict"]) == bool(conforms.toPython())


def test_pages_revalidate_with_their_etag(base_url: str) -> None:
    first = requests.get(f"{base_url}/id/country/togo", headers={"Accept": HTML, "Accept-Language": "fr"},
                         timeout=30)
    assert first.status_code == 200 and first.headers.get("ETag")
    tag = first.headers["ETag"]
    again = requests.get(f"{base_url}/doc/country/togo", timeout=30,
                         headers={"Accept": HTML, "Accept-Language": "fr", "If-None-Match": tag})
    assert again.status_code == 304
    english = requests.get(f"{base_url}/doc/country/togo", timeout=30,
                           headers={"Accept": HTML, "Accept-Language": "en", "If-None-Match": tag})
    assert english.status_code == 200 and english.headers["Content-Language"] == "en"
