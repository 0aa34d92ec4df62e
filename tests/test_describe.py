"""The description queries (graph/describe.py) and the dataset description (graph/dataset.py) on
an in-process engine: binding, blank-node and hash-IRI closure, provenance, the incoming cap,
the timeline, search, and VoID counts."""

from __future__ import annotations

import functools

import pytest
from rdflib import RDF, RDFS, Graph, URIRef
from rdflib.namespace import VOID

from graph import describe as d
from graph.dataset import DATASET, dataset_description
from graph.engine.inline import InlineBackend
from graph.intake import check_query
from graph.namespaces import ID, KG
from graph.paths import ONTOLOGY_FILE, bundled_sources
from graph.release import make_release
from graph.search import search_hits, search_query


@functools.cache
def bundled() -> InlineBackend:
    release = make_release(bundled_sources(), validate=False)
    return InlineBackend(release.ntriples, release.version)


def backend_of(nt: str) -> InlineBackend:
    return InlineBackend(nt.encode(), "test")


def describe(backend: InlineBackend, ref: d.EntityRef) -> d.Description:
    result = backend.execute(d.describe_query(ref), fmt="nt", lane="light", max_rows=None)
    return d.parse_description(ref.iri, result.body)


@pytest.mark.parametrize(("type_", "slug", "ok"), [
    ("country", "togo", True), ("domain", "5", True), ("quote", "a-b-c", True),
    ("country", "Togo", False), ("planet", "earth", False), ("country", "", False),
    ("country", "-togo", False), ("country", "to go", False), ("country", "togo>", False),
    ("country", "togo/x", False), ("country", "a" * 201, False),
    ("country", "x> ?p ?o } UNION { ?s ?p ?o", False),
])
def test_entity_ref_validates_before_any_query(type_: str, slug: str, ok: bool) -> None:
    assert (d.entity_ref(type_, slug) is not None) is ok


def test_ref_for_iri_drops_the_fragment_only_when_asked() -> None:
    assert d.ref_for_iri(ID + "quote/x") == d.EntityRef("quote", "x")
    assert d.ref_for_iri(ID + "quote/x#target") is None
    assert d.ref_for_iri("https://example.org/id/quote/x") is None


@pytest.mark.parametrize("bad", ["http://e/a> ?p ?o", "http://e/a b", 'http://e/"', "", "http://e/{x}"])
def test_nt_iri_refuses_what_would_break_out(bad: str) -> None:
    with pytest.raises(ValueError):
        d.nt_iri(bad)


def test_describe_query_binds_the_entity_in_values_blocks_only() -> None:
    ref = d.EntityRef("country", "togo")
    q = d.describe_query(ref)
    assert check_query(q).form == "construct"
    parts = len(d._PARTS) + 3  # the outer VALUES, the own parts, the incoming list and count
    assert q.count(f"<{ref.iri}>") == parts
    assert q.count("VALUES") == parts


def test_activity_description_has_its_quotes_and_labels() -> None:
    backend = bundled()
    g = Graph().parse(data=backend.execute("CONSTRUCT WHERE { ?s ?p ?o }", fmt="nt").body, format="nt")
    act = sorted(g.subjects(RDF.type, URIRef(KG + "Activity")))[0]
    desc = describe(backend, d.ref_for_iri(str(act)))  # type: ignore[arg-type]
    assert desc.exists and desc.labels(str(act))["en"]
    quotes = desc.quotes()
    assert quotes and all(q.exact and q.sources for q in quotes)
    for q in quotes:
        for s, p, o in q.supports:
            if s == str(act) and p != RDFS.label.toPython():
                assert o in desc.objects(str(act), p), (p, o)
    for o in desc.objects(str(act), KG + "country"):
        assert desc.labels(o.value), "labels of linked things are in the description"


def test_unknown_entity_has_an_empty_description() -> None:
    ref = d.EntityRef("country", "atlantis")
    result = bundled().execute(d.describe_query(ref), fmt="nt", max_rows=None)
    assert result.count == 0 and not d.parse_description(ref.iri, result.body).exists
    assert b"false" in bundled().execute(d.exists_query(ref), fmt="json").body


def test_blank_nodes_and_hash_iris_are_closed_over() -> None:
    e = f"<{ID}event/e1>"
    nt = "\n".join([
        f'{e} <{KG}about> _:b1 .', '_:b1 <http://example.org/p> _:b2 .',
        '_:b2 <http://example.org/q> "deep" .',
        f'{e} <{KG}produced> <{ID}event/e1#part> .', f'<{ID}event/e1#part> <http://example.org/r> "hash" .',
        f'<{ID}event/other> <http://example.org/r> "not included" .',
    ]) + "\n"
    desc = describe(backend_of(nt), d.EntityRef("event", "e1"))
    texts = {v.value for props in desc.by_subject.values() for vs in props.values() for v in vs}
    assert {"deep", "hash"} <= texts and "not included" not in texts


def test_incoming_links_are_capped_with_a_note() -> None:
    target = f"<{ID}country/c>"
    n = d.INCOMING_CAP + 37
    nt = "".join(f"<{ID}activity/a{i}> <{KG}country> {target} .\n" for i in range(n))
    desc = describe(backend_of(nt), d.EntityRef("country", "c"))
    assert len(desc.incoming[KG + "country"]) == d.INCOMING_CAP
    assert desc.note is not None and f"{d.INCOMING_CAP} of {n}" in desc.note
    small = describe(backend_of(nt.splitlines(keepends=True)[0]), d.EntityRef("country", "c"))
    assert small.note is None


def test_timeline_classes_are_every_activity_and_event_class_of_the_ontology() -> None:
    onto = Graph().parse(ONTOLOGY_FILE, format="turtle")
    classes = set()
    for top in ("Activity", "Event"):
        subs = onto.transitive_subjects(RDFS.subClassOf, URIRef(KG + top))
        classes |= {str(c)[len(str(KG)):] for c in subs}
    assert classes == set(d.TIMELINE_CLASSES)


def test_timeline_through_a_narrower_plan_element() -> None:
    nt = "".join([
        f'<{ID}action/a1> <{KG}inDomain> <{ID}domain/d1> .\n',
        f'<{ID}activity/x> <{RDF}type> <{KG}Activity> .\n',
        f'<{ID}activity/x> <{KG}contributesTo> <{ID}action/a1> .\n',
        f'<{ID}activity/x> <{KG}startDate> "2019-03"^^<http://www.w3.org/2001/XMLSchema#gYearMonth> .\n',
        f'<{ID}activity/x> <{KG}endDate> "2021"^^<http://www.w3.org/2001/XMLSchema#gYear> .\n',
        f'<{ID}activity/y> <{RDF}type> <{KG}Activity> .\n',
        f'<{ID}activity/y> <{KG}contributesTo> <{ID}domain/d1> .\n',
        f'<{ID}activity/y> <{KG}date> "2018-11-05"^^<http://www.w3.org/2001/XMLSchema#date> .\n',
    ])
    items, truncated = d.timeline_items(backend_of(nt).select(d.timeline_query(d.EntityRef("domain", "d1"))))
    assert not truncated
    assert [(i.iri.rsplit("/", 1)[-1], i.date, i.start, i.end) for i in items] == [
        ("y", "2018-11-05", None, None), ("x", None, "2019-03", "2021")]


@pytest.mark.parametrize("text", ['") } ?s ?p ?o { ("', "\\", '"', "}", "a\nb"])
def test_search_text_is_bound_as_a_literal(text: str) -> None:
    nt = f'<{ID}country/x> <{RDFS}label> "ends with {d.nt_literal(text)[1:-1]}"@en .\n'
    nt += f'<{ID}country/y> <{RDFS}label> "other"@en .\n'
    backend = backend_of(nt)
    hits = search_hits(backend.select(search_query(text, None, 10)))
    assert [h.iri for h in hits] == [ID + "country/x"]


def test_dataset_description_counts_the_graph() -> None:
    backend = bundled()
    g = dataset_description(backend, "http://host.example:8000/")
    total = int(backend.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"]["value"])
    assert g.value(DATASET, VOID.triples).toPython() == total
    assert {str(u) for u in g.objects(DATASET, VOID.dataDump)} == {
        "http://host.example:8000/dump.ttl", "http://host.example:8000/dump.nt",
        "http://host.example:8000/dump.jsonld"}
    assert str(g.value(DATASET, VOID.uriSpace)) == ID
    parts = sum(g.value(p, VOID.triples).toPython() for p in g.objects(DATASET, VOID.propertyPartition))
    assert parts == total


def test_ontology_reader_finds_every_term_with_both_languages() -> None:
    onto = d.read_ontology(d.parse_turtle_file(str(ONTOLOGY_FILE)))
    assert onto.iri == "https://w3id.org/rabat-kg/def"
    assert onto.classes and onto.properties
    for term in onto.terms.values():
        assert set(term.labels) >= {"en", "fr"}, term.iri
        assert term.is_class or term.is_property, term.iri


def test_search_folds_accents_ligatures_and_apostrophes() -> None:
    nt = "".join(f'<{ID}{path}> <{RDFS}label> "{text}"@{lang} .\n' for path, text, lang in [
        ("country/ci", "C\u00f4te d\u2019Ivoire", "fr"), ("finding/oe", "Mise en \u0153uvre", "fr"),
        ("country/x", "Cotelette", "en")])
    backend = backend_of(nt)

    def found(text: str) -> list[str]:
        return [h.iri.rsplit("/", 1)[1] for h in search_hits(backend.select(search_query(text, None, 10)))]

    assert found("cote d'ivoire") == ["ci"]
    assert found("CÔTE") == ["ci", "x"]  # the exact word before the longer label
    assert found("oeuvre") == ["oe"] and found("ŒUVRE") == ["oe"]
    assert found("cote-d") == []


def test_search_ranks_exact_then_things_then_quotes() -> None:
    nt = "".join(f'<{ID}{path}> <{RDFS}label> "{text}"@en .\n' for path, text in [
        ("quote/q", "Quote: Togo"), ("organisation/o", "Diaspora desk of Togo"),
        ("country/togo", "Togo"), ("programme/p", "Togolese programme")])
    nt += f"<{ID}quote/q> <{RDF}type> <{KG}Quote> .\n"
    hits = search_hits(backend_of(nt).select(search_query("togo", None, 10)))
    assert [h.iri.rsplit("/", 1)[1] for h in hits] == ["togo", "o", "p", "q"]  # whole word, word start
    assert hits[0].matched == {"en": ["Togo"]}
