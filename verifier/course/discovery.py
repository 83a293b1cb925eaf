"""Course discovery: where the modules are, what each declares, and how the package is configured.

Handles every layout upstream TinyTorch has used:
  A. `modules/NN_name/name.py` + `module.yaml`, configured by `pyproject.toml` (this project's course);
  B. `modules/source/NN_name/name_dev.py` (+ paired `.ipynb`), with or without `module.yaml`, nbdev
     `settings.ini`;
  C. `modules/NN_name/name.py` without module.yaml, nbdev `settings.ini`;
  D. `src/NN_name/NN_name.py` (upstream from late 2025: its own tooling converts them to notebooks
     in `modules/`, which is not committed — settings.ini's nbs_path then names a missing folder).
The modules folder is `[tool.tinytorch] modules` when set; else settings.ini's nbs_path when that
folder holds module folders; else the first of modules/source, modules, src that holds module
sources. Configuration comes from `[tool.tinytorch]` in the course's pyproject.toml, failing that
from settings.ini.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import CourseError, VerifierError

MODULE_FOLDER = re.compile(r"^(?P<number>\d+)_(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
SOURCE_SUFFIXES = (".py", ".ipynb")
DEFAULT_LOCATION = "core"


@dataclass
class ModuleYamlProblem:
    message: str
    line: Optional[int]


@dataclass
class CourseModule:
    number: int
    name: str                     # "tensor" for folder 01_tensor
    folder: Path
    source: Optional[Path]        # the dev file; None when the folder has none
    paired: Optional[Path] = None  # the .ipynb twin of a .py dev file, if any
    meta: Optional[Dict[str, Any]] = None
    meta_path: Optional[Path] = None
    meta_problem: Optional[ModuleYamlProblem] = None
    meta_lines: Dict[str, int] = field(default_factory=dict)  # top-level key -> line in module.yaml

    @property
    def key(self) -> str:
        return self.folder.name

    @property
    def prerequisites(self) -> Optional[List[str]]:
        """Declared prerequisite module names, or None when the module declares no graph."""
        if not isinstance(self.meta, dict):
            return None
        deps = self.meta.get("dependencies") or {}
        if not isinstance(deps, dict):
            return None
        value = deps.get("prerequisites")
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    @property
    def exports_to(self) -> Optional[str]:
        """The dotted module module.yaml names (`tinytorch.core.tensor`); upstream also writes it as the
        file path (`tinytorch/competition/submit.py`), which names the same module."""
        value = self.meta.get("exports_to") if isinstance(self.meta, dict) else None
        if not value:
            return None
        text = str(value).strip()
        if "/" in text or text.endswith(".py"):
            text = text[:-3] if text.endswith(".py") else text
            text = text.strip("/").replace("/", ".")
        return text

    @property
    def components(self) -> List[str]:
        value = self.meta.get("components") if isinstance(self.meta, dict) else None
        return [str(v) for v in value] if isinstance(value, list) else []


@dataclass
class Course:
    root: Path
    package: str                 # import name of the library, "tinytorch"
    location: str                # allowed location under the package, "core"
    modules_dir: Path
    modules: List[CourseModule]
    pyproject_path: Optional[Path]
    pyproject: Dict[str, Any]
    settings: Dict[str, str]
    layout: str                  # "A", "B", "C" or "D" (see the module docstring)
    # What the package's __init__.py is, as the course's own toolchain makes it:
    #   "course"        the course commits a hand-written <package>/__init__.py (upstream does);
    #   "nbdev"         what nbdev generates: `__version__` only (the default);
    #   "star-imports"  every exported module star-imported in course order — an explicit choice,
    #                   `[tool.tinytorch] init = "star-imports"` (the embedded course makes it).
    package_init: str = "nbdev"

    @property
    def distribution(self) -> str:
        return str(self.pyproject.get("project", {}).get("name") or self.settings.get("lib_name") or self.package)

    @property
    def version(self) -> str:
        version = self.pyproject.get("project", {}).get("version") or self.settings.get("version")
        return str(version) if version else "0.0.0"

    @property
    def requires_python(self) -> str:
        value = self.pyproject.get("project", {}).get("requires-python") or self.settings.get("min_python")
        if value and re.match(r"^\d", str(value)):
            value = f">={value}"
        return str(value or "")

    @property
    def dependencies(self) -> List[str]:
        deps = self.pyproject.get("project", {}).get("dependencies")
        if deps is None and self.settings.get("requirements"):
            return self.settings["requirements"].split()
        return [str(d) for d in deps or []]

    def module(self, ref: str) -> CourseModule:
        """Find a module by folder (`03_activations`), name (`activations`) or number (`3`)."""
        for module in self.modules:
            if ref in (module.key, module.name) or (ref.isdigit() and int(ref) == module.number):
                return module
        known = ", ".join(m.key for m in self.modules) or "none"
        raise CourseError(f"no module named {ref!r} in {self.modules_dir}", hint=f"known modules: {known}")


def read_pyproject(path: Path) -> Dict[str, Any]:
    """pyproject.toml read safely and checked against its schema (see config.py); raises CourseError."""
    from .config import load_pyproject
    return load_pyproject(path, path.parent)


def read_settings(path: Path) -> Dict[str, str]:
    """settings.ini read safely, its paths and min_python checked (see config.py); raises CourseError."""
    from .config import load_settings
    return load_settings(path, path.parent)


def read_module_yaml(path: Path) -> tuple:
    """Return (mapping or None, problem or None, key lines). Never raises: a bad file is a finding.
    Read safely, with YAML alias/depth limits; `files.dev_file` must stay inside the modules folder."""
    from .config import load_module_yaml
    loaded = load_module_yaml(path, path.parent.parent)
    problem = ModuleYamlProblem(*loaded.problem) if loaded.problem else None
    return loaded.data, problem, loaded.lines


def _find_dev_file(folder: Path, name: str, meta: Optional[Dict[str, Any]]) -> Optional[Path]:
    files = meta.get("files") if isinstance(meta, dict) else None
    if isinstance(files, dict) and files.get("dev_file"):
        declared = folder / str(files["dev_file"])
        if declared.exists():
            return declared
    for stem in (name, f"{name}_dev", folder.name):
        for suffix in SOURCE_SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.exists():
                return candidate
    return None


def _discover_modules(modules_dir: Path) -> List[CourseModule]:
    modules: List[CourseModule] = []
    for folder in sorted(p for p in modules_dir.iterdir() if p.is_dir()):
        match = MODULE_FOLDER.match(folder.name)
        if not match:
            continue
        meta, problem, lines = None, None, {}
        meta_path: Optional[Path] = None
        candidate = folder / "module.yaml"
        if candidate.exists():
            meta_path = candidate
            meta, problem, lines = read_module_yaml(candidate)
        name = match["name"]
        source = _find_dev_file(folder, name, meta)
        paired = None
        if source is not None and source.suffix == ".py" and source.with_suffix(".ipynb").is_file():
            paired = source.with_suffix(".ipynb")
        modules.append(CourseModule(int(match["number"]), name, folder, source, paired, meta, meta_path,
                                    problem, lines))
    modules.sort(key=lambda m: (m.number, m.name))
    return modules


MODULES_FOLDER_CANDIDATES = ("modules/source", "modules", "src")


def _holds_module_sources(folder: Path) -> bool:
    """A folder of modules: at least one NN_name folder with a source file (or module.yaml) in it."""
    if not folder.is_dir():
        return False
    for child in folder.iterdir():
        match = MODULE_FOLDER.match(child.name)
        if match and child.is_dir() and (_find_dev_file(child, match["name"], None) is not None
                                         or (child / "module.yaml").is_file()):
            return True
    return False


def _find_modules_folder(root: Path, nbs_path: Optional[str]) -> str:
    """settings.ini's nbs_path when it holds the modules, else where the module sources really are."""
    if nbs_path and _holds_module_sources(root / nbs_path):
        return nbs_path
    for candidate in MODULES_FOLDER_CANDIDATES:
        if _holds_module_sources(root / candidate):
            return candidate
    # nothing found: name the configured folder (or the conventional one) in the error
    return nbs_path or ("modules/source" if (root / "modules" / "source").is_dir() else "modules")


# the course of this repository's checkout; absent from an installed wheel (no course beside the code)
EMBEDDED_COURSE = Path(__file__).resolve().parents[2] / "course"


def default_course() -> Path:
    """The course to work on when none is named: $TITO_COURSE, the current directory if it is a
    course, else the course embedded in this repository."""
    if os.environ.get("TITO_COURSE"):
        return Path(os.environ["TITO_COURSE"])
    cwd = Path.cwd()
    has_modules = (cwd / "modules").is_dir() or (cwd / "src").is_dir()  # src/: upstream's layout D
    if has_modules and ((cwd / "pyproject.toml").is_file() or (cwd / "settings.ini").is_file()):
        return cwd
    if EMBEDDED_COURSE.is_dir():
        return EMBEDDED_COURSE
    raise VerifierError("no course found: run tinytorch-verifier inside a TinyTorch checkout or pass --course PATH")


def load_course(root: Path) -> Course:
    """Read a course tree. Raises CourseError for anything that makes the course unusable."""
    root = Path(root).resolve()
    try:
        return _load_course(root)
    except PermissionError as exc:
        # a folder of the tree without read/search permission: Path.exists()/is_dir()/iterdir()
        # raise (only "not found" is swallowed by pathlib), so the walk names the folder here
        where = Path(exc.filename) if exc.filename else root
        raise CourseError("cannot be read: permission denied", where,
                          hint="make it readable for you (chmod u+rx for a folder, u+r for a file)") from None


def _load_course(root: Path) -> Course:
    if not root.is_dir():
        raise CourseError("no course at this path (not a directory)", root,
                          hint="pass the path of a TinyTorch checkout with --course")
    os.scandir(root).close()  # a root that can be searched but not listed: refused here, not in a later stage
    pyproject_path = root / "pyproject.toml"
    pyproject = read_pyproject(pyproject_path) if pyproject_path.exists() else {}
    settings_path = root / "settings.ini"
    settings = read_settings(settings_path) if settings_path.exists() else {}
    if not pyproject and not settings:
        raise CourseError("no course here: neither pyproject.toml nor settings.ini", root,
                          hint="pass the path of a TinyTorch checkout with --course")
    tool = pyproject.get("tool", {}).get("tinytorch", {}) or {}
    package = str(tool.get("package") or settings.get("lib_path") or "tinytorch").strip("/")
    location = str(tool.get("location", DEFAULT_LOCATION))
    modules_rel = tool.get("modules") or _find_modules_folder(root, settings.get("nbs_path"))
    modules_dir = root / str(modules_rel)
    if not modules_dir.is_dir():
        raise CourseError(f"no modules folder {modules_rel!r}", root,
                          hint="create it or set [tool.tinytorch] modules = \"...\" in pyproject.toml")
    modules = _discover_modules(modules_dir)
    if not modules:
        raise CourseError("no modules found (expected folders named NN_name)", modules_dir,
                          hint="add module folders such as 01_tensor/ with a tensor.py source")
    with_yaml = any(m.meta_path for m in modules)
    if modules_dir.name == "source":
        layout = "B"
    elif modules_dir.name == "src":
        layout = "D"
    else:
        layout = "A" if with_yaml else "C"
    return Course(root, package, location, modules_dir, modules,
                  pyproject_path if pyproject else None, pyproject, settings, layout,
                  _package_init(root, package, tool))


PACKAGE_INIT_CHOICES = ("course", "nbdev", "star-imports")
NBDEV_INIT = re.compile(r"""^\s*__version__\s*=\s*["'][^"'\n]*["']\s*$""")


def _package_init(root: Path, package: str, tool: Dict[str, Any]) -> str:
    """Which __init__ the package ships: an explicit `[tool.tinytorch] init`, else the course's own
    committed file when it has one that was not generated by us, else nbdev's (`__version__` only)."""
    choice = tool.get("init")
    if choice is not None:
        if choice not in PACKAGE_INIT_CHOICES:
            raise CourseError(f"[tool.tinytorch] init = {choice!r} is not one of {', '.join(PACKAGE_INIT_CHOICES)}",
                              root / "pyproject.toml", hint='use init = "star-imports", "nbdev" or "course"')
        return str(choice)
    init = root / package / "__init__.py"
    from .files import read_course_text_or_none
    from .sources import MAX_SOURCE_BYTES
    head = read_course_text_or_none(init, root, MAX_SOURCE_BYTES)
    head = head[:400] if head is not None else None
    # A file our own `tinytorch-verifier export` wrote is not the course's: it says so in its first line; nor is
    # nbdev's own (`__version__ = "..."` and nothing else), which export writes again.
    if head is not None and "Generated by `tito export`" not in head and not NBDEV_INIT.match(head):
        return "course"
    return "nbdev"
