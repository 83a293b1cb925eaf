"""Locked, reproducible environments: per-Python lock files compiled with pip-tools from the
course's dependencies (`course/locks/py3.12.txt`), used as pip constraints during verify so
that a result can be reproduced. `--latest` verifies without them: what a student installing
today gets.

Each lock records a hash of its inputs (the dependency list and the Python version), so a
stale lock is noticed and only locks whose inputs changed are compiled again.

A lock is DATA: it is parsed into pins (course/lockfile.py) and refused when it says anything about
where packages come from; installers get a file the verifier writes from the pins, never the lock.
`check_install_sources` does that for every Python of a run before anything is built or installed,
and also refuses a course dependency or build requirement that names a URL or path.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

from packaging.requirements import InvalidRequirement, Requirement

from ..course.config import read_lock_text
from ..course.discovery import Course
from ..course.lockfile import LockFile, LockFileError, read_lock
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
    pins: Optional[LockFile] = None  # the lock parsed as data (constraints_for); what installers get


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
    """The lock to verify with, parsed as data (raises LockFileError for anything but pins), or None
    (latest mode, or no lock committed)."""
    if latest:
        return None
    state = lock_state(course, version)
    if state.status == "missing":
        return None
    state.pins = read_lock(state.path, course.root)
    return state


def pinned(path: Path, root: Path) -> List[str]:
    """The `name==version` pins of a lock, in file order."""
    return [f"{pin.name}=={pin.version}" for pin in read_lock(path, root).pins]


def check_install_sources(course: Course, versions: Sequence[str], latest: bool) -> None:
    """Refuse, before anything is built or installed, whatever would make an installer download from
    where a course file says: a lock of these Pythons that is not pure pins, a `[project]
    dependencies` or `[build-system] requires` entry that is a URL or path (`pkg @ https://…`)."""
    build = course.pyproject.get("build-system", {})
    requires = build.get("requires") if isinstance(build, dict) else None
    for where, entries in (("the dependency", course.dependencies),
                           ("[build-system] requires", requires if isinstance(requires, list) else [])):
        for entry in entries:
            _refuse_direct_reference(course, where, entry)
    for version in versions:
        constraints_for(course, version, latest)


def _refuse_direct_reference(course: Course, where: str, entry: Any) -> None:
    text = str(entry)
    try:
        url = Requirement(text).url
    except InvalidRequirement:
        return  # not a requirement at all: the course checks report it, pip would refuse it
    if url:
        path = course.pyproject_path or course.root / "pyproject.toml"
        raise LockFileError(f"{where} entry `{text[:120]}` names where to download {text.split('@')[0].strip()} "
                            f"from: refused", path, _line_of(path, text),
                            hint="require it by name and version; name indexes in your pip/uv configuration "
                                 "(pip.conf, PIP_INDEX_URL, UV_INDEX_URL)")


def _line_of(path: Path, text: str) -> Optional[int]:
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if text in line:
                return number
    except OSError:
        pass
    return None
