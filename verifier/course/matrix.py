"""The Python matrix of a course: one source of truth, the course's pyproject.toml.

The versions are the `Programming Language :: Python :: 3.X` classifiers that satisfy
`requires-python`. A course without classifiers falls back to the known CPython releases
that satisfy `requires-python`.
"""
from __future__ import annotations

import re
from typing import List

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from .discovery import Course
from ..errors import CourseError

CLASSIFIER = re.compile(r"^Programming Language :: Python :: (?P<version>3\.\d+)$")
KNOWN_PYTHONS = [f"3.{minor}" for minor in range(8, 15)]


def version_key(version: str) -> tuple:
    return tuple(int(part) for part in version.split("."))


def python_matrix(course: Course) -> List[str]:
    where = course.pyproject_path
    try:
        spec = SpecifierSet(course.requires_python)
    except InvalidSpecifier:
        raise CourseError(f"requires-python {course.requires_python!r} is not a valid version specifier", where,
                          hint="write it like \">=3.9\"") from None
    classifiers = course.pyproject.get("project", {}).get("classifiers") or []
    matches = [CLASSIFIER.match(str(c)) for c in classifiers]
    listed = sorted({m["version"] for m in matches if m}, key=version_key)
    if listed:
        versions = [v for v in listed if spec.contains(f"{v}.0", prereleases=True)]
        if not versions:
            raise CourseError(f"requires-python {course.requires_python!r} is satisfied by none of the listed "
                              f"Python classifiers ({', '.join(listed)})", where,
                              hint="fix requires-python or the `Programming Language :: Python :: 3.X` classifiers")
        return versions
    versions = [v for v in KNOWN_PYTHONS if spec.contains(f"{v}.0", prereleases=True)]
    if not versions:
        raise CourseError(f"requires-python {course.requires_python!r} admits no known Python", where)
    return versions
