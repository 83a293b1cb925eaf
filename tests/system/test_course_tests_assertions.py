"""The course tests run once without pytest's assertion rewriting when they pass, and a session that fails
runs again as pytest runs by default, so the report still shows the values a failed assert compared
(runner/scenarios.py run_course_tests)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from verifier.course.discovery import load_course
from verifier.runner.envs import Venv
from verifier.runner.processes import metered
from verifier.runner.scenarios import run_course_tests

COURSE = Path(__file__).resolve().parents[2] / "course"


def _course_with(tmp_path: Path, test_text: str):
    root = tmp_path / "course"
    shutil.copytree(COURSE, root, ignore=shutil.ignore_patterns("tests", "tinytorch", "__pycache__"))
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "unit" / "test_values.py").write_text(test_text, encoding="utf-8")
    return load_course(root)


def _venv(tmp_path: Path) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    return Venv(tmp_path / "venv")


def _run(tmp_path: Path, test_text: str):
    course, venv = _course_with(tmp_path, test_text), _venv(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with metered() as meter:
        stage = run_course_tests(venv, course, work, site_packages=str(tmp_path / "venv"), installer="uv")
    return stage, meter


def test_a_green_session_runs_once(tmp_path):
    stage, meter = _run(tmp_path, "def test_ok():\n    assert 1 + 1 == 2\n")
    assert stage.status == "passed", stage.detail
    assert meter.processes == 2   # installing pytest, one pytest session


def test_a_failed_assert_is_reported_with_the_values_it_compared(tmp_path):
    stage, meter = _run(tmp_path, "def test_values():\n    a, b = 41, 42\n    assert a == b\n\n"
                                  "def test_ok():\n    assert 1\n")
    assert stage.status == "failed"
    assert "assert 41 == 42" in stage.detail, stage.detail
    assert stage.figures["passed"] == 1 and stage.figures["failed"] == 1
    assert meter.processes == 3   # installing pytest, the plain session, the session as pytest runs it
