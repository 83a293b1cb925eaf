"""Keep going vs fail fast on real copies of the embedded course: which stages run after a
blocking one, and that a stage without its inputs says "not run" and why (issue 11)."""
from __future__ import annotations

from faults import HERE, _undeclared, copy_course, replace

from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, NOT_RUN


def test_fail_fast_stops_after_the_first_blocking_stage(tmp_path):
    course = copy_course(tmp_path / "course")
    _undeclared(course)
    result = verify(VerifyOptions(course=course, pythons=[HERE], scenarios=["imports"], run_tests=False,
                                  fail_fast=True))
    stages = {s.name: s for s in result.stages}
    assert stages["validate"].status == FAILED
    for name in ("export", "api", "build"):
        assert stages[name].status == NOT_RUN, name
        assert "--fail-fast stopped the run after validate failed" in stages[name].detail
    (python,) = result.pythons
    assert python.status == NOT_RUN and all("--fail-fast" in s.detail for s in python.stages)
    assert [s.name for s in python.stages][:4] == ["venv", "install", "module-imports", "entry-points"]
    assert not decide(result).ready


def test_without_a_wheel_later_stages_say_why_they_did_not_run(tmp_path):
    course = copy_course(tmp_path / "course")
    replace(course / "pyproject.toml", 'build-backend = "setuptools.build_meta"',
            'build-backend = "setuptools.no_such_backend"')
    result = verify(VerifyOptions(course=course, pythons=[HERE], scenarios=["imports"], run_tests=False))
    stages = {s.name: s for s in result.stages}
    assert stages["validate"].ok and stages["export"].ok and stages["build"].status == FAILED
    (python,) = result.pythons
    assert python.status == NOT_RUN
    assert all(s.detail == "not run: the build failed: no wheel to install" for s in python.stages)
    assert not decide(result).ready
