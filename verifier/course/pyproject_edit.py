"""Edits of the course's pyproject.toml with tomlkit, so formatting and comments survive:
Python classifiers synced from the last verify, and version bumps."""
from __future__ import annotations

from pathlib import Path
from typing import List

import tomlkit

from ..errors import CourseError
from .config import PYPROJECT_LIMIT
from .files import read_course_text
from .matrix import CLASSIFIER, version_key

PARTS = ("major", "minor", "patch")


def _load(path: Path):
    try:
        # read as every course file is: a regular file, inside its folder, size-capped, UTF-8
        return tomlkit.parse(read_course_text(path, path.parent, PYPROJECT_LIMIT))
    except tomlkit.exceptions.ParseError as exc:
        raise CourseError(f"not valid TOML: {exc}", path, exc.line) from None


def sync_classifiers(path: Path, verified: List[str]) -> List[str]:
    """Make the `Programming Language :: Python :: 3.X` classifiers exactly the verified Pythons."""
    if not verified:
        raise CourseError("the last verify verified no Python: nothing to sync", path,
                          hint="run `nox -s verify` until at least one Python passes")
    document = _load(path)
    project = document.get("project")
    if project is None:
        raise CourseError("no [project] table", path)
    old = list(project.get("classifiers", []))
    kept = [c for c in old if not CLASSIFIER.match(str(c))]
    versions = [f"Programming Language :: Python :: {v}" for v in sorted(set(verified), key=version_key)]
    anchor = next((i for i, c in enumerate(kept) if str(c) == "Programming Language :: Python :: 3"), None)
    new = kept[:anchor + 1] + versions + kept[anchor + 1:] if anchor is not None else versions + kept
    array = tomlkit.array()
    array.multiline(True)
    for value in new:
        array.append(value)
    project["classifiers"] = array
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return versions


def bump_version(path: Path, part: str) -> str:
    document = _load(path)
    project = document.get("project")
    if project is None or "version" not in project:
        raise CourseError("no static [project] version to bump", path)
    numbers = [int(x) for x in str(project["version"]).split(".")[:3]]
    numbers += [0] * (3 - len(numbers))
    index = PARTS.index(part)
    numbers = numbers[:index] + [numbers[index] + 1] + [0] * (2 - index)
    project["version"] = ".".join(map(str, numbers))
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return str(project["version"])
