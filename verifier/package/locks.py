"""Locked, reproducible environments: per-Python lock files compiled with pip-tools from the
course's dependencies (`course/locks/py3.12.txt`), used as pip constraints during verify so
that a result can be reproduced. `--latest` verifies without them: what a student installing
today gets.

Each lock records a hash of its inputs (the dependency list and the Python version), so a
stale lock is noticed and only locks whose inputs changed are compiled again.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..course.config import read_lock_text
from ..course.discovery import Course
from ..errors import EnvironmentSetupError
from ..runner.envs import create_venv
from ..runner.interpreters import find_interpreter
from ..runner.processes import run

LOCK_DIR = "locks"
INPUT_HASH = re.compile(r"^# inputs-sha256: (?P<hash>[0-9a-f]{64})$", re.MULTILINE)


def lock_path(course: Course, version: str) -> Path:
    return course.root / LOCK_DIR / f"py{version}.txt"


def inputs_hash(course: Course, version: str) -> str:
    text = "\n".join(sorted(course.dependencies)) + f"\npython {version}\n"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class LockState:
    version: str
    path: Path
    status: str  # "fresh", "stale" or "missing"


def lock_state(course: Course, version: str) -> LockState:
    path = lock_path(course, version)
    if not path.is_file():
        return LockState(version, path, "missing")
    match = INPUT_HASH.search(read_lock_text(path, course.root))
    fresh = match is not None and match["hash"] == inputs_hash(course, version)
    return LockState(version, path, "fresh" if fresh else "stale")


def compile_lock(course: Course, version: str, force: bool = False) -> LockState:
    """pip-compile the course's dependencies under that Python (only when inputs changed)."""
    state = lock_state(course, version)
    if state.status == "fresh" and not force:
        return state
    lookup = find_interpreter(version)
    if lookup.interpreter is None:
        raise EnvironmentSetupError(lookup.describe_missing())
    work = Path(tempfile.mkdtemp(prefix="tito-lock-"))
    try:
        venv = create_venv(lookup.interpreter.path, work / "venv")
        setup = venv.install(["pip-tools"])
        if not setup.ok:
            raise EnvironmentSetupError(f"could not install pip-tools for {version}: {setup.tail(3)}")
        requirements = work / "requirements.in"
        requirements.write_text("\n".join(course.dependencies) + "\n", encoding="utf-8")
        output = work / "lock.txt"
        done = run([venv.python, "-m", "piptools", "compile", "--quiet", "--no-header", "--strip-extras",
                    "--no-annotate", "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
                    "--output-file", str(output), str(requirements)], cwd=work, timeout=600)
        if not done.ok:
            raise EnvironmentSetupError(f"pip-compile failed for Python {version}: {done.tail(5)}")
        body = output.read_text(encoding="utf-8")
        state.path.parent.mkdir(parents=True, exist_ok=True)
        state.path.write_text(
            f"# Lock of the {course.distribution} dependencies for Python {version}, compiled by pip-tools.\n"
            f"# Refresh with `nox -s lock`; verify uses it as constraints (not with --latest).\n"
            f"# inputs-sha256: {inputs_hash(course, version)}\n" + body, encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return LockState(version, state.path, "fresh")


def constraints_for(course: Course, version: str, latest: bool) -> Optional[LockState]:
    """The lock to verify with, or None (latest mode, or no lock committed)."""
    if latest:
        return None
    state = lock_state(course, version)
    return None if state.status == "missing" else state


def pinned(path: Path) -> List[str]:
    return [line.strip() for line in read_lock_text(path, path.parent).splitlines()
            if line.strip() and not line.startswith("#") and "==" in line]
