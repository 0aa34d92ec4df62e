"""The build: three dumps of the same validated graph, byte-identical from one run to the next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from graph.build import build
from graph.errors import DataError
from graph.paths import ONTOLOGY_FILE, ROOT, bundled_sources, data_files
from graph.release import make_release

NAMES = ["rabat-kg.ttl", "rabat-kg.nt", "rabat-kg.jsonld"]
FORMATS = {".ttl": "turtle", ".nt": "nt", ".jsonld": "json-ld"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build(tmp_path_factory.mktemp("build-a"), sources=bundled_sources())


def test_build_writes_the_three_dumps(built: list[Path]) -> None:
    assert [p.name for p in built] == NAMES
    assert all(p.stat().st_size > 1000 for p in built)


def test_two_builds_are_byte_identical(built: list[Path], tmp_path: Path) -> None:
    """In separate processes too: nothing may depend on hash seeds or parse order."""
    proc = subprocess.run([sys.executable, "-m", "server.cli", "build", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / n) for n in NAMES]
    for first in built:
        assert first.read_bytes() == (tmp_path / first.name).read_bytes(), first.name


@pytest.mark.parametrize("name", NAMES)
def test_each_dump_is_the_release(built: list[Path], name: str) -> None:
    path = next(p for p in built if p.name == name)
    dumped = Graph().parse(path, format=FORMATS[path.suffix])
    release = Graph().parse(data=make_release(bundled_sources()).ntriples, format="nt")
    assert len(dumped) == len(release)
    assert isomorphic(dumped, release)


def test_turtle_dump_declares_prefixes_in_order(built: list[Path]) -> None:
    lines = [ln for ln in built[0].read_text(encoding="utf-8").splitlines() if ln.startswith("@prefix")]
    names = [ln.split()[1].rstrip(":") for ln in lines]
    assert names == sorted(names)
    assert "@prefix kg: <https://w3id.org/rabat-kg/def/> ." in lines


def test_build_refuses_invalid_data_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/nowhere> a kg:Country .\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        build(out, sources=[ONTOLOGY_FILE, *data_files(), bad])
    assert "country:nowhere" in str(info.value.detail)
    assert not out.exists()


def test_build_names_file_and_line_of_a_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n\nkg:a kg:b \n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "server.cli", "build", "--out", str(tmp_path / "o"),
                           "--data", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "broken.ttl" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("name", "text", "line"), [
    ("star.nt", "<http://a/s> <http://a/p> <<( <http://a/s> <http://a/p> <http://a/o> )>> .\n", 1),
    ("star.ttl", "@prefix ex: <http://a/> .\nex:s ex:p ex:o .\n<< ex:s ex:p ex:o >> ex:q \"x\" .\n", 3),
])
def test_a_data_file_with_a_triple_term_is_refused_with_file_and_line(
        tmp_path: Path, name: str, text: str, line: int) -> None:
    """RDF 1.2 triple terms parse, but SHACL and the served formats are RDF 1.1: refused as
    authoring files refuse them, never a traceback from validation."""
    bad = tmp_path / name
    bad.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "server.cli", "validate", "--data", str(bad)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"{bad}:{line}: quoted triples (RDF-star) are not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr
