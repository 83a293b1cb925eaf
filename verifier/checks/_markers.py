"""Environment markers that leave a Python of the matrix without a dependency the package imports (TT223).

`numpy; python_version >= "3.10"` in a course that supports 3.9 installs no NumPy on 3.9, and every module
that imports it at load fails there — without this finding the gate would blame the first module
(01_tensor), not the one line of pyproject.toml to fix. One finding per distribution, at its requirement's
line, naming the Pythons it excludes (typed `pythons`) and every module that imports it at load.

How markers are evaluated (packaging.markers), for each Python of the matrix: `python_version` is the
minor version, `python_full_version` is tried at X.Y.0 and X.Y.99 and a Python counts as excluded only
when the marker is false for both (a marker that drops some patch releases is no finding); every other
marker (`sys_platform`, `platform_system`, `os_name`, `platform_machine` ...) is evaluated for Linux,
macOS and Windows, and the Python counts as excluded only when the marker is false on all three (a
platform-only dependency is deliberate); `extra` is empty (a dependency of [project] dependencies is
installed without extras). Several requirements of one distribution are united: a Python is excluded
only when none of them applies. An import counts when it runs at module load (not inside a function,
not in a `try/except ImportError`, not in a dev-time fallback) on that Python: an import under
`if sys.version_info >= (3, 10):` never runs on 3.9. A distribution no requirement declares is TT220's.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement

from ..course.matrix import matrix_plan
from ..deps.cellfacts import version_test
from ..deps.imports import ImportRef
from ..errors import CourseError
from ._thirdparty import _provides, own_top_levels
from .context import CheckContext, Emitter, config_place
from .findings import COURSE, Finding, Location, When

CODES = frozenset({"TT223"})

Version = Tuple[int, int]

# (sys_platform, platform_system, os_name, platform_machine) of the platforms a student may install on
PLATFORMS = (("linux", "Linux", "posix", "x86_64"), ("darwin", "Darwin", "posix", "arm64"),
             ("win32", "Windows", "nt", "AMD64"))


@dataclass(frozen=True)
class Declared:
    requirement: Requirement
    text: str                 # as written
    line: Optional[int]       # its line in the configuration file


def _environments(version: str) -> Iterator[Dict[str, str]]:
    for platform, system, os_name, machine in PLATFORMS:
        for patch in ("0", "99"):
            full = f"{version}.{patch}"
            yield {"python_version": version, "python_full_version": full, "implementation_version": full,
                   "implementation_name": "cpython", "platform_python_implementation": "CPython",
                   "sys_platform": platform, "platform_system": system, "os_name": os_name,
                   "platform_machine": machine, "platform_release": "", "platform_version": "", "extra": ""}


def applies(marker: Optional[Marker], version: str) -> bool:
    """Whether a requirement with this marker is installed on some platform and patch release of `version`."""
    if marker is None:
        return True
    for environment in _environments(version):
        try:
            if marker.evaluate(environment):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker, ValueError):
            return True  # a marker packaging cannot decide: assume it installs (no false alarm)
    return False


def declared(ctx: CheckContext) -> Tuple[Optional[str], List[Declared]]:
    """(the configuration file, each requirement with its line)."""
    path, start = config_place(ctx.course, "dependencies")
    text = ""
    if path is not None:
        try:
            text = (ctx.course.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
    lines = text.splitlines()
    out: List[Declared] = []
    for spec in ctx.course.dependencies:
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            continue  # a malformed requirement fails the build, with the installer's message
        line = next((n for n, row in enumerate(lines, 1) if f'"{spec}"' in row or f"'{spec}'" in row), None)
        if line is None and start is not None:  # written with escapes (`\"3.10\"`): the name in the list
            named = re.compile(r"""(?:["'\s=]|^)""" + re.escape(requirement.name) + r"(?![A-Za-z0-9_.-])")
            for number in range(start, len(lines) + 1):
                row = lines[number - 1]
                if number > start and (row.startswith("[") or re.match(r"^[A-Za-z_-]+\s*=", row)):
                    break  # past the dependencies list
                if named.search(row.split("=", 1)[1] if number == start and "=" in row else row):
                    line = number
                    break
        out.append(Declared(requirement, spec, line))
    return path, out


def _version_guards(ctx: CheckContext, key: str) -> Dict[Tuple[str, int, Optional[int]], List[Tuple[Version, bool]]]:
    """Imports under `if sys.version_info ...`: (path, line, cell) -> [(bound, runs below it)]."""
    found: Dict[Tuple[str, int, Optional[int]], List[Tuple[Version, bool]]] = {}
    entry = next((e for e in ctx.analysis.modules if e.key == key), None)
    item = entry.dev if entry is not None else None
    if item is None or item.source is None:
        return found

    def walk(statements: Sequence[ast.stmt], guards: List[Tuple[Version, bool]], parsed) -> None:
        for stmt in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)) and guards:
                line, cell = item.place(parsed.cell, stmt.lineno)
                found[(item.rel, line, cell)] = list(guards)
            elif isinstance(stmt, ast.If):
                guard = version_test(stmt.test)
                if guard:
                    walk(stmt.body, guards + [guard], parsed)
                    walk(stmt.orelse, guards + [(guard[0], not guard[1])], parsed)
                else:
                    walk(stmt.body + stmt.orelse, guards, parsed)
            elif isinstance(stmt, (ast.Try, ast.With)):
                walk(stmt.body + getattr(stmt, "orelse", []) + getattr(stmt, "finalbody", []), guards, parsed)

    for parsed in item.exported:
        if parsed.tree is not None and "version_info" in parsed.code:
            walk(parsed.tree.body, [], parsed)
    return found


def _handler_imports(ctx: CheckContext, key: str) -> Set[Tuple[str, int, Optional[int]]]:
    """Imports inside an `except` handler (`try: import tomllib` / `except ImportError: import tomli`):
    they run only where the try failed, which no marker evaluation can tell — never a finding."""
    found: Set[Tuple[str, int, Optional[int]]] = set()
    entry = next((e for e in ctx.analysis.modules if e.key == key), None)
    item = entry.dev if entry is not None else None
    if item is None or item.source is None:
        return found
    for parsed in item.exported:
        if parsed.tree is None or "except" not in parsed.code:
            continue
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.ExceptHandler):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        found.add((item.rel, *item.place(parsed.cell, inner.lineno)))
    return found


def _runs_on(guards: Sequence[Tuple[Version, bool]], version: str) -> bool:
    major, minor = (int(p) for p in version.split(".")[:2])
    return all(((major, minor) < bound) == below for bound, below in guards)


def check_markers(ctx: CheckContext, out: Emitter) -> None:
    try:
        matrix = matrix_plan(ctx.course).versions
    except CourseError:
        return  # an invalid requires-python is reported where it is read
    path, requirements = declared(ctx)
    marked = [d for d in requirements if d.requirement.marker is not None]
    if not matrix or not marked:
        return
    own = own_top_levels(ctx.course)
    # distribution (normalised) -> the Pythons of the matrix no requirement of it installs on
    excluded: Dict[str, List[str]] = {}
    for dist in {re.sub(r"[-_.]+", "-", d.requirement.name).lower() for d in marked}:
        of_dist = [d for d in requirements if re.sub(r"[-_.]+", "-", d.requirement.name).lower() == dist]
        missing = [v for v in matrix if not any(applies(d.requirement.marker, v) for d in of_dist)]
        if missing:
            excluded[dist] = missing
    if not excluded:
        return
    # distribution -> [(module key, import ref, Pythons it breaks on)]
    imports: Dict[str, List[Tuple[str, ImportRef, List[str]]]] = {}
    for key, refs in ctx.graph.refs.items():
        guards, handled = None, None
        for ref in refs:
            resolution = ctx.graph.resolutions.get(ref)
            if resolution is None or resolution.kind != "thirdparty" or ref.fallback or ref.guarded or \
                    ref.in_function or ref.top in own:
                continue
            for dist, pythons in excluded.items():
                if not _provides(dist, ref.top):
                    continue
                if guards is None:
                    guards, handled = _version_guards(ctx, key), _handler_imports(ctx, key)
                if (ref.path, ref.line, ref.cell) in (handled or set()):
                    continue
                guarded_by = guards.get((ref.path, ref.line, ref.cell), [])
                breaks = [v for v in pythons if _runs_on(guarded_by, v)]
                if breaks:
                    imports.setdefault(dist, []).append((key, ref, breaks))
    for dist, found in imports.items():
        first = next(d for d in marked if re.sub(r"[-_.]+", "-", d.requirement.name).lower() == dist)
        pythons = sorted({v for _, _, b in found for v in b}, key=lambda v: tuple(int(p) for p in v.split(".")))
        shown = ", ".join(pythons)
        where = f"{path}:{first.line}" if first.line else str(path)
        targets = list(dict.fromkeys(ctx.package_module(r.target) or k for k, r, _ in found))
        modules = list(dict.fromkeys(k for k, _, _ in found))
        more = f" (and {len(targets) - 1} more modules: {', '.join(targets[1:4])}{' …' if len(targets) > 4 else ''})" \
            if len(targets) > 1 else ""
        locations = [Location(COURSE, path, first.line, None, first.text)] + [
            Location(k, r.path, r.line, r.cell, r.statement, When.IMPORT, ctx.package_module(r.target))
            for k, r, _ in found]
        out.add("TT223", COURSE, path, first.line,
                f"{first.requirement.name} is not installed on Python {shown} (marker `{first.requirement.marker}`, "
                f"{where}) but {targets[0]} imports it at load{more}: every such module fails to import there",
                f"make the marker of `{first.text}` ({where}) admit Python {shown}, or drop Python {shown} from "
                f"the matrix (requires-python and classifiers), or import {first.requirement.name} only where it "
                f"is installed (`try/except ImportError`, `if sys.version_info ...`)",
                details=[f"{k}: {r.describe()}" for k, r, _ in found],
                related=modules, pythons=pythons, locations=locations)


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_markers(ctx, out)
    yield from out
