"""Build checks: what the wheel holds and says, compared with what the course declares.

- every exported module file is in the wheel; nothing else is (no tests, module sources,
  notebooks, __pycache__ or stray files);
- metadata name, version, requires-python and dependencies equal the course's pyproject:
  `Requires-Dist` is parsed with `packaging` (markers and extras included) and compared with
  `[project].dependencies` plus every `[project.optional-dependencies]` group, which a backend
  writes as `req; extra == "group"` — compared by meaning, not spelling;
- `tinytorch.__version__` in the wheel equals the metadata version;
- the wheel built from the sdist holds the same files as a wheel built from the source tree
  (a difference means the sdist forgot files).

Also the facts later stages need from the wheel: its importable modules and its entry points.
"""
from __future__ import annotations

import ast
import configparser
import hashlib
import re
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..runner.entrypoints import EntryPoint
from .export import ExportPlan


def wheel_digest(wheel: Path) -> str:
    """sha256 over the wheel's file names and contents, in name order. The wheel file's own sha256
    changes with the zip timestamps (the mtimes of a checkout), so two CI jobs building the same
    sources get different files; this digest is equal exactly when they hold the same package."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(archive.read(name)).digest())
    return digest.hexdigest()


def wheel_files(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(n for n in archive.namelist() if not n.endswith("/"))


def wheel_metadata(wheel: Path) -> Dict[str, List[str]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode("utf-8"))
    return {key: message.get_all(key) or [] for key in ("Name", "Version", "Requires-Python", "Requires-Dist",
                                                        "Classifier", "Provides-Extra")}


# Environments a marker is evaluated in, to compare two markers by meaning (quotes, spacing,
# parentheses and the order of `and` differ between what a course writes and what a backend emits).
_PLATFORMS = (("linux", "Linux", "posix"), ("win32", "Windows", "nt"), ("darwin", "Darwin", "posix"))
_PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")


@dataclass(frozen=True)
class RequirementKey:
    """A requirement reduced to what it means: name, extras, specifier, and where it applies."""
    name: str
    extras: FrozenSet[str]
    specifier: str
    url: str
    applies: Tuple[bool, ...]   # the marker evaluated over the environment grid (all True: no marker)
    text: str                   # as written, for messages

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequirementKey) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple:
        return self.name, self.extras, self.specifier, self.url, self.applies


def _grid(extras: Iterable[str]) -> List[Dict[str, str]]:
    return [{"python_version": v, "python_full_version": f"{v}.0", "sys_platform": sp, "platform_system": ps,
             "os_name": os_name, "extra": extra}
            for v in _PYTHONS for sp, ps, os_name in _PLATFORMS for extra in sorted(set(extras)) + [""]]


def requirement_key(text: str, extras: Iterable[str], extra: Optional[str] = None) -> RequirementKey:
    """`text` (a PEP 508 requirement), as a key; `extra` adds `and extra == "<extra>"` to its marker
    (how a backend writes an optional-dependencies group into Requires-Dist)."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return RequirementKey(text.strip(), frozenset(), "", "", (), text.strip())
    marker = req.marker
    if extra is not None:
        clause = f'extra == "{extra}"'
        marker = Marker(f"({marker}) and {clause}" if marker else clause)
    grid = _grid(extras)
    applies = tuple(marker.evaluate(env) for env in grid) if marker else tuple(True for _ in grid)
    return RequirementKey(canonicalize_name(req.name), frozenset(canonicalize_name(e) for e in req.extras),
                          ",".join(sorted(str(s) for s in req.specifier)), req.url or "", applies,
                          text.strip() if extra is None else f"{text.strip()} [extra {extra}]")


def _groups(project: Dict[str, object]) -> Dict[str, List[str]]:
    groups = project.get("optional-dependencies") or {}
    if not isinstance(groups, dict):
        return {}
    return {canonicalize_name(str(g)): [str(r) for r in reqs or []] for g, reqs in groups.items()}


def declared_requirements(project: Dict[str, object], dependencies: List[str],
                          extras: Iterable[str]) -> Set[RequirementKey]:
    """`[project].dependencies` + every optional-dependencies group, as Requires-Dist would carry them."""
    keys = {requirement_key(d, extras) for d in dependencies}
    for group, reqs in _groups(project).items():
        keys |= {requirement_key(r, extras, group) for r in reqs}
    return keys


def shipped_requirements(meta: Dict[str, List[str]], extras: Iterable[str]) -> Set[RequirementKey]:
    return {requirement_key(value, extras) for value in meta.get("Requires-Dist", [])}


def requirement_problems(project: Dict[str, object], dependencies: List[str],
                         meta: Dict[str, List[str]]) -> List[str]:
    """Requires-Dist / Provides-Extra of the wheel against the course's declared dependencies."""
    declared_extras = set(_groups(project))
    shipped_extras = {canonicalize_name(e) for e in meta.get("Provides-Extra", [])}
    extras = sorted(declared_extras | shipped_extras)  # both sides evaluated over the same extras
    declared = declared_requirements(project, dependencies, extras)
    shipped = shipped_requirements(meta, extras)
    problems = []
    if declared_extras != shipped_extras:
        problems.append(f"wheel extras {sorted(shipped_extras)} != pyproject optional-dependencies "
                        f"{sorted(declared_extras)}")
    if declared != shipped:
        problems.append(f"wheel dependencies differ from pyproject: only in the wheel "
                        f"{sorted(k.text for k in shipped - declared)}, only in pyproject "
                        f"{sorted(k.text for k in declared - shipped)}")
    return problems


def _init_version(wheel: Path, package: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        try:
            tree = ast.parse(archive.read(f"{package}/__init__.py").decode("utf-8"))
        except KeyError:
            return ""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__version__"
                                                for t in node.targets):
            if isinstance(node.value, ast.Constant):
                return str(node.value.value)
    return ""


def inspect_wheel(wheel: Path, plan: ExportPlan) -> List[str]:
    """Problems found in the wheel (empty: it is what the course declares)."""
    course = plan.course
    problems: List[str] = []
    files = wheel_files(wheel)
    package = course.package
    expected = {f"{package}/{t.relative_file().as_posix()}" for t in plan.targets.values()} | {f"{package}/__init__.py"}
    missing = sorted(expected - set(files))
    if missing:
        problems.append(f"exported modules missing from the wheel: {', '.join(missing)}")
    for name in files:
        parts = name.split("/")
        if ".dist-info" in parts[0]:
            continue
        if parts[0] != package:
            problems.append(f"stray top-level file in the wheel: {name}")
        elif "__pycache__" in parts or name.endswith((".pyc", ".ipynb")) or "tests" in parts \
                or parts[-1].startswith("test_") or name.endswith("_dev.py"):
            problems.append(f"file that does not belong in the wheel: {name}")
    meta = wheel_metadata(wheel)
    project = course.pyproject.get("project", {})
    if meta["Name"] and project.get("name") and meta["Name"][0].lower().replace("_", "-") != \
            str(project["name"]).lower().replace("_", "-"):
        problems.append(f"wheel name {meta['Name'][0]} != pyproject name {project['name']}")
    version = meta["Version"][0] if meta["Version"] else ""
    if version != course.version:
        problems.append(f"wheel version {version} != pyproject version {course.version}")
    if course.requires_python and (meta["Requires-Python"] or [""])[0].replace(" ", "") != \
            course.requires_python.replace(" ", ""):
        problems.append(f"wheel Requires-Python {meta['Requires-Python']} != pyproject {course.requires_python}")
    problems += requirement_problems(project, course.dependencies, meta)
    init_version = _init_version(wheel, package)
    if init_version != version:
        problems.append(f"{package}.__version__ {init_version!r} != wheel metadata version {version!r}")
    return problems


def compare_wheels(from_sdist: Path, from_source: Path) -> List[str]:
    a = {n for n in wheel_files(from_sdist) if ".dist-info/" not in n}
    b = {n for n in wheel_files(from_source) if ".dist-info/" not in n}
    problems = [f"missing from the sdist (only in the wheel built from source): {n}" for n in sorted(b - a)]
    problems += [f"only in the wheel built from the sdist: {n}" for n in sorted(a - b)]
    return problems


def wheel_modules(wheel: Path, package: str) -> List[str]:
    """Every importable module of `package` in the wheel, dotted (`tinytorch`, `tinytorch.core.tensor`)."""
    names = []
    for name in wheel_files(wheel):
        parts = name.split("/")
        if parts[0] != package or not name.endswith(".py"):
            continue
        parts[-1] = parts[-1][:-3]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if all(p.isidentifier() for p in parts):
            names.append(".".join(parts))
    return sorted(set(names), key=lambda n: (n.count("."), n))


class _CaseSensitiveParser(configparser.ConfigParser):
    """Keeps option names as written: entry point names are case-sensitive."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def wheel_entry_points(wheel: Path, pyproject: Optional[Path] = None) -> List[EntryPoint]:
    """The wheel's `entry_points.txt`, each located in the course's pyproject.toml when declared there."""
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        if name is None:
            return []
        text = archive.read(name).decode("utf-8")
    parser = _CaseSensitiveParser(delimiters=("=",), interpolation=None)
    parser.read_string(text)
    lines = pyproject.read_text(encoding="utf-8").splitlines() if pyproject and pyproject.is_file() else []
    points = []
    for group in parser.sections():
        for key, value in parser.items(group):
            points.append(EntryPoint(group, key, value.strip(), _declared_at(lines, key, pyproject)))
    return points


def _declared_at(lines: List[str], name: str, pyproject: Optional[Path]) -> str:
    pattern = re.compile(rf"""^\s*["']?{re.escape(name)}["']?\s*=""")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            return f"{pyproject.name if pyproject else 'pyproject.toml'}:{number}"
    return ""
