"""The verify pipeline: validate -> export -> api -> build -> per Python (fresh venv, install the
wheel, import every module alone, entry points, student scenarios, course tests) -> result. The
library behind `nox -s verify` / `tinytorch-verifier verify`.

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
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..course.discovery import Course, load_course
from ..course.matrix import python_matrix, version_key
from ..errors import BaselineError
from ..findingmodel import Finding
from ..package.locks import check_install_sources
from ..package.metrics import module_metrics
from ..package.wheelcheck import wheel_digest, wheel_entry_points, wheel_modules
from ..results import FAILED, CanaryReport, PythonResult, StageResult, VerifyResult
from ..runner.changed import ChangedLines
from ..runner.depapi import STAGE as DEPENDENCY_API
from ..runner.processes import allow_new, kill_all, metered, stop_all
from ..runner.scenarios import Scenario, discover_scenarios
from ..runner.workdirs import ensure_free_space, keep_work_dir, make_work_dir, remove_work_dir
from .baseline import BaselineSides, BaselineSource, baseline_stages, changed_lines, resolve_baseline
from .behaviour import STAGE as BEHAVIOUR
from .behaviour import behaviour_since
from .earlyvenvs import EarlyVenvs
from .options import Built, VerifyOptions
from .pytasks import PythonTasks, RunContext, estimate, previous_durations, with_cpu
from .schedule import Cancelled, Task, run_tasks
from .stages import api_stage, build_stage, export_stage, not_run, validation_stage

Progress = Callable[[str, StageResult], None]  # (scope: "course" or a Python version, stage result)
MB_PER_PYTHON = 150   # disk a run needs per Python: one venv with numpy (the wheel is small)
MB_COURSE = 50        # staging, sdist and wheels
INTERRUPTED = "interrupted"


def _quiet(scope: str, stage: StageResult) -> None:
    return None


class Verification:
    """One verify run. `run()` returns the result; `cancel()` (from a signal handler) stops it."""

    def __init__(self, options: VerifyOptions, progress: Progress = _quiet) -> None:
        self.options = options
        self.progress = progress
        self.cancelled = threading.Event()
        self.work = Path(tempfile.gettempdir()) / "tito-verify-unset"  # made in run(), inside its guard
        self.targets: Dict[str, str] = {}  # exported module (tinytorch.core.x) -> course module key
        self.findings: List[Finding] = []  # validation's findings (the per-Python stages read them)
        self.baseline: Optional[BaselineSource] = None
        self.baseline_sides = BaselineSides()    # the speed leg's venv and the baseline wheel, for the behaviour leg
        self._changes: Optional[ChangedLines] = None
        self._changes_lock = threading.Lock()

    def cancel(self) -> None:
        self.cancelled.set()
        kill_all()

    def _partial(self, course_matrix: Sequence[str], matrix: Sequence[str]) -> str:
        """Why this run cannot be a release verdict (a subset of Pythons, scenarios or tests)."""
        reasons = []
        if self.options.cached_envs:
            reasons.append("cached environments (module loop)")
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
            check_install_sources(course, matrix, self.options.latest)  # a lock that names a server: refused now
            if self.options.baseline_strict and self.options.baseline is None:
                raise BaselineError("--baseline-strict needs --baseline REF", hint="name the release to compare with")
            if self.options.baseline is not None:  # a REF that names nothing: one line, exit 2, before any work
                self.baseline = resolve_baseline(self.options.baseline, course.root)
            result = VerifyResult(str(course.root), course.version, matrix, self.options.strict,
                                  datetime.now(timezone.utc).isoformat(timespec="seconds"))
            result.partial = self._partial(python_matrix(course), matrix)
            result.course_name, result.latest = course.distribution, self.options.latest
            result.platform = f"{sys.platform}-{platform.machine().lower() or 'unknown'}"
            ensure_free_space(Path(tempfile.gettempdir()), MB_COURSE + MB_PER_PYTHON * len(matrix),
                              f"verifying {len(matrix)} Python{'s' if len(matrix) > 1 else ''}")
            work = self.work = make_work_dir("tito-verify-")
            # the course-wide stages leave a core idle: the venvs (which need no wheel) are made meanwhile
            early = EarlyVenvs(matrix, work, self.cancelled, self.options.installer) \
                if not self.options.cached_envs and self.workers > 1 else None
            try:
                if early is not None:
                    early.start()
                built = self._course_stages(course, result)
                if early is not None:
                    early.stop()
                self._pythons(course, built, matrix, result, early)
            except (KeyboardInterrupt, Cancelled):  # Cancelled: pipeline/schedule.py, a task that saw the flag
                self.cancel()
                stop_all()  # every child group is gone before the partial result is returned
                result.interrupted = True
            finally:
                if early is not None:
                    early.close()  # no venv is being made when the work folder goes
            result.seconds = round(time.monotonic() - start, 2)
            result.utilisation = utilisation(result)
            return result
        except BaseException:
            self.cancel()
            stop_all()
            raise
        finally:
            if work is not None:
                (keep_work_dir if self.options.keep_work else remove_work_dir)(work)
            allow_new()  # every worker has ended: a later run in this process may start children

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
        result.findings = self.findings = findings
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
        build, artifacts = build_stage(self.work, plan, self.options.artifacts_dir, wheel_only=self.options.cached_envs)
        if artifacts is not None:
            result.artifacts = artifacts.listing()
            result.wheel_content_sha256 = wheel_digest(artifacts.wheel)
        add(build)
        if artifacts is None:
            return Built(None, "the build failed: no wheel to install", stopped=stopped)
        return Built(artifacts, modules=wheel_modules(artifacts.wheel, course.package),
                     entry_points=wheel_entry_points(artifacts.wheel, course.pyproject_path), stopped=stopped)

    # -- per Python ---------------------------------------------------------------------------
    def _stage_names(self, scenarios: List[Scenario]) -> List[str]:
        return ["venv", "install", "module-imports", "entry-points", DEPENDENCY_API] + [s.name for s in scenarios] + \
            (["course-tests"] if self.options.run_tests else [])

    def _pythons(self, course: Course, built: Built, matrix: Sequence[str], result: VerifyResult,
                 early: Optional[EarlyVenvs] = None) -> None:
        """Every (Python x stage) task, and the editable stage, on one pool sized to the cores."""
        scenarios = discover_scenarios(self.options.scenarios)
        if self.options.scenario_timeout:
            scenarios = [dataclasses.replace(s, timeout=min(s.timeout, self.options.scenario_timeout))
                         for s in scenarios]
        result.pythons = [PythonResult(v) for v in matrix]
        history = previous_durations(self.options.history)
        tasks: List[Task] = []
        if built.artifacts is None or built.stopped:
            reason = f"--fail-fast stopped the run after {built.stopped} failed" if built.stopped else built.missing
            for python in result.pythons:
                python.stages = [not_run(n, reason) for n in self._stage_names(scenarios)]
            if self.options.canary:
                result.canary = CanaryReport(self.options.canary, missing=reason)
        else:
            run = RunContext(self.options, self.work, self.cancelled, self.progress, self.targets, self.findings,
                             self.changed_lines, early)
            graph = PythonTasks(run, course, built, scenarios, history)
            for python in result.pythons:
                tasks += graph.tasks(python, self._stage_names(scenarios))
            if self.options.canary:
                from .canary import canary_tasks
                tasks += canary_tasks(run, course, built, scenarios, history, self._stage_names(scenarios), matrix,
                                      result, self.options.canary)
        if self.baseline is not None and built.artifacts is not None and not built.stopped:
            tasks.append(Task("course/baseline", lambda: self._baseline(course, built, matrix, result), (),
                              estimate(history, "course", "baseline-speed")))
            # the candidate's numbers come from its own scenarios on the newest Python: after them
            tasks.append(Task("course/baseline-behaviour", lambda: self._behaviour(course, scenarios, result),
                              ("course/baseline", *(f"{matrix[-1]}/{s.name}" for s in scenarios)),
                              estimate(history, "course", BEHAVIOUR)))
        if self.options.scenarios is None and not self.options.cached_envs:
            tasks.append(Task("course/editable", lambda: self._editable(course, matrix, result), (),
                              estimate(history, "course", "editable")))
        result.jobs = self.workers
        try:
            run_tasks(tasks, self.workers, self.cancelled, on_interrupt=self.cancel)
        except BaseException:
            self.cancel()
            raise

    @property
    def workers(self) -> int:
        return max(1, self.options.jobs or os.cpu_count() or 1)

    def _editable(self, course: Course, matrix: Sequence[str], result: VerifyResult) -> None:
        """The editable-install stage (pipeline/editable.py), on runs of every scenario."""
        from .editable import editable_stage

        if not self.cancelled.is_set():
            with metered() as meter:
                stage = editable_stage(course, self.work / "editable", matrix, self.options.memory_mb,
                                       self.options.latest)
            result.stages.append(self._stage("course", with_cpu(stage, meter)))


    def _baseline(self, course: Course, built: Built, matrix: Sequence[str], result: VerifyResult) -> None:
        """The comparison with --baseline (pipeline/baseline.py), on the newest Python of the run."""
        if self.cancelled.is_set() or self.baseline is None or built.artifacts is None:
            return
        began = time.monotonic()
        stages, result.baseline, self.baseline_sides = baseline_stages(
            course, self.baseline, built.artifacts.wheel, matrix[-1], self.work / "baseline", self.targets,
            self.options.baseline_rounds, self.options.latest, self.options.memory_mb, self.options.installer)
        stages[-1].seconds = round(time.monotonic() - began, 2)  # the whole comparison, build included
        for stage in stages:
            if self.cancelled.is_set() and stage.status == FAILED:
                stage = not_run(stage.name, INTERRUPTED)
            result.stages.append(self._stage("course", stage))


    def _behaviour(self, course: Course, scenarios: Sequence[Scenario], result: VerifyResult) -> None:
        """The scenarios' numbers against the baseline's (pipeline/behaviour.py), on the newest Python."""
        if self.cancelled.is_set() or result.baseline is None:
            return
        if self.baseline is not None and self.baseline.wheel is not None:
            result.baseline.notes.append("blame by change needs a git ref as --baseline (a wheel has no sources): "
                                         "failures without a traceback are ranked by coverage only")
        stage = behaviour_since(course, result.baseline, self.baseline_sides.venv, self.baseline_sides.wheel,
                                result.pythons[-1] if result.pythons else None, scenarios,
                                self.work / "baseline-behaviour", self.options.baseline_strict,
                                self.options.memory_mb, self.options.installer)
        if self.cancelled.is_set() and stage.status == FAILED:
            stage = not_run(stage.name, INTERRUPTED)
        result.stages.append(self._stage("course", stage))

    def changed_lines(self, course: Course) -> Optional[ChangedLines]:
        """With --baseline: the student lines changed since it (once per run, for the blame by change)."""
        if self.baseline is None:
            return None
        with self._changes_lock:
            if self._changes is None:
                self._changes = changed_lines(self.baseline, course, self.work / "baseline-changes")
            return self._changes


def utilisation(result: VerifyResult) -> Optional[float]:
    """Summed stage seconds (course-wide and per Python) / (wall seconds x workers)."""
    if not result.seconds or not result.jobs:
        return None
    busy = sum(s.seconds for s in result.stages) + sum(s.seconds for p in result.pythons for s in p.stages)
    return round(busy / (result.seconds * result.jobs), 3)


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
