"""The editable stage when the run is interrupted: its killed `pip install -e` says it could not
install the course copy, but the stage is "not run: interrupted", never failed (a Ctrl-C is not a
finding) — while the same failure in a run nobody stopped stays a failure."""
from __future__ import annotations

import pytest

from verifier.course.discovery import load_course
from verifier.pipeline import editable
from verifier.results import FAILED, NOT_RUN, StageResult
from verifier.runner import processes


def _failed_install(course, copy, home, version, memory_mb, latest):
    stage = StageResult(editable.STAGE, FAILED)
    stage.figures["python"] = version
    stage.detail = f"Python {version}: pip install -e could not install the course copy: killed"
    return stage


@pytest.fixture
def course(mini_course, monkeypatch):
    monkeypatch.setattr(editable, "_attempt", _failed_install)
    return load_course(mini_course())


def test_an_interrupted_editable_install_is_not_run(course, tmp_path):
    processes._stopping.set()
    try:
        stage = editable.editable_stage(course, tmp_path / "editable", ["3.12", "3.9"])
    finally:
        processes.allow_new()
    assert stage.status == NOT_RUN and stage.detail == "not run: interrupted"
    assert "pip install -e" not in stage.detail


def test_the_same_failure_without_an_interrupt_stays_failed(course, tmp_path):
    stage = editable.editable_stage(course, tmp_path / "editable", ["3.12", "3.9"])
    assert stage.status == FAILED and "pip install -e could not install" in stage.detail
