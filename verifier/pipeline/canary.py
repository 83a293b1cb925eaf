"""The canary leg of `tinytorch-verifier verify --canary`: what breaks next, before it breaks.

One extra Python leg beside the matrix: the newest Python of the run that has an interpreter, the
course's wheel with the newest NumPy (and other direct dependencies) the user's indexes offer,
pre-releases included, without the course's lock, every child in Python development mode (`-X dev`)
and the DeprecationWarning / PendingDeprecationWarning / FutureWarning that the package's own code
causes recorded and turned into errors (runner/warnhook.py, installed into the canary venv). It runs
what a Python leg runs (module imports, entry points, dependency API, the scenarios, the course
tests) as tasks on the same pool (pipeline/pytasks.py).

Each finding names the student's file:line (the installed line mapped back through the export
markers, runner/attribution.py), the warning's own message (what will break) and where it was seen.
The canary is advisory: its report is `VerifyResult.canary`; only with `--canary=block` does a
finding (or a canary stage that failed) add a failed course stage "canary" that blocks the release.

Pre-releases only for the course's direct dependencies: each is asked for again as
`name>=0.dev0` (with its own marker), a specifier that names a pre-release, which both pip and uv
(its default `if-necessary-or-explicit` mode) read as "pre-releases allowed for this package" — unlike
uv's `--prerelease allow`, which would apply to every package. No index or URL is added.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement

from ..course.discovery import Course
from ..results import FAILED, PASSED, Attribution, CanaryFinding, CanaryReport, PythonResult, StageResult, VerifyResult
from ..runner import warnhook
from ..runner.attribution import map_line, module_of_source
from ..runner.envs import Venv, choose_installer, install_failure
from ..runner.interpreters import find_interpreter
from ..runner.processes import Completed
from ..runner.scenarios import COURSE_TESTS, Scenario
from .options import Built
from .pytasks import PythonRun, PythonTasks, RunContext
from .schedule import Task

MODES = ("warn", "block")
PRERELEASE_FLOOR = "0.dev0"        # a lower bound that names a pre-release: pre-releases allowed, nothing excluded
HOOK_MODULE = "_tito_canary_warnings"
RECORD = "canary-warnings.jsonl"   # in the canary's work folder (outside the venv: read after the venv is gone)
STAGE = "canary"                   # the course stage a blocking canary adds


def prerelease_requirements(course: Course) -> List[str]:
    """The course's direct dependencies again, each allowing its pre-releases, markers kept (a
    dependency a marker leaves out on this Python stays out)."""
    declared = course.pyproject.get("project", {}).get("dependencies", []) or []
    wanted: List[str] = []
    for raw in declared if isinstance(declared, list) else []:
        try:
            requirement = Requirement(str(raw))
        except InvalidRequirement:
            continue  # validation reports it; the wheel's own metadata is what gets installed
        if requirement.url:
            continue
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        wanted.append(f"{requirement.name}{extras}>={PRERELEASE_FLOOR}{marker}")
    return wanted


def canary_python(matrix: Sequence[str]) -> Tuple[Optional[str], str]:
    """(the newest Python of the run with an interpreter, why none) — the matrix is sorted oldest first."""
    for version in reversed(list(matrix)):
        if find_interpreter(version).interpreter is not None:
            return version, ""
    return None, f"no interpreter found for any of Python {', '.join(matrix)}"


@dataclass
class DevModeVenv(Venv):
    """The canary venv as its stages see it: `python` is a launcher that starts the venv's interpreter
    with `-X dev`; installs (pytest for the course tests) still go to the real interpreter."""
    launcher: Optional[Path] = None

    @property
    def python(self) -> Path:
        return self.launcher or Venv(self.root).python

    def install(self, *args: Any, **kwargs: Any) -> Completed:
        return Venv(self.root).install(*args, **kwargs)

    def installed(self, installer: str = "pip") -> Dict[str, str]:
        return Venv(self.root).installed(installer)


def dev_mode_launcher(venv: Venv) -> Path:
    """A script beside the venv's python that runs it with `-X dev` and the arguments it was given."""
    real = venv.python
    if os.name == "nt":
        launcher = real.with_name("tito-python-dev.cmd")
        launcher.write_text(f'@"{real}" -X dev %*\r\n', encoding="utf-8")
    else:
        launcher = real.with_name("tito-python-dev")
        launcher.write_text(f'#!/bin/sh\nexec "{real}" -X dev "$@"\n', encoding="utf-8")
        launcher.chmod(0o755)
    return launcher


def install_hook(site_packages: Path, package_dir: Path, record: Path) -> None:
    """runner/warnhook.py into the venv as a module, a `.pth` line that installs it at every start-up,
    and the JSON that names the package's folder and the record file."""
    shutil.copyfile(warnhook.__file__, site_packages / f"{HOOK_MODULE}.py")
    (site_packages / warnhook.CONFIG).write_text(
        json.dumps({"package_dirs": [str(package_dir)], "record": str(record)}), encoding="utf-8")
    (site_packages / f"{HOOK_MODULE}.pth").write_text(f"import {HOOK_MODULE}; {HOOK_MODULE}.install()\n",
                                                       encoding="utf-8")


def seen_in(record: Dict[str, object], home: Path) -> str:
    """Which stage of the canary a record comes from, from the process's folder, test and argv."""
    cwd = Path(str(record.get("cwd") or ""))
    test = str(record.get("test") or "")
    if test:
        return "course test " + test.rsplit(" (", 1)[0]
    if cwd == home / COURSE_TESTS:
        return "course tests (collection)"
    if cwd.parent == home and cwd.name.startswith("scenario-"):
        return "scenario " + cwd.name[len("scenario-"):]
    argv = record.get("argv") or []
    if isinstance(argv, list) and len(argv) > 1 and argv[0] == "-c":
        return f"import {argv[1]}"
    return cwd.name or "?"


def read_findings(record_file: Path, home: Path, site_packages: Optional[str]) -> List[CanaryFinding]:
    """The hook's records, one finding per (place, category, message), each mapped to the student's
    source line through the export markers (the installed files must still exist)."""
    try:
        lines = record_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found: Dict[Tuple[str, Optional[int], str, str], CanaryFinding] = {}
    for raw in lines:
        try:
            record = json.loads(raw)
            installed, line = Path(str(record["file"])), int(record["line"])
            category, message = str(record["category"]), str(record["message"])
        except (ValueError, KeyError, TypeError):
            continue  # a record cut short by a killed child
        mapped = map_line(installed, line)
        if mapped is not None:
            path, source_line, function = mapped
            module = module_of_source(path) or ""
        else:  # a line without an export marker above it (a hand-written __init__): the installed file
            path, source_line, function, module = _package_relative(installed, site_packages), line, "", ""
        how = str(record.get("how") or "attributed")
        raised = f"{_package_relative(Path(str(record.get('raised_file'))), site_packages)}:" \
                 f"{record.get('raised_line')}" if how != "attributed" else ""
        key = (path, source_line, category, message)
        finding = found.setdefault(key, CanaryFinding(category, message, path, source_line, module, function,
                                                      how, raised))
        where = seen_in(record, home)
        if where not in finding.seen_in:
            finding.seen_in.append(where)
    return sorted(found.values(), key=lambda f: (f.path, f.line or 0, f.category))


def _package_relative(path: Path, site_packages: Optional[str]) -> str:
    if site_packages:
        try:
            return str(path.relative_to(site_packages))
        except ValueError:
            pass
    return str(path)


class CanaryTasks(PythonTasks):
    """A Python leg with the canary's install (no lock, newest pre-releases, the warnings hook, `-X dev`);
    its result stays out of `result.pythons` (the verdict) and becomes `result.canary`."""
    scope_prefix = "canary-"

    def __init__(self, run: RunContext, course: Course, built: Built, scenarios: List[Scenario],
                 history: Dict[Tuple[str, str], float], report: CanaryReport, result: VerifyResult) -> None:
        super().__init__(run, course, built, scenarios, history)
        self.report = report
        self.result = result
        self.began = 0.0

    def _venv(self, state: PythonRun) -> None:
        self.began = time.monotonic()
        super()._venv(state)
        if state.result.missing is not None:
            self.report.missing = state.result.missing

    def _install(self, state: PythonRun) -> StageResult:
        assert state.venv is not None and self.built.artifacts is not None
        used, why = choose_installer(self.options.installer)
        wheel = self.built.artifacts.wheel
        install = state.venv.install([str(wheel), *prerelease_requirements(self.course)], installer=used)
        stage = StageResult("install", PASSED if install.ok else FAILED, round(install.seconds, 2))
        stage.figures = {"installer": used + (f" ({why})" if why else ""), "lock": "none (canary)"}
        if not install.ok:
            stage.detail = f"{used} could not install the wheel with the newest dependencies: " + install_failure(
                install.stdout + "\n" + install.stderr, state.result.version)
            stage.log = install.tail(30)
            state.absent = "the wheel did not install"
            return stage
        info = state.venv.describe()
        python = state.result
        python.numpy_version = info.get("numpy_version")
        python.site_packages = info.get("site_packages")
        python.tinytorch_file = info.get("tinytorch_file")
        if not python.site_packages or not python.tinytorch_file:
            stage.status, stage.detail = FAILED, f"the installed {self.course.package} was not found in the venv"
            state.absent = stage.detail
            return stage
        install_hook(Path(python.site_packages), Path(python.tinytorch_file).parent, state.home / RECORD)
        state.venv = DevModeVenv(state.venv.root, state.venv.made_by, launcher=dev_mode_launcher(state.venv))
        stage.detail = f"{wheel.name} + numpy {python.numpy_version} (newest, pre-releases allowed, no lock; -X dev)"
        return stage

    def _cleanup(self, state: PythonRun) -> None:
        """The findings are read while the installed files (to map lines through) still exist."""
        try:
            python = state.result
            self.report.full_version = python.full_version or ""
            self.report.numpy_version = python.numpy_version or ""
            self.report.findings = read_findings(state.home / RECORD, state.home, python.site_packages)
            # only what breaks here and not on the matrix's leg of this Python (that one is reported already),
            # and not by a finding's own error (the finding says it, with where it was seen)
            said = {f"{f.category}: {f.message[:80]}" for f in self.report.findings}  # test details cut messages
            normal = next((p for p in self.result.pythons if p.version == python.version), None)
            known = {s.name for s in normal.stages if s.status == FAILED} if normal is not None else set()
            self.report.failed_stages = [f"{s.name}: {s.detail}" for s in python.stages
                                         if s.status == FAILED and s.name not in known
                                         and not any(m in s.detail for m in said)]
            self.report.seconds = round(time.monotonic() - self.began, 2)
            if self.report.mode == "block":
                stage = blocking_stage(self.report)
                self.run.progress("course", stage)
                self.result.stages.append(stage)
        finally:
            if state.venv is not None:
                shutil.rmtree(state.venv.root, ignore_errors=True)


def blocking_stage(report: CanaryReport) -> StageResult:
    """`--canary=block`: the canary as a course stage, failed on a finding or a failed canary stage."""
    stage = StageResult(STAGE, PASSED if report.clean else FAILED, report.seconds)
    if report.clean:
        stage.detail = f"Python {report.python}, numpy {report.numpy_version}: no deprecation from the package"
        return stage
    if report.findings:
        first = report.findings[0]
        stage.detail = f"{len(report.findings)} deprecation(s) on Python {report.python} / numpy " \
                       f"{report.numpy_version}, first: {first.path}:{first.line}: {first.category}: {first.message}"
        if first.module:
            stage.attribution = Attribution(first.module, first.path, first.line, first.function, how="traceback")
        stage.fix = "replace the deprecated call before the next Python or NumPy removes it"
    else:
        stage.detail = f"on Python {report.python} / numpy {report.numpy_version}: " + "; ".join(report.failed_stages)
    return stage


def canary_tasks(run: RunContext, course: Course, built: Built, scenarios: List[Scenario],
                 history: Dict[Tuple[str, str], float], stage_names: List[str], matrix: Sequence[str],
                 result: VerifyResult, mode: str) -> List[Task]:
    """The canary leg's tasks (none when no Python of the run has an interpreter: said in the report)."""
    version, why = canary_python(matrix)
    result.canary = report = CanaryReport(mode=mode, python=version or "", missing=why)
    if version is None:
        if mode == "block":
            result.stages.append(StageResult(STAGE, FAILED, detail=f"the canary did not run: {why}"))
        return []
    leg = CanaryTasks(run, course, built, scenarios, history, report, result)
    tasks = leg.tasks(PythonResult(version), stage_names)
    # the canary's findings are read after the matrix leg of the same Python ended (compared with it)
    matrix_leg = f"{version}/clean-up"
    tasks[-1] = replace(tasks[-1], after=tasks[-1].after + (matrix_leg,))
    return tasks
