"""The library behind tinytorch-verifier's single-purpose commands — build the course into a folder, install it
into a venv to try by hand, snapshot its public API. The CLI only parses arguments and prints what
these return; every file and venv they make or remove is made or removed here."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..atomic import write_atomic
from ..course.discovery import Course
from ..errors import VerifierError
from ..ownership import DIST_NAMES, claim_folder, mark, prepare_venv_target
from ..package.api import SNAPSHOT, Surface, package_surface, snapshot_text
from ..package.build import build_course, sha256
from ..package.export import plan_export, write_package
from ..runner.envs import Venv, create_venv
from ..runner.interpreters import current_interpreter, find_interpreter
from ..runner.workdirs import make_work_dir, remove_work_dir


@dataclass
class BuiltFile:
    path: Path
    size: int
    sha256: str


@dataclass
class BuildOutcome:
    files: List[BuiltFile]
    problems: List[str] = field(default_factory=list)  # build checks that failed


def build_into(course: Course, out: Path) -> BuildOutcome:
    """sdist and wheel of the course, with the build checks, copied into `out`."""
    work = make_work_dir("tito-build-")  # marked: a later run sweeps it if this one dies
    try:
        artifacts, problems = build_course(course, work / "dist", work)
        claim_folder(out, "--out", DIST_NAMES)
        files = []
        for artifact in (artifacts.sdist, artifacts.wheel):
            copied = Path(shutil.copy2(artifact, out / artifact.name))
            files.append(BuiltFile(copied, copied.stat().st_size, sha256(copied)))
    finally:
        remove_work_dir(work)
    return BuildOutcome(files, list(problems))


@dataclass
class InstallOutcome:
    wheel: str
    venv: Venv
    problems: List[str] = field(default_factory=list)


def install_into(course: Course, venv_dir: Optional[Path], python: Optional[str],
                 force: bool = False) -> InstallOutcome:
    """The built wheel installed into the venv at `venv_dir` (default `.tito/venv-<distribution>`),
    for `python` (default: this interpreter): reused when tinytorch-verifier made it, made fresh when the folder is
    missing or empty; a venv tinytorch-verifier did not make is replaced only with `force`, and a folder of the
    user's files never (ownership.prepare_venv_target)."""
    interpreter = current_interpreter().path
    if python:
        lookup = find_interpreter(python)
        if lookup.interpreter is None:
            raise VerifierError(lookup.describe_missing(), hint="install it or name another --python")
        interpreter = lookup.interpreter.path
    target = venv_dir or Path(".tito") / f"venv-{course.distribution}"
    prepare_venv_target(target, force, replace=False)  # refused before minutes of building, not after
    work = make_work_dir("tito-install-")
    try:
        artifacts, problems = build_course(course, work / "dist", work)
        if prepare_venv_target(target, force) and Venv(target).python.exists():
            venv = Venv(target)
        else:
            if target.is_dir():  # empty (checked just now); virtualenv makes it itself
                target.rmdir()
            target.parent.mkdir(parents=True, exist_ok=True)
            venv = create_venv(interpreter, target)
            mark(target)  # ours from now on: a later install may reuse it
        done = venv.install([str(artifacts.wheel)])
    finally:
        remove_work_dir(work)
    if not done.ok:
        raise VerifierError(f"pip could not install {artifacts.wheel.name} into {venv.root}: "
                            f"{done.tail(1).strip()}",
                            hint="run `tinytorch-verifier package build` to see the build checks")
    return InstallOutcome(artifacts.wheel.name, venv, list(problems))


@dataclass
class ApiSnapshot:
    target: Path
    surface: Surface

    @property
    def names(self) -> int:
        return sum(len(v) for v in self.surface.values())


def write_api_snapshot(course: Course, output: Optional[Path]) -> ApiSnapshot:
    """The public API of the exported package (read statically) written to `output` or the
    course's committed snapshot."""
    work = make_work_dir("tito-api-")
    try:
        write_package(plan_export(course), work)
        surface = package_surface(work / course.package)
    finally:
        remove_work_dir(work)
    target = output or course.root / SNAPSHOT
    write_atomic(target, snapshot_text(surface, course.version))
    return ApiSnapshot(target, surface)
