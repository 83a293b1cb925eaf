"""A failed build says the backend's last meaningful line — setuptools' validation message, the
exception of a broken setup.py, build's own error — never a Python traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO

from verifier.package.build import last_meaningful_line

SETUPTOOLS_TRACEBACK = """\
* Creating isolated environment: venv+uv...
* Installing packages in isolated environment:
  - setuptools>=64
* Getting build dependencies for sdist...
configuration error: `project.requires-python` must be pep508-versionspec
DESCRIPTION:
    `The Python version requirements of the project`_.

GIVEN VALUE:
    ">=3.9,,<4"

Traceback (most recent call last):
  File "/tmp/build-env/lib/python3.11/site-packages/setuptools/config/pyprojecttoml.py", line 61, in validate
    raise ValueError(f"{error}\\n{summary}") from None
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: invalid pyproject.toml config: `project.requires-python`.
configuration error: `project.requires-python` must be pep508-versionspec

TIP pass --env-dir and --sdist-extract-dir to keep the build environment and sources
ERROR Backend subprocess exited when trying to invoke get_requires_for_build_sdist
"""


@pytest.mark.parametrize("output, line", [
    (SETUPTOOLS_TRACEBACK, "configuration error: `project.requires-python` must be pep508-versionspec"),
    ("Traceback (most recent call last):\n  File \"setup.py\", line 3\n    x = (\n        ^\n"
     "SyntaxError: '(' was never closed\n\nERROR Backend subprocess exited when trying to invoke build_sdist\n",
     "SyntaxError: '(' was never closed"),
    ("* Getting build dependencies for wheel...\nERROR Missing dependencies:\n\tsetuptools>=999\n",
     "Missing dependencies: setuptools>=999"),
    ("", "no output"),
])
def test_the_last_meaningful_line(output, line):
    assert last_meaningful_line(output) == line


@pytest.mark.system
def test_a_build_of_a_bad_requires_python_is_setuptools_one_line(mini_course):
    course = mini_course()
    pyproject = course / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.9"', 'requires-python = ">=3.9,,<4"'))
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "package", "build", "--course", str(course),
                           "--out", str(course.parent / "dist")], capture_output=True, text=True, timeout=600,
                          cwd=str(course.parent), env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "must be pep508-versionspec" in line and "Traceback" not in done.stderr and 'File "' not in line, line
