"""The write guard (verifier/ownership.py): tinytorch-verifier writes into, or replaces, only folders it made — a
folder of the user's files, a link to one, or a venv someone else made is refused with one line
(exit 2), and left byte-for-byte as it was; `--force` replaces only a venv, never user files."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from verifier.cli.main import main
from verifier.ownership import (
    MARK,
    REPORT_NAMES,
    RefusedTarget,
    check_package_target,
    claim_folder,
    prepare_venv_target,
)

TITO = [sys.executable, "-m", "verifier.cli"]


def snapshot(folder: Path) -> dict:
    """Every entry under `folder` (links not followed) -> its bytes' digest, link target or "dir"."""
    seen = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                seen[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                seen[rel] = "dir"
            else:
                seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "p"
    (folder / "src").mkdir(parents=True)
    (folder / "notes.txt").write_text("x\n")
    (folder / "src" / "main.py").write_text("print('mine')\n")
    return folder


@pytest.fixture
def foreign_venv(tmp_path):
    venv = tmp_path / "theirs"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    return venv


def test_a_folder_of_user_files_is_refused_even_with_force(user_folder):
    before = snapshot(user_folder)
    for force in (False, True):
        with pytest.raises(RefusedTarget, match="not a venv"):
            prepare_venv_target(user_folder, force=force)
    with pytest.raises(RefusedTarget, match="files tinytorch-verifier did not make"):
        claim_folder(user_folder, "--out")
    assert snapshot(user_folder) == before


def test_a_link_to_a_user_folder_is_refused(user_folder, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(user_folder)
    before = snapshot(user_folder)
    for force in (False, True):
        with pytest.raises(RefusedTarget, match="symbolic link"):
            prepare_venv_target(link, force=force)
    with pytest.raises(RefusedTarget, match="symbolic link"):
        claim_folder(link, "--reports", REPORT_NAMES)
    assert snapshot(user_folder) == before and link.is_symlink()


def test_a_venv_of_someone_else_is_replaced_only_with_force(foreign_venv):
    before = snapshot(foreign_venv)
    with pytest.raises(RefusedTarget, match="--force"):
        prepare_venv_target(foreign_venv)
    assert prepare_venv_target(foreign_venv, force=True, replace=False) is False  # checked, not removed
    assert snapshot(foreign_venv) == before
    assert prepare_venv_target(foreign_venv, force=True) is False
    assert not foreign_venv.exists()


def test_an_empty_folder_and_a_venv_tito_made_are_accepted(tmp_path, foreign_venv):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_venv_target(empty) is False and empty.is_dir()
    (foreign_venv / MARK).write_text("made by tito\n")
    assert prepare_venv_target(foreign_venv) is True  # ours: reused, untouched
    assert (foreign_venv / "pyvenv.cfg").is_file()
    assert prepare_venv_target(tmp_path / "new") is False


def test_a_reports_folder_is_made_and_marked_then_accepted_again(tmp_path):
    reports = claim_folder(tmp_path / "r" / "reports", "--reports", REPORT_NAMES)
    assert (reports / MARK).is_file()
    (reports / "status.md").write_text("# status\n")
    (reports / "my-notes.txt").write_text("mine\n")
    assert claim_folder(reports, "--reports", REPORT_NAMES) == reports  # marked: ours, whatever it holds


def test_a_reports_folder_of_an_earlier_tito_is_accepted_a_user_folder_is_not(tmp_path):
    old = tmp_path / "old"
    (old / "dist").mkdir(parents=True)
    for name in ("verify.json", "status.md", "junit.xml", "report.html", "dist/tinytorch-0.1.0.tar.gz"):
        (old / name).write_text("x")
    claim_folder(old, "--reports", REPORT_NAMES)
    assert (old / MARK).is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "status.md").write_text("x")
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(RefusedTarget):
        claim_folder(tmp_path / "mine", "--reports", REPORT_NAMES)
    assert not (tmp_path / "mine" / MARK).exists()


def test_the_export_replaces_only_the_course_package_folder(tmp_path):
    course = tmp_path / "course"
    (course / "modules").mkdir(parents=True)
    check_package_target(course / "tinytorch", course, [course / "modules"])
    for wrong in (course, course / "modules", tmp_path / "elsewhere", course / ".." / "x"):
        with pytest.raises(RefusedTarget):
            check_package_target(wrong, course, [course / "modules"])
    (tmp_path / "real").mkdir()
    (course / "tinytorch").symlink_to(tmp_path / "real")
    with pytest.raises(RefusedTarget, match="symbolic link"):
        check_package_target(course / "tinytorch", course, [course / "modules"])


# -- through the command line: one line, exit 2, nothing touched (refused before anything is built) ----

def _tito(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([*TITO, *args], capture_output=True, text=True, cwd=str(cwd), env=env, timeout=120)


@pytest.mark.parametrize("as_link", [False, True], ids=["folder", "link"])
def test_install_into_a_user_folder_is_refused_and_leaves_it_untouched(user_folder, tmp_path, as_link):
    target = user_folder
    if as_link:
        target = tmp_path / "link"
        target.symlink_to(user_folder)
    before = snapshot(user_folder)
    for extra in ([], ["--force"]):
        done = _tito("package", "install", "--venv", str(target), *extra, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert str(target) in line and "refusing" in line and "Traceback" not in done.stderr
    assert snapshot(user_folder) == before


def test_install_into_a_foreign_venv_without_force_is_refused(foreign_venv, tmp_path):
    before = snapshot(foreign_venv)
    done = _tito("package", "install", "--venv", str(foreign_venv), cwd=tmp_path)
    assert done.returncode == 2 and "--force" in done.stderr, done.stderr
    assert snapshot(foreign_venv) == before


def test_build_out_and_reports_into_a_user_folder_are_refused(user_folder, tmp_path):
    before = snapshot(user_folder)
    for args in (["package", "build", "--out", str(user_folder)],
                 ["verify", "--reports", str(user_folder)],
                 ["package", "report", "--bundle", str(user_folder)]):
        done = _tito(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert str(user_folder) in done.stderr and "Traceback" not in done.stderr
    assert snapshot(user_folder) == before


def test_report_output_onto_a_link_is_refused(tmp_path, capsys):
    (tmp_path / "real.md").write_text("mine\n")
    (tmp_path / "out.md").symlink_to(tmp_path / "real.md")
    assert main(["package", "report", "--reports", str(tmp_path / "none"), "--output", str(tmp_path / "out.md")]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert (tmp_path / "real.md").read_text() == "mine\n"


@pytest.mark.system
def test_install_replaces_a_foreign_venv_only_with_force_and_reuses_its_own(mini_course, foreign_venv, tmp_path):
    course = mini_course()
    done = _tito("package", "install", "--course", str(course), "--venv", str(foreign_venv), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (foreign_venv / MARK).is_file() and (foreign_venv / "bin" / "python").stat().st_size != len("#!/bin/sh\n")
    again = _tito("package", "install", "--course", str(course), "--venv", str(foreign_venv), cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # ours now: reused without --force
    check = subprocess.run([str(foreign_venv / "bin" / "python"), "-c", "import tinytorch; print(tinytorch.__file__)"],
                           capture_output=True, text=True, cwd=str(tmp_path))
    assert check.returncode == 0 and str(foreign_venv) in check.stdout, check.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _tito("package", "install", "--course", str(course), "--venv", str(empty), cwd=tmp_path).returncode == 0
    assert (empty / "pyvenv.cfg").is_file() and (empty / MARK).is_file()
