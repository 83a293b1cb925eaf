"""The per-Python part of a verify run as tasks for the scheduler (pipeline/schedule.py): per Python
of the matrix venv -> install -> {module-imports, entry-points, each scenario} -> course tests ->
clean-up, every stage its own task, so a scenario of one Python runs beside the install of another.

Each task records its StageResult into its Python's pre-filled stage list (under a lock), reports
progress, and with fail_fast turns the Python's remaining stages into "not run". A stage whose
inputs do not exist (no venv, the wheel did not install) is recorded "not run" with the reason.

Weights (expected seconds) come from the previous run's reports/verify.json when it has the same
(Python, stage), else from static estimates measured on the embedded course (2 cores).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from ..checks._thirdparty import own_top_levels
from ..course.discovery import Course
from ..findingmodel import Finding
from ..results import FAILED, NOT_RUN, PASSED, Attribution, PythonResult, StageResult
from ..runner.attribution import attribute_message
from ..runner.depapi import STAGE as DEPENDENCY_API
from ..runner.depapi import api_stage as dependency_api_stage
from ..runner.entrypoints import entry_points_stage
from ..runner.envs import Venv
from ..runner.forkserver import ScenarioServer
from ..runner.imports import IMPORT_TIMEOUT, import_stage
from ..runner.interpreters import find_interpreter
from ..runner.preload import package_preload
from ..runner.processes import CpuMeter, metered, sandboxed
from ..runner.scenarios import (
    ROLE_MAP_VARIABLE,
    Scenario,
    api_roles,
    run_course_tests,
    run_scenario,
    scenario_env,
    shared_helpers,
)
from ..runner.spectrum import ChangedLines, localise, needs_spectrum
from .options import Built, VerifyOptions
from .schedule import Cancelled, Task
from .stages import cached_venv_stage, install_stage, not_run, venv_stage_for

if TYPE_CHECKING:
    from .earlyvenvs import EarlyVenvs

# seconds per stage on the embedded course, one Python, 2 shared cores (a run without history, as a fresh
# clone's first `nox -s verify`): measured on an idle machine (2026-12-07, venvs by uv, preloading fork
# servers). They only order the work (schedule.plan simulates the schedule on them), so they should be
# today's (re-measure them when the course or the stages change a lot).
ESTIMATES = {"venv": 0.5, "install": 0.25, "module-imports": 1.05, "entry-points": 0.01, DEPENDENCY_API: 0.15,
             "course-tests": 3.7,
             "cnn": 0.5, "transformer": 0.6, "complete_pipeline": 0.33, "installation": 0.6, "persistence": 0.3,
             "imports": 0.06, "inter_module": 0.07, "data_flow": 0.07,
             "editable": 6.0}
DEFAULT_ESTIMATE = 1.0


def previous_durations(report: Optional[Path]) -> Dict[Tuple[str, str], float]:
    """(Python or "course", stage) -> seconds, from a previous verify.json; {} when there is none."""
    if report is None or not report.is_file():
        return {}
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        found = {("course", s["name"]): float(s["seconds"]) for s in data.get("stages", [])}
        for python in data.get("pythons", []):
            for stage in python.get("stages", []):
                if stage.get("status") != NOT_RUN:
                    found[(python["version"], stage["name"])] = float(stage["seconds"])
        return found
    except (ValueError, KeyError, TypeError, OSError):
        return {}


def estimate(history: Dict[Tuple[str, str], float], scope: str, stage: str) -> float:
    return history.get((scope, stage), ESTIMATES.get(stage, DEFAULT_ESTIMATE))


@dataclass
class RunContext:
    """What the per-Python tasks read from the run that schedules them (pipeline/verify.py makes it
    once the course-wide stages are done): its options and work folder, the cancel flag, where
    progress goes, and what validation and the export found."""
    options: VerifyOptions
    work: Path                                            # the run's private work folder
    cancelled: threading.Event                            # set on Ctrl-C / SIGTERM
    progress: Callable[[str, StageResult], None]          # (scope, finished stage)
    targets: Dict[str, str]                               # exported module -> course module key
    findings: List[Finding]                               # validation's findings (marker blame reads them)
    changed_lines: Callable[[Course], Optional[ChangedLines]]  # with --baseline: lines changed since it
    early_venvs: Optional["EarlyVenvs"] = None            # venvs made during the course-wide stages


@dataclass
class PythonRun:
    """The shared state of one Python's tasks."""
    result: PythonResult
    home: Path
    venv: Optional[Venv] = None
    absent: str = ""                         # why later stages cannot run ("no virtual environment")
    stopped: str = ""                        # fail_fast: the stage that stopped this Python
    scenario_server: Optional[ScenarioServer] = None   # forks this Python's scenarios (runner/forkserver.py)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PythonTasks:
    """Builds the task graph of every Python; the tasks write into `result.pythons`."""
    scope_prefix = ""   # before the version in task keys, work folders and progress ("canary-": pipeline/canary.py)

    def __init__(self, run: RunContext, course: Course, built: Built, scenarios: List[Scenario],
                 history: Dict[Tuple[str, str], float]) -> None:
        self.run = run
        self.options = run.options
        self.course = course
        self.built = built
        self.scenarios = scenarios
        self.history = history
        self.spectrum_taken = threading.Lock()   # the coverage rerun: once per run, on the first Python needing it

    def tasks(self, python: PythonResult, stage_names: List[str]) -> List[Task]:
        scope = self.scope_prefix + python.version
        state = PythonRun(python, self.run.work / f"py{scope}")
        python.stages = [StageResult(n) for n in stage_names]
        w = lambda name: estimate(self.history, scope, name)  # noqa: E731
        key = lambda name: f"{scope}/{name}"  # noqa: E731
        after_install = (key("install"),)
        tasks = [Task(key("venv"), lambda: self._venv(state), (), w("venv")),
                 Task(key("install"), lambda: self._guarded(state, "install", self._install), (key("venv"),),
                      w("install")),
                 Task(key("module-imports"), lambda: self._guarded(state, "module-imports", self._imports),
                      after_install, w("module-imports")),
                 Task(key("entry-points"), lambda: self._guarded(state, "entry-points", self._entry_points),
                      after_install, w("entry-points")),
                 Task(key(DEPENDENCY_API), lambda: self._guarded(state, DEPENDENCY_API, self._dependency_api),
                      after_install, w(DEPENDENCY_API))]
        for scenario in self.scenarios:
            tasks.append(Task(key(scenario.name), self._scenario_task(state, scenario), after_install,
                              w(scenario.name)))
        checks = tuple(t.key for t in tasks[2:])
        last = checks
        if self.options.run_tests:
            # fresh venvs: pytest is installed only after the scenarios, so it cannot mask an undeclared
            # dependency; a cached venv (module loop) already holds it, so the tests start after the install
            tests_after = after_install if self.options.cached_envs else checks
            tasks.append(Task(key("course-tests"), lambda: self._guarded(state, "course-tests", self._tests),
                              tests_after, w("course-tests")))
            last = checks + (key("course-tests"),)
        tasks.append(Task(key("clean-up"), lambda: self._cleanup(state), last, 0.1))
        return tasks

    # -- bookkeeping --------------------------------------------------------------------------
    def _record(self, state: PythonRun, stage: StageResult) -> None:
        if self.run.cancelled.is_set() and stage.status == FAILED:
            stage = not_run(stage.name, "interrupted")  # the user stopped it; it did not fail
        with state.lock:
            state.result.stages = [stage if s.name == stage.name else s for s in state.result.stages]
            if stage.status == FAILED and self.options.fail_fast and not state.stopped:
                state.stopped = stage.name
        self.run.progress(self.scope_prefix + state.result.version, stage)

    def _check_cancel(self) -> None:
        if self.run.cancelled.is_set():
            raise Cancelled()

    def _guarded(self, state: PythonRun, name: str, body: Callable[[PythonRun], StageResult]) -> None:
        """Run a stage unless its inputs are missing or fail_fast stopped this Python."""
        if state.result.missing is not None:
            return
        if state.absent:
            return self._record(state, not_run(name, state.absent))
        if state.stopped:
            return self._record(state, not_run(name, f"--fail-fast stopped the run after {state.stopped} failed"))
        self._check_cancel()
        with metered() as meter:
            stage = body(state)
        self._check_cancel()  # an interrupted stage is not a finding
        self._record(state, with_cpu(stage, meter))

    # -- the stages ---------------------------------------------------------------------------
    def _venv(self, state: PythonRun) -> None:
        python = state.result
        early = self.run.early_venvs.take(python.version) if self.run.early_venvs and not self.scope_prefix else None
        lookup = early[0] if early else find_interpreter(python.version)
        if lookup.interpreter is None:
            python.missing = lookup.describe_missing()
            python.stages = []
            status = FAILED if self.options.strict else NOT_RUN
            self.run.progress(self.scope_prefix + python.version,
                            StageResult("interpreter", status, detail=python.missing))
            return
        python.interpreter = str(lookup.interpreter.path)
        python.full_version = lookup.interpreter.full_version
        self._check_cancel()
        state.home.mkdir(exist_ok=True)
        with metered() as meter:
            if early:  # made during the course-wide stages (pipeline/earlyvenvs.py), metered there
                stage, state.venv = early[1], early[2]
            elif self.options.cached_envs:
                stage, state.venv = cached_venv_stage(self.course, lookup.interpreter, self.options.installer)
            else:
                stage, state.venv = venv_stage_for(lookup.interpreter.path, state.home / "venv",
                                                   self.options.installer, lookup.interpreter.version)
        if state.venv is None:
            state.absent = "no virtual environment"
        self._record(state, with_cpu(stage, meter))

    def _install(self, state: PythonRun) -> StageResult:
        assert state.venv is not None and self.built.artifacts is not None
        stage = install_stage(state.venv, self.built.artifacts, self.course, state.result, self.options.latest,
                              installer=self.options.installer, cached=self.options.cached_envs)
        if stage.status != PASSED:
            state.absent = "the wheel did not install"
        return stage

    def _imports(self, state: PythonRun) -> StageResult:
        assert state.venv is not None
        cap = self.options.scenario_timeout
        stage = import_stage(state.venv, self.built.modules, self.course.package, self.run.targets,
                             memory_mb=self.options.memory_mb,
                             timeout=min(IMPORT_TIMEOUT, cap) if cap else IMPORT_TIMEOUT, cancelled=self.run.cancelled,
                             preload=self._preload(state))
        blame_marker_gap(stage, state.result.version, self.run.findings)
        return stage

    def _entry_points(self, state: PythonRun) -> StageResult:
        assert state.venv is not None
        return entry_points_stage(state.venv, self.built.entry_points, self.course.package, self.run.targets,
                                  memory_mb=self.options.memory_mb, cancelled=self.run.cancelled)

    def _dependency_api(self, state: PythonRun) -> StageResult:
        """Every NumPy (third-party) name and keyword the installed package uses exists in this venv."""
        assert state.venv is not None
        installed = state.result.tinytorch_file
        package_dir = Path(installed).parent if installed else None
        return dependency_api_stage(state.venv, package_dir, own_top_levels(self.course), state.result.version,
                                    memory_mb=self.options.memory_mb, cancelled=self.run.cancelled)

    def _scenario_task(self, state: PythonRun, scenario: Scenario) -> Callable[[], None]:
        def body(state: PythonRun) -> StageResult:
            assert state.venv is not None
            outcome = run_scenario(state.venv, scenario, state.home, self.course.package, self.options.memory_mb,
                                   roles=api_roles(self.course), server=self._scenario_server(state))
            if outcome.status == FAILED and outcome.attribution is None:
                outcome.attribution = attribute_message(outcome.detail + "\n" + outcome.log, self.run.targets)
            blame_marker_gap(outcome, state.result.version, self.run.findings)
            return outcome
        return lambda: self._guarded(state, scenario.name, body)

    def _scenario_server(self, state: PythonRun) -> Optional[ScenarioServer]:
        """This Python's fork server, started by its first scenario (POSIX, unsandboxed, not the canary)."""
        if not hasattr(os, "fork") or sandboxed() or self.scope_prefix or state.venv is None:
            return None
        with state.lock:
            if state.scenario_server is None:
                state.scenario_server = ScenarioServer(state.venv, scenario_env(api_roles(self.course)),
                                                       self.options.memory_mb, state.home,
                                                       self._preload(state))
            return state.scenario_server

    def _preload(self, state: PythonRun) -> Tuple[str, ...]:
        """What this Python's fork servers import before forking (runner/preload.py): never the course's own code."""
        return package_preload(state.result.site_packages, self.course.package, own_top_levels(self.course))

    def _tests(self, state: PythonRun) -> StageResult:
        assert state.venv is not None
        tests = run_course_tests(state.venv, self.course, state.home, self.options.test_selection,
                                 memory_mb=self.options.memory_mb, site_packages=state.result.site_packages,
                                 installer=self.options.installer)
        blame_scenarios_from_tests(state.result, tests)
        blame_marker_gap(tests, state.result.version, self.run.findings)
        return tests

    def _cleanup(self, state: PythonRun) -> None:
        if state.scenario_server is not None:
            state.scenario_server.close()
        self._localise(state)
        if state.venv is not None and not self.options.cached_envs:
            shutil.rmtree(state.venv.root, ignore_errors=True)

    def _localise(self, state: PythonRun) -> None:
        """Failures blamed without a traceback into the package: rerun them beside passing ones under
        coverage (runner/spectrum.py), only on the first Python that needs it, never on a clean run."""
        stages = needs_spectrum(state.result, self.scenarios)
        if not stages or state.venv is None or self.run.cancelled.is_set() or \
                not self.spectrum_taken.acquire(blocking=False):
            return
        roles = {ROLE_MAP_VARIABLE: json.dumps(api_roles(self.course), sort_keys=True)}
        localise(state.venv, self.course, state.result, state.home, self.scenarios, stages,
                 installer=self.options.installer, memory_mb=self.options.memory_mb, roles_env=roles,
                 helpers=shared_helpers(), changes=self.run.changed_lines(self.course))


def with_cpu(stage: StageResult, meter: CpuMeter) -> StageResult:
    """The stage's cost in CPU seconds and child processes (the report's per-stage figures): wall time
    alone cannot tell a cheaper stage from a quieter machine."""
    stage.figures.setdefault("cpu_seconds", round(meter.seconds, 2))
    stage.figures.setdefault("processes", meter.processes)
    return stage


def blame_marker_gap(stage: StageResult, python: str, findings: List[Finding]) -> None:
    """Modules that fail to import only because a dependency's marker leaves this Python without it (TT223)
    are not the modules' fault: the blame goes to the requirement's line of pyproject.toml, on the course."""
    if stage.status != FAILED or stage.figures.get("side_effects"):
        return
    # module-imports: every module that failed failed on a missing module; another stage: its error says so
    failures = list((stage.figures.get("failed_modules") or {}).values()) if stage.name == "module-imports" \
        else [stage.detail + "\n" + stage.log]
    for finding in findings:
        if finding.code != "TT223" or finding.waived is not None or python not in finding.pythons:
            continue
        if failures and all("No module named" in str(f) for f in failures):
            stage.attribution = Attribution("course", str(finding.path), finding.line, how="marker")
            stage.fix = finding.fix or stage.fix
            return


def blame_scenarios_from_tests(python: PythonResult, tests: StageResult) -> None:
    """A scenario that failed without a traceback into the package (a model that stops learning)
    inherits the root cause found by the course's tests, when they name one."""
    if tests.attribution is None:
        return
    for stage in python.stages:
        if stage.status == FAILED and stage.attribution is None and stage.name != tests.name:
            stage.attribution = tests.attribution
