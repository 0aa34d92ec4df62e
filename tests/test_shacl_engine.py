"""The engine validator (graph/shacl.py: shapes compiled to SPARQL on pyoxigraph) against pySHACL.

Differential tests: on every shape fixture, on the bundled graph, on synthetic benchmark data
and on that data deliberately broken, both engines must give the same conformance, the same
`Violation` objects (focus, path, value, message, severity, shape, component) and the same
results in the Turtle report, one for one. Then what the engine validator does differently on
purpose (stricter lexical checks), what it refuses to compile, and that releases use it on the
store that is served.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import RDF, SH

from bench.generate import write as generate
from graph import shacl
from graph.errors import DataError
from graph.namespaces import KGSH
from graph.paths import ONTOLOGY_FILE, bundled_sources
from graph.release import Release, build_release, canonical_lines, file_ntriples, load_release
from graph.validate import ValidationResult, show_path, show_term, validate_graph, validate_ntriples
from tests.test_shapes import FIXTURES, _only

KG = "https://w3id.org/rabat-kg/def/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
ACTIVITY = "<https://w3id.org/rabat-kg/id/activity/synthetic-activity-{:06d}>"
QUOTE = "<https://w3id.org/rabat-kg/id/quote/synthetic-activity-{:06d}{}>"
COUNTRY = "<https://w3id.org/rabat-kg/id/country/synthetic-country-{:02d}>"
XSD = "http://www.w3.org/2001/XMLSchema#"


def report_results(turtle: str) -> Counter[tuple[object, ...]]:
    """Every sh:ValidationResult of a Turtle report as comparable text, counted."""
    g = Graph().parse(data=turtle, format="turtle")
    return Counter(
        (show_term(g.value(r, SH.focusNode)), show_path(g, g.value(r, SH.resultPath)),
         show_term(g.value(r, SH.sourceConstraintComponent)), show_term(g.value(r, SH.sourceShape)),
         show_term(g.value(r, SH.value)), show_term(g.value(r, SH.resultSeverity)),
         tuple(sorted((str(m), getattr(m, "language", None) or "")
                      for m in g.objects(r, SH.resultMessage))))
        for r in g.subjects(RDF.type, SH.ValidationResult))


def assert_same(reference: ValidationResult, engine: ValidationResult) -> None:
    assert engine.conforms == reference.conforms
    assert engine.violations == reference.violations
    assert engine.text == reference.text
    assert report_results(engine.report_turtle) == report_results(reference.report_turtle)
    assert sum(report_results(engine.report_turtle).values()) == len(engine.violations)


def release_bytes(*chunks: bytes) -> bytes:
    """What a release holds: canonical N-Triples of the data and the ontology."""
    return canonical_lines([*chunks, file_ntriples(ONTOLOGY_FILE)])


# --- Every fixture ---------------------------------------------------------------------------


@functools.cache
def fixture_checks(shape: str) -> tuple[shacl.Check, ...]:
    """The shapes with only `shape` targeted, as tests/test_shapes.py validates fixtures."""
    return shacl.compile_shapes(_only(URIRef(f"{KGSH}{shape}")).serialize(format="turtle"))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.ttl")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_gives_the_same_results_as_pyshacl(path: Path) -> None:
    nt = release_bytes(file_ntriples(path))
    shapes = _only(URIRef(f"{KGSH}{path.parent.name}"))
    reference = validate_graph(Graph(bind_namespaces="none").parse(data=nt, format="nt"),
                               shapes=shapes)
    engine = shacl.validate_ntriples(nt, checks=fixture_checks(path.parent.name))
    assert_same(reference, engine)
    assert engine.conforms == path.name.startswith("valid-")


def test_fixtures_exercise_every_component_the_shapes_use() -> None:
    """The comparison above is not vacuous: the invalid fixtures trip each kind of check."""
    components = set()
    for path in FIXTURES.glob("*/invalid-*.ttl"):
        result = shacl.validate_ntriples(release_bytes(file_ntriples(path)),
                                         checks=fixture_checks(path.parent.name))
        components |= {v.component for v in result.violations}
    used = {c.component for c in shacl.bundled_checks()}
    assert {f"sh:{c.rsplit('#', 1)[-1]}" for c in used} == components


# --- The bundled graph and synthetic data ------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small benchmark graph (bench/generate.py), about 2,800 triples."""
    out = tmp_path_factory.mktemp("bench") / "synthetic.nt"
    generate(100, out, seed=7)
    return out.read_bytes()


def broken(nt: bytes) -> tuple[bytes, set[tuple[str, str]]]:
    """`nt` with deliberate errors, and the (shape, component) each must trip."""
    drop = [
        (ACTIVITY.format(2) + " <http://www.w3.org/2000/01/rdf-schema#label>", '"@en .'),
        (ACTIVITY.format(3) + " <http://www.w3.org/2000/01/rdf-schema#label>", ""),
        (QUOTE.format(8, "#selector") + " <http://www.w3.org/ns/oa#exact>", ""),
        (QUOTE.format(9, "") + f" <{KG}supports>", ""),
        (ACTIVITY.format(10) + f" <{KG}statedIn>", ""),
    ]
    lines = [ln for ln in nt.decode().splitlines()
             if not any(ln.startswith(head) and ln.endswith(tail) for head, tail in drop)]
    assert len(lines) < len(nt.decode().splitlines()) - 5
    add = f"""
{ACTIVITY.format(4)} <http://www.w3.org/2000/01/rdf-schema#label> "Deuxième libellé"@fr .
{ACTIVITY.format(5)} <{KG}date> "2021-05-01T00:00:00"^^<{XSD}dateTime> .
{ACTIVITY.format(5)} <{KG}date> "1999"^^<{XSD}gYear> .
{ACTIVITY.format(6)} <{KG}country> <https://w3id.org/rabat-kg/id/organisation/synthetic-implementer-24> .
{ACTIVITY.format(7)} <{KG}involves> "a literal" .
<https://w3id.org/rabat-kg/id/country/synthetic-country-01> <{KG}iso3166Alpha2> "xa" .
{COUNTRY.format(2)} <https://schema.org/sameAs> <http://www.wikidata.org/wiki/Q1> .
{COUNTRY.format(3)} <https://schema.org/sameAs> <http://www.wikidata.org/entity/Q1> .
<https://w3id.org/rabat-kg/id/domain/synthetic-domain-1> <{KG}number> "0"^^<{XSD}integer> .
<https://w3id.org/rabat-kg/id/domain/synthetic-domain-2> <{KG}number> "abc"^^<{XSD}integer> .
{QUOTE.format(11, "#s1")} <{KG}confidence> "maybe" .
{QUOTE.format(12, "#selector")} <http://www.w3.org/ns/oa#exact> "" .
<https://w3id.org/rabat-kg/id/programme/synthetic-programme-001> <{RDFS}label> "no language" .
<{KG}Activity> <http://www.w3.org/2000/01/rdf-schema#isDefinedBy> <https://example.org/elsewhere> .
<https://w3id.org/rabat-kg/id/event/suggested> <{RDF_NS}type> <{KG}SuggestedEvent> .
<https://w3id.org/rabat-kg/id/event/suggested> <{RDF_NS}type> <{KG}Event> .
"""
    expected = {
        ("Activity-label", "QualifiedMinCount"), ("Activity-label", "MinCount"),
        ("Quote-exact", "MinCount"), ("Statement-backing", "MinCount"),
        ("Activity-quote", "MinCount"), ("Activity-label", "UniqueLang"),
        ("Activity-date", "MaxCount"), ("Activity-date", "Or"), ("Activity-country", "Class"),
        ("Activity-involves", "NodeKind"), ("Activity-involves", "Class"),
        ("Country-iso3166Alpha2", "Pattern"), ("Country-sameAs", "Pattern"),
        ("PlanElement-number", "MinInclusive"),
        ("PlanElement-number", "Datatype"), ("PlanElement-number", "MaxCount"),
        ("Statement-confidence", "In"), ("Quote-exact", "MinLength"), ("Quote-exact", "MaxCount"),
        ("Programme-label", "Datatype"), ("Programme-label", "LanguageIn"),
        ("Term-isDefinedBy", "MaxCount"), ("SuggestedEvent-type", "Not"),
    }
    return canonical_lines(["\n".join(lines).encode() + b"\n" + add.encode(),
                            file_ntriples(ONTOLOGY_FILE)]), expected


def test_bundled_graph_gives_the_same_results_as_pyshacl() -> None:
    nt = canonical_lines([file_ntriples(p) for p in bundled_sources()])
    engine = validate_ntriples(nt, engine="oxigraph")
    assert_same(validate_ntriples(nt, engine="pyshacl"), engine)
    assert engine.conforms


def test_synthetic_data_gives_the_same_results_as_pyshacl(synthetic: bytes) -> None:
    nt = release_bytes(synthetic)
    engine = validate_ntriples(nt, engine="oxigraph")
    assert_same(validate_ntriples(nt, engine="pyshacl"), engine)
    assert engine.conforms


def test_broken_synthetic_data_gives_the_same_results_as_pyshacl(synthetic: bytes) -> None:
    nt, expected = broken(synthetic)
    engine = validate_ntriples(nt, engine="oxigraph")
    assert_same(validate_ntriples(nt, engine="pyshacl"), engine)
    assert not engine.conforms
    found = {(v.shape.removeprefix("kgsh:"),
              v.component.removeprefix("sh:").removesuffix("ConstraintComponent"))
             for v in engine.violations}
    assert expected <= found, expected - found


def test_shared_evaluation_equals_each_check_run_alone(synthetic: bytes) -> None:
    """The runner's shortcuts (shared candidates, batches, count screens) change nothing."""
    nt, _ = broken(synthetic)
    store = ox.Store()
    store.bulk_load(nt, format=ox.RdfFormat.N_TRIPLES)
    checks = shacl.bundled_checks()

    def keys(results: list[shacl.Result]) -> Counter[tuple[str, str, str, str]]:
        return Counter((r.check.shape, r.check.component, str(r.focus), str(r.value))
                       for r in results)

    shared = keys(shacl.run_checks(store, checks, workers=2))
    alone = keys(shacl.run_checks(store, checks, shared=False, workers=1))
    assert shared == alone
    assert sum(shared.values()) > 25


# --- Deliberate differences ------------------------------------------------------------------

STRICTER = [  # (triples added to the bundled graph, the checks only the engine validator trips)
    (f'<https://w3id.org/rabat-kg/id/activity/x> <{RDF_NS}type> <{KG}Activity> .\n'
     f'<https://w3id.org/rabat-kg/id/activity/x> <{KG}date> "2020-13"^^<{XSD}gYearMonth> .',
     {("kgsh:Activity-date", "sh:OrConstraintComponent")}),
    (f'<https://w3id.org/rabat-kg/id/activity/x> <{RDF_NS}type> <{KG}Activity> .\n'
     f'<https://w3id.org/rabat-kg/id/activity/x> <{KG}date> "2020-W01-1"^^<{XSD}date> .',
     {("kgsh:Activity-date", "sh:OrConstraintComponent")}),
    (f'<https://w3id.org/rabat-kg/id/domain/x> <{RDF_NS}type> <{KG}Domain> .\n'
     f'<https://w3id.org/rabat-kg/id/domain/x> <{KG}number> "1_000"^^<{XSD}integer> .',
     {("kgsh:PlanElement-number", "sh:DatatypeConstraintComponent"),  # not an integer, so
      ("kgsh:PlanElement-number", "sh:MinInclusiveConstraintComponent")}),  # not comparable
    (f'<https://w3id.org/rabat-kg/id/country/x> <{RDF_NS}type> <{KG}Country> .\n'
     f'<https://w3id.org/rabat-kg/id/country/x> <{KG}iso3166Alpha2> "XX\\n" .',
     {("kgsh:Country-iso3166Alpha2", "sh:PatternConstraintComponent")}),
]


@pytest.mark.parametrize(("extra", "trips"), STRICTER, ids=["gYearMonth-13", "iso-week-date",
                                                             "integer-underscore", "pattern-newline"])
def test_engine_is_stricter_than_pyshacl_on_ill_formed_values(extra: str,
                                                              trips: set[tuple[str, str]]) -> None:
    """XSD lexical forms and XPath regex end anchors, where pySHACL is lenient (Python parsing).

    A release the engine refuses may pass pySHACL, never the other way round: everything else
    is identical (the tests above).
    """
    nt = canonical_lines([*(file_ntriples(p) for p in bundled_sources()), extra.encode() + b"\n"])
    engine = validate_ntriples(nt, engine="oxigraph")
    reference = validate_ntriples(nt, engine="pyshacl")
    only_engine = set(engine.violations) - set(reference.violations)
    assert {(v.shape, v.component) for v in only_engine} == trips
    assert set(reference.violations) <= set(engine.violations)


# --- The compiler fails loudly -----------------------------------------------------------------

SHAPE_HEAD = """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix ex: <https://example.org/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property ex:P .
"""
UNSUPPORTED = {
    "equals": ("ex:P sh:path ex:p ; sh:equals ex:q .", "ex:P", "sh:equals"),
    "closed": ("ex:P sh:path ex:p . ex:S sh:closed true .", "ex:S", "sh:closed"),
    "sparql": ("ex:P sh:path ex:p ; sh:sparql [ sh:select \"SELECT $this {}\" ] .", "ex:P", "sh:sparql"),
    "targetNode": ("ex:P sh:path ex:p . ex:S sh:targetNode ex:n .", "ex:S", "sh:targetNode"),
    "flags": ('ex:P sh:path ex:p ; sh:pattern "a" ; sh:flags "i" .', "ex:P", "sh:flags"),
    "qualifiedMaxCount": ("ex:P sh:path ex:p ; sh:qualifiedValueShape ex:V ; "
                          "sh:qualifiedMaxCount 1 .", "ex:P", "sh:qualifiedMaxCount"),
    "zeroOrMorePath": ("ex:P sh:path [ sh:zeroOrMorePath ex:p ] ; sh:minCount 1 .", "ex:P",
                       "zeroOrMorePath"),
    "datatype-without-check": ("ex:P sh:path ex:p ; sh:datatype xsd:int .", "ex:P",
                               "sh:datatype <http://www.w3.org/2001/XMLSchema#int>"),
    "nested-property": ("ex:P sh:path ex:p ; sh:node ex:V . ex:V sh:property ex:Q . "
                        "ex:Q sh:path ex:q ; sh:minCount 1 .", "ex:V", "sh:property"),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_shapes_are_refused_naming_shape_and_component(name: str) -> None:
    body, shape, component = UNSUPPORTED[name]
    with pytest.raises(shacl.UnsupportedShape) as caught:
        shacl.compile_shapes(SHAPE_HEAD + body)
    message = str(caught.value)
    assert shape.replace("ex:", "https://example.org/") in message
    assert component in message


def test_blank_node_shapes_are_refused() -> None:
    """A result names its source shape: a shape without a name cannot be reported as pySHACL does."""
    with pytest.raises(shacl.UnsupportedShape, match="blank-node shape"):
        shacl.compile_shapes(SHAPE_HEAD + "ex:P sh:path ex:p . "
                             "ex:S sh:property [ sh:path ex:q ; sh:minCount 1 ] .")


def test_the_shipped_shapes_compile_to_one_query_per_constraint() -> None:
    checks = shacl.bundled_checks()
    shapes = Graph().parse(ONTOLOGY_FILE.parent / "shapes.ttl", format="turtle")
    constraints = sum(1 for ps in set(shapes.objects(None, SH.property))
                      for p, _ in shapes.predicate_objects(ps)
                      if p in (SH["class"], SH.datatype, SH.nodeKind, SH.languageIn, SH.pattern,
                               SH["in"], SH.minLength, SH.minInclusive, SH.hasValue, SH["or"],
                               SH["not"], SH.minCount, SH.maxCount, SH.uniqueLang,
                               SH.qualifiedMinCount))
    assert len(checks) == constraints
    for check in checks:
        assert re.match(r"SELECT ", check.query)
        ox.Store().query(check.query)  # every query parses


# --- Releases validate the store they serve -----------------------------------------------------


def test_validation_leaves_the_store_as_it_was() -> None:
    """The ontology is lent for the validation only (a private graph, removed after)."""
    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode("https://w3id.org/rabat-kg/id/country/atlantis"),
                      ox.NamedNode(RDF_NS + "type"), ox.NamedNode(KG + "Country")))
    result = shacl.validate_store(store)
    assert not result.conforms  # the ontology's class hierarchy was seen: Country is targeted
    assert len(store) == 1 and list(store.named_graphs()) == []


def test_load_release_validates_the_store_it_returns(tmp_path: Path) -> None:
    release, store = load_release(bundled_sources())
    assert release.validated and len(store) == release.triple_count
    bad = tmp_path / "atlantis.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country .\n")
    with pytest.raises(DataError) as caught:
        load_release([*bundled_sources(), bad])
    report = str(caught.value.extra["report"])
    assert "Focus node country:atlantis" in report
    assert "path rdfs:label" in report and "Every country needs exactly one English label" in report


def test_zygote_validates_the_store_it_loads_before_serving(tmp_path: Path) -> None:
    """An unvalidated release goes to a real zygote: a bad one is refused with its report."""
    from graph.engine.zygote import Current, Settings, ZygoteProcess, request

    good = build_release(bundled_sources())
    assert not good.validated
    zygote = ZygoteProcess.start(good, Settings(memory_mb=512, validate=True))
    try:
        assert request(zygote.run_dir, {"op": "status"})["version"] == good.version
        assert Current.read(zygote.run_dir).validated
    finally:
        zygote.stop()

    bad = tmp_path / "atlantis.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country .\n")
    release: Release = build_release([*bundled_sources(), bad])
    with pytest.raises(DataError) as caught:
        ZygoteProcess.start(release, Settings(memory_mb=512, validate=True))
    assert "country:atlantis" in caught.value.detail
    assert "Every country needs exactly one English label" in caught.value.detail
