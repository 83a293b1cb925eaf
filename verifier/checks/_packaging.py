"""The build configuration itself (TT250): a course whose setuptools configuration ships no package
(`[tool.setuptools] packages`, `packages.find` where/include/exclude or `package-dir` that leave the
package out — e.g. a PyPI placeholder `include = ["tinytorch_placeholder*"]`) installs a wheel without
`tinytorch`: every `import tinytorch...` fails.

Read statically from pyproject.toml, the way setuptools reads it (setuptools is never run): only
when the configuration is explicit and setuptools is the build backend; auto-discovery, another
backend or a setup.py that passes `packages=` are not judged (nothing can be proved from the text).
"""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..course.config import PYPROJECT_LIMIT
from ..course.files import read_course_text_or_none
from .context import CheckContext, Emitter
from .findings import COURSE, Finding, Location, When

SETUPTOOLS_BACKENDS = {"setuptools.build_meta", "setuptools.build_meta:__legacy__"}


def _section_line(path: Path, section: str, key: Optional[str]) -> Optional[int]:
    """The line of `key = ...` inside the TOML table `[section]` (or of the table header when `key` is
    None or written inline); None when it is not found."""
    text = read_course_text_or_none(path, path.parent, PYPROJECT_LIMIT)
    if text is None:
        return None
    lines = text.splitlines()
    current, header = "", None
    for number, text in enumerate(lines, 1):
        stripped = text.strip()
        match = re.match(r"^\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", stripped)
        if match:
            current = match[1].replace(" ", "").replace('"', "")
            if current == section:
                header = number
            continue
        if current == section and key is not None and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return header


def _packages_of(ctx: CheckContext) -> List[str]:
    """The dotted packages the export produces: the package and every parent package of an export target."""
    package = ctx.course.package
    names = {package}
    for target in ctx.resolver.targets:
        parts = target.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            names.add(".".join([package] + parts[:i]))
    return sorted(names)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, str(p)) for p in patterns)


def _mapped_dir(root: Path, package_dir: Dict[str, str], package: str) -> Optional[Path]:
    """Where setuptools looks for `package` under a package-dir mapping, None without a mapping for it."""
    if package in package_dir:
        return (root / str(package_dir[package])).resolve()
    if "" in package_dir:
        return (root / str(package_dir[""]) / package).resolve()
    return None


def check_packaging(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    path = course.pyproject_path
    if path is None or not path.is_file():
        return
    backend = (course.pyproject.get("build-system") or {}).get("build-backend")
    if backend is not None and str(backend) not in SETUPTOOLS_BACKENDS:
        return  # another backend: its configuration is not read here
    setup_py = course.root / "setup.py"
    setup_text = read_course_text_or_none(setup_py, setup_py.parent, PYPROJECT_LIMIT) or ""
    if re.search(r"\b(packages|package_dir)\s*=", setup_text):
        return  # setup.py decides
    tool = (course.pyproject.get("tool") or {}).get("setuptools")
    if not isinstance(tool, dict):
        return  # auto-discovery: not judged
    package = course.package
    root = course.root.resolve()
    exported_dir = (root / package).resolve()
    wanted = _packages_of(ctx)
    rel = ctx.rel(path)
    problems: List[Tuple[Optional[int], str]] = []  # (line, why), the first is where the finding sits

    package_dir = tool.get("package-dir") or {}
    if not isinstance(package_dir, dict):
        package_dir = {}
    mapped = _mapped_dir(root, {str(k): str(v) for k, v in package_dir.items()}, package)
    if mapped is not None and mapped != exported_dir:
        line = _section_line(path, "tool.setuptools.package-dir", package if package in package_dir else None) \
            or _section_line(path, "tool.setuptools", "package-dir")
        problems.append((line, f"package-dir makes setuptools take `{package}` from "
                               f"{mapped.relative_to(root).as_posix() if mapped.is_relative_to(root) else mapped}/, "
                               f"not from {package}/ where the export writes it"
                               + ("" if mapped.is_dir() else " (that folder does not exist)")))

    packages = tool.get("packages")
    if isinstance(packages, list):
        listed = [str(p) for p in packages]
        if not any(name in listed for name in wanted):
            problems.insert(0, (_section_line(path, "tool.setuptools", "packages"),
                                f"[tool.setuptools] packages = {listed} lists no {package} package"))
    elif isinstance(packages, dict):
        find = packages.get("find") or packages.get("find-namespace")
        if isinstance(find, dict):
            section = "tool.setuptools.packages.find"
            include = [str(p) for p in (find.get("include") or ["*"])]
            exclude = [str(p) for p in (find.get("exclude") or [])]
            where = [str(w) for w in (find.get("where") or ["."])]
            kept = [n for n in wanted if _matches(n, include) and not _matches(n, exclude)]
            if not kept:
                if not any(_matches(n, include) for n in wanted):
                    line = _section_line(path, section, "include") or _section_line(path, "tool.setuptools", "packages")
                    problems.insert(0, (line, f"packages.find include = {include} matches no {package} package"))
                else:
                    line = _section_line(path, section, "exclude") or _section_line(path, "tool.setuptools", "packages")
                    problems.insert(0, (line, f"packages.find exclude = {exclude} excludes the {package} package"))
            elif mapped is None:
                roots = [(root / w).resolve() for w in where]
                if exported_dir.parent not in roots:
                    line = _section_line(path, section, "where") or _section_line(path, "tool.setuptools", "packages")
                    problems.insert(0, (line, f"packages.find where = {where} does not contain {package}/ "
                                              f"(the export writes it at the course root)"))
    if not problems:
        return
    line, why = problems[0]
    others = [f"{rel}:{ln}: {text}" if ln else f"{rel}: {text}" for ln, text in problems[1:]]
    out.add("TT250", COURSE, rel, line,
            f"the build configuration ships no `{package}` package: {why}; a wheel built from {rel} has no "
            f"{package} and every `import {package}...` fails in a fresh venv",
            f"make setuptools ship the package: e.g. `include = [\"{package}*\"]` under "
            f"[tool.setuptools.packages.find] (where = [\".\"]) and no package-dir mapping for {package}",
            details=others,
            locations=[Location(COURSE, rel, line, None, why, When.IMPORT, name)
                       for name in wanted + sorted(f"{package}.{t}" for t in ctx.resolver.targets)])


CODES = frozenset({"TT250"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_packaging(ctx, out)
    yield from out
