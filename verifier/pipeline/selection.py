"""Choosing what to run after one module changed: that module and every module that depends on
it (from the actual import graph), the scenarios that exercise any of them, and their tests."""
from __future__ import annotations

from typing import List, Set, Tuple

from ..course.discovery import Course
from ..runner.scenarios import discover_scenarios


def affected_modules(course: Course, ref: str) -> List[str]:
    """Names of the module `ref` and of every module that depends on it, directly or not."""
    from ..deps.graph import course_graph

    start = course.module(ref)
    edges = course_graph(course).edges()  # module key -> keys it depends on
    affected = {start.key}
    changed = True
    while changed:
        changed = False
        for key, deps in edges.items():
            if key not in affected and affected & set(deps):
                affected.add(key)
                changed = True
    return [m.name for m in course.modules if m.key in affected]


def select_for_module(course: Course, ref: str) -> Tuple[List[str], List[str]]:
    """(scenario names, test paths relative to the course's tests/) for `tinytorch-verifier package test --module`."""
    return select_for_names(course, affected_modules(course, ref))


def select_for_names(course: Course, affected: List[str]) -> Tuple[List[str], List[str]]:
    """(scenario names, test paths) that exercise any of the modules named `affected`."""
    names: Set[str] = set(affected)
    scenarios = [s.name for s in discover_scenarios() if not s.modules or names & set(s.modules)]
    tests_root = course.root / "tests"
    tests: List[str] = []
    for path in sorted(tests_root.glob("unit/test_*.py")):
        if path.stem[len("test_"):] in names:
            tests.append(path.relative_to(tests_root).as_posix())
    for path in sorted(tests_root.glob("integration/test_*.py")):
        if any(name in path.stem for name in names):
            tests.append(path.relative_to(tests_root).as_posix())
    return scenarios, tests
