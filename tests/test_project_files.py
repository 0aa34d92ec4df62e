"""The files users expect in a project: LICENSE, CITATION.cff (valid CFF 1.2.0), CHANGELOG.md,
each agreeing with pyproject.toml."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_file_states_both_licences() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "Permission is hereby granted, free of charge" in text
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text
    assert "MIT" in PYPROJECT["license"]["text"] and "CC-BY-4.0" in PYPROJECT["license"]["text"]


def test_citation_file_is_valid_cff_and_matches_the_package() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    schema = json.loads((ROOT / "tests/fixtures/cff/schema-1.2.0.json").read_text())
    jsonschema.validate(citation, schema)
    assert citation["cff-version"] == "1.2.0"
    assert str(citation["version"]) == PYPROJECT["version"]
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}


def test_changelog_follows_keep_a_changelog_with_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert releases[0] == ("Unreleased", "")
    assert (PYPROJECT["version"], releases[1][1]) == releases[1] and releases[1][1]
    for name, _ in releases:  # every heading has its link reference
        assert re.search(rf"^\[{re.escape(name)}\]: \S+$", text, re.M), name
