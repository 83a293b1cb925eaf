"""The cached dependency venvs: one venv per (interpreter, the course's dependencies, the lock) under
the verifier's cache folder (verifier/cache.py), holding only the course's dependencies, made once
and then reused. The quick check of `tinytorch-verifier export MODULE` (pipeline/quick.py) imports the freshly
written package with it; the module loop (`tinytorch-verifier package test --module X`, VerifyOptions.cached_envs)
installs only the new wheel into it (--no-deps) instead of making a fresh venv. Never a release
verdict: a reused venv may hold what a fresh one would not.

The cache folder is one the user names (TITO_CACHE, XDG_CACHE_HOME), so a cached venv is removed or
remade only when it carries tinytorch-verifier's mark (verifier/ownership.py MARK, written as soon as the venv is
made): whatever else sits at its path — a folder of the user's, a link, a venv of an earlier tinytorch-verifier
that wrote no mark — is refused with one line (RefusedTarget, exit 2) and left as it is.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Optional, Tuple

from ..cache import cache_dir
from ..course.discovery import Course
from ..course.lockfile import LockFile
from ..course.matrix import python_matrix, version_key
from ..errors import EnvironmentSetupError
from ..ownership import check_replaceable, is_marked, mark
from .envs import Venv, create_venv
from .interpreters import Interpreter, find_interpreter

READY = ".tito-ready"    # written last: the dependencies are installed
LAYOUT = 2               # in the key: venvs made before the mark existed are not looked at again


def pick_interpreter(course: Course, version: Optional[str]) -> Tuple[Interpreter, str]:
    """`version`'s interpreter, else the newest Python of the course's matrix that has one."""
    wanted = [version] if version else sorted(python_matrix(course), key=version_key, reverse=True)
    for candidate in wanted:
        lookup = find_interpreter(candidate)
        if lookup.interpreter is not None:
            return lookup.interpreter, candidate
    raise EnvironmentSetupError(f"no interpreter found for Python {', '.join(wanted)}",
                                hint="install one of them or pass --python X.Y")


def venv_home(course: Course, interpreter: Interpreter, lock: Optional[LockFile], purpose: str) -> Path:
    """Where the cached venv of these dependencies lives (a new folder whenever one of them changes)."""
    key = hashlib.sha256(json.dumps([LAYOUT, str(interpreter.path), interpreter.full_version, course.dependencies,
                                     lock.render() if lock else ""]).encode()).hexdigest()[:12]
    return cache_dir() / f"{purpose}-py{interpreter.version}-{key}"


def dependency_venv(course: Course, interpreter: Interpreter, lock: Optional[LockFile], installer: str = "uv",
                    purpose: str = "quick") -> Venv:
    """A venv of `interpreter` with only the course's dependencies (constrained by `lock`): reused when
    ready, else (re)made. The package itself is never installed here."""
    home = venv_home(course, interpreter, lock, purpose)
    venv = Venv(home)
    if is_marked(home) and (home / READY).is_file() and venv.python.exists():
        return venv
    check_replaceable(home, "remove it, or point TITO_CACHE at another folder")
    shutil.rmtree(home, ignore_errors=True)   # a venv tinytorch-verifier made that never became ready
    home.parent.mkdir(parents=True, exist_ok=True)
    venv = create_venv(interpreter.path, home, installer=installer, version=interpreter.version)
    mark(home)
    if course.dependencies:
        done = venv.install(course.dependencies, constraints=lock, installer=installer)
        if not done.ok:
            shutil.rmtree(home, ignore_errors=True)
            raise EnvironmentSetupError(f"pip could not install the course's dependencies for the {purpose} venv: "
                                        f"{(done.stderr.strip().splitlines() or ['?'])[-1][:200]}", home)
    (home / READY).write_text("ok\n", encoding="utf-8")
    return venv

