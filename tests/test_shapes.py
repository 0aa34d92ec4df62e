"""The shapes are valid SHACL, complete (a node shape per class), well documented, and each one
bites: its `valid-*` fixtures conform and each `invalid-*` fixture fails on the shape it names.

Fixtures live in `tests/shapes/<ShapeName>/`. An invalid fixture names the property shape(s) it
must trip in `# expect: kgsh:<Class>-<property>` lines. Each fixture is validated with only its
folder's node shape targeted (the others are kept, untargeted, for the value shapes they share),
over the fixture plus the ontology, as a release is, by graph.validate (pySHACL, shape by shape).

Then that module itself: its shape-by-shape run gives the report of one whole pySHACL run (on
every fixture, the bundled graph and deliberately broken synthetic data), it reports progress,
and a release that violates a shape is refused with the report.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections import Counter
from pathlib import Path

import pyshacl
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, SH

from bench.generate import write as generate
from graph.errors import DataError
from graph.formats import rdf_format_for_path
from graph.namespaces import KG, KGSH
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE, bundled_sources
from graph.release import make_release
from graph.validate import (
    ValidationResult,
    check_ntriples,
    progress_reporter,
    show_path,
    show_term,
    validate_graph,
    validate_ntriples,
)

FIXTURES = Path(__file__).resolve().parent / "shapes"
SHAPES = Graph(bind_namespaces="none").parse(SHAPES_FILE, format="turtle")
ONTOLOGY = Graph(bind_namespaces="none").parse(ONTOLOGY_FILE, format="turtle")
NODE_SHAPES = sorted(s for s in SHAPES.subjects(RDF.type, SH.NodeShape)
                     if (s, SH.targetClass, None) in SHAPES)
PROPERTY_SHAPES = sorted(set(SHAPES.objects(None, SH.property)))
CLASSES = sorted(c for c in ONTOLOGY.subjects(RDF.type, OWL.Class) if str(c).startswith(str(KG)))


def _name(node: URIRef) -> str:
    return str(node)[len(str(KGSH)):]


def test_shapes_are_valid_shacl() -> None:
    """pySHACL's meta-SHACL check (SHACL-SHACL) accepts the shapes graph."""
    conforms, _, text = pyshacl.validate(Graph(), shacl_graph=SHAPES, meta_shacl=True)
    assert conforms, text


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.split("/")[-1])
def test_every_class_has_its_node_shape(cls: URIRef) -> None:
    shape = URIRef(f"{KGSH}{str(cls)[len(str(KG)):]}Shape")
    assert (shape, RDF.type, SH.NodeShape) in SHAPES, f"missing {shape}"
    assert (shape, SH.targetClass, cls) in SHAPES, f"{shape} does not target {cls}"


def test_every_node_shape_has_fixtures() -> None:
    for shape in NODE_SHAPES:
        folder = FIXTURES / _name(shape)
        assert list(folder.glob("valid-*.ttl")), f"{folder}: no valid fixture"
        assert list(folder.glob("invalid-*.ttl")), f"{folder}: no invalid fixture"
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == {_name(s) for s in NODE_SHAPES}


def test_property_shapes_are_named_documented_and_owned() -> None:
    """Named kgsh:<Class>-<property>, with a severity and a message in English and French."""
    for node_shape in NODE_SHAPES:
        for ps in SHAPES.objects(node_shape, SH.property):
            assert isinstance(ps, URIRef), f"{node_shape}: a blank-node property shape"
            stem = _name(node_shape).removesuffix("Shape")
            assert re.fullmatch(rf"{stem}-[A-Za-z0-9]+", _name(ps)), f"{ps} is not {stem}-<property>"
            assert SHAPES.value(ps, SH.severity) in (SH.Violation, SH.Warning, SH.Info), ps
            langs = {m.language for m in SHAPES.objects(ps, SH.message) if isinstance(m, Literal)}
            assert {"en", "fr"} <= langs, f"{ps}: messages in {langs}"
    assert len(PROPERTY_SHAPES) > 80


@functools.cache
def _only(shape: URIRef) -> Graph:
    """The shapes graph with only `shape` targeted."""
    g = Graph(bind_namespaces="none")
    g += SHAPES
    for s, o in list(g.subject_objects(SH.targetClass)):
        if s != shape:
            g.remove((s, SH.targetClass, o))
    return g


def _validate(path: Path) -> tuple[bool, set[str], str]:
    shape = URIRef(f"{KGSH}{path.parent.name}")
    data = Graph(bind_namespaces="none").parse(path, format="turtle")
    result = validate_graph(data, shapes=_only(shape))
    sources = {v.shape.removeprefix("kgsh:") for v in result.violations}
    return result.conforms, sources, result.text


def _fixtures(kind: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/{kind}-*.ttl"))


@pytest.mark.parametrize("path", _fixtures("valid"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_valid_fixture_conforms(path: Path) -> None:
    conforms, sources, text = _validate(path)
    assert conforms and not sources, text  # not even a warning


@pytest.mark.parametrize("path", _fixtures("invalid"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_invalid_fixture_is_rejected_by_its_shape(path: Path) -> None:
    expected = set(re.findall(r"^# expect: kgsh:(\S+)$", path.read_text(encoding="utf-8"), re.M))
    assert expected, f"{path}: no '# expect: kgsh:...' line"
    stem = path.parent.name.removesuffix("Shape")
    assert all(e.startswith(f"{stem}-") for e in expected), expected
    conforms, sources, text = _validate(path)
    assert not conforms, f"{path.name} conforms but should fail on {expected}"
    assert expected <= sources, f"expected {expected}, got {sources}\n{text}"
    assert sources <= {_name(p) for p in PROPERTY_SHAPES} | {path.parent.name}, sources


# --- graph.validate: shape by shape, the report of one pySHACL run --------------------------------

KG_NS = str(KG)
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS_NS = "http://www.w3.org/2000/01/rdf-schema#"
XSD_NS = "http://www.w3.org/2001/XMLSchema#"
ACTIVITY = "<https://w3id.org/rabat-kg/id/activity/synthetic-activity-{:06d}>"
QUOTE = "<https://w3id.org/rabat-kg/id/quote/synthetic-activity-{:06d}{}>"
COUNTRY = "<https://w3id.org/rabat-kg/id/country/synthetic-country-{:02d}>"


def report_results(report: Graph) -> Counter[tuple[object, ...]]:
    """Every sh:ValidationResult of a report as comparable text, counted."""
    return Counter(
        (show_term(report.value(r, SH.focusNode)), show_path(report, report.value(r, SH.resultPath)),
         show_term(report.value(r, SH.sourceConstraintComponent)),
         show_term(report.value(r, SH.sourceShape)), show_term(report.value(r, SH.value)),
         show_term(report.value(r, SH.resultSeverity)),
         tuple(sorted((str(m), getattr(m, "language", None) or "")
                      for m in report.objects(r, SH.resultMessage))))
        for r in report.subjects(RDF.type, SH.ValidationResult))


def assert_same_as_one_run(nt: bytes, shapes: Graph = SHAPES) -> ValidationResult:
    """graph.validate's result on `nt` against one pyshacl.validate call with the same options."""
    result = validate_graph(Graph(bind_namespaces="none").parse(data=nt, format="nt"), shapes=shapes)
    data = Graph(bind_namespaces="none").parse(data=nt, format="nt")
    data += ONTOLOGY
    conforms, report, _ = pyshacl.validate(
        data, shacl_graph=shapes, ont_graph=ONTOLOGY, inference="none", inplace=True,
        allow_warnings=True, allow_infos=True, advanced=False, js=False, meta_shacl=False)
    assert isinstance(report, Graph)
    ours = Graph().parse(data=result.report_turtle, format="turtle")
    assert report_results(ours) == report_results(report)
    assert sum(report_results(ours).values()) == len(result.violations)
    assert list(ours.objects(None, SH.conforms)) == list(report.objects(None, SH.conforms))
    assert conforms == result.conforms  # with allow_warnings: no result of severity Violation
    return result


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.ttl")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_report_equals_one_pyshacl_run(path: Path) -> None:
    nt = Graph(bind_namespaces="none").parse(path, format="turtle").serialize(format="nt").encode()
    assert_same_as_one_run(nt, _only(URIRef(f"{KGSH}{path.parent.name}")))


def test_bundled_graph_report_equals_one_pyshacl_run() -> None:
    nt = Graph(bind_namespaces="none")
    for path in bundled_sources():
        nt.parse(path, format=rdf_format_for_path(path.name).rdflib)
    assert_same_as_one_run(nt.serialize(format="nt").encode())


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small benchmark graph (bench/generate.py), about 2,800 triples."""
    out = tmp_path_factory.mktemp("bench") / "synthetic.nt"
    generate(100, out, seed=7)
    return out.read_bytes()


def broken(nt: bytes) -> tuple[bytes, set[tuple[str, str]]]:
    """`nt` with deliberate errors, and the (shape, component) each must trip."""
    drop = [
        (ACTIVITY.format(2) + f" <{RDFS_NS}label>", '"@en .'),
        (ACTIVITY.format(3) + f" <{RDFS_NS}label>", ""),
        (QUOTE.format(8, "#selector") + " <http://www.w3.org/ns/oa#exact>", ""),
        (QUOTE.format(9, "") + f" <{KG_NS}supports>", ""),
        (ACTIVITY.format(10) + f" <{KG_NS}statedIn>", ""),
    ]
    lines = [ln for ln in nt.decode().splitlines()
             if not any(ln.startswith(head) and ln.endswith(tail) for head, tail in drop)]
    assert len(lines) < len(nt.decode().splitlines()) - 5
    add = f"""
{ACTIVITY.format(4)} <{RDFS_NS}label> "Deuxième libellé"@fr .
{ACTIVITY.format(5)} <{KG_NS}date> "2021-05-01T00:00:00"^^<{XSD_NS}dateTime> .
{ACTIVITY.format(5)} <{KG_NS}date> "1999"^^<{XSD_NS}gYear> .
{ACTIVITY.format(6)} <{KG_NS}country> <https://w3id.org/rabat-kg/id/organisation/synthetic-implementer-24> .
{ACTIVITY.format(7)} <{KG_NS}involves> "a literal" .
{COUNTRY.format(1)} <{KG_NS}iso3166Alpha2> "xa" .
{COUNTRY.format(2)} <https://schema.org/sameAs> <http://www.wikidata.org/wiki/Q1> .
<https://w3id.org/rabat-kg/id/domain/synthetic-domain-1> <{KG_NS}number> "0"^^<{XSD_NS}integer> .
<https://w3id.org/rabat-kg/id/domain/synthetic-domain-2> <{KG_NS}number> "abc"^^<{XSD_NS}integer> .
{QUOTE.format(11, "#s1")} <{KG_NS}confidence> "maybe" .
{QUOTE.format(12, "#selector")} <http://www.w3.org/ns/oa#exact> "" .
<https://w3id.org/rabat-kg/id/programme/synthetic-programme-001> <{RDFS_NS}label> "no language" .
<{KG_NS}Activity> <{RDFS_NS}isDefinedBy> <https://example.org/elsewhere> .
<https://w3id.org/rabat-kg/id/event/suggested> <{RDF_NS}type> <{KG_NS}SuggestedEvent> .
<https://w3id.org/rabat-kg/id/event/suggested> <{RDF_NS}type> <{KG_NS}Event> .
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
    return "\n".join([*lines, add]).encode(), expected


def test_broken_synthetic_data_report_equals_one_pyshacl_run(synthetic: bytes) -> None:
    nt, expected = broken(synthetic)
    result = assert_same_as_one_run(nt)
    assert not result.conforms
    found = {(v.shape.removeprefix("kgsh:"),
              v.component.removeprefix("sh:").removesuffix("ConstraintComponent"))
             for v in result.violations}
    assert expected <= found, expected - found


# --- Progress -------------------------------------------------------------------------------------


def test_progress_is_called_once_per_targeted_shape_and_ends_at_the_total(synthetic: bytes) -> None:
    calls: list[tuple[int, int]] = []
    validate_ntriples(synthetic, progress=lambda done, total: calls.append((done, total)))
    total = len(NODE_SHAPES)  # every node shape has a target class; property shapes have none
    assert calls == [(done, total) for done in range(total + 1)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_redrawn_in_place() -> None:
    screen = Terminal()
    report = progress_reporter("Checking", stream=screen)
    for done in range(5):
        report(done, 4)
    frames = screen.getvalue().split("\r")[1:]
    assert len(frames) == 5
    assert frames[0].startswith("Checking [" + "." * 30 + "] 0/4 shapes")
    assert frames[2].startswith("Checking [" + "#" * 15 + "." * 15 + "] 2/4 shapes")
    assert frames[-1] == "Checking [" + "#" * 30 + "] 4/4 shapes\n"
    assert all(not f.endswith("\n") for f in frames[:-1])


def test_elsewhere_a_log_line_each_tenth(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()  # not a terminal
    report = progress_reporter("Checking", stream=stream, quiet_s=0)
    with caplog.at_level(logging.INFO, logger="rabat_kg.validate"):
        for done in range(25):
            report(done, 24)
    lines = [r.getMessage() for r in caplog.records if r.name == "rabat_kg.validate"]
    assert stream.getvalue() == ""
    assert len(lines) == 10
    assert [int(ln.split("(")[1].split("%")[0]) // 10 for ln in lines] == list(range(1, 11))
    assert lines[-1].startswith("Checking: 24/24 shapes (100%)")


def test_log_lines_wait_for_a_long_validation(caplog: pytest.LogCaptureFixture) -> None:
    report = progress_reporter(stream=io.StringIO(), quiet_s=3600)
    with caplog.at_level(logging.INFO, logger="rabat_kg.validate"):
        for done in range(25):
            report(done, 24)
    assert [r for r in caplog.records if r.name == "rabat_kg.validate"] == []


def test_a_validation_drives_the_log_lines(caplog: pytest.LogCaptureFixture, synthetic: bytes) -> None:
    with caplog.at_level(logging.INFO, logger="rabat_kg.validate"):
        validate_ntriples(synthetic, progress=progress_reporter(stream=io.StringIO(), quiet_s=0))
    lines = [r.getMessage() for r in caplog.records if r.name == "rabat_kg.validate"]
    assert len(lines) == 10
    assert lines[-1].startswith(f"SHACL validation: {len(NODE_SHAPES)}/{len(NODE_SHAPES)} shapes (100%)")


# --- Releases are refused on the report ---------------------------------------------------------


def test_a_release_that_violates_a_shape_is_refused_with_the_report(tmp_path: Path) -> None:
    assert make_release(bundled_sources()).validated
    bad = tmp_path / "atlantis.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country .\n")
    with pytest.raises(DataError) as caught:
        make_release([*bundled_sources(), bad])
    report = str(caught.value.extra["report"])
    assert caught.value.detail.startswith("data does not conform to the shapes: ")
    assert "Focus node country:atlantis" in report and report in caught.value.detail
    assert "path rdfs:label" in report and "Every country needs exactly one English label" in report


def test_check_ntriples_accepts_conforming_data_and_refuses_the_rest(synthetic: bytes) -> None:
    check_ntriples(synthetic)  # no exception
    nt, _ = broken(synthetic)
    with pytest.raises(DataError) as caught:
        check_ntriples(nt)
    assert "Focus node activity:synthetic-activity-000003" in str(caught.value.extra["report"])
