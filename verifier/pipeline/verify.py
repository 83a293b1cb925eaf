"""The verify pipeline: validate -> export -> api -> build -> per Python (fresh venv, install the
wheel, import every module alone, entry points, student scenarios, course tests) -> result. The
library behind `nox -s verify` / `tito verify`.

The run keeps going, as pytest runs every test: a failed stage blocks the release, but every
later stage whose inputs exist still runs, so one run shows the whole picture (a validation
error does not stop the build; a module that fails to import does not stop the scenarios). A
stage whose inputs do not exist is "not run" with the reason. `fail_fast` stops at the first
blocking stage instead.

Everything runs in a private work directory outside the course tree (made inside the guarded
region, marked with its owner for a later sweep, checked for free space first), which is removed at
the end; the course's files are only read. Ctrl-C or SIGTERM at any stage kills every child process
group and waits for them before the partial, interrupted result is returned; a stage the user
interrupted is "not run (interrupted)", never failed.
"""
from __future__ import annotations

import dataclasses
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..package.build import Artifacts
from ..package.wheelcheck import wheel_entry_points, wheel_modules
from ..course.discovery import Course, load_course
from ..runner.entrypoints import EntryPoint, entry_points_stage
from ..runner.imports import IMPORT_TIMEOUT, import_stage
from ..package.metrics import module_metrics
from ..runner.interpreters import find_interpreter
from ..course.matrix import python_matrix, version_key
from ..runner.processes import DEFAULT_MEMORY_MB, allow_new, kill_all, stop_all
from ..runner.workdirs import ensure_free_space, keep_work_dir, make_work_dir, remove_work_dir
from ..runner.attribution import attribute_message
from ..results import FAILED, NOT_RUN, PASSED, PythonResult, StageResult, VerifyResult
from ..runner.scenarios import Scenario, api_roles, discover_scenarios, run_course_tests, run_scenario
from .stages import (api_stage, build_stage, export_stage, install_stage, not_run, validation_stage,
                     venv_stage_for)

Progress = Callable[[str, StageResult], None]  # (scope: "course" or a Python version, stage result)
MB_PER_PYTHON = 150   # disk a run needs per Python: one venv with numpy (the wheel is small)
MB_COURSE = 50        # staging, sdist and wheels
INTERRUPTED = "interrupted"


@dataclass
class VerifyOptions:
    course: Path
    pythons: Optional[List[str]] = None          # replaces the course's matrix
    extra_pythons: List[str] = field(default_factory=list)
    strict: bool = False                         # a Python without interpreter fails the run
    scenarios: Optional[List[str]] = None        # None: every scenario
    run_tests: bool = True
    test_selection: Optional[List[str]] = None   # paths under the course's tests/ (None: all)
    jobs: int = 2                                # Pythons verified at once
    memory_mb: int = DEFAULT_MEMORY_MB
    keep_work: bool = False
    latest: bool = False                         # ignore the course's lock files
    scenario_timeout: Optional[float] = None     # cap every scenario's (and module import's) timeout, s
    artifacts_dir: Optional[Path] = None         # where to keep the built sdist and wheel (for the hand-off bundle)
    fail_fast: bool = False                      # stop at the first blocking stage


@dataclass
class Built:
    """What the course-wide stages hand to the per-Python stages."""
    artifacts: Optional[Artifacts]               # None: no wheel to install
    missing: str = ""                            # why there is no wheel ("build failed", ...)
    modules: List[str] = field(default_factory=list)          # importable modules in the wheel
    entry_points: List[EntryPoint] = field(default_factory=list)
    stopped: str = ""                            # with fail_fast: the stage that stopped the run


def _quiet(scope: str, stage: StageResult) -> None:
    return None


class _Cancelled(Exception):
    pass


class Verification:
    """One verify run. `run()` returns the result; `cancel()` (from a signal handler) stops it."""

    def __init__(self, options: VerifyOptions, progress: Progress = _quiet) -> None:
        self.options = options
        self.progress = progress
        self.cancelled = threading.Event()
        self.work = Path(tempfile.gettempdir()) / "tito-verify-unset"  # made in run(), inside its guard
        self.targets: Dict[str, str] = {}  # exported module (tinytorch.core.x) -> course module key

    def cancel(self) -> None:
        self.cancelled.set()
        kill_all()

    def _partial(self, course_matrix: Sequence[str], matrix: Sequence[str]) -> str:
        """Why this run cannot be a release verdict (a subset of Pythons, scenarios or tests)."""
        reasons = []
        missing = [v for v in course_matrix if v not in matrix]
        if missing:
            reasons.append(f"Pythons {', '.join(missing)} not run")
        if self.options.scenarios is not None:
            reasons.append(f"only scenarios {', '.join(self.options.scenarios)}")
        if not self.options.run_tests:
            reasons.append("course tests not run")
        elif self.options.test_selection:
            reasons.append(f"only tests {', '.join(self.options.test_selection)}")
        return "; ".join(reasons)

    def _stage(self, scope: str, result: StageResult) -> StageResult:
        self.progress(scope, result)
        return result

    def run(self) -> VerifyResult:
        start = time.monotonic()
        allow_new()
        work: Optional[Path] = None
        try:
            course = load_course(self.options.course)
            matrix = list(self.options.pythons or python_matrix(course))
            for extra in self.options.extra_pythons:
                if extra not in matrix:
                    matrix.append(extra)
            matrix.sort(key=version_key)
            result = VerifyResult(str(course.root), course.version, matrix, self.options.strict,
                                  datetime.now(timezone.utc).isoformat(timespec="seconds"))
            result.partial = self._partial(python_matrix(course), matrix)
            ensure_free_space(Path(tempfile.gettempdir()), MB_COURSE + MB_PER_PYTHON * len(matrix),
                              f"verifying {len(matrix)} Python{'s' if len(matrix) > 1 else ''}")
            work = self.work = make_work_dir("tito-verify-")
            try:
                built = self._course_stages(course, result)
                self._pythons(course, built, matrix, result)
                self._editable_hook(course, matrix, result)
            except (KeyboardInterrupt, _Cancelled):
                self.cancel()
                stop_all()  # every child group is gone before the partial result is returned
                result.interrupted = True
            result.seconds = round(time.monotonic() - start, 2)
            return result
        except BaseException:
            self.cancel()
            stop_all()
            raise
        finally:
            if work is not None:
                (keep_work_dir if self.options.keep_work else remove_work_dir)(work)
            allow_new()  # every worker has ended: a later run in this process may start children

    def _editable_hook(self, course: Course, matrix: Sequence[str], result: VerifyResult) -> None:
        """The editable-install stage (pipeline/editable.py), on runs of every scenario."""
        if self.options.scenarios is None and not self.cancelled.is_set():
            from .editable import editable_stage
            result.stages.append(self._stage("course", editable_stage(
                course, self.work / "editable", matrix, self.options.memory_mb, self.options.latest)))

    # -- course-wide stages -------------------------------------------------------------------
    def _course_stages(self, course: Course, result: VerifyResult) -> Built:
        stopped = ""

        def add(stage: StageResult) -> StageResult:
            nonlocal stopped
            if self.cancelled.is_set() and stage.status == FAILED:
                stage = not_run(stage.name, INTERRUPTED)
            result.stages.append(self._stage("course", stage))
            if stage.status == FAILED and self.options.fail_fast and not stopped:
                stopped = stage.name
            return stage

        def skip(name: str, reason: str) -> None:
            add(not_run(name, f"--fail-fast stopped the run after {stopped} failed" if stopped else reason))

        validation, findings, graph = validation_stage(course)
        result.findings = findings
        result.graph = graph
        add(validation)

        plan = None
        if stopped:
            skip("export", "")
        else:
            export, plan = export_stage(course, self.work / "stage", validation.ok)
            if plan is not None:
                self.targets = {f"{course.package}.{target}": key for key, target in plan.module_targets.items()}
                result.code_metrics = [dataclasses.asdict(m) for m in module_metrics(plan)]  # for the reports
            add(export)

        if plan is None:
            skip("api", "export failed: no exported package to compare")
        elif stopped:
            skip("api", "")
        else:
            add(api_stage(course, self.work / "stage" / course.package, self.targets))

        if plan is None or stopped:
            skip("build", "export failed: no package to build")
            return Built(None, "export failed" if plan is None else "", stopped=stopped)
        build, artifacts = build_stage(self.work, plan, self.options.artifacts_dir)
        if artifacts is not None:
            result.artifacts = artifacts.listing()
        add(build)
        if artifacts is None:
            return Built(None, "the build failed: no wheel to install", stopped=stopped)
        return Built(artifacts, modules=wheel_modules(artifacts.wheel, course.package),
                     entry_points=wheel_entry_points(artifacts.wheel, course.pyproject_path), stopped=stopped)

    # -- per Python ---------------------------------------------------------------------------
    def _stage_names(self, scenarios: List[Scenario]) -> List[str]:
        return ["venv", "install", "module-imports", "entry-points"] + [s.name for s in scenarios] + \
            (["course-tests"] if self.options.run_tests else [])

    def _pythons(self, course: Course, built: Built, matrix: Sequence[str], result: VerifyResult) -> None:
        scenarios = discover_scenarios(self.options.scenarios)
        if self.options.scenario_timeout:
            scenarios = [dataclasses.replace(s, timeout=min(s.timeout, self.options.scenario_timeout))
                         for s in scenarios]
        result.pythons = [PythonResult(v) for v in matrix]
        if built.artifacts is None or built.stopped:
            reason = f"--fail-fast stopped the run after {built.stopped} failed" if built.stopped else built.missing
            for python in result.pythons:
                python.stages = [not_run(n, reason) for n in self._stage_names(scenarios)]
            return
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            futures = [pool.submit(self._one_python, course, built, scenarios, python)
                       for python in result.pythons]
            try:
                for future in futures:
                    while not future.done():
                        time.sleep(0.2)
                        if self.cancelled.is_set():
                            raise _Cancelled()
                    future.result()
            except BaseException:
                self.cancel()
                for future in futures:
                    future.cancel()
                raise

    def _one_python(self, course: Course, built: Built, scenarios: List[Scenario],
                    python: PythonResult) -> None:
        scope = python.version
        lookup = find_interpreter(python.version)
        if lookup.interpreter is None:
            python.missing = lookup.describe_missing()
            self.progress(scope, StageResult("interpreter", FAILED if self.options.strict else NOT_RUN,
                                             detail=python.missing))
            return
        python.interpreter = str(lookup.interpreter.path)
        python.full_version = lookup.interpreter.full_version
        python.stages = [StageResult(n) for n in self._stage_names(scenarios)]
        home = self.work / f"py{python.version}"
        home.mkdir()
        try:
            self._python_stages(course, built, scenarios, python, home, lookup.interpreter.path)
        finally:
            shutil.rmtree(home / "venv", ignore_errors=True)

    def _python_stages(self, course: Course, built: Built, scenarios: List[Scenario],
                       python: PythonResult, home: Path, interpreter: Path) -> None:
        scope = python.version
        artifacts = built.artifacts
        assert artifacts is not None
        stopped = ""

        def record(stage: StageResult) -> None:
            nonlocal stopped
            if self.cancelled.is_set() and stage.status == FAILED:
                stage = not_run(stage.name, INTERRUPTED)  # the user stopped it; it did not fail
            python.stages = [stage if s.name == stage.name else s for s in python.stages]
            self._stage(scope, stage)
            if stage.status == FAILED and self.options.fail_fast and not stopped:
                stopped = stage.name

        def skip_rest(reason: str) -> None:
            for stage in python.stages:
                if stage.status == NOT_RUN and not stage.detail:
                    record(not_run(stage.name, reason))

        def check_cancel() -> None:
            if self.cancelled.is_set():
                raise _Cancelled()

        def fast_stop() -> bool:
            if stopped:
                skip_rest(f"--fail-fast stopped the run after {stopped} failed")
            return bool(stopped)

        venv_stage, venv = venv_stage_for(interpreter, home / "venv")
        record(venv_stage)
        if venv is None:
            skip_rest("no virtual environment")
            return
        check_cancel()

        install = install_stage(venv, artifacts, course, python, self.options.latest)
        record(install)
        if install.status != PASSED:
            skip_rest("the wheel did not install")
            return
        if fast_stop():
            return
        check_cancel()
        cap = self.options.scenario_timeout
        imports = import_stage(venv, built.modules, course.package, self.targets, memory_mb=self.options.memory_mb,
                               timeout=min(IMPORT_TIMEOUT, cap) if cap else IMPORT_TIMEOUT, cancelled=self.cancelled)
        check_cancel()  # an interrupted import stage is not a finding
        record(imports)
        if fast_stop():
            return
        entry_points = entry_points_stage(venv, built.entry_points, course.package, self.targets,
                                          memory_mb=self.options.memory_mb, cancelled=self.cancelled)
        check_cancel()
        record(entry_points)
        for scenario in scenarios:
            if fast_stop():
                return
            check_cancel()
            outcome = run_scenario(venv, scenario, home, course.package, self.options.memory_mb,
                                   roles=api_roles(course))
            if outcome.status == FAILED and outcome.attribution is None:
                outcome.attribution = attribute_message(outcome.detail + "\n" + outcome.log, self.targets)
            record(outcome)
        if self.options.run_tests:
            if fast_stop():
                return
            check_cancel()
            tests = run_course_tests(venv, course, home, self.options.test_selection,
                                     memory_mb=self.options.memory_mb, site_packages=python.site_packages)
            record(tests)
            _blame_scenarios_from_tests(python, tests)


def _blame_scenarios_from_tests(python: PythonResult, tests: StageResult) -> None:
    """A scenario that failed without a traceback into the package (a model that stops learning)
    inherits the root cause found by the course's tests, when they name one."""
    if tests.attribution is None:
        return
    for stage in python.stages:
        if stage.status == FAILED and stage.attribution is None and stage is not tests:
            stage.attribution = tests.attribution


def verify(options: VerifyOptions, progress: Progress = _quiet) -> VerifyResult:
    """Run a verification; Ctrl-C and SIGTERM end it cleanly with a partial, not-verified result."""
    verification = Verification(options, progress)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):  # SIGTERM behaves like Ctrl-C
            raise KeyboardInterrupt
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return verification.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
