"""Scenarios on any course: a course that spells the convolution layer its own way still runs the CNN
scenario when it names the class in `[tool.tinytorch.api]`, and fails it with one clear line when it
does not (never a bare ImportError). Builds and installs a course copy, so it runs with the fault corpus
(`nox -s faults`)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from faults import HERE, copy_course

from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, PASSED

pytestmark = pytest.mark.faults


def rename_convolution(root: Path, new_name: str) -> None:
    """Rename the class Conv2d everywhere in the course's module sources (Conv2dFunction stays)."""
    for path in (root / "modules").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bConv2d\b", new_name, text), encoding="utf-8")
    for path in (root / "modules").rglob("module.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bConv2d\b", new_name, text), encoding="utf-8")


def cnn_stage(root: Path):
    result = verify(VerifyOptions(course=root, pythons=[HERE], strict=True, scenarios=["cnn"], run_tests=False))
    return next(s for p in result.pythons for s in p.stages if s.name == "cnn")


def test_a_course_names_its_own_class_for_a_role(tmp_path):
    root = copy_course(tmp_path / "course")
    rename_convolution(root, "ConvLayer2D")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") +
                         '\n[tool.tinytorch.api]\nconv2d = "tinytorch.core.spatial:ConvLayer2D"\n', encoding="utf-8")
    stage = cnn_stage(root)
    assert stage.status == PASSED, stage.detail


def test_a_role_without_a_class_fails_with_one_clear_line(tmp_path):
    root = copy_course(tmp_path / "course")
    rename_convolution(root, "ConvLayer2D")
    stage = cnn_stage(root)
    assert stage.status == FAILED
    assert stage.detail.startswith("the course exports no convolution layer (looked for Conv2d, Conv2D"), stage.detail
    assert "ImportError" not in stage.log and "Traceback" not in stage.log, stage.log
