"""`tinytorch-verifier export --check` (verifier/package/freshness.py): a committed package folder that matches its
sources passes, an edited source / a leftover generated file / a missing file fails naming the first
stale file (and line), hand-written files are the course's own, the user's tree is never written;
on the real TinyTorch trees (../shared/corpus, committed by nbdev) a fresh export is not flagged.
Also the two small CLI additions beside it: `tinytorch-verifier --version` and the one-line "no course found"."""
from __future__ import annotations

import hashlib
import importlib
import shutil
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest
from helpers import CORPUS, EMBEDDED_COURSE

from verifier.course.discovery import load_course
from verifier.package.export import plan_export, write_package
from verifier.package.freshness import check_freshness

cli_main = importlib.import_module("verifier.cli.main")  # the module (verifier.cli.main is also a function name)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def committed_course(tmp_path) -> Path:
    """A copy of the embedded course with its exported package committed beside the sources."""
    root = tmp_path / "course"
    shutil.copytree(EMBEDDED_COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", "dist", "build"))
    course = load_course(root)
    write_package(plan_export(course), root)
    return root


def test_fresh_export_passes_and_writes_nothing(committed_course, capsys):
    before = _tree_digest(committed_course)
    result = check_freshness(load_course(committed_course))
    assert result.fresh and result.compared >= 17, result.stale
    assert cli_main.main(["export", "--check", "--course", str(committed_course)]) == 0
    assert "up to date with the sources" in capsys.readouterr().out
    assert _tree_digest(committed_course) == before


def test_edited_source_names_the_stale_file_and_line(committed_course, capsys):
    source = committed_course / "modules/03_activations/activations.py"
    text = source.read_text(encoding="utf-8")
    assert "#| export\n" in text
    source.write_text(text.replace("#| export\n", "#| export\nSTALE_MARKER = 1\n", 1), encoding="utf-8")
    before = _tree_digest(committed_course)
    result = check_freshness(load_course(committed_course))
    assert [s.path.relative_to(committed_course).as_posix() for s in result.stale] == ["tinytorch/core/activations.py"]
    stale = result.stale[0]
    assert stale.line is not None and "STALE_MARKER" in stale.reason
    assert cli_main.main(["export", "--check", "--course", str(committed_course)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tinytorch-verifier: stale export: tinytorch/core/activations.py:{stale.line}: ")
    assert len(err.strip().splitlines()) == 1
    assert _tree_digest(committed_course) == before  # read-only, also when it fails


def test_leftover_and_missing_generated_files_are_stale_hand_written_ones_are_not(committed_course):
    package = committed_course / "tinytorch"
    (package / "core/activations.py").rename(package / "core/old_activations.py")  # leftover + missing
    (package / "helpers_by_hand.py").write_text("def helper():\n    return 1\n", encoding="utf-8")
    (package / "data.json").write_text("{}", encoding="utf-8")
    result = check_freshness(load_course(committed_course))
    reasons = {s.path.relative_to(committed_course).as_posix(): s.reason for s in result.stale}
    assert set(reasons) == {"tinytorch/core/activations.py", "tinytorch/core/old_activations.py"}
    assert reasons["tinytorch/core/activations.py"].startswith("missing")
    assert "no module source exports it" in reasons["tinytorch/core/old_activations.py"]


def test_changed_all_is_stale(committed_course):
    target = committed_course / "tinytorch/core/activations.py"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("__all__ = [", "__all__ = ['Ghost', ", 1), encoding="utf-8")
    result = check_freshness(load_course(committed_course))
    assert len(result.stale) == 1 and "__all__" in result.stale[0].reason and "Ghost" in result.stale[0].reason


def test_course_without_committed_package_has_nothing_to_compare(tmp_path, capsys):
    root = tmp_path / "course"
    shutil.copytree(EMBEDDED_COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    result = check_freshness(load_course(root))
    assert result.committed is None and result.fresh
    assert cli_main.main(["export", "--check", "--course", str(root)]) == 0
    assert "not committed, nothing to compare" in capsys.readouterr().out
    assert not (root / "tinytorch").exists()


def _unpack(commit: str, into: Path) -> Path:
    archive = CORPUS / f"tinytorch-{commit}.tar.gz"
    if not archive.is_file():
        pytest.skip(f"no TinyTorch corpus snapshot {archive} (shared/ beside the clone)")
    with tarfile.open(archive) as tar:
        tar.extractall(into)  # noqa: S202 — our own corpus
    return into / f"tinytorch-{commit}"


def test_real_tree_exported_by_nbdev_is_fresh(tmp_path):
    """Upstream commits tinytorch/ as nbdev (with a decorated header) wrote it: same code, other
    decoration — must not fire."""
    root = _unpack("4246c759", tmp_path)
    result = check_freshness(load_course(root))
    assert result.compared >= 20 and result.fresh, [s.render(root) for s in result.stale]


def test_real_tree_with_a_leftover_module_is_flagged_only_for_it(tmp_path):
    """52e1cf6f still commits tinytorch/competition/submit.py, generated from
    modules/source/20_competition, a module that tree no longer has: the one true finding."""
    root = _unpack("52e1cf6f", tmp_path)
    result = check_freshness(load_course(root))
    assert [s.render(root) for s in result.stale] == [
        "tinytorch/competition/submit.py: generated, but no module source exports it any more"]
    assert result.compared >= 20


def test_version_prints_the_installed_distribution_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinytorch-verifier {version('tinytorch-verifier')}"


def test_no_course_outside_a_checkout_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """As from an installed wheel: no course beside the code, none in the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TITO_COURSE", raising=False)
    monkeypatch.setattr(importlib.import_module("verifier.course.discovery"), "EMBEDDED_COURSE",
                        tmp_path / "site-packages" / "course")
    for argv in (["verify"], ["package", "validate"], ["export", "--check"]):
        assert cli_main.main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.err.strip() == \
            "tinytorch-verifier: error: no course found: run tinytorch-verifier inside a TinyTorch checkout or pass " \
            "--course PATH", argv
    # no report for a run that never started (the preflight may leave the empty --reports folder it probed)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
