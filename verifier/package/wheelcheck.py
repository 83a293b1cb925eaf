"""Build checks: what the wheel holds and says, compared with what the course declares.

- every exported module file is in the wheel; nothing else is (no tests, module sources,
  notebooks, __pycache__ or stray files);
- metadata name, version, requires-python and dependencies equal the course's pyproject;
- `tinytorch.__version__` in the wheel equals the metadata version;
- the wheel built from the sdist holds the same files as a wheel built from the source tree
  (a difference means the sdist forgot files).
"""
from __future__ import annotations

import ast
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Dict, List, Set

from packaging.requirements import InvalidRequirement, Requirement

from .export import ExportPlan


def wheel_files(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(n for n in archive.namelist() if not n.endswith("/"))


def wheel_metadata(wheel: Path) -> Dict[str, List[str]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode("utf-8"))
    return {key: message.get_all(key) or [] for key in ("Name", "Version", "Requires-Python", "Requires-Dist",
                                                        "Classifier")}


def _requirements(values: List[str]) -> Set[str]:
    out = set()
    for value in values:
        try:
            out.add(str(Requirement(value)))
        except InvalidRequirement:
            out.add(value.strip())
    return out


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
    declared, shipped = _requirements(course.dependencies), _requirements(meta["Requires-Dist"])
    if declared != shipped:
        problems.append(f"wheel dependencies {sorted(shipped)} != pyproject dependencies {sorted(declared)}")
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
