"""Hygiene rules of the data as SPARQL queries that must return nothing (queries/checks/*.rq).

SHACL says what each node must look like; these rules look across nodes (no asserted fact
without a quote or a source, say). Each file's first comment lines say what it checks; a row
of its answer is one breach.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from graph.paths import CHECKS_DIR


@dataclass(frozen=True)
class CheckResult:
    """One rule: its name, what it checks, and the rows that break it (none when it passes)."""

    name: str
    rule: str
    rows: tuple[tuple[str, ...], ...]

    @property
    def passed(self) -> bool:
        return not self.rows


def check_files() -> list[Path]:
    """The rule files, in a stable order."""
    return sorted(CHECKS_DIR.glob("*.rq"))


def run_checks(ntriples: bytes) -> list[CheckResult]:
    """Run every rule on a release given as N-Triples."""
    store = ox.Store()
    store.bulk_load(ntriples, format=ox.RdfFormat.N_TRIPLES)
    results = []
    for path in check_files():
        text = path.read_text(encoding="utf-8")
        answer = store.query(text)
        assert isinstance(answer, ox.QuerySolutions), f"{path.name}: a check is a SELECT query"
        names = [v.value for v in answer.variables]
        rows = tuple(tuple("" if s[n] is None else str(s[n]) for n in names) for s in answer)
        comments = itertools.takewhile(lambda line: line.startswith("#"), text.splitlines())
        rule = " ".join(line.lstrip("#").strip() for line in comments)  # the first comment paragraph
        results.append(CheckResult(path.stem, rule, rows))
    return results


def render_checks(results: Sequence[CheckResult]) -> str:
    """A report for people: one line per rule, and each breach under its rule."""
    failed = [r for r in results if not r.passed]
    lines = [f"Hygiene checks: {len(results) - len(failed)} of {len(results)} pass."]
    for result in failed:
        lines.append(f"FAIL {result.name}: {result.rule}")
        lines += [f"  {' | '.join(row)}" for row in result.rows[:50]]
        if len(result.rows) > 50:
            lines.append(f"  ... and {len(result.rows) - 50} more")
    return "\n".join(lines)
