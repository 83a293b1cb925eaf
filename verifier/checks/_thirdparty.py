"""Third-party imports versus the course's declared dependencies: undeclared (TT220), unused (TT221)
and optional undeclared (TT222) distributions; import names mapped to distribution names. One finding
per undeclared distribution (one cause, one fix), at its first import, listing every module and import.

A version-guarded backport — `if sys.version_info < (3, 11): import tomli`, or `import tomli` in the
`except ImportError` of a `try: import tomllib` — runs only on Pythons older than the guard: its fix is
the dependency with an environment marker (`tomli; python_version < "3.11"`), a declared dependency of
that name (with or without marker) satisfies it, and when the oldest supported Python is already at the
guard's version the import never runs and is not a finding.
"""
from __future__ import annotations

import pkgutil
import re
import site
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

from ..course.discovery import Course
from ..course.pyversions import show
from ..deps.cellfacts import facts_of
from ..deps.imports import ImportRef
from .context import CheckContext, Emitter, config_place
from .findings import COURSE, Finding, Location, When

# import name -> distribution names that provide it, where they differ
IMPORT_TO_DIST: Dict[str, Tuple[str, ...]] = {
    "yaml": ("pyyaml",), "PIL": ("pillow",), "sklearn": ("scikit-learn",), "skimage": ("scikit-image",),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"), "bs4": ("beautifulsoup4",),
    "attr": ("attrs",), "dateutil": ("python-dateutil",), "dotenv": ("python-dotenv",), "jwt": ("pyjwt",),
    "serial": ("pyserial",), "OpenSSL": ("pyopenssl",), "Crypto": ("pycryptodome",), "git": ("gitpython",),
    "google": ("protobuf",), "tomli_w": ("tomli-w",), "typing_extensions": ("typing-extensions",),
    "mpl_toolkits": ("matplotlib",), "pkg_resources": ("setuptools",), "setuptools": ("setuptools",),
    "IPython": ("ipython",), "ipywidgets": ("ipywidgets",), "wandb": ("wandb",), "torch": ("torch",),
}


def norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def installed_top_levels() -> FrozenSet[str]:
    """Top-level modules installed in site-packages (not the working directory or the repo)."""
    paths: Set[str] = set()
    for key in ("purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(value)
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # some virtualenv flavours
        pass
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user, str):
        paths.add(user)
    existing = [p for p in paths if Path(p).is_dir()]
    return frozenset(m.name for m in pkgutil.iter_modules(existing))


def declared_dists(course: Course) -> List[str]:
    names = []
    for spec in course.dependencies:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(spec))
        if match:
            names.append(match[1])
    return names


def declared_imports(course: Course) -> Set[str]:
    """Import names the declared distributions provide (by name, or by the alias table)."""
    out: Set[str] = set()
    dists = {norm_dist(d) for d in declared_dists(course)}
    for dist in dists:
        out.add(dist.replace("-", "_"))
    for module, providers in IMPORT_TO_DIST.items():
        if any(norm_dist(p) in dists for p in providers):
            out.add(module)
    return out


def _provides(dist: str, module: str) -> bool:
    norm = norm_dist(dist)
    if norm == norm_dist(module) or norm.replace("-", "_") == module.lower():
        return True
    if any(norm_dist(p) == norm for p in IMPORT_TO_DIST.get(module, ())):
        return True
    # a distribution may provide several top-level packages: ask the installed metadata (read, not run)
    return any(norm_dist(d) == norm for d in _installed_providers().get(module, ()))


@lru_cache(maxsize=1)
def _installed_providers() -> Dict[str, Tuple[str, ...]]:
    try:
        from importlib.metadata import packages_distributions  # Python 3.10+
    except ImportError:  # pragma: no cover
        return {}
    try:
        return {k: tuple(v) for k, v in packages_distributions().items()}
    except Exception:  # noqa: BLE001 - broken metadata in site-packages must not break validation
        return {}


def own_top_levels(course: Course) -> Set[str]:
    """Top-level packages the course's own distribution ships besides the package itself
    ([tool.setuptools] packages, packages.find include patterns, settings.ini lib_path)."""
    tops = {course.package}
    setuptools = course.pyproject.get("tool", {}).get("setuptools", {}) or {}
    packages = setuptools.get("packages") if isinstance(setuptools, dict) else None
    names: List[str] = []
    if isinstance(packages, list):
        names += [str(p) for p in packages]
    elif isinstance(packages, dict) and isinstance(packages.get("find"), dict):
        names += [str(p) for p in packages["find"].get("include") or []]
    for name in names:
        top = name.split(".")[0].rstrip("*")
        if top.isidentifier():
            tops.add(top)
    return tops



Version = Tuple[int, int]


def backport_guards(ctx: CheckContext, key: str) -> Dict[Tuple[str, int, Optional[int]], Version]:
    """Imports of a module's exported code that run only below a Python version: (path, line, cell) ->
    the version (`tomli` under `if sys.version_info < (3, 11)` or in the ImportError fallback of
    `import tomllib` -> (3, 11))."""
    found: Dict[Tuple[str, int, Optional[int]], Version] = {}
    entry = next((e for e in ctx.analysis.modules if e.key == key), None)
    item = entry.dev if entry is not None else None
    if item is None or item.source is None:
        return found
    for parsed in item.exported:
        facts = facts_of(parsed, item.package)
        for body_line, version in facts.backports if facts is not None else ():
            line, cell = item.place(parsed.cell, body_line)
            where = (item.rel, line, cell)
            found[where] = min(found.get(where, version), version)
    return found


def check_third_party(ctx: CheckContext, out: Emitter) -> None:
    """One finding per undeclared distribution (one cause, one fix: declare it), at its first import,
    naming every module that imports it; every import stays in the finding's locations."""
    course = ctx.course
    dists = declared_dists(course)
    used: Set[str] = set()
    # (code, import name, guard version) -> the imports that need it, in course order
    groups: Dict[Tuple[str, str, Optional[Version]], List[Tuple[str, ImportRef]]] = {}
    for key, refs in ctx.graph.refs.items():
        guards = backport_guards(ctx, key) if any(not r.level for r in refs) else {}
        for ref in refs:
            resolution = ctx.graph.resolutions.get(ref)
            if resolution is None or resolution.kind != "thirdparty" or ref.fallback:
                continue  # a fallback of a package import never runs once the package is installed
            if ref.top in own_top_levels(course):
                continue  # another top-level package of the course's own distribution
            top = ref.top
            providers = [d for d in dists if _provides(d, top)]
            used.update(providers)
            below = guards.get((ref.path, ref.line, ref.cell))
            if below is not None and ctx.oldest >= below:
                continue  # a backport for Pythons older than any the course supports: never runs
            if providers:
                continue
            code = "TT220" if below is not None or not ref.guarded else "TT222"
            groups.setdefault((code, top, below), []).append((key, ref))
    path, line = config_place(course, "dependencies")
    where = f"[project] dependencies in {path}" if path and path.endswith(".toml") else \
        f"requirements in {path}" if path else "the course's dependencies"
    declare_at = f" (line {line})" if line else ""
    for (code, top, below), found in groups.items():
        key, ref = found[0]
        modules = list(dict.fromkeys(k for k, _ in found))
        locations = [Location(k, r.path, r.line, r.cell, r.statement,
                              None if code == "TT222" else When.CALL if r.in_function else When.IMPORT,
                              ctx.package_module(r.target))
                     for k, r in found]
        details = [f"{r.describe()}" for _, r in found]
        who = f"{len(modules)} modules ({', '.join(modules)})" if len(modules) > 1 else modules[0]
        dist = IMPORT_TO_DIST.get(top, (top.replace("_", "-"),))[0]
        if below is not None:
            marker = f'{dist}; python_version < "{below[0]}.{below[1]}"'
            out.add("TT220", key, ref.path, ref.line,
                    f"exported code of {who} imports {top} (`{ref.statement}`) on Python older than "
                    f"{below[0]}.{below[1]} (a version-guarded backport), which the course's dependencies "
                    f"do not declare: it fails in a fresh venv on Python {show(ctx.oldest)}",
                    f"add `{marker}` to {where}{declare_at} (an environment marker: installed only where the "
                    f"backport is imported)", ref.cell, details=details, related=modules,
                    locations=locations)
        elif code == "TT222":
            out.add("TT222", key, ref.path, ref.line,
                    f"exported code of {who} optionally imports {top} (`{ref.statement}`), which the "
                    f"course's dependencies do not declare", "declare it as an optional dependency "
                    "([project.optional-dependencies]) or document it", ref.cell, details=details,
                    related=modules, locations=locations)
        else:
            out.add("TT220", key, ref.path, ref.line,
                    f"exported code of {who} imports {top} (`{ref.statement}`), which the course's dependencies "
                    f"do not declare: it works in a developer's environment and fails in a fresh venv",
                    f"add \"{dist}\" to {where}{declare_at}, or remove the import", ref.cell,
                    details=details, related=modules, locations=locations)
    for dist in dists:
        if dist not in used:
            out.add("TT221", COURSE, path, line,
                     f"the course declares the dependency {dist}, but no exported code imports it",
                     f"remove {dist} from the dependencies in {path}, unless the package needs it at run time "
                     f"without importing it")



CODES = frozenset({'TT220', 'TT221', 'TT222'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_third_party(ctx, out)
    yield from out
