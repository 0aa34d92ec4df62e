"""A generic linked-data client, Raptor's `rapper`, fetches entity IRIs over HTTP with its own
content negotiation and follows the 303: it must get triples about the entity."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from rdflib import Graph, URIRef

from graph.namespaces import ID

RAPPER = shutil.which("rapper")


def rapper(*args: str) -> str:
    if RAPPER is None:
        pytest.skip("rapper is missing: install Debian's raptor2-utils (.ci/run does)")
    proc = subprocess.run([RAPPER, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("path", ["country/togo", "domain/5"])
def test_rapper_guesses_the_syntax_after_negotiation(base_url: str, path: str) -> None:
    nt = rapper("-g", "-o", "ntriples", f"{base_url}/id/{path}")
    g = Graph().parse(data=nt, format="nt")
    assert len(list(g.triples((URIRef(ID + path), None, None)))) >= 3


@pytest.mark.parametrize("syntax", ["turtle", "rdfxml", "ntriples"])
def test_rapper_asks_for_one_syntax(base_url: str, syntax: str) -> None:
    nt = rapper("-i", syntax, "-o", "ntriples", f"{base_url}/id/country/togo")
    g = Graph().parse(data=nt, format="nt")
    assert (URIRef(ID + "country/togo"), None, None) in g
