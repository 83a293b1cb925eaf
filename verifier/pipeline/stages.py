"""The course-wide stages of a verify run — validate, export, api, build — each a function from
its inputs to a timed StageResult (and what the later stages need), so the run itself only orders
them. `timed` is the one place a stage's duration is measured."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from ..course.discovery import Course
from ..errors import VerifierError
from ..findingmodel import Finding
from ..package.api import RELEASE_NOTES, SNAPSHOT, compare, load_snapshot, package_surface, unacknowledged
from ..package.build import (
    Artifacts,
    build_beside_direct_wheel,
    build_wheel_only,
    check_build,
    keep_artifacts,
    stage_course,
)
from ..package.export import ExportPlan, plan_export
from ..package.locks import constraints_for
from ..results import FAILED, NOT_RUN, PASSED, Attribution, PythonResult, StageResult
from ..runner.attribution import attribute_api, module_of_source
from ..runner.depvenvs import dependency_venv
from ..runner.envs import Venv, choose_installer, create_venv, install_failure
from ..runner.interpreters import Interpreter


def not_run(name: str, reason: str) -> StageResult:
    return StageResult(name, NOT_RUN, detail=f"not run: {reason}")


@contextmanager
def timed(stage: StageResult) -> Iterator[StageResult]:
    """`with timed(StageResult("build")) as stage:` — the stage's seconds, whatever happens inside."""
    began = time.monotonic()
    try:
        yield stage
    finally:
        stage.seconds = round(time.monotonic() - began, 2)


def export_stage(course: Course, stage_dir: Path, validation_ok: bool) -> Tuple[StageResult, Optional[ExportPlan]]:
    """Export the course into `stage_dir` (outside the course tree). A module the exporter cannot
    export fails the stage and blocks the release, but the others are staged, so the rest of the
    course is still built and tested; the plan is None only when nothing could be staged."""
    plan: Optional[ExportPlan] = None
    with timed(StageResult("export")) as export:
        try:
            plan = plan_export(course)
            stage_course(course, plan, stage_dir, keep_going=True)
            export.status = PASSED
            export.detail = f"{len(plan.targets)} module files from {len(course.modules)} modules"
            problems = list(plan.problems)
            if problems:
                export.status = FAILED
                export.detail = f"{len(problems)} modules not exported ({export.detail}): " + \
                    "; ".join(str(p) for p in problems[:3]) + (" …" if len(problems) > 3 else "")
                export.figures = {"not_exported": {p.module: str(p) for p in problems}}
                first = problems[0]
                export.attribution = Attribution(first.module, str(first.path or first.module), first.line,
                                                 how="export")
        except VerifierError as exc:
            plan = None
            export.status, export.detail = FAILED, str(exc)
            module = module_of_source(str(exc.path)) if exc.path else None
            if module:
                export.attribution = Attribution(module, str(exc.path), exc.line, how="export")
        except Exception as exc:  # noqa: BLE001 - a tree validation rejected may break the exporter
            if validation_ok:
                raise
            plan = None
            export.status = FAILED
            export.detail = f"the exporter could not read this tree ({type(exc).__name__}: {exc}); " \
                            "see the validation errors"
    return export, plan


def venv_stage_for(interpreter: Path, where: Path, installer: str = "pip",
                   version: str = "") -> Tuple[StageResult, Optional[Venv]]:
    """A fresh venv for `interpreter` (Python `version`) at `where`: made by uv when `installer` (the
    one the install stage will use) is uv and uv is found, else by virtualenv; its figures say which."""
    venv: Optional[Venv] = None
    with timed(StageResult("venv")) as stage:
        try:
            venv = create_venv(interpreter, where, installer=installer, version=version)
            stage.status, stage.detail = PASSED, str(interpreter)
            stage.figures["made_by"] = venv.made_by
        except VerifierError as exc:
            stage.status, stage.detail = FAILED, str(exc)
    return stage, venv


def cached_venv_stage(course: Course, interpreter: Interpreter,
                      installer: str = "uv") -> Tuple[StageResult, Optional[Venv]]:
    """The module loop's venv stage: the cached dependency venv of `interpreter` (runner/depvenvs.py), made
    on first use. Never part of a release verdict (VerifyOptions.cached_envs makes the run partial)."""
    venv: Optional[Venv] = None
    with timed(StageResult("venv")) as stage:
        try:
            lock = constraints_for(course, interpreter.version, False)
            venv = dependency_venv(course, interpreter, lock.pins if lock else None, installer, purpose="loop")
            stage.status, stage.detail = PASSED, f"cached: {venv.root}"
            stage.figures["cached_env"] = str(venv.root)
        except VerifierError as exc:
            stage.status, stage.detail = FAILED, str(exc)
    return stage, venv


def install_stage(venv: Venv, artifacts: Artifacts, course: Course, python: PythonResult, latest: bool,
                  installer: str = "pip", cached: bool = False) -> StageResult:
    """The wheel file into the venv (third-party packages from wheels only, pinned by the course's
    lock for this Python unless `latest`); on success `python` learns what was installed where.
    `cached` (the module loop): the venv already holds the dependencies, only the wheel is
    (re)installed, without its dependencies."""
    lock = constraints_for(course, python.version, latest)
    used, why = choose_installer(installer)
    install = venv.install([str(artifacts.wheel)], constraints=lock.pins if lock else None, installer=used,
                           no_deps=cached, reinstall=cached)
    stage = StageResult("install", PASSED if install.ok else FAILED, round(install.seconds, 2))
    stage.figures["installer"] = used + (f" ({why})" if why else "")
    if cached:
        stage.figures["cached_env"] = str(venv.root)
    stage.figures["lock"] = f"{lock.path.name} ({lock.status})" if lock else "none (latest)"
    if lock and lock.status == "stale":
        stage.figures["lock_warning"] = "lock inputs changed: run `nox -s lock`"
    if install.ok:
        info = venv.describe()
        python.numpy_version = info.get("numpy_version")
        python.site_packages = info.get("site_packages")
        python.tinytorch_file = info.get("tinytorch_file")
        stage.detail = f"{artifacts.wheel.name} + numpy {python.numpy_version}"
    else:
        stage.detail = f"{used} could not install the wheel: " + install_failure(
            install.stdout + "\n" + install.stderr, python.version, lock.path.name if lock else None,
            lock.pins if lock else None)
        stage.log = install.tail(30)
    return stage


def build_stage(work: Path, plan: ExportPlan, keep_in: Optional[Path],
                wheel_only: bool = False) -> Tuple[StageResult, Optional[Artifacts]]:
    """sdist, then the wheel from it, and the build checks. A wheel that fails a check is still
    returned: it is installed and tested, so the run shows what else breaks. `wheel_only` (the
    module loop, never a release verdict): one wheel from the staged tree, no sdist, no checks."""
    artifacts: Optional[Artifacts] = None
    with timed(StageResult("build")) as build:
        if wheel_only:
            try:
                artifacts = build_wheel_only(work / "stage", work / "dist")
                build.status, build.detail = PASSED, f"{artifacts.wheel.name} (wheel only: module loop)"
            except VerifierError as exc:
                build.status, build.detail = FAILED, str(exc)
            return build, artifacts
        try:
            artifacts, direct = build_beside_direct_wheel(work / "stage", work / "dist", work)
            if keep_in is not None:
                keep_artifacts(artifacts, keep_in)
            problems = check_build(work / "stage", plan, artifacts, work, direct)
            if problems:
                build.status, build.detail = FAILED, "; ".join(problems)
                build.fix = "fix the course's pyproject.toml / package data so the wheel holds what it declares"
            else:
                build.status, build.detail = PASSED, f"{artifacts.sdist.name}, {artifacts.wheel.name}; checks clean"
        except VerifierError as exc:
            build.status, build.detail = FAILED, str(exc)
            build.log = getattr(exc, "output", "") or build.log
            artifacts = None
    return build, artifacts


def api_stage(course: Course, package_dir: Path, targets: Optional[Dict[str, str]] = None) -> StageResult:
    """The exported API against the committed snapshot of the previous release; a breaking change is
    attributed to the course module exporting the package module that defined the name (`targets`:
    `tinytorch.core.dense` -> `05_dense`)."""
    with timed(StageResult("api", PASSED)) as stage:
        _compare_api(course, package_dir, targets, stage)
    return stage


def _compare_api(course: Course, package_dir: Path, targets: Optional[Dict[str, str]], stage: StageResult) -> None:
    snapshot = load_snapshot(course.root / SNAPSHOT)
    if snapshot is None:
        stage.detail = f"no API snapshot ({SNAPSHOT}) committed in the course: nothing to compare"
    else:
        diff = compare(snapshot, package_surface(package_dir))
        blocking = unacknowledged(diff, course.root / RELEASE_NOTES)
        stage.figures = {"added": diff.added, "breaking": diff.breaking, "unacknowledged": blocking}
        if blocking:
            stage.status = FAILED
            stage.detail = "breaking change: " + "; ".join(blocking)
            stage.fix = f"restore the API, or list each change under the release notes in {RELEASE_NOTES}"
            stage.attribution = attribute_api(course, [diff.origin[c] for c in blocking if c in diff.origin],
                                              targets or {})
        else:
            stage.detail = f"{len(diff.added)} names added, {len(diff.breaking)} acknowledged breaking changes"


def validation_stage(course: Course) -> Tuple[StageResult, List[Finding], Dict[str, List[str]]]:
    """Static validation (AST only, no student code runs); errors block the release, and with
    fail_fast stop the run before exporting."""
    from ..checks.validate import validate

    with timed(StageResult("validate")) as stage:
        report = validate(course)
    errors = [f for f in report.findings if f.is_error]  # a waived finding never blocks
    stage.status = PASSED if not errors else FAILED
    warnings = len(report.findings) - len(errors)
    stage.detail = f"{len(course.modules)} modules, {len(errors)} errors, {warnings} warnings"
    stage.figures = {"modules": len(course.modules), "errors": len(errors), "warnings": warnings}
    if errors:
        first = errors[0]
        where = f"{first.path}:{first.line}" if first.line else str(first.path)
        stage.detail += f"; first: {first.module} ({where}): {first.issue}"
        stage.fix = first.fix
    return stage, list(report.findings), (report.graph.edges() if report.graph is not None else {})
