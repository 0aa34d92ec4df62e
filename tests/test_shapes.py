"""The shapes are valid SHACL, complete (a node shape per class), well documented, and each one
bites: its `valid-*` fixtures conform and each `invalid-*` fixture fails on the shape it names.

Fixtures live in `tests/shapes/<ShapeName>/`. An invalid fixture names the property shape(s) it
must trip in `# expect: kgsh:<Class>-<property>` lines. Each fixture is validated with only its
folder's node shape targeted (the others are kept, untargeted, for the value shapes they share),
over the fixture plus the ontology, as a release is.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pyshacl
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, SH

from graph.namespaces import KG, KGSH
from graph.paths import ONTOLOGY_FILE, SHAPES_FILE

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
    data += ONTOLOGY
    conforms, report, text = pyshacl.validate(data, shacl_graph=_only(shape), inference="none")
    assert isinstance(report, Graph)
    sources = {_name(s) for s in report.objects(None, SH.sourceShape) if isinstance(s, URIRef)}
    return bool(conforms), sources, str(text)


def _fixtures(kind: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/{kind}-*.ttl"))


@pytest.mark.parametrize("path", _fixtures("valid"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_valid_fixture_conforms(path: Path) -> None:
    conforms, _, text = _validate(path)
    assert conforms, text


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
