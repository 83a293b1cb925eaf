"""`tinytorch-verifier python list` (each Python of the matrix: where, full version, calendar status, locked NumPy) and
`tinytorch-verifier verify --install-pythons` (uv installs what is missing; a failure is one line saying what to do).
The install failure is real: uv is pointed at an unreachable mirror on 127.0.0.1 (no other network)."""
from __future__ import annotations

import datetime as dt
import importlib
import os
from pathlib import Path

import pytest

from verifier.cli.main import main
from verifier.course.discovery import load_course
from verifier.pipeline import pythons
from verifier.runner import interpreters

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "course"


@pytest.fixture
def nothing_installed(tmp_path, monkeypatch):
    """Discovery finds no interpreter: PATH, pyenv, asdf and uv roots are empty folders, no system ones."""
    for name, sub in (("PATH", "bin"), ("PYENV_ROOT", "pyenv"), ("ASDF_DATA_DIR", "asdf"),
                      ("UV_PYTHON_INSTALL_DIR", "uv-pythons"), ("UV_CACHE_DIR", "uv-cache")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    places = interpreters.candidate_places
    monkeypatch.setattr(interpreters, "candidate_places",
                        lambda version: ((w, p) for w, p in places(version) if not w.startswith("/")))
    return tmp_path


def test_rows_carry_status_from_the_calendar_and_numpy_from_the_lock():
    listing = pythons.list_pythons(load_course(EMBEDDED), ["3.9", "3.14", "3.15", "3.15t"],
                                   on=dt.date(2026, 12, 6))
    rows = {row.version: row for row in listing.rows}
    assert rows["3.9"].status == "end of life" and rows["3.9"].end_of_life == dt.date(2025, 10, 31)
    assert rows["3.14"].status == "bugfix" and rows["3.15"].status == "bugfix"
    lock_315 = (EMBEDDED / "locks" / "py3.15.txt").read_text(encoding="utf-8")
    assert f"numpy=={rows['3.15'].numpy}\n" in lock_315 and rows["3.15"].lock == "fresh"
    assert rows["3.15t"].numpy is None and rows["3.15t"].lock == "missing"   # no lock of its own
    text = listing.render()
    assert "(support status on 2026-12-06" in text and "2031-10-31" in text


def test_python_list_names_each_missing_interpreter_and_exits_1(nothing_installed, capsys):
    assert main(["python", "list", "--course", str(EMBEDDED), "--python", "3.13", "--python", "3.14t"]) == 1
    out = capsys.readouterr().out
    assert "3.13: no interpreter for 3.13 found; looked in: PATH" in out
    assert "3.14t: no free-threaded interpreter (python3.14t) for 3.14t found" in out
    assert out.count("NOT FOUND") == 2


def test_install_failure_is_one_line_with_what_to_do(nothing_installed, monkeypatch):
    monkeypatch.setenv("UV_PYTHON_INSTALL_MIRROR", "http://127.0.0.1:1")   # refused at once: no network
    (outcome,) = pythons.install_missing(["3.12"], timeout=120)
    assert not outcome.installed and "\n" not in outcome.line
    assert outcome.line.startswith("could not install Python 3.12 with `uv python install 3.12` (")
    assert "provision-pythons 3.12" in outcome.line and "pyenv install 3.12" in outcome.line
    assert not any((nothing_installed / "uv-pythons").glob("cpython-3.12*"))


def test_without_uv_the_line_says_so(nothing_installed, monkeypatch):
    monkeypatch.setattr(pythons, "find_uv", lambda: None)
    (outcome,) = pythons.install_missing(["3.13"])
    assert outcome.line.startswith("cannot install Python 3.13: uv is not installed; install it another way")


def test_a_found_interpreter_is_not_reinstalled():
    here = interpreters.current_interpreter().version
    assert pythons.install_missing([here]) == []


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake uv")
def test_verify_install_pythons_prints_the_failure_before_verifying(nothing_installed, monkeypatch, capsys):
    """--install-pythons runs before verify and is never silent: a fake uv that fails; the verification
    itself is replaced by a recorder, so nothing heavy runs."""
    fake = nothing_installed / "fake-uv"
    fake.write_text("#!/bin/sh\necho 'error: Failed to download: Connection refused (os error 111)' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(pythons, "find_uv", lambda: fake)
    calls = []
    monkeypatch.setattr(importlib.import_module("verifier.render.runs"), "run_verification",
                        lambda options, reports, no_color: calls.append(options) or 1)
    assert main(["verify", "--course", str(EMBEDDED), "--python", "3.15", "--install-pythons",
                 "--reports", str(nothing_installed / "reports")]) == 1
    err = capsys.readouterr().err
    assert "tinytorch-verifier: could not install Python 3.15 with `uv python install 3.15` (error: Failed to " \
           "download: Connection refused (os error 111)); install it another way" in err
    assert len(calls) == 1 and calls[0].pythons == ["3.15"]   # verify still runs: 3.15 is NOT VERIFIED there
