"""The fast release path: source files bulk-loaded as they are, versioned by their bytes.

`load_release` (the in-process server) and the zygote (`rabat-kg serve`) never canonicalise:
they load the files strictly, one bulk load each. These tests pin what that path must keep
from the canonical one: syntax errors name the user's file and line, the version depends on
the bytes (and only on them), several files make one graph, and a reload that does not parse
is refused while the old release keeps being served.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest

from graph.engine.zygote import CURRENT_NAME, Current, Settings, ZygoteProcess, request
from graph.errors import DataError
from graph.paths import bundled_sources
from graph.release import copy_sources, load_release, make_release, source_version

EX = "http://example.org/"
GOOD_TTL = f"@prefix ex: <{EX}> .\nex:a ex:b \"one\" .\nex:a ex:c ex:d .\n"
GOOD_NT = f'<{EX}x> <{EX}y> "two" .\n<{EX}a> <{EX}b> "one" .\n'
BROKEN_TTL = f'@prefix ex: <{EX}> .\nex:a ex:b "ok" .\nex:a ex:b "open .\n'  # line 3


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- load_release -----------------------------------------------------------------------------


def test_syntax_error_names_the_file_and_the_line(tmp_path: Path) -> None:
    good = write(tmp_path / "good.ttl", GOOD_TTL)
    bad = write(tmp_path / "broken.ttl", BROKEN_TTL)
    with pytest.raises(DataError) as caught:
        load_release([good, bad], validate=False)
    assert caught.value.detail.startswith(f"{bad}: ")
    assert "line 3" in caught.value.detail and "(broken.ttl, line 3)" in caught.value.detail
    assert caught.value.extra["file"] == str(bad) and caught.value.extra["line"] == 3


def test_a_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.ttl"
    with pytest.raises(DataError) as caught:
        load_release([write(tmp_path / "good.ttl", GOOD_TTL), missing], validate=False)
    assert str(missing) in caught.value.detail and "cannot read" in caught.value.detail
    assert caught.value.extra["file"] == str(missing)


def test_an_unknown_suffix_is_a_data_error(tmp_path: Path) -> None:
    odd = write(tmp_path / "data.txt", GOOD_NT)
    with pytest.raises(DataError) as caught:
        load_release([odd], validate=False)
    assert "unknown RDF file suffix" in caught.value.detail and caught.value.extra["file"] == str(odd)


def test_a_named_graph_is_refused(tmp_path: Path) -> None:
    doc = {"@id": f"{EX}g", "@graph": [{"@id": f"{EX}a", f"{EX}p": "x"}]}
    graph = write(tmp_path / "graph.jsonld", json.dumps(doc))
    with pytest.raises(DataError) as caught:
        load_release([graph], validate=False)
    assert "named graphs are not supported" in caught.value.detail


def test_version_is_stable_for_the_same_bytes_wherever_they_are(tmp_path: Path) -> None:
    first = write(tmp_path / "a.ttl", GOOD_TTL)
    (tmp_path / "elsewhere").mkdir()
    second = write(tmp_path / "elsewhere" / "b.ttl", GOOD_TTL)
    one, _ = load_release([first], validate=False)
    assert load_release([first], validate=False)[0].version == one.version
    assert load_release([second], validate=False)[0].version == one.version
    assert len(one.version) == 16 and int(one.version, 16) >= 0


def test_version_changes_with_the_bytes_the_format_and_the_order(tmp_path: Path) -> None:
    ttl = write(tmp_path / "a.ttl", GOOD_TTL)
    base = source_version([ttl])
    # The same graph written differently is another release (nothing is canonicalised).
    assert source_version([write(tmp_path / "b.ttl", GOOD_TTL.replace(" .\n", ".\n"))]) != base
    assert source_version([write(tmp_path / "c.ttl", GOOD_TTL + "ex:e ex:f ex:g .\n")]) != base
    # N-Triples is also valid Turtle: the same bytes under another format are another release.
    nt = write(tmp_path / "d.nt", GOOD_NT)
    same_bytes_as_ttl = write(tmp_path / "d.ttl", GOOD_NT)
    assert source_version([nt]) != source_version([same_bytes_as_ttl])
    assert source_version([ttl, nt]) != source_version([nt, ttl])


def test_several_files_make_one_graph_like_the_canonical_release() -> None:
    """The bundled sources: the same triples and the same version as `rabat-kg build` gives."""
    release, store = load_release(bundled_sources())
    canonical = make_release(bundled_sources(), validate=False)
    assert release.validated and release.ntriples == b""
    assert release.version == canonical.version
    assert release.triple_count == len(store) == canonical.triple_count
    loaded = ox.Store()
    loaded.bulk_load(canonical.ntriples, format=ox.RdfFormat.N_TRIPLES)
    assert set(store) == set(loaded)
    assert list(store.named_graphs()) == []


def test_duplicates_across_files_count_once(tmp_path: Path) -> None:
    release, store = load_release([write(tmp_path / "a.ttl", GOOD_TTL), write(tmp_path / "b.nt", GOOD_NT)],
                                  validate=False)
    assert release.triple_count == len(store) == 3  # ex:a ex:b "one" is in both


# --- copies in a run directory ------------------------------------------------------------


def test_copies_keep_bytes_and_suffix_and_give_the_source_version(tmp_path: Path) -> None:
    ttl, nt = write(tmp_path / "a.ttl", GOOD_TTL), write(tmp_path / "b.nt", GOOD_NT)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    version, copies = copy_sources([ttl, nt], run_dir)
    assert version == source_version([ttl, nt])
    assert [c.name for c in copies] == [f"release-{version}-0.ttl", f"release-{version}-1.nt"]
    assert [c.read_bytes() for c in copies] == [ttl.read_bytes(), nt.read_bytes()]
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(c.name for c in copies)


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(DataError) as caught:
        copy_sources([write(tmp_path / "a.ttl", GOOD_TTL), tmp_path / "missing.ttl"], run_dir)
    assert str(tmp_path / "missing.ttl") in caught.value.detail
    assert list(run_dir.iterdir()) == []


def test_current_json_of_an_older_zygote_still_reads(tmp_path: Path) -> None:
    (tmp_path / CURRENT_NAME).write_text(json.dumps(
        {"version": "v1", "triples": 3, "file": "release-v1.nt", "sources": [], "validated": True}))
    current = Current.read(tmp_path)
    assert current.files == ("release-v1.nt",) and current.triples == 3 and current.validated


# --- the zygote -------------------------------------------------------------------------------


SETTINGS = Settings(memory_mb=256, validate=False)


def short_run_dir() -> Path:
    """A fresh run directory with a short path (unix socket paths are limited to ~100 bytes)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="rkg-fast-"))


@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path / "a.ttl", GOOD_TTL), write(tmp_path / "b.nt", GOOD_NT)


@pytest.fixture()
def zygote(data: tuple[Path, Path]) -> Iterator[ZygoteProcess]:
    z = ZygoteProcess.start_from_sources([str(p) for p in data], SETTINGS, run_dir=short_run_dir())
    yield z
    z.stop()


def test_zygote_serves_the_copies_with_their_count(zygote: ZygoteProcess, data: tuple[Path, Path]) -> None:
    current = zygote.current()
    assert current.version == source_version(list(data))
    assert current.triples == 3
    assert current.sources == tuple(str(p) for p in data)
    assert [(zygote.run_dir / f).read_bytes() for f in current.files] == [p.read_bytes() for p in data]
    status = request(zygote.run_dir, {"op": "status"})
    assert status["version"] == current.version and status["triples"] == 3


def test_zygote_refuses_a_start_that_does_not_parse(tmp_path: Path) -> None:
    bad = write(tmp_path / "broken.ttl", BROKEN_TTL)
    run_dir = short_run_dir()
    try:
        with pytest.raises(DataError) as caught:
            ZygoteProcess.start_from_sources([str(bad)], SETTINGS, run_dir=run_dir)
        # The user's file, not its copy in the run directory.
        assert caught.value.detail.startswith(f"{bad}: ") and "line 3" in caught.value.detail
        assert "release-" not in caught.value.detail
        assert caught.value.extra["file"] == str(bad) and caught.value.extra["line"] == 3
        assert not run_dir.exists()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_reload_that_does_not_parse_is_refused_and_the_old_release_kept(
        zygote: ZygoteProcess, data: tuple[Path, Path], tmp_path: Path) -> None:
    before = zygote.current()
    files_before = sorted(p.name for p in zygote.run_dir.iterdir())
    bad = write(tmp_path / "broken.ttl", BROKEN_TTL)
    answer = request(zygote.run_dir, {"op": "reload", "sources": [str(data[0]), str(bad)]}, timeout_s=60)
    assert answer["error"] == "invalid-data"
    assert answer["detail"].startswith(f"{bad}: ") and "line 3" in answer["detail"]
    assert answer["file"] == str(bad) and answer["line"] == 3
    assert zygote.current() == before
    assert request(zygote.run_dir, {"op": "status"})["version"] == before.version
    assert sorted(p.name for p in zygote.run_dir.iterdir()) == files_before  # the copies went


def test_reload_of_the_same_bytes_changes_nothing_and_new_bytes_swap(
        zygote: ZygoteProcess, data: tuple[Path, Path]) -> None:
    before = zygote.current()
    same = request(zygote.run_dir, {"op": "reload"}, timeout_s=60)
    assert same["ok"] and same["changed"] is False and same["version"] == before.version
    assert same["triples"] == 3
    assert zygote.current() == before

    data[1].write_text(GOOD_NT + f'<{EX}x> <{EX}y> "three" .\n', encoding="utf-8")
    swapped = request(zygote.run_dir, {"op": "reload"}, timeout_s=60)
    assert swapped["ok"] and swapped["changed"] is True and swapped["previous"] == before.version
    assert swapped["triples"] == 4
    after = zygote.current()
    assert after.version == swapped["version"] == source_version(list(data)) != before.version
    assert after.triples == 4
    # The old release's copies are gone; only the new ones (and the zygote's own files) remain.
    releases = sorted(p.name for p in zygote.run_dir.glob("release-*"))
    assert releases == sorted(after.files)
