"""Trust the gate: every seeded fault blocks the release at the right stage, attributed to the right
module (and only on the Pythons where it really breaks); the clean course is not a false alarm.

Run with `nox -s faults` (CI runs it too). The catch rate is printed at the end of the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Set

import pytest

from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, VerifyResult

from faults import FAULTS, HERE, Fault, copy_course

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
                modules = {f["module"] for f in result.findings if f["severity"] == "error"}
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


def run_fault(fault: Fault, tmp_path: Path) -> VerifyResult:
    course = copy_course(tmp_path / "course")
    fault.mutate(course)
    options = VerifyOptions(course=course, pythons=list(fault.pythons or (HERE,)), strict=True,
                            scenarios=list(fault.scenarios), run_tests=fault.tests is not None,
                            test_selection=list(fault.tests or ()), scenario_timeout=fault.timeout)
    return verify(options)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_is_caught_with_correct_attribution(fault, tmp_path):
    result = run_fault(fault, tmp_path)
    blockers = real_blockers(result)
    stage, modules, failing = first_failure(result)
    assert blockers, f"{fault.id}: the gate let the fault through"
    assert stage == fault.stage, f"{fault.id}: blocked at {stage}, expected {fault.stage}: {blockers}"
    assert fault.module in modules, f"{fault.id}: attributed to {modules}, expected {fault.module}"
    if fault.pythons:
        assert failing == set(fault.failing or fault.pythons), f"{fault.id}: failed on {failing}"
    if fault.expect is not None:
        problem = fault.expect(result)
        assert problem is None, f"{fault.id}: {problem}"
    CAUGHT.append(fault.id)


def test_clean_course_is_no_false_alarm(tmp_path):
    course = copy_course(tmp_path / "course")
    result = verify(VerifyOptions(course=course, pythons=[HERE], strict=True, scenarios=["imports"],
                                  run_tests=False))
    assert result.ok and real_blockers(result) == [], [b.describe() for b in real_blockers(result)]
    assert [f for f in result.findings if f["severity"] == "error"] == []
