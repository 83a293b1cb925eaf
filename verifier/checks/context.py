"""The shared, read-only context every check reads: the course parsed ONCE per run (each source
read and each exported cell parsed a single time, with the oldest supported Python's grammar), the
import resolver and dependency graph built from it, the supported Python range, and small helpers
that locate things (module.yaml item lines, config lines). Checks never mutate it; each check
collects its findings in its own `Emitter`, which refuses codes the check does not own.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, overload

from ..course.analysis import CourseAnalysis, ModuleSource, ParsedCell, analyse_course, relative
from ..course.config import PYPROJECT_LIMIT
from ..course.discovery import Course, CourseModule
from ..course.files import read_course_text_or_none
from ..course.pyversions import DEFAULT_OLDEST, Version, newest_python, oldest_python
from ..deps.cellfacts import attach_facts
from ..deps.graph_model import DependencyGraph, build_graph
from ..deps.resolve import Resolver, yaml_item_lines
from .findings import Finding, Location, When

CHECKED_DIRECTIVES = {"default_exp", "export", "exports", "exporti", "hide"}


class CheckContext:
    """The parsed course and what is derived from it, built once per validation run."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self.declared_oldest: Optional[Version] = oldest_python(course.requires_python)
        self.oldest: Version = max(self.declared_oldest or DEFAULT_OLDEST, (3, 7))
        classifiers = course.pyproject.get("project", {}).get("classifiers") or []
        self.newest: Optional[Version] = newest_python(course.requires_python, classifiers)
        running = (sys.version_info[0], sys.version_info[1])
        # exported cells are parsed once, with the oldest supported Python's grammar where it is older
        self.analysis: CourseAnalysis = analyse_course(course, self.oldest if self.oldest < running else None)
        attach_facts(self.analysis)  # an unchanged source's cells are then not parsed (deps/cellfacts.py)
        self.resolver = Resolver(self.analysis)
        self.graph: DependencyGraph = build_graph(self.analysis, self.resolver)
        tool = course.pyproject.get("tool", {}).get("tinytorch", {}) or {}
        # the location is a rule only when the course chose it; the default `core` is just a default
        self.location_explicit: bool = isinstance(tool, dict) and "location" in tool
        self._yaml_lines: Dict[str, Dict[str, int]] = {}

    def dev_sources(self) -> Iterator[Tuple[CourseModule, ModuleSource, List[ParsedCell]]]:
        """Every module with a readable dev source, with its exported cells that parsed — what most
        per-module checks walk."""
        for entry in self.analysis.modules:
            item = entry.dev
            if item is None or item.source is None:
                continue
            yield entry.module, item, [p for p in item.exported if p.has_tree]

    def package_module(self, target: Optional[str]) -> Optional[str]:
        """The dotted package module an export target names (`core.layers` -> `tinytorch.core.layers`)."""
        return f"{self.course.package}.{target}" if target else None

    @overload
    def rel(self, path: Path) -> str: ...
    @overload
    def rel(self, path: None) -> None: ...
    @overload
    def rel(self, path: Optional[Path]) -> Optional[str]: ...

    def rel(self, path: Optional[Path]) -> Optional[str]:
        return relative(path, self.course.root) if path is not None else None

    def ylines(self, module: CourseModule) -> Dict[str, int]:
        """Lines of module.yaml items (`components[2]` -> 15), read once per module (a cache, not state)."""
        if module.key not in self._yaml_lines:
            self._yaml_lines[module.key] = yaml_item_lines(module.meta_path)
        return self._yaml_lines[module.key]

    def suggested_target(self, module: CourseModule) -> str:
        """The export target to suggest for a module, never against the course's own metadata:
        module.yaml exports_to, else the configured location, else the course's most common parent."""
        from ..course.sources import normalise_target
        if module.exports_to:
            return normalise_target(module.exports_to, self.course.package)
        location = self.course.location.strip(".")
        if not self.location_explicit:
            parents: Dict[str, int] = {}
            for target in self.resolver.targets:
                parent = target.rsplit(".", 1)[0] if "." in target else ""
                parents[parent] = parents.get(parent, 0) + 1
            if parents:
                location = max(sorted(parents), key=lambda p: parents[p])
        return f"{location + '.' if location else ''}{module.name}"


class Emitter:
    """Collects one check's findings; a code outside the check's own codes is a programming error."""

    def __init__(self, codes: FrozenSet[str]) -> None:
        self.codes = codes
        self.findings: List[Finding] = []

    def add(self, code: str, module: str, path: Optional[str], line: Optional[int], issue: str, fix: str,
            cell: Optional[int] = None, details: Sequence[str] = (), related: Sequence[str] = (),
            pythons: Sequence[str] = (), when: Optional[When] = None, what: str = "",
            target: Optional[str] = None, scope: Optional[str] = None,
            locations: Sequence[Location] = ()) -> None:
        """One finding; without `locations` its one location is the finding's own place (with `what`,
        `when`, `target` and `scope`), so grouping findings later loses nothing."""
        if code not in self.codes:
            raise ValueError(f"{code} is not a code of this check ({', '.join(sorted(self.codes))})")
        places = tuple(locations) or (Location(module, path, line, cell, what, when, target, scope),)
        self.findings.append(Finding(code, module, path, line, issue, fix, cell, list(details),
                                     tuple(r for r in related if r != module), pythons=tuple(pythons),
                                     locations=places))

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)


def place(item: ModuleSource, line: Optional[int], cell: Optional[int]) -> str:
    """`line 43 of modules/06_spatial/spatial.py` / `line 2 of cell 3 of modules/.../x.ipynb`."""
    if cell is not None:
        return f"line {line} of cell {cell} of {item.rel}" if line else f"cell {cell} of {item.rel}"
    return f"line {line} of {item.rel}" if line else item.rel


def config_place(course: Course, key: str) -> Tuple[Optional[str], Optional[int]]:
    """Where a [project] key (or its settings.ini equivalent) is written: (path, line)."""
    candidates = []
    if course.pyproject_path is not None:
        candidates.append((course.pyproject_path, rf"^\s*{re.escape(key)}\s*="))
    settings = course.root / "settings.ini"
    if settings.is_file():
        alias = {"dependencies": "requirements", "requires-python": "min_python"}.get(key, key)
        candidates.append((settings, rf"^\s*{re.escape(alias)}\s*="))
    for path, pattern in candidates:
        for number, text in enumerate((read_course_text_or_none(path, course.root, PYPROJECT_LIMIT) or "")
                                      .splitlines(), 1):
            if re.match(pattern, text):
                return relative(path, course.root), number
    if candidates:
        return relative(candidates[0][0], course.root), None
    return None, None
