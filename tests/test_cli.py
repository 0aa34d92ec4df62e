"""The `rabat-kg` command as a user runs it: query formats, and bad input without tracebacks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph

ROOT = Path(__file__).resolve().parent.parent
COUNTRIES = ("PREFIX kg: <https://w3id.org/rabat-kg/def/> "
             "SELECT ?c WHERE { ?c a kg:Country } ORDER BY ?c")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_query_json_lists_the_reference_countries() -> None:
    out = run("query", COUNTRIES)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["results"]["bindings"]
    iris = {r["c"]["value"] for r in rows}
    assert "https://w3id.org/rabat-kg/id/country/togo" in iris
    assert "https://w3id.org/rabat-kg/id/country/cameroon" in iris


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xml"])
def test_query_tabular_formats_parse(fmt: str) -> None:
    out = run("query", COUNTRIES, "--format", fmt)
    assert out.returncode == 0, out.stderr
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out.stdout)))
        assert rows[0] == ["c"] and len(rows) > 2
    else:
        parsed = ox.parse_query_results(out.stdout.encode(),
                                        format=getattr(ox.QueryResultsFormat, fmt.upper()))
        assert len(list(parsed)) > 2  # type: ignore[arg-type]


def test_query_construct_as_turtle_from_stdin() -> None:
    q = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> CONSTRUCT { ?s rdfs:label ?l } "
         "WHERE { <https://w3id.org/rabat-kg/id/country/togo> rdfs:label ?l . "
         "BIND(<https://w3id.org/rabat-kg/id/country/togo> AS ?s) }")
    out = run("query", "-", "--format", "ttl", stdin=q)
    assert out.returncode == 0, out.stderr
    g = Graph().parse(data=out.stdout, format="turtle")
    assert len(g) >= 1


@pytest.mark.parametrize("query, needle", [
    ("SELEC * WHERE { ?s ?p ?o }", "SELECT"),
    ("SELECT * WHERE { ?s ?p ?o ", "1:"),
    ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "read-only"),
    ("SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", "SERVICE"),
])
def test_query_errors_are_one_clear_line(query: str, needle: str) -> None:
    out = run("query", query)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert needle in out.stderr


def test_turtle_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttl"
    bad.write_text('@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:d ex:e "unterminated .\n')
    for command in (["validate", "--data", str(bad)], ["query", "ASK {}", "--data", str(bad)]):
        out = run(*command)
        assert out.returncode == 1, out
        assert "Traceback" not in out.stderr + out.stdout
        assert "broken.ttl" in out.stderr and "line 3" in out.stderr


def test_validate_names_focus_node_path_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
                   "<https://w3id.org/rabat-kg/id/country/atlantis> a kg:Country .\n")
    out = run("validate", "--data", str(bad))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert "Focus node country:atlantis" in out.stdout
    assert "path rdfs:label" in out.stdout and "English label" in out.stdout
    assert "\r" not in out.stderr  # not a terminal: no bar


def test_validate_has_one_engine() -> None:
    out = run("validate", "--engine", "pyshacl")
    assert out.returncode == 2
    assert "unrecognized arguments: --engine" in out.stderr


def test_validate_on_a_terminal_draws_a_progress_bar() -> None:
    """Standard error on a pseudo-terminal gets the bar; the report stays alone on stdout."""
    import os
    import pty

    from tests.test_shapes import NODE_SHAPES

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "validate"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    screen = b""
    while True:  # read until the child closes the terminal (EIO), so it never blocks on a full one
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, screen
    total = len(NODE_SHAPES)
    assert screen.count(b"\rSHACL validation [") == total + 1
    assert f"] {total}/{total} shapes".encode() in screen
    assert stdout.startswith("Conforms") and "SHACL validation" not in stdout


def test_version_prints_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"rabat-kg {version('rabat-kg')}"
