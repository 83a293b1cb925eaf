"""The editable-install stage: `pip install -e` of a copy of the course into a fresh venv, checked
from outside the tree — passes on the embedded course, fails attributed on a broken module, and
blocks the release through the gate."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verifier.course.discovery import load_course
from verifier.pipeline.editable import editable_stage
from verifier.pipeline.gate import decide
from verifier.runner.interpreters import find_interpreter

COURSE = Path(__file__).resolve().parents[2] / "course"
NEWEST = "3.13"

pytestmark = pytest.mark.skipif(find_interpreter(NEWEST).interpreter is None, reason=f"no Python {NEWEST}")


def test_editable_install_of_the_embedded_course_passes(tmp_path):
    stage = editable_stage(load_course(COURSE), tmp_path / "work", ["3.9", NEWEST])
    assert stage.status == "passed", stage.detail + stage.log
    assert stage.figures["python"] == NEWEST and stage.figures["pythons"] == {NEWEST: "passed"}  # one Python
    assert stage.figures["tinytorch_file"].startswith(str(tmp_path / "work" / "course" / "tinytorch"))
    assert stage.figures["edit_visible"] is True
    assert not (COURSE / "tinytorch" / "_tito_editable_probe.py").exists()


def test_a_broken_module_fails_the_editable_stage_attributed_and_blocks(tmp_path, result):
    broken = tmp_path / "course"
    shutil.copytree(COURSE, broken, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    source = broken / "modules/07_optimizers/optimizers.py"
    text = source.read_text()
    at = text.index("#| export\n") + len("#| export\n")
    source.write_text(text[:at] + "_LR = undefined_in_optimizers\n" + text[at:])
    stage = editable_stage(load_course(broken), tmp_path / "work", ["3.12", NEWEST])
    assert stage.status == "failed"
    assert stage.attribution is not None and stage.attribution.module == "07_optimizers"
    assert stage.attribution.path == "modules/07_optimizers/optimizers.py"
    assert set(stage.figures["pythons"]) == {NEWEST, "3.12"}  # failed on the newest: the oldest tried too
    assert "also tried: 3.12 failed" in stage.detail
    r = result()
    r.stages.append(stage)
    decision = decide(r)
    assert not decision.ready and decision.modules_to_fix == ["07_optimizers"]
    assert [b.category for b in decision.blockers] == ["editable install failed"]


def test_a_course_that_cannot_install_editable_fails_with_pips_reason(tmp_path):
    broken = tmp_path / "course"
    shutil.copytree(COURSE, broken, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    pyproject = broken / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('build-backend = "setuptools.build_meta"',
                                                       'build-backend = "setuptools.no_such_backend"'))
    stage = editable_stage(load_course(broken), tmp_path / "work", [NEWEST])
    assert stage.status == "failed" and "pip install -e" in stage.detail and stage.attribution is None
