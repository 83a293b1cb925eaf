"""What the spectrum blame (runner/spectrum.py) reruns: the course tests as the course-tests stage's JUnit
file recorded them, the bounded passing sample always rerun, their pytest node ids, and the launcher
that runs them (or a scenario) under coverage inside the venv, one coverage context per run.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

MAX_PASSING = 80
QUICK_TEST = 1.0         # seconds: a test slower than this is rerun only when it is near a failure


# -- the rerun inside the venv -------------------------------------------------------------------------

# Runs inside the venv (never imports the verifier): coverage of the package only, one context per test
# (setup, call and teardown, so fixtures count) or one per scenario; writes outcomes and line -> contexts.
# The plan (pytest only): `last` the failing tests, run after all others in that order; past `cpu`
# seconds of this process's CPU time (or `wall` seconds) a test that is neither in `keep` nor in `last`
# is skipped, so a large suite costs a bounded time and the failures and the chosen sample still run.
LAUNCHER = r'''
import json, os, runpy, sys, time
import coverage

out, mode = sys.argv[1], sys.argv[2]
began = time.monotonic()
cov = coverage.Coverage(data_file=None, source=[os.environ["TITO_MEASURE"]], config_file=False)
outcomes, cut = {}, []
plan = {}
if os.environ.get("TITO_SPECTRUM_PLAN"):
    with open(os.environ["TITO_SPECTRUM_PLAN"]) as handle:
        plan = json.load(handle)
last = plan.get("last", [])
keep = set(plan.get("keep", [])) | set(last)
cov.start()
try:
    if mode == "pytest":
        import pytest

        class _Contexts:
            def pytest_collection_modifyitems(self, session, config, items):
                position = {nodeid: i for i, nodeid in enumerate(last)}
                later = sorted((i for i in items if i.nodeid in position), key=lambda i: position[i.nodeid])
                items[:] = [i for i in items if i.nodeid not in position] + later

            @pytest.hookimpl(tryfirst=True)
            def pytest_runtest_setup(self, item):
                if item.nodeid not in keep and "cpu" in plan and (time.process_time() > plan["cpu"] or
                                                                  time.monotonic() - began > plan["wall"]):
                    cut.append(item.nodeid)
                    pytest.skip("past the spectrum's time budget")

            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_protocol(self, item, nextitem):
                cov.switch_context(item.nodeid)
                yield
                cov.switch_context("")

            def pytest_runtest_logreport(self, report):
                if report.failed:
                    outcomes[report.nodeid] = "failed"
                elif report.when == "call" and report.passed:
                    outcomes.setdefault(report.nodeid, "passed")

        pytest.main(sys.argv[3:], plugins=[_Contexts()])
    else:
        script = sys.argv[3]
        try:  # import-time code (class creation hooks, registries) outside the run's context, as under pytest
            __import__(os.path.basename(os.environ["TITO_MEASURE"]))
        except BaseException:
            pass
        cov.switch_context("scenario:" + os.path.splitext(os.path.basename(script))[0])
        sys.argv = [script]
        key = "scenario:" + os.path.splitext(os.path.basename(script))[0]
        try:
            runpy.run_path(script, run_name="__main__")
            outcomes[key] = "passed"
        except SystemExit as exc:
            outcomes[key] = "passed" if exc.code in (None, 0) else "failed"
        except BaseException:
            outcomes[key] = "failed"
finally:
    cov.stop()
data = cov.get_data()
files = {}
for name in data.measured_files():
    lines = {}
    for line, contexts in (data.contexts_by_lineno(name) or {}).items():
        kept = [c for c in contexts if c]
        if kept:
            lines[str(line)] = kept
    files[name] = lines
with open(out, "w") as handle:
    json.dump({"outcomes": outcomes, "files": files, "cut": len(cut), "cpu": time.process_time()}, handle)
'''


@dataclass(frozen=True)
class CourseTest:
    """One course test as the JUnit file of the course-tests stage records it, in run order."""
    test_id: str      # "tests.unit.test_autograd::test_no_grad_records_nothing"
    failed: bool
    skipped: bool = False
    seconds: float = 0.0


def junit_cases(path: Path) -> List[CourseTest]:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        try:
            seconds = float(case.get("time") or 0.0)
        except ValueError:
            seconds = 0.0
        cases.append(CourseTest(f"{case.get('classname', '')}::{case.get('name')}", failed,
                              case.find("skipped") is not None, seconds))
    return cases


def node_id(tests_root: Path, test_id: str) -> Optional[str]:
    """`tests.unit.test_x.TestY::test_z[1]` -> `tests/unit/test_x.py::TestY::test_z[1]` (relative to the
    folder holding `tests/`), or None when no such file exists."""
    classname, _, name = test_id.partition("::")
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        if tests_root.joinpath(*parts[:end]).with_suffix(".py").is_file():
            return "::".join(["/".join(parts[:end]) + ".py", *parts[end:], name])
    return None


def _file_of(test_id: str) -> str:
    return test_id.partition("::")[0]


def choose_passing(cases: Sequence[CourseTest], failing: Sequence[CourseTest], near_files: Sequence[str] = (),
                   limit: int = MAX_PASSING) -> List[CourseTest]:
    """A bounded passing sample, in run order: first the passing tests of the failing tests' files and
    of `near_files` (classnames, e.g. the unit tests of the modules a failing scenario exercises), taken
    in turn from each file (the file of the first failure first) so every file is represented, then
    tests spread evenly over the rest of the suite."""
    passing = [c for c in cases if not c.failed and not c.skipped]
    files: List[str] = []
    for name in [_file_of(c.test_id) for c in failing] + list(near_files):
        if name not in files:
            files.append(name)
    queues = [[c for c in passing if _file_of(c.test_id) == name] for name in files]
    chosen: List[CourseTest] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    taken = set(chosen)
    rest = [c for c in passing if c not in taken and c.seconds <= QUICK_TEST]  # the spread sample stays cheap
    room = limit - len(chosen)
    if room > 0 and rest:
        step = len(rest) / min(room, len(rest))
        chosen += [rest[int(i * step)] for i in range(min(room, len(rest)))]
    position = {c: i for i, c in enumerate(cases)}
    return sorted(chosen, key=lambda c: position[c])
