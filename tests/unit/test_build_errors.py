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


def _tiny_project(root):
    (root / "tinypkg").mkdir(parents=True)
    (root / "tinypkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "tinypkg"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n')
    return root


@pytest.mark.system
def test_the_direct_wheel_is_built_beside_the_distributions_from_a_copy(tmp_path):
    """Both builds run at once; the direct one works on a copy of the staged tree (a setuptools build
    writes into the tree it builds), and the wheels agree as they did built one after the other."""
    from verifier.package.build import build_beside_direct_wheel
    from verifier.package.wheelcheck import compare_wheels

    stage = _tiny_project(tmp_path / "stage")
    artifacts, direct = build_beside_direct_wheel(stage, tmp_path / "dist", tmp_path)
    assert artifacts.sdist.name.endswith(".tar.gz") and artifacts.wheel.suffix == ".whl"
    assert direct.parent == tmp_path / "dist-from-source" and direct.name == artifacts.wheel.name
    assert (tmp_path / "stage-direct" / "tinypkg" / "__init__.py").is_file()
    assert compare_wheels(artifacts.wheel, direct) == []


@pytest.mark.system
def test_a_failed_direct_build_beside_the_distributions_is_the_build_error(tmp_path):
    from verifier.errors import BuildError
    from verifier.package.build import build_beside_direct_wheel

    stage = _tiny_project(tmp_path / "stage")
    (stage / "pyproject.toml").write_text((stage / "pyproject.toml").read_text().replace('">=3.9"', '">=3.9,,<4"'))
    with pytest.raises(BuildError, match="requires-python"):
        build_beside_direct_wheel(stage, tmp_path / "dist", tmp_path)
