"""Trust the gate: every seeded fault blocks the release at the right stage, attributed to the right
module (and only on the Pythons where it really breaks); the clean course is not a false alarm.

Run with `nox -s faults` (CI runs it too). The catch rate is printed at the end of the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Set

import pytest
from faults import FAULTS, HERE, Fault, copy_course

from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, VerifyResult

CAUGHT: List[str] = []
pytestmark = pytest.mark.faults


def real_blockers(result: VerifyResult):
    """What blocks the release apart from this run being partial (one Python, a few scenarios)."""
    return [b for b in decide(result).blockers if b.category != "partial run"]


def first_failure(result: VerifyResult):
    """(stage name, module, failing Pythons) of the first blocking stage."""
    for stage in result.stages:
        if stage.status == FAILED:
            if stage.name == "validate":
                modules = {f.module for f in result.findings if f.severity == "error"}
                return stage.name, modules, set()
            if stage.name == "api":  # the module the api stage's blocker names (its attribution)
                return stage.name, {stage.attribution.module if stage.attribution else None}, set()
            return stage.name, {None}, set()
    failing: Set[str] = set()
    names, modules = [], set()
    for python in result.pythons:
        for stage in python.stages:
            if stage.status == FAILED:
                failing.add(python.version)
                names.append(stage.name)
                modules.add(stage.attribution.module if stage.attribution else None)
                break
    return (names[0] if names else None), modules, failing


def failed_stages(result: VerifyResult, name: str):
    """Every failed stage called `name`, course-wide or on any Python."""
    stages = list(result.stages) + [s for p in result.pythons for s in p.stages]
    return [s for s in stages if s.name == name and s.status == FAILED]


def run_fault(fault: Fault, tmp_path: Path) -> VerifyResult:
    course = copy_course(tmp_path / "course")
    fault.mutate(course)
    # a static fault needs no Python: fail fast, unless the fault checks what the run does after it
    options = VerifyOptions(course=course, pythons=list(fault.pythons or (HERE,)), strict=True,
                            scenarios=list(fault.scenarios), run_tests=fault.tests is not None,
                            test_selection=list(fault.tests or ()), scenario_timeout=fault.timeout,
                            fail_fast=not fault.pythons)
    return verify(options)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_is_caught_with_correct_attribution(fault, tmp_path):
    result = run_fault(fault, tmp_path)
    blockers = real_blockers(result)
    stage, modules, failing = first_failure(result)
    assert blockers, f"{fault.id}: the gate let the fault through"
    assert stage == fault.stage, f"{fault.id}: blocked at {stage}, expected {fault.stage}: {blockers}"
    assert fault.module in modules, f"{fault.id}: attributed to {modules}, expected {fault.module}"
    if fault.pythons and not any(s.name == stage for s in result.stages):  # blocked on a Python
        assert failing == set(fault.failing or fault.pythons), f"{fault.id}: failed on {failing}"
    if fault.expect is not None:
        problem = fault.expect(result)
        assert problem is None, f"{fault.id}: {problem}"
    if fault.detail:
        details = [s.detail for s in failed_stages(result, fault.stage)]
        assert any(fault.detail in d for d in details), f"{fault.id}: {fault.detail!r} not in {details}"
    for stage_name, module in fault.also:  # the run kept going past the first blocking stage
        also = failed_stages(result, stage_name)
        assert also, f"{fault.id}: {stage_name} did not run or did not fail after {fault.stage}"
        assert module in {s.attribution.module if s.attribution else None for s in also}, \
            f"{fault.id}: {stage_name} attributed to {[s.attribution for s in also]}, expected {module}"
    for dotted, module in fault.failed_modules:  # per-module import failures, each attributed
        reported = {}
        for stage in failed_stages(result, "module-imports"):
            reported.update(stage.figures.get("failed_modules", {}))
            reported.update(stage.figures.get("side_effects", {}))  # a module that breaks by its side effect
        assert dotted in reported, f"{fault.id}: {dotted} not in failed_modules {sorted(reported)}"
        assert f"modules/{module}/" in reported[dotted], f"{fault.id}: {dotted}: {reported[dotted]!r}"
    CAUGHT.append(fault.id)


def test_clean_course_is_no_false_alarm(tmp_path):
    course = copy_course(tmp_path / "course")
    result = verify(VerifyOptions(course=course, pythons=[HERE], strict=True, scenarios=["imports"],
                                  run_tests=False))
    assert result.ok and real_blockers(result) == [], [b.describe() for b in real_blockers(result)]
    assert [f for f in result.findings if f.severity == "error"] == []


def test_optional_dependencies_with_markers_are_no_false_alarm(tmp_path):
    """A wheel whose Requires-Dist carries `extra == ...` markers is what the pyproject declares."""
    course = copy_course(tmp_path / "course")
    pyproject = course / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.setuptools.packages.find]",
        '[project.optional-dependencies]\nTest = ["pytest>=7", \'tomli>=2; python_version < "3.11"\']\n'
        'plot = ["matplotlib>=3.5"]\n\n[tool.setuptools.packages.find]'))
    result = verify(VerifyOptions(course=course, pythons=[HERE], strict=True, scenarios=[], run_tests=False,
                                  fail_fast=True))
    build = next(s for s in result.stages if s.name == "build")
    assert build.ok, build.detail
