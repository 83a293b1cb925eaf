"""Real TinyTorch layouts verify end to end, not only the embedded course: upstream's 16-module era
(`modules/source/NN_name/name_dev.py` + paired notebook + module.yaml, nbdev settings.ini) and the
later one (`modules/NN_name/name.py`, no module.yaml) — exported, built and imported from a fresh venv."""
from __future__ import annotations

import sys

import pytest
from validation_courses import LAYOUT_B, LAYOUT_C, write_layout

from verifier.pipeline.verify import VerifyOptions, verify

pytestmark = pytest.mark.system
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
UPSTREAM_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "tinytorch"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["numpy>=1.22"]

[tool.setuptools.packages.find]
include = ["tinytorch*"]
"""


@pytest.mark.parametrize("layout", ["B", "C"])
def test_upstream_layout_verifies(layout, tmp_path):
    files = dict(LAYOUT_B if layout == "B" else LAYOUT_C)
    files["pyproject.toml"] = UPSTREAM_PYPROJECT
    course = write_layout(tmp_path / "course", base=files)
    result = verify(VerifyOptions(course=course, pythons=[HERE], scenarios=["imports", "installation"],
                                  run_tests=False))
    assert [s.status for s in result.stages] == ["passed"] * 4, [(s.name, s.detail) for s in result.stages]
    (python,) = result.pythons
    assert python.verified, [(s.name, s.detail) for s in python.stages]
    assert python.stage("imports").figures["modules"] >= 3
