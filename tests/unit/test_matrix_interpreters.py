"""The Python matrix comes from the course's pyproject; interpreters are run before they are trusted."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from verifier.course.discovery import load_course
from verifier.course.matrix import python_matrix
from verifier.errors import CourseError
from verifier.runner import interpreters

SOURCE = {"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n"}


def pyproject(requires, versions):
    classifiers = ",\n".join(f'"Programming Language :: Python :: {v}"' for v in versions)
    return f'[project]\nname = "tinytorch"\nversion = "1.0"\nrequires-python = "{requires}"\n' \
           f'classifiers = [\n"Programming Language :: Python :: 3",\n{classifiers}\n]\n'


def test_matrix_is_classifiers_within_requires_python(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.10", ["3.9", "3.10", "3.11", "3.13"]))
    assert python_matrix(load_course(root)) == ["3.10", "3.11", "3.13"]


def test_matrix_without_classifiers_falls_back_to_requires_python(make_course):
    root = make_course(SOURCE, pyproject='[project]\nname = "tinytorch"\nrequires-python = ">=3.12,<3.14"\n')
    assert python_matrix(load_course(root)) == ["3.12", "3.13"]


def test_requires_python_no_classifier_satisfies_is_an_error(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.14", ["3.9", "3.10"]))
    with pytest.raises(CourseError, match="satisfied by none of the listed"):
        python_matrix(load_course(root))


def test_embedded_course_matrix():
    embedded = Path(__file__).resolve().parents[2] / "course"
    assert python_matrix(load_course(embedded)) == ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]


def _fake_python(path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake interpreters")
def test_a_failing_shim_is_not_trusted_and_pyenv_is_searched(tmp_path, monkeypatch):
    shims = tmp_path / "shims"
    _fake_python(shims / "python3.7", 'echo "pyenv: python3.7: command not found" >&2; exit 127\n')
    real = f"{sys.version_info[0]}.{sys.version_info[1]}"
    root = tmp_path / "pyenv"
    (root / "versions" / "3.7.1" / "bin").mkdir(parents=True)
    # a pyenv folder whose python is really the running interpreter, under a fake version name
    (root / "versions" / f"{real}.99" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, root / "versions" / f"{real}.99" / "bin" / f"python{real}")
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    missing = interpreters.find_interpreter("3.7")
    assert missing.interpreter is None
    assert "no interpreter for 3.7 found; looked in: PATH" in missing.describe_missing()
    assert str(root / "versions" / "3.7.1") in missing.describe_missing()
    found = interpreters.find_interpreter(real)
    assert found.interpreter is not None and found.interpreter.version == real
