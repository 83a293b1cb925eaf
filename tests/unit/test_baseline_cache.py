"""The cache of baseline wheels (pipeline/baseline.py) sits in a folder the user names (TITO_CACHE): a
cached wheel's folder is read, reused or remade only when it carries tinytorch-verifier's mark (.tito-made); a folder of
the user's (or a link) at that path is refused with one line and left byte-for-byte as it was, nothing
built and nothing made in its place. The build itself is replaced by a stub: only the cache is under test."""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EMBEDDED_COURSE
from test_ownership import snapshot

from verifier.course.discovery import load_course
from verifier.ownership import MARK, RefusedTarget
from verifier.pipeline import baseline
from verifier.results import FAILED

SOURCE = baseline.BaselineSource("v0.1.0", "v0.1.0", repository=Path("/nowhere"), commit="c0ffee", tree="7ree")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """The baseline wheels "built" (a stub writing a small file named like a wheel)."""
    made = []

    def fake_build(source, work):
        wheel = tmp_path / f"build-{len(made)}" / "tinytorch-0.1.0-py3-none-any.whl"
        wheel.parent.mkdir(parents=True)
        wheel.write_bytes(b"PK wheel %d" % len(made))
        made.append(wheel)
        return wheel
    monkeypatch.setattr(baseline, "_build_baseline", fake_build)
    return made


def test_a_wheel_is_cached_in_a_marked_folder_and_reused(cache, builds, tmp_path):
    wheel, from_cache = baseline.baseline_wheel(SOURCE, tmp_path / "work")
    folder = baseline.cache_folder(SOURCE)
    assert not from_cache and wheel == folder / builds[0].name and (folder / MARK).is_file()
    assert baseline.baseline_wheel(SOURCE, tmp_path / "work") == (wheel, True) and len(builds) == 1
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no half-made folder left beside it


def test_a_marked_folder_without_its_wheel_is_remade(cache, builds, tmp_path):
    folder = baseline.cache_folder(SOURCE)
    folder.mkdir(parents=True)
    (folder / MARK).write_text("made by tinytorch-verifier\n")
    (folder / "half-copied.tmp").write_text("")  # a run stopped while filling it: tinytorch-verifier's own
    wheel, from_cache = baseline.baseline_wheel(SOURCE, tmp_path / "work")
    assert not from_cache and len(builds) == 1 and wheel.read_bytes() == b"PK wheel 0"
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARK, wheel.name])


def test_a_folder_of_the_users_at_the_cache_path_is_refused_and_kept(cache, builds, tmp_path):
    folder = baseline.cache_folder(SOURCE)
    folder.mkdir(parents=True)
    (folder / "tinytorch-0.0.1-py3-none-any.whl").write_bytes(b"not tito's")  # even one wheel: not read
    (folder / "notes.txt").write_text("mine\n")
    before = snapshot(folder)
    with pytest.raises(RefusedTarget) as refused:
        baseline.baseline_wheel(SOURCE, tmp_path / "work")
    assert "holds files tinytorch-verifier did not make" in str(refused.value) and "\n" not in str(refused.value)
    assert snapshot(folder) == before and builds == []


def test_a_link_at_the_cache_path_is_refused_and_its_target_kept(cache, builds, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / MARK).write_text("a mark does not make a link tito's\n")
    (target / "tinytorch-0.0.1-py3-none-any.whl").write_bytes(b"not tito's")
    before = snapshot(target)
    folder = baseline.cache_folder(SOURCE)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(target)
    with pytest.raises(RefusedTarget) as refused:
        baseline.baseline_wheel(SOURCE, tmp_path / "work")
    assert "symbolic link" in str(refused.value) and "\n" not in str(refused.value)
    assert snapshot(target) == before and folder.is_symlink() and builds == []


def test_the_refusal_is_the_baseline_stages_one_line_with_what_to_do(cache, builds, tmp_path):
    folder = baseline.cache_folder(SOURCE)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine\n")
    candidate = tmp_path / "tinytorch-0.2.0-py3-none-any.whl"
    candidate.write_bytes(b"PK candidate")
    stages, comparison, _ = baseline.baseline_stages(load_course(EMBEDDED_COURSE), SOURCE, candidate, "3.12",
                                                     tmp_path / "work", {})
    assert [s.status for s in stages] == [FAILED, FAILED]
    assert str(folder) in stages[0].detail and "\n" not in stages[0].detail
    assert stages[0].fix == "remove it, or point TITO_CACHE at another folder"
    assert (folder / "notes.txt").read_text() == "mine\n" and builds == []
