"""Authoring files (graph/authoring.py): each quote written once, compiled, checked against its text.

The bundled paper's compiled N-Triples must be fresh; the synthetic fixture paper (tests/fixtures/
authoring, invented, never served) is added to the bundled graph end to end with the same
commands a curator runs; and every malformed input is refused with its file and line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph.authoring import compile_source, normalise, quote_label
from graph.errors import DataError
from graph.paths import (
    ONTOLOGY_FILE,
    ROOT,
    authoring_files,
    bundled_sources,
    release_sources,
)
from graph.release import make_release

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "authoring"
FIXTURE = FIXTURE_DIR / "synthetic-test-paper.quotes.trig"
OA_EXACT = "http://www.w3.org/ns/oa#exact"
KG = "https://w3id.org/rabat-kg/def/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
HEAD = """@prefix kg: <https://w3id.org/rabat-kg/def/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix quote: <https://w3id.org/rabat-kg/id/quote/> .
@prefix document: <https://w3id.org/rabat-kg/id/document/> .
@prefix activity: <https://w3id.org/rabat-kg/id/activity/> .
@prefix au: <https://w3id.org/rabat-kg/authoring#> .
document:p au:text "p.txt" .
"""
TEXT = "A TITLE\n\n- Opening of a desk\n  in May.\n- Opening of a desk in June.\nA TITLE again\n"


def val(term: object) -> str:
    """The text of a term (IRI or literal)."""
    return str(getattr(term, "value", term))


def triples(nt: bytes) -> set[ox.Triple]:
    return {q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES)}


def write(tmp_path: Path, body: str, text: str = TEXT) -> Path:
    (tmp_path / "p.txt").write_text(text, encoding="utf-8")
    path = tmp_path / "p.quotes.trig"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


# --- The bundled paper ----------------------------------------------------------------------------

def test_the_bundled_paper_has_its_authoring_file_and_text_inside_the_project() -> None:
    files = authoring_files()
    assert [f.name for f in files] == ["progress-paper-domain5.quotes.trig"]
    text = files[0].parent / "progress-paper-domain5.txt"
    assert text.read_text(encoding="utf-8").startswith("\n\nPROGRESS PAPER")


@pytest.mark.parametrize("path", authoring_files(), ids=lambda p: p.name)
def test_bundled_authoring_files_are_what_a_release_loads(path: Path) -> None:
    """No generated copy: the release compiles the authoring file itself (quotes checked)."""
    from graph.release import file_ntriples

    assert path in bundled_sources()
    assert file_ntriples(path) == compile_source(path)


def test_compiling_twice_gives_the_same_bytes() -> None:
    path = authoring_files()[0]
    assert compile_source(path) == compile_source(path)


def test_every_bundled_quote_is_verbatim_in_the_text_beside_it() -> None:
    path = authoring_files()[0]
    text = normalise((path.parent / "progress-paper-domain5.txt").read_text(encoding="utf-8"))
    exacts = [val(t.object) for t in triples(compile_source(path)) if t.predicate.value == OA_EXACT]
    assert len(exacts) == 42
    assert all(e in text for e in exacts)


# --- The synthetic paper, added end to end --------------------------------------------------------

def test_release_sources_add_or_replace() -> None:
    assert release_sources(None) == bundled_sources()
    assert release_sources([FIXTURE], add=True) == [*bundled_sources(), FIXTURE]
    assert release_sources([FIXTURE]) == [ONTOLOGY_FILE, FIXTURE]


def test_the_synthetic_paper_compiles_with_every_form() -> None:
    out = triples(compile_source(FIXTURE))
    text = normalise((FIXTURE_DIR / "synthetic-test-paper.txt").read_text(encoding="utf-8"))
    exacts = {val(t.object) for t in out if t.predicate.value == OA_EXACT}
    assert len(exacts) == 6 and all(e in text for e in exacts)  # every quote was checked
    assert "March 2022 Opening of a test desk for returning migrants." in exacts  # across two lines
    stated = ox.Triple(ox.NamedNode("https://w3id.org/rabat-kg/id/activity/synthetic-test-desk"),
                       ox.NamedNode(KG + "involves"),
                       ox.NamedNode("https://w3id.org/rabat-kg/id/organisation/synthetic-test-office"))
    derived = ox.Triple(ox.NamedNode("https://w3id.org/rabat-kg/id/activity/synthetic-test-training"),
                        ox.NamedNode(KG + "contributesTo"), ox.NamedNode("https://w3id.org/rabat-kg/id/domain/5"))
    assert stated in out  # an inference is asserted
    assert derived not in out  # a derivation is not
    kinds = {val(t.object) for t in out if t.predicate.value == RDF + "type"}
    assert {KG + "InferredStatement", KG + "DerivedStatement", KG + "Quote"} <= kinds


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_adding_the_synthetic_paper_gives_a_valid_graph(tmp_path: Path) -> None:
    """`rabat-kg validate --data PAPER.quotes.trig --add`: shapes and hygiene checks pass."""
    proc = run_cli("validate", "--data", str(FIXTURE), "--add")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Conforms" in proc.stdout
    assert re.search(r"Hygiene checks: (\d+) of \1 pass", proc.stdout), proc.stdout
    out = tmp_path / "out"
    proc = run_cli("build", "--data", str(FIXTURE), "--add", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = triples((out / "rabat-kg.nt").read_bytes())
    bundled = triples(make_release(bundled_sources(), validate=False).ntriples)
    added = triples(compile_source(FIXTURE))
    assert built == bundled | added


def test_a_changed_word_in_the_synthetic_paper_is_refused_by_validate(tmp_path: Path) -> None:
    for name in ("synthetic-test-paper.txt", "synthetic-test-paper.quotes.trig"):
        shutil.copy(FIXTURE_DIR / name, tmp_path / name)
    text = tmp_path / "synthetic-test-paper.txt"
    text.write_text(text.read_text(encoding="utf-8").replace("test officials", "tested officials"),
                    encoding="utf-8")
    proc = run_cli("validate", "--data", str(tmp_path / "synthetic-test-paper.quotes.trig"), "--add")
    assert proc.returncode != 0
    line = line_of(tmp_path / "synthetic-test-paper.quotes.trig", "2023 Training of test officials")
    assert f"synthetic-test-paper.quotes.trig:{line}: " in proc.stdout + proc.stderr
    assert "not verbatim" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


# --- What the compiler produces -------------------------------------------------------------------

def test_a_quote_is_annotated_asserted_and_reified(tmp_path: Path) -> None:
    path = write(tmp_path, 'quote:q au:exact "Opening of a desk in June." .\n'
                           'quote:q { activity:a rdfs:label "Desk"@en ; kg:topic "desks"@en . }\n')
    out = triples(compile_source(path))
    q = "https://w3id.org/rabat-kg/id/quote/q"
    a = ox.NamedNode("https://w3id.org/rabat-kg/id/activity/a")
    by = {(val(t.subject), t.predicate.value): t.object for t in out}
    assert by[(q, RDF + "type")] == ox.NamedNode(KG + "Quote")
    assert by[(q + "#selector", OA_EXACT)] == ox.Literal("Opening of a desk in June.")
    assert by[(q + "#target", "http://www.w3.org/ns/oa#hasSource")] == ox.NamedNode(
        "https://w3id.org/rabat-kg/id/document/p")
    assert ox.Triple(a, ox.NamedNode(KG + "statedIn"), ox.NamedNode(q)) in out
    assert ox.Triple(a, ox.NamedNode(KG + "topic"), ox.Literal("desks", language="en")) in out
    assert by[(q + "#s2", RDF + "object")] == ox.Literal("desks", language="en")  # document order
    labels = {t.object for t in out if val(t.subject) == q and t.predicate.value.endswith("#label")}
    assert labels == {ox.Literal('Quote: "Opening of a desk in June."', language="en"),
                      ox.Literal("Citation : « Opening of a desk in June. »", language="fr")}


def test_quote_labels_are_cut_at_a_fixed_width() -> None:
    assert quote_label("short") == "short"
    long = "word " * 30
    assert quote_label(long).endswith("…") and len(quote_label(long)) <= 78


def test_the_prefix_picks_one_of_repeated_words(tmp_path: Path) -> None:
    path = write(tmp_path, 'quote:q au:exact "A TITLE" ; au:suffix " - Opening" .\n'
                           'quote:q { activity:a rdfs:label "Desk"@en . }\n')
    assert compile_source(path)


# --- What the compiler refuses, with file and line ------------------------------------------------

@pytest.mark.parametrize(("body", "needle", "message"), [
    ('quote:q au:exact "Opening of a desk in July." .\nquote:q { activity:a rdfs:label "D"@en . }\n',
     "in July", "not verbatim"),
    ('quote:q au:exact "A TITLE" .\nquote:q { activity:a rdfs:label "D"@en . }\n',
     'au:exact "A TITLE"', "occurs 2 times"),
    ('quote:q au:exact "Opening of a desk  in May." .\nquote:q { activity:a rdfs:label "D"@en . }\n',
     "in May", "whitespace-normalised"),
    ('quote:q au:exact "Opening of a desk in June." .\n', "quote:q", "supports no statement"),
    ('<https://w3id.org/rabat-kg/id/x/g> { activity:a rdfs:label "D"@en . }\n', "x/g", "neither a quote"),
    ('quote:q au:color "red" .\n', "au:color", "unknown authoring term"),
    ('quote:q au:exact "Opening of a desk in June." .\n'
     'quote:q { activity:a kg:involves [ a kg:Organisation ] . }\n', "[", "blank nodes"),
    ('document:p\\#i a au:Inference ; au:reasoning "why"@en .\n'
     'document:p\\#i { activity:a kg:involves activity:b . }\n', "p\\#i", "needs au:evidence"),
    ('quote:q au:exact "Opening of a desk in June." .\nquote:q { activity:a kg:involves activity:b . }\n'
     'document:p\\#d a au:Derivation ; au:evidence quote:q ; au:reasoning "why"@en .\n'
     'document:p\\#d { activity:a kg:involves activity:b . }\n', "p\\#d", "also asserted"),
    ('quote:q au:exact "Opening of a desk in June." .\nquote:q { activity:a rdfs:label "D"@en .\n',
     None, ""),
])
def test_bad_input_is_a_data_error_naming_file_and_line(tmp_path: Path, body: str, needle: str | None,
                                                         message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(DataError) as info:
        compile_source(path)
    detail = info.value.detail
    assert detail.startswith(str(path) + ":"), detail
    assert message in detail, detail
    line = info.value.extra.get("line")
    assert isinstance(line, int) and line > 0, detail
    if needle is not None:
        assert line == line_of(path, needle), detail


def test_the_source_text_must_be_named_once_and_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_text(HEAD.replace('document:p au:text "p.txt" .\n', ""), encoding="utf-8")
    with pytest.raises(DataError, match="exactly one"):
        compile_source(path)
    path.write_text(HEAD.replace('"p.txt"', '"missing.txt"'), encoding="utf-8")
    with pytest.raises(DataError, match="cannot read the source text"):
        compile_source(path)


def test_a_release_compiles_authoring_files_it_is_given(tmp_path: Path) -> None:
    """graph.release.file_ntriples dispatches on the suffix, so --data takes authoring files."""
    release = make_release([ONTOLOGY_FILE, FIXTURE], validate=False)
    assert triples(compile_source(FIXTURE)) <= triples(release.ntriples)
    broken = write(tmp_path, 'quote:q au:exact "nowhere" .\nquote:q { activity:a rdfs:label "D"@en . }\n')
    with pytest.raises(DataError, match="not verbatim"):
        make_release([ONTOLOGY_FILE, broken], validate=False)
