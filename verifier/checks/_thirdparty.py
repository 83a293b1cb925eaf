"""Third-party imports versus the course's declared dependencies: undeclared (TT220), unused (TT221)
and optional undeclared (TT222) distributions; import names mapped to distribution names.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pkgutil
import site
import sysconfig
from functools import lru_cache
from typing import FrozenSet

from ..course.discovery import Course
from .context import CheckContext, Emitter, config_place
from .findings import COURSE, Finding


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



def check_third_party(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    dists = declared_dists(course)
    used: Set[str] = set()
    reported: Set[Tuple[str, str]] = set()
    for key, refs in ctx.graph.refs.items():
        for ref in refs:
            resolution = ctx.graph.resolutions.get(ref)
            if resolution is None or resolution.kind != "thirdparty" or ref.fallback:
                continue  # a fallback of a package import never runs once the package is installed
            if ref.top in own_top_levels(course):
                continue  # another top-level package of the course's own distribution
            top = ref.top
            providers = [d for d in dists if _provides(d, top)]
            used.update(providers)
            if providers or (key, top) in reported:
                continue
            reported.add((key, top))
            path, line = config_place(course, "dependencies")
            where = f"[project] dependencies in {path}" if path and path.endswith(".toml") else \
                f"requirements in {path}" if path else "the course's dependencies"
            dist = IMPORT_TO_DIST.get(top, (top.replace("_", "-"),))[0]
            others = [r.describe() for r in refs if r.top == top and r is not ref]
            if ref.guarded:
                out.add("TT222", key, ref.path, ref.line,
                         f"exported code optionally imports {top} (`{ref.statement}`), which the course's "
                         f"dependencies do not declare", "declare it as an optional dependency "
                         "([project.optional-dependencies]) or document it", ref.cell, details=others)
            else:
                out.add("TT220", key, ref.path, ref.line,
                         f"exported code imports {top} (`{ref.statement}`), which the course's dependencies do "
                         f"not declare: it works in a developer's environment and fails in a fresh venv",
                         f"add \"{dist}\" to {where}, or remove the import", ref.cell, details=others)
    for dist in dists:
        if dist not in used:
            path, line = config_place(course, "dependencies")
            out.add("TT221", COURSE, path, line,
                     f"the course declares the dependency {dist}, but no exported code imports it",
                     f"remove {dist} from the dependencies in {path}, unless the package needs it at run time "
                     f"without importing it")



CODES = frozenset({'TT220', 'TT221', 'TT222'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_third_party(ctx, out)
    yield from out
