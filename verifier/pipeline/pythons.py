"""The Pythons of a course's matrix on this machine (`tinytorch-verifier python list`): where each interpreter was
found (or where we looked), its full version, its support status from Python's release calendar, and
the NumPy version the course's lock file gives it. And `tinytorch-verifier verify --install-pythons`: the missing
ones installed with `uv python install X.Y`, each failure said in one line with what to do instead.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from ..course import pycalendar
from ..course.discovery import Course
from ..course.lockfile import read_lock
from ..course.matrix import python_matrix
from ..package.locks import lock_state
from ..runner.envs import find_uv, uv_env
from ..runner.interpreters import Interpreter, find_interpreter
from ..runner.processes import run

# what to do when uv cannot install a Python (python.org unreachable, no uv): the other two ways
OTHER_WAYS = "install it another way: `../shared/tools/provision-pythons {version}` (where present) or " \
             "`pyenv install {version}`, then run again"


@dataclass(frozen=True)
class PythonRow:
    version: str                        # "3.14" or "3.14t"
    interpreter: Optional[Interpreter]
    missing: str                        # the one-line "not found; looked in ..." when interpreter is None
    status: str                         # pycalendar: prerelease, bugfix, security, end of life, unknown
    end_of_life: Optional[dt.date]
    lock: str                           # the lock file's state: fresh, stale or missing
    numpy: Optional[str]                # the NumPy version that lock pins, if any

    def found_at(self) -> str:
        return str(self.interpreter.path) if self.interpreter else "NOT FOUND"


@dataclass
class PythonList:
    rows: List[PythonRow]
    on: dt.date

    def render(self) -> str:
        header = ("python", "full", "status", "end of life", "numpy (lock)", "interpreter")
        table = [header] + [(
            row.version, row.interpreter.full_version if row.interpreter else "-",
            row.status, row.end_of_life.isoformat() if row.end_of_life else "-",
            row.numpy or f"- (lock {row.lock})", row.found_at()) for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1]
                 for line in table]
        lines += [f"{row.version}: {row.missing}" for row in self.rows if row.interpreter is None]
        lines.append(f"(support status on {self.on.isoformat()}, from verifier/course/pycalendar.py)")
        return "\n".join(lines) + "\n"


def _locked_numpy(course: Course, version: str) -> tuple:
    state = lock_state(course, version)
    if state.status == "missing":
        return state.status, None
    for pin in read_lock(state.path, course.root).pins:
        if pin.name.lower() == "numpy":
            return state.status, pin.version
    return state.status, None


def list_pythons(course: Course, versions: Optional[Sequence[str]] = None,
                 on: Optional[dt.date] = None) -> PythonList:
    """Each Python of the matrix (or of `versions`): found where, full version, status, locked NumPy."""
    day = on or dt.date.today()
    rows = []
    for version in versions or python_matrix(course):
        lookup = find_interpreter(version)
        release = pycalendar.release(pycalendar.parse(version))
        lock, numpy = _locked_numpy(course, version)
        rows.append(PythonRow(version, lookup.interpreter, "" if lookup.interpreter else lookup.describe_missing(),
                              release.status(day) if release else pycalendar.UNKNOWN,
                              release.end_of_life if release else None, lock, numpy))
    return PythonList(rows, day)


@dataclass(frozen=True)
class InstallOutcome:
    version: str
    installed: bool
    line: str        # one line: what happened, and on failure what to do


def _last_cause(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def install_missing(versions: Sequence[str], timeout: float = 600.0) -> List[InstallOutcome]:
    """`uv python install X.Y` for each version without a working interpreter; never a silent skip:
    each attempt gives one line (installed, or why not and what to do)."""
    outcomes = []
    uv: Optional[Path] = None
    for version in versions:
        if find_interpreter(version).interpreter is not None:
            continue
        uv = uv or find_uv()
        other = OTHER_WAYS.format(version=version)
        if uv is None:
            outcomes.append(InstallOutcome(version, False, f"cannot install Python {version}: uv is not "
                                                           f"installed; {other}"))
            continue
        done = run([uv, "python", "install", version], env=uv_env(), timeout=timeout)
        if done.ok and find_interpreter(version).interpreter is not None:
            outcomes.append(InstallOutcome(version, True, f"installed Python {version} with uv"))
        else:
            why = _last_cause(done.stderr or done.stdout) if not done.ok else "uv succeeded but no interpreter answers"
            outcomes.append(InstallOutcome(version, False, f"could not install Python {version} with "
                                                           f"`uv python install {version}` ({why}); {other}"))
    return outcomes
