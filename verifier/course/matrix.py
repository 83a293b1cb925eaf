"""The Python matrix of a course: one source of truth, the course's pyproject.toml.

The versions are the `Programming Language :: Python :: 3.X` classifiers that satisfy
`requires-python` (parsed with `packaging`). A course without such classifiers falls back to the
CPython releases out at today's date that satisfy `requires-python` (3.8 up to the newest released
one in `pycalendar.CALENDAR`).

`matrix_plan` also says which Pythons the two lines disagree on — a classifier that requires-python
excludes, or a released Python requires-python allows (from its lower bound up to the newest released
one at today's date) that has no classifier — with the file and line of both, so that nothing is
dropped from the matrix silently (the static check TT235 reports each drop, and the release gate
blocks on it).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import CourseError
from .config import PYPROJECT_LIMIT
from .discovery import Course
from .files import read_course_text_or_none
from .pycalendar import released

CLASSIFIER = re.compile(r"^Programming Language :: Python :: (?P<version>3\.\d+)$")


def known_pythons(on: Optional[dt.date] = None) -> List[str]:
    """The CPython feature releases out by that date (default today), 3.8 on: "3.8" ... "3.15"."""
    return [f"{major}.{minor}" for major, minor in released(on)]

EXCLUDED = "excluded by requires-python"     # a classifier requires-python does not allow
UNLISTED = "no classifier"                   # a Python requires-python allows, with no classifier


def version_key(version: str) -> tuple:
    """"3.12" -> (3, 12); "3.14t" (free-threaded) -> (3, 14, 1), sorted right after "3.14"."""
    if version.endswith("t"):
        return tuple(int(part) for part in version[:-1].split(".")) + (1,)
    return tuple(int(part) for part in version.split("."))


def allows_minor(spec: SpecifierSet, minor: int, major: int = 3) -> bool:
    """Whether some release of Python major.minor satisfies `spec` (`>=3.8.1` allows 3.8; `<3.13` does
    not allow 3.13; `<=3.12` allows 3.12)."""
    return any(spec.contains(f"{major}.{minor}.{patch}", prereleases=True) for patch in (0, 1, 99))


@dataclass(frozen=True)
class Dropped:
    """One Python the classifiers and requires-python disagree on: verify does not run it."""
    version: str
    reason: str                      # EXCLUDED or UNLISTED


@dataclass
class MatrixPlan:
    versions: List[str]              # the matrix verify runs
    listed: List[str]                # the 3.X classifiers, sorted
    requires_python: str
    dropped: List[Dropped] = field(default_factory=list)
    path: Optional[str] = None       # pyproject.toml (course-relative) holding the classifiers
    requires_at: Tuple[Optional[str], Optional[int]] = (None, None)   # (file, line) of requires-python
    classifiers_line: Optional[int] = None                            # line of `classifiers = [`
    classifier_lines: dict = field(default_factory=dict)              # "3.13" -> line of that classifier

    def where_requires(self) -> str:
        path, line = self.requires_at
        return f"{path}:{line}" if path and line else (path or "requires-python")

    def where_classifier(self, version: Optional[str] = None) -> str:
        line = self.classifier_lines.get(version) if version else None
        line = line or self.classifiers_line
        return f"{self.path}:{line}" if self.path and line else (self.path or "classifiers")


def _spec(course: Course) -> SpecifierSet:
    try:
        return SpecifierSet(course.requires_python)
    except InvalidSpecifier:
        raise CourseError(f"requires-python {course.requires_python!r} is not a valid version specifier",
                          course.pyproject_path, hint="write it like \">=3.9\"") from None


def _lines(path: Optional[Path], pattern: str) -> List[Tuple[int, str]]:
    text = read_course_text_or_none(path, path.parent, PYPROJECT_LIMIT) if path is not None else None
    if text is None:
        return []
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]


def _rel(course: Course, path: Path) -> str:
    try:
        return path.relative_to(course.root).as_posix()
    except ValueError:
        return str(path)


def matrix_plan(course: Course, on: Optional[dt.date] = None) -> MatrixPlan:
    """The matrix and what it leaves out, with the lines of pyproject.toml that say so, at that date
    (default today: which Pythons are released decides which classifiers are due)."""
    spec = _spec(course)
    known = known_pythons(on)
    newest = version_key(known[-1])[1]
    classifiers = course.pyproject.get("project", {}).get("classifiers") or []
    matches = [CLASSIFIER.match(str(c).strip()) for c in classifiers]
    listed = sorted({m["version"] for m in matches if m}, key=version_key)
    plan = MatrixPlan([], listed, course.requires_python)
    pyproject = course.pyproject_path
    if pyproject is not None:
        plan.path = _rel(course, pyproject)
        found = _lines(pyproject, r"^\s*requires-python\s*=")
        if found:
            plan.requires_at = (plan.path, found[0][0])
        found = _lines(pyproject, r"^\s*classifiers\s*=")
        plan.classifiers_line = found[0][0] if found else None
        for version in listed:
            found = _lines(pyproject, r"[\"']Programming Language :: Python :: " + re.escape(version) + r"[\"']")
            if found:
                plan.classifier_lines[version] = found[0][0]
    if plan.requires_at == (None, None) and course.requires_python:
        settings = course.root / "settings.ini"
        found = _lines(settings, r"^\s*min_python\s*=")
        if found:
            plan.requires_at = (_rel(course, settings), found[0][0])
    if listed:
        plan.versions = [v for v in listed if allows_minor(spec, version_key(v)[1])]
        plan.dropped = [Dropped(v, EXCLUDED) for v in listed if v not in plan.versions]
        if course.requires_python.strip():
            # every Python requires-python allows, from its lower bound (or, without one, the oldest
            # classifier) up to the newest released, must have its classifier
            allowed = [m for m in range(0, newest + 1) if allows_minor(spec, m)]
            if allowed:
                lowest = allowed[0] if allowed[0] > 0 else version_key(listed[0])[1]
                plan.dropped += [Dropped(f"3.{m}", UNLISTED) for m in allowed
                                 if m >= lowest and f"3.{m}" not in listed]
    else:
        plan.versions = [v for v in known if allows_minor(spec, version_key(v)[1])]
    return plan


def python_matrix(course: Course) -> List[str]:
    plan = matrix_plan(course)
    where = course.pyproject_path
    if plan.listed and not plan.versions:
        raise CourseError(f"requires-python {course.requires_python!r} is satisfied by none of the listed "
                          f"Python classifiers ({', '.join(plan.listed)})", where,
                          hint="fix requires-python or the `Programming Language :: Python :: 3.X` classifiers")
    if not plan.versions:
        raise CourseError(f"requires-python {course.requires_python!r} admits no known Python", where)
    return plan.versions
