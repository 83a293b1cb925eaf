"""Staging and building: the exported package plus the course's packaging files are laid out
in a staging directory outside the user's tree, then `build` (PEP 517, isolated build
environment) makes the sdist and, from that sdist, the wheel — once per verify run.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..course.discovery import Course
from ..errors import BuildError
from ..ownership import DIST_NAMES, claim_folder
from ..runner.envs import clean_env, find_uv, uv_env
from ..runner.processes import run
from .export import ExportPlan, write_package
from .wheelcheck import compare_wheels, inspect_wheel

PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "settings.ini", "MANIFEST.in",
                   "README.md", "README.rst", "README.txt", "README", "LICENSE", "LICENSE.txt", "LICENSE.md")


@dataclass
class Artifacts:
    sdist: Path
    wheel: Path

    def listing(self) -> List[Dict[str, object]]:
        files = dict.fromkeys((self.sdist, self.wheel))  # one entry when only a wheel was built (module loop)
        return [{"file": p.name, "bytes": p.stat().st_size, "sha256": sha256(p)} for p in files]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_course(course: Course, plan: ExportPlan, stage: Path, keep_going: bool = False) -> Path:
    """Lay out an exported, buildable copy of the course under `stage` (never in the course tree).
    A package to hand out is built from every module or not at all: a module the plan could not
    export is raised as the ExportError naming it. `keep_going` (verify) stages the modules that
    did export, so the rest of the course is still built and tested — verify's export stage has
    already failed and blocks the release on the missing ones."""
    if not keep_going:
        plan.raise_for_problems()
    stage.mkdir(parents=True, exist_ok=False)
    for name in PACKAGING_FILES:
        source = course.root / name
        if source.is_file():
            shutil.copy2(source, stage / name)
    write_package(plan, stage)
    return stage


def _build(stage: Path, out_dir: Path, flags: List[str], timeout: float) -> None:
    """`python -m build` in an isolated build environment, provisioned by uv when it is present
    (`--installer uv`: the same isolation, the build requirements installed several times faster)."""
    uv = find_uv()
    installer = ["--installer", "uv"] if uv is not None else []
    env = uv_env() if uv is not None else clean_env()  # uv_env: the sources of the user's pip configuration
    if uv is not None:  # build looks for uv beside its Python or on PATH
        env["PATH"] = f"{uv.parent}{os.pathsep}{env.get('PATH', '')}"
    completed = run([sys.executable, "-m", "build", *installer, *flags, "--outdir", str(out_dir), str(stage)],
                    env=env, timeout=timeout)
    if not completed.ok:
        output = completed.tail(40)
        said = completed.stdout + "\n" + completed.stderr
        reason = "timed out" if completed.timed_out else last_meaningful_line(said)
        error = BuildError(f"`python -m build {' '.join(flags)}` failed: {reason}", stage,
                           hint="run `python -m build` in the course folder to see the whole output")
        error.output = output
        raise error


# what `build` says around the backend's own message: progress, advice, the frames of a traceback
_NOISE = re.compile(r"^(\* |TIP |ERROR Backend subprocess exited|Traceback \(most recent call last\)|"
                    r"[\^~\s]*$|-+$|=+$|note: |hint: )")


def last_meaningful_line(output: str) -> str:
    """The backend's last own word in a failed build's output: not a traceback frame (indented), not
    build's progress or advice — for setuptools' pyproject validation, the line naming the field
    ("configuration error: `project.requires-python` must be pep508-versionspec")."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for at in range(len(lines) - 1, -1, -1):
        line = lines[at]
        if line[:1].isspace() or _NOISE.match(line):
            continue
        line = line[len("ERROR "):] if line.startswith("ERROR ") else line
        if line.endswith(":") and at + 1 < len(lines) and lines[at + 1][:1].isspace():
            line += " " + lines[at + 1].strip()  # "Missing dependencies:" names them on the next line
        return line[:300]
    return lines[-1].strip()[:300] if lines else "no output"


def build_distributions(stage: Path, out_dir: Path, timeout: float = 900.0) -> Artifacts:
    """The sdist, then the wheel built from that sdist (what users get from PyPI)."""
    _build(stage, out_dir, [], timeout)
    sdists = sorted(out_dir.glob("*.tar.gz"))
    wheels = sorted(out_dir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise BuildError(f"expected one sdist and one wheel in {out_dir}, found {len(sdists)} and {len(wheels)}")
    return Artifacts(sdists[0], wheels[0])


def build_wheel_only(stage: Path, out_dir: Path, timeout: float = 900.0) -> Artifacts:
    """The module loop's build: only a wheel, straight from the staged tree, no sdist (not a release
    artifact: the run that uses it is never a release verdict). `sdist` repeats the wheel."""
    wheel = build_wheel_from_source(stage, out_dir, timeout)
    return Artifacts(wheel, wheel)


def build_wheel_from_source(stage: Path, out_dir: Path, timeout: float = 900.0) -> Path:
    """A wheel straight from the staged tree, to compare with the one built from the sdist."""
    _build(stage, out_dir, ["--wheel"], timeout)
    return sorted(out_dir.glob("*.whl"))[0]


def build_beside_direct_wheel(stage: Path, out_dir: Path, work: Path,
                              timeout: float = 900.0) -> Tuple[Artifacts, Path]:
    """The distributions (build_distributions) and, at the same time, the wheel straight from the tree
    that check_build compares them with: two independent builds, so the second core does one while
    the first does the other. The direct build works on a copy of the staged tree, because a
    setuptools build writes its egg-info and build/ folders into the tree it builds."""
    direct_stage = work / "stage-direct"
    shutil.copytree(stage, direct_stage)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tito-direct-wheel")
    direct = pool.submit(build_wheel_from_source, direct_stage, work / "dist-from-source", timeout)
    try:
        artifacts = build_distributions(stage, out_dir, timeout)
        return artifacts, direct.result()
    finally:
        pool.shutdown(wait=False)  # on Ctrl-C the run's clean-up ends the child; never wait here


def check_build(stage: Path, plan: ExportPlan, artifacts: Artifacts, work: Path,
                direct: Optional[Path] = None) -> List[str]:
    """Every build check; an empty list means the distributions are what the course declares.
    `direct`: the wheel built straight from the tree, when it was built already."""
    if direct is None:
        direct = build_wheel_from_source(stage, work / "dist-from-source")
    return compare_wheels(artifacts.wheel, direct) + inspect_wheel(artifacts.wheel, plan)


def build_course(course: Course, out_dir: Path, work: Path) -> Tuple[Artifacts, List[str]]:
    """Export, stage and build a course outside its tree; returns the artifacts and build problems."""
    from .export import plan_export

    plan = plan_export(course)
    stage = stage_course(course, plan, work / "stage")
    artifacts = build_distributions(stage, out_dir)
    return artifacts, check_build(stage, plan, artifacts, work)


def keep_artifacts(artifacts: Artifacts, folder: Path) -> List[Path]:
    """Copy the sdist and wheel into `folder`, replacing what an earlier run left there (only in a
    folder tinytorch-verifier made, or one that holds nothing but distributions)."""
    claim_folder(folder, "--reports", DIST_NAMES)
    for old in list(folder.glob("*.whl")) + list(folder.glob("*.tar.gz")):
        old.unlink()
    kept = []
    for artifact in (artifacts.sdist, artifacts.wheel):
        shutil.copy2(artifact, folder / artifact.name)
        kept.append(folder / artifact.name)
    return kept
