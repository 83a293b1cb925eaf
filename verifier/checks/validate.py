"""Static package validation: `validate(course, module=None) -> ValidationReport`.

Reads module sources and metadata only — text and `ast`, never importing or executing student
code — and reports findings (see findings.py for the catalogue, docs/validation.md for users):

  exports       one `#| default_exp` per dev file, equal to module.yaml exports_to, a valid
                dotted path under the allowed location that shadows nothing; naming of folders,
                dev files and module.yaml; two sources for one target; one public name from two
                modules; exported cells without a target; misplaced directives; paired .py and
                .ipynb that disagree; module.yaml components the exported cells do not define.
  dependencies  declared (module.yaml prerequisites) versus actual (imports of exported cells);
                cycles; progression (only lower-numbered modules); in-tree coupling (sys.path,
                dev-file imports, reads relative to the working directory or the source tree);
                third-party imports versus the course's declared dependencies; syntax, stdlib
                modules and names newer than the oldest supported Python; names defined only in
                non-exported cells.
  package tree  a committed package whose files import modules that do not exist, or whose
                generated headers name sources that do not exist.

`run_validate` is the library side of `tito package validate`: it returns output text and exit code.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import io
import keyword
import pkgutil
import re
import site
import sys
import sysconfig
import time
import tokenize
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from ..course.analysis import CourseAnalysis, ModuleAnalysis, ModuleSource, ParsedCell, analyse_course, relative
from ..course.discovery import MODULE_FOLDER, SOURCE_SUFFIXES, Course, CourseModule, load_course
from ..errors import VerifierError
from ..package.export import GENERATED_MARK, normalise_target, public_names
from .findings import COURSE, ERROR, WARNING, Finding, count, render_json, render_text
from ..deps.graph import DependencyGraph, Resolver, bound_names, build_graph, error_output, yaml_item_lines
from ..course.pyversions import (DEFAULT_OLDEST, NEW_KEYWORDS, NEW_MODULES, NEW_NAMES, REMOVED_MODULES, SHADOWABLE_STDLIB,
                         Version, is_stdlib, newest_python, oldest_python, show)
from ..course.sources import DIRECTIVE

FORMATS = ("text", "json")
CHECKED_DIRECTIVES = {"default_exp", "export", "exports", "exporti", "hide"}

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


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- the report

@dataclass
class ValidationReport:
    course: Course
    findings: List[Finding]
    modules_checked: List[str]
    notes: List[str] = field(default_factory=list)
    oldest_python: Version = DEFAULT_OLDEST
    elapsed: float = 0.0
    graph: Optional[DependencyGraph] = None

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)

    @property
    def counts(self) -> Dict[str, int]:
        return count(self.findings)

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def summary(self) -> str:
        counts = self.counts
        checked = f"{len(self.modules_checked)} module{'s' if len(self.modules_checked) != 1 else ''} checked"
        verdict = "passed" if self.ok else "failed"
        return (f"Package validation {verdict}: {checked}, {counts[ERROR]} error(s), {counts[WARNING]} warning(s)")

    def render_text(self) -> str:
        return render_text(self.findings, [m.key for m in self.course.modules], self.summary(), self.notes)

    def render_json(self) -> str:
        payload = {"course": str(self.course.root), "layout": self.course.layout, "package": self.course.package,
                   "location": self.course.location, "oldest_python": show(self.oldest_python),
                   "modules_checked": self.modules_checked, "ok": self.ok, "notes": self.notes}
        return render_json(payload, self.findings)


# --------------------------------------------------------------------------- helpers

def _place(item: ModuleSource, line: Optional[int], cell: Optional[int]) -> str:
    """`line 43 of modules/06_spatial/spatial.py` / `line 2 of cell 3 of modules/.../x.ipynb`."""
    if cell is not None:
        return f"line {line} of cell {cell} of {item.rel}" if line else f"cell {cell} of {item.rel}"
    return f"line {line} of {item.rel}" if line else item.rel


def _target_problem(raw: str, course: Course) -> Optional[Tuple[str, str]]:
    """(code, reason) when an export target is not acceptable, else None."""
    value = raw.strip()
    package = course.package
    if not value:
        return "TT104", "is empty"
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        return "TT104", "is an absolute path"
    if "/" in value or "\\" in value:
        return "TT104", "contains a path separator (use dots: core.tensor)"
    if ".." in value or value.startswith(".") or value.endswith("."):
        return "TT104", "has empty or relative (..) parts"
    if value.endswith((".py", ".ipynb")):
        return "TT104", "names a file, not a module (drop the extension)"
    rel = normalise_target(value, package)
    for part in rel.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            return "TT104", f"has `{part}`, which is not a Python identifier"
    if rel == package:
        return "TT104", f"is the {package} package itself"
    location = course.location.strip(".")
    if location and not (rel.startswith(location + ".")):
        where = f"{package}.{location}"
        if rel == location:
            return "TT105", f"is {where} itself, not a module inside it"
        return "TT105", f"is outside {where} (the allowed location)"
    parts = rel.split(".")
    for part in parts:
        if part in SHADOWABLE_STDLIB:
            return "TT106", f"has `{part}`, which shadows the standard-library module {part}"
    last = parts[-1]
    if last in _installed_top_levels() or last in _declared_imports(course):
        return "TT106", f"has `{last}`, which shadows the installed package {last}"
    return None


@lru_cache(maxsize=1)
def _installed_top_levels() -> FrozenSet[str]:
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


def _declared_dists(course: Course) -> List[str]:
    names = []
    for spec in course.dependencies:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(spec))
        if match:
            names.append(match[1])
    return names


def _declared_imports(course: Course) -> Set[str]:
    """Import names the declared distributions provide (by name, or by the alias table)."""
    out: Set[str] = set()
    dists = {_norm_dist(d) for d in _declared_dists(course)}
    for dist in dists:
        out.add(dist.replace("-", "_"))
    for module, providers in IMPORT_TO_DIST.items():
        if any(_norm_dist(p) in dists for p in providers):
            out.add(module)
    return out


def _provides(dist: str, module: str) -> bool:
    norm = _norm_dist(dist)
    if norm == _norm_dist(module) or norm.replace("-", "_") == module.lower():
        return True
    return any(_norm_dist(p) == norm for p in IMPORT_TO_DIST.get(module, ()))


def _config_place(course: Course, key: str) -> Tuple[Optional[str], Optional[int]]:
    """Where a [project] key (or its settings.ini equivalent) is written: (path, line)."""
    candidates = []
    if course.pyproject_path is not None:
        candidates.append((course.pyproject_path, rf"^\s*{re.escape(key)}\s*="))
    settings = course.root / "settings.ini"
    if settings.is_file():
        alias = {"dependencies": "requirements", "requires-python": "min_python"}.get(key, key)
        candidates.append((settings, rf"^\s*{re.escape(alias)}\s*="))
    for path, pattern in candidates:
        try:
            for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.match(pattern, text):
                    return relative(path, course.root), number
        except (OSError, UnicodeDecodeError):
            continue
    if candidates:
        return relative(candidates[0][0], course.root), None
    return None, None


def _name_line(tree: ast.Module, name: str) -> int:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in (name, "_all_"):
                    return node.lineno
    return 1


BUILTIN_NAMES = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__loader__",
                                            "__package__", "__builtins__", "__path__", "__annotations__",
                                            "__dict__", "__module__", "__qualname__", "__class__", "__all__"}


def _locally_bound(nodes: Iterable[ast.AST]) -> Set[str]:
    names: Set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif type(node).__name__ in ("MatchAs", "MatchStar") and getattr(node, "name", None):
            names.add(node.name)
        elif type(node).__name__ == "MatchMapping" and getattr(node, "rest", None):
            names.add(node.rest)
    return names


def _docstring_nodes(nodes: Iterable[ast.AST]) -> Set[int]:
    ids: Set[int] = set()
    for node in nodes:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


NEWER_SYNTAX = (  # for interpreters that cannot parse the syntax at all (e.g. PEP 695 on 3.11)
    (re.compile(r"^[ \t]*match\b[^\n=]*:[ \t]*(#[^\n]*)?\n([ \t]*(#[^\n]*)?\n)*[ \t]+case\b", re.M),
     (3, 10), "a match statement"),
    (re.compile(r"^[ \t]*except[ \t]*\*", re.M), (3, 11), "except* (exception groups)"),
    (re.compile(r"^[ \t]*(async[ \t]+)?def[ \t]+\w+[ \t]*\[", re.M), (3, 12), "a generic function (PEP 695)"),
    (re.compile(r"^[ \t]*class[ \t]+\w+[ \t]*\[", re.M), (3, 12), "a generic class (PEP 695)"),
    (re.compile(r"^[ \t]*type[ \t]+\w+[ \t]*(\[[^\]\n]*\])?[ \t]*=", re.M), (3, 12), "a type statement (PEP 695)"),
    (re.compile(r"^[ \t]*(async[ \t]+)?with[ \t]*\((?:[^()\n]|\([^()\n]*\))*\bas\b(?:[^()\n]|\([^()\n]*\))*\)[ \t]*:",
                re.M), (3, 10), "parenthesised context managers"),
)


def _newer_syntax_by_text(code: str) -> Optional[Tuple[int, Version, str]]:
    for pattern, version, what in NEWER_SYNTAX:
        match = pattern.search(code)
        if match:
            return code[:match.start()].count("\n") + 1, version, what
    return None


def _offsets(code: str) -> List[int]:
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _parenthesised_with(node: ast.AST, code: str, starts: List[int]) -> bool:
    """`with (a() as x, b() as y):` — Python 3.10 syntax that ast's feature_version does not flag."""
    items = node.items  # type: ignore[attr-defined]
    if len(items) < 2 and items[0].optional_vars is None:
        return False
    last = items[-1].optional_vars or items[-1].context_expr
    try:
        begin = starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        first = starts[items[0].context_expr.lineno - 1] + items[0].context_expr.col_offset
        end = starts[last.end_lineno - 1] + last.end_col_offset  # type: ignore[attr-defined]
    except (IndexError, TypeError):
        return False
    head = code[begin:first]
    head = re.sub(r"^async\s+", "", head)
    head = re.sub(r"^with\b", "", head).strip()
    if not head.startswith("("):
        return False
    # the paren after `with` must stay open until after the last item: count the parens in between
    depth = head.count("(") - head.count(")")
    body = code[first:end]
    depth += body.count("(") - body.count(")")
    tail = code[end:].lstrip()
    tail = tail[1:].lstrip() if tail.startswith(",") else tail
    return depth > 0 and tail.startswith(")")


def _is_type_expr(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    if isinstance(node, ast.Name):
        return node.id in {"int", "float", "str", "bool", "bytes", "list", "dict", "tuple", "set", "frozenset",
                           "type", "object", "complex", "bytearray"} \
            or (node.id[:1].isupper() and not node.id.isupper())  # CapWords classes, not CONSTANTS
    if isinstance(node, ast.Subscript):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type_expr(node.left) and _is_type_expr(node.right)
    return False


def _union_nodes(tree: ast.AST) -> List[ast.AST]:
    """`X | Y` unions evaluated at run time: annotations of defs and module/class-level variables,
    isinstance/issubclass arguments, and module-level aliases `Number = int | float`."""
    found: List[ast.AST] = []

    def unions(expr: Optional[ast.AST], typed: bool = True) -> None:
        if expr is None:
            return
        for sub in ast.walk(expr):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr) and (typed or _is_type_expr(sub)):
                found.append(sub)
                return

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                    if arg is not None:
                        unions(arg.annotation)
                unions(child.returns)
                visit(child, True)
            elif isinstance(child, ast.AnnAssign) and not in_function:
                unions(child.annotation)
                visit(child, in_function)
            elif isinstance(child, ast.Assign) and not in_function and isinstance(child.value, ast.BinOp):
                unions(child.value, typed=False)
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name) \
                    and child.func.id in ("isinstance", "issubclass") and len(child.args) == 2:
                unions(child.args[1])
                visit(child, in_function)
            else:
                visit(child, in_function)

    visit(tree, False)
    return found


class _NewStdlibVisitor(ast.NodeVisitor):
    """Uses of stdlib modules, names and keywords that need a newer Python, outside version guards."""

    def __init__(self, aliases: Dict[str, str]) -> None:
        self.aliases = aliases  # local name -> dotted stdlib name (`t` -> `typing`, `dataclass` -> `dataclasses.dataclass`)
        self.found: List[Tuple[ast.AST, str, Version]] = []
        self.guard = 0

    def _guarded_block(self, body: Iterable[ast.AST]) -> None:
        self.guard += 1
        for stmt in body:
            self.visit(stmt)
        self.guard -= 1

    def visit_Try(self, node: ast.Try) -> None:
        catches = False
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            for kind in kinds:
                name = "" if kind is None else kind.id if isinstance(kind, ast.Name) else getattr(kind, "attr", "")
                if kind is None or name in ("ImportError", "ModuleNotFoundError", "AttributeError", "TypeError",
                                            "Exception", "BaseException"):
                    catches = True
        if catches:
            self._guarded_block(node.body)
        else:
            for stmt in node.body:
                self.visit(stmt)
        for other in list(node.handlers) + list(node.orelse) + list(node.finalbody):
            self.visit(other)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        text = ast.dump(node.test)
        if "version_info" in text or "TYPE_CHECKING" in text or "hasattr" in text:
            self._guarded_block(node.body)
            self._guarded_block(node.orelse)
        else:
            self.generic_visit(node)

    def _report(self, node: ast.AST, what: str, version: Version) -> None:
        if not self.guard:
            self.found.append((node, what, version))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in NEW_MODULES:
                self._report(node, f"module {alias.name}", NEW_MODULES[alias.name])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        if node.module in NEW_MODULES:
            self._report(node, f"module {node.module}", NEW_MODULES[node.module])
            return
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if full in NEW_MODULES:
                self._report(node, f"module {full}", NEW_MODULES[full])
            elif (node.module, alias.name) in NEW_NAMES:
                self._report(node, f"{full}", NEW_NAMES[(node.module, alias.name)])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            module = self.aliases[node.value.id]
            if (module, node.attr) in NEW_NAMES:
                self._report(node, f"{module}.{node.attr}", NEW_NAMES[(module, node.attr)])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = None
        if isinstance(func, ast.Name):
            name = self.aliases.get(func.id, func.id if func.id == "zip" else None)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.aliases:
            name = f"{self.aliases[func.value.id]}.{func.attr}"
        if name:
            for kw in node.keywords:
                if kw.arg and (name, kw.arg) in NEW_KEYWORDS:
                    self._report(node, f"{name}({kw.arg}=...)", NEW_KEYWORDS[(name, kw.arg)])
        self.generic_visit(node)


def _stdlib_aliases(cells: Iterable[ParsedCell]) -> Dict[str, str]:
    aliases: Dict[str, str] = {}
    for parsed in cells:
        if "import" not in parsed.code:
            continue
        for node in parsed.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if is_stdlib(alias.name):
                        if alias.asname:
                            aliases[alias.asname] = alias.name
                        elif "." not in alias.name:
                            aliases[alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level and is_stdlib(node.module):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


_NEW_STDLIB_WORDS = {m.split(".")[0] for m in NEW_MODULES} | {m for m, _ in NEW_NAMES} \
    | {c.split(".")[-1] for c, _ in NEW_KEYWORDS} | {c.split(".")[0] for c, _ in NEW_KEYWORDS}


def _new_stdlib_pattern(aliases: Dict[str, str]) -> "re.Pattern[str]":
    """Words whose presence makes a cell worth the (full-tree) newer-stdlib visit."""
    words = set(_NEW_STDLIB_WORDS)
    words |= {a for a, full in aliases.items() if full.split(".")[0] in _NEW_STDLIB_WORDS}
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b")

READ_CALLS = {"load", "loadtxt", "genfromtxt", "fromfile", "read_csv", "read_json", "read_pickle", "read_parquet",
              "read_table", "imread", "listdir", "scandir", "glob", "iglob"}
PATH_READS = {"read_text", "read_bytes", "open", "iterdir", "glob", "rglob"}


def _relative_path_literal(node: Optional[ast.AST]) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value
        if value and not value.startswith(("/", "~", "\\")) and "://" not in value \
                and not re.match(r"^[A-Za-z]:[\\/]", value) and ("/" in value or "\\" in value or
                                                              re.search(r"\.\w{1,5}$", value) or value == "."):
            return value
    return None


# --------------------------------------------------------------------------- the validator

class _Validator:
    def __init__(self, course: Course) -> None:
        self.course = course
        self.findings: List[Finding] = []
        self.notes: List[str] = []
        self.declared_oldest = oldest_python(course.requires_python)
        self.oldest: Version = max(self.declared_oldest or DEFAULT_OLDEST, (3, 7))
        classifiers = course.pyproject.get("project", {}).get("classifiers") or []
        self.newest: Optional[Version] = newest_python(course.requires_python, classifiers)
        running = (sys.version_info[0], sys.version_info[1])
        # exported cells are parsed once, with the oldest supported Python's grammar where it is older
        self.analysis: CourseAnalysis = analyse_course(course, self.oldest if self.oldest < running else None)
        self.resolver = Resolver(self.analysis)
        self.graph = build_graph(self.analysis, self.resolver)
        self.yaml_lines: Dict[str, Dict[str, int]] = {}

    # -- plumbing
    def add(self, code: str, module: str, path: Optional[str], line: Optional[int], issue: str, fix: str,
            cell: Optional[int] = None, details: Sequence[str] = (), related: Sequence[str] = ()) -> None:
        self.findings.append(Finding(code, module, path, line, issue, fix, cell, list(details),
                                     tuple(r for r in related if r != module)))

    def rel(self, path: Optional[Path]) -> Optional[str]:
        return relative(path, self.course.root) if path is not None else None

    def ylines(self, module: CourseModule) -> Dict[str, int]:
        if module.key not in self.yaml_lines:
            self.yaml_lines[module.key] = yaml_item_lines(module.meta_path)
        return self.yaml_lines[module.key]

    def run(self) -> None:
        self.check_config()
        self.check_naming()
        for entry in self.analysis.modules:
            self.check_module_yaml(entry)
            self.check_source(entry)
            self.check_exports(entry)
            self.check_pair(entry)
            self.check_components(entry)
            self.check_code(entry)
        self.check_conflicts()
        self.check_public_names()
        self.check_dependencies()
        self.check_third_party()
        self.check_package_tree()

    # -- configuration
    def check_config(self) -> None:
        if self.declared_oldest is None:
            path, line = _config_place(self.course, "requires-python")
            self.add("TT005", COURSE, path, line,
                     f"the course declares no oldest supported Python (requires-python); assuming "
                     f"{show(DEFAULT_OLDEST)}",
                     f'add `requires-python = ">={show(DEFAULT_OLDEST)}"` to [project] in pyproject.toml')
        if not self.graph.has_declared:
            self.notes.append("no module.yaml declares prerequisites, so there is no declared dependency graph: "
                              "the graph is inferred from the imports of exported code")

    # -- naming
    def check_naming(self) -> None:
        course = self.course
        modules = course.modules
        for folder in sorted(p for p in course.modules_dir.iterdir() if p.is_dir()):
            if folder.name.startswith((".", "_")) or MODULE_FOLDER.match(folder.name):
                continue
            if self._looks_like_module(folder):
                self.add("TT107", folder.name, self.rel(folder), None,
                         f"folder {folder.name} holds a module but is not named NN_name, so it is not part of "
                         f"the course", f"rename it to NN_{_snake(folder.name)} with the next free number")
        for module in modules:
            digits = module.key.split("_", 1)[0]
            if len(digits) != 2:
                self.add("TT107", module.key, self.rel(module.folder), None,
                         f"folder {module.key} has a {len(digits)}-digit number; module folders are NN_name",
                         f"rename the folder to {module.number:02d}_{module.name}")
        seen: Dict[int, CourseModule] = {}
        for module in modules:
            if module.number in seen:
                first = seen[module.number]
                self.add("TT108", module.key, self.rel(module.folder), None,
                         f"{module.key} and {first.key} share the number {module.number:02d}",
                         f"renumber {module.key} so that every module has its own number", related=[first.key])
            else:
                seen[module.number] = module
        numbers = sorted(seen)
        start = 0 if numbers and numbers[0] == 0 else 1
        expected = start
        for number in numbers:
            if number > expected:
                module = seen[number]
                missing = ", ".join(f"{n:02d}" for n in range(expected, min(number, expected + 10)))
                missing += f" … {number - 1:02d}" if number - expected > 10 else ""  # a huge gap: not listed in full
                before = next((seen[n].key for n in reversed(numbers) if n < number), None)
                where = f"between {before} and {module.key}" if before else f"before {module.key}"
                self.add("TT109", module.key, self.rel(module.folder), None,
                         f"module numbers have a gap: no {missing} {where}",
                         f"renumber the folders from {expected:02d} without gaps (rename {module.key} to "
                         f"{expected:02d}_{module.name})")
            expected = number + 1

    def _looks_like_module(self, folder: Path) -> bool:
        if (folder / "module.yaml").is_file():
            return True
        for path in folder.iterdir():
            if path.suffix in SOURCE_SUFFIXES and path.is_file():
                try:
                    text = path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if re.search(r"#\s?\|\s*(default_exp|export)\b", text):
                    return True
        return False

    # -- module.yaml
    def check_module_yaml(self, entry: ModuleAnalysis) -> None:
        module = entry.module
        meta_rel = self.rel(module.meta_path)
        if module.meta_problem is not None:
            self.add("TT001", module.key, meta_rel, module.meta_problem.line, module.meta_problem.message,
                     f"fix {meta_rel}" + (f" at line {module.meta_problem.line}" if module.meta_problem.line else "")
                     + " (it must be a YAML mapping: name, exports_to, dependencies, components ...)")
            return
        if module.meta_path is None:
            if self.course.layout in ("A", "B") and any(m.meta_path for m in self.course.modules):
                self.add("TT006", module.key, self.rel(module.folder), None,
                         f"{module.key} has no module.yaml, while the course's modules declare one",
                         f"add {self.rel(module.folder)}/module.yaml with name, exports_to and "
                         f"dependencies.prerequisites")
            return
        meta = module.meta or {}
        lines = self.ylines(module)
        shapes = (("exports_to", str, "a dotted module name"), ("name", str, "a string"),
                  ("components", list, "a list of names"), ("dependencies", dict, "a mapping"),
                  ("files", dict, "a mapping"))
        for key, kind, what in shapes:
            if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
                self.add("TT001", module.key, meta_rel, lines.get(key),
                         f"module.yaml `{key}` must be {what}, found {type(meta[key]).__name__}",
                         f"fix `{key}` on line {lines.get(key)} of {meta_rel}")
        deps = meta.get("dependencies")
        if isinstance(deps, dict) and deps.get("prerequisites") is not None \
                and not isinstance(deps["prerequisites"], list):
            line = lines.get("dependencies.prerequisites")
            self.add("TT001", module.key, meta_rel, line, "module.yaml `dependencies.prerequisites` must be a list "
                     "of module names", f"write it as a YAML list on line {line} of {meta_rel}")
        name = meta.get("name")
        if isinstance(name, str) and name not in (module.name, module.key):
            self.add("TT111", module.key, meta_rel, lines.get("name"),
                     f"module.yaml name `{name}` does not match the folder {module.key}",
                     f"change `name` on line {lines.get('name')} of {meta_rel} to `{module.name}`")
        files = meta.get("files")
        dev_file = files.get("dev_file") if isinstance(files, dict) else None
        if dev_file:
            line = lines.get("files.dev_file")
            declared = module.folder / str(dev_file)
            stem = Path(str(dev_file)).stem
            if not declared.is_file():
                found = f"; the dev file is {module.source.name}" if module.source else ""
                self.add("TT110", module.key, meta_rel, line,
                         f"module.yaml files.dev_file names {dev_file}, which does not exist{found}",
                         f"change `dev_file` on line {line} of {meta_rel} to "
                         f"`{module.source.name if module.source else module.name + '.py'}`")
            elif stem not in (module.name, f"{module.name}_dev"):
                self.add("TT110", module.key, self.rel(declared), None,
                         f"dev file {dev_file} does not match the folder {module.key}",
                         f"rename it to {module.name}{Path(str(dev_file)).suffix} (or {module.name}_dev"
                         f"{Path(str(dev_file)).suffix}) and update files.dev_file on line {line} of {meta_rel}")

    # -- reading and parsing
    def check_source(self, entry: ModuleAnalysis) -> None:
        module = entry.module
        if module.source is None:
            others = sorted(p.name for p in module.folder.iterdir() if p.suffix in SOURCE_SUFFIXES)
            hint = f" (found {', '.join(others)})" if others else ""
            self.add("TT004", module.key, self.rel(module.folder), None,
                     f"{module.key} has no dev file {module.name}.py or {module.name}_dev.py{hint}",
                     f"name the module's source {module.name}.py (percent format) or {module.name}_dev.py")
            return
        for item in (entry.dev, entry.paired):
            if item is None:
                continue
            if item.read_error is not None:
                exc = item.read_error
                self.add("TT002", module.key, item.rel, exc.line, exc.message,
                         exc.hint or f"repair {item.rel}")
                continue
            if item is entry.paired:
                continue
            for parsed in item.cells:
                if parsed.error is None:
                    continue
                line, cell = item.place(parsed.cell, parsed.error.lineno or 1)
                if parsed.exported:
                    newer = _newer_syntax_by_text(parsed.code)
                    if newer and newer[1] > self.oldest:
                        line, cell = item.place(parsed.cell, newer[0])
                        self.add("TT230", module.key, item.rel, line,
                                 f"exported code uses {newer[2]}, which needs Python {show(newer[1])}, but the "
                                 f"course supports Python {show(self.oldest)}",
                                 f"rewrite {_place(item, line, cell)} without it", cell)
                        continue
                    self.add("TT003", module.key, item.rel, line,
                             f"syntax error in an exported cell: {parsed.error.msg}",
                             f"fix the code at {_place(item, line, cell)}", cell)
                else:
                    self.add("TT008", module.key, item.rel, line,
                             f"syntax error in a non-exported cell: {parsed.error.msg}",
                             f"fix the code at {_place(item, line, cell)}", cell)

    # -- exports
    def check_exports(self, entry: ModuleAnalysis) -> None:
        module, item = entry.module, entry.dev
        if item is None or item.source is None:
            return
        course = self.course
        exports_to = normalise_target(module.exports_to, course.package) if module.exports_to else None
        meta_rel = self.rel(module.meta_path)
        meta_line = module.meta_lines.get("exports_to")
        exports_ok = exports_to is not None and _target_problem(exports_to, course) is None
        if not item.default_exps:
            wanted = exports_to if exports_ok else f"{course.location + '.' if course.location else ''}{module.name}"
            self.add("TT102", module.key, item.rel, 1 if not item.notebook else None,
                     f"{item.path.name} has no `#| default_exp` directive, so its cells have no target module",
                     f"add a code cell at the top of {item.rel} with `#| default_exp {wanted}`")
        for extra in item.default_exps[1:]:
            first = item.default_exps[0]
            self.add("TT103", module.key, item.rel, extra.line,
                     f"{item.path.name} has {len(item.default_exps)} `#| default_exp` directives "
                     f"(lines {', '.join(str(d.line) for d in item.default_exps)}); nbdev uses only the last",
                     f"keep one: `#| default_exp {normalise_target(first.args, course.package)}`, and delete the "
                     f"directive on line {extra.line} of {item.rel}")
        cells_of: Dict[int, int] = {}
        if item.notebook:
            for c in item.source.cells:
                for d in c.directives:
                    cells_of[id(d)] = c.index + 1
        for directive in item.default_exps:
            cell = cells_of.get(id(directive))
            self._check_target(module, item, directive.args, directive.line, cell, f"#| default_exp {directive.args}")
        default = item.default_target
        if item.default_exps and module.exports_to and default != exports_to:
            directive = item.default_exps[-1]
            cell = cells_of.get(id(directive))
            issue = (f"#| default_exp {directive.args} does not match exports_to {module.exports_to} "
                     f"in module.yaml")
            if exports_ok:
                fix = f"change the directive on {_place(item, directive.line, cell)} to `#| default_exp {exports_to}`"
            else:
                fix = (f"change exports_to on line {meta_line} of {meta_rel} to `{course.package}.{default}`")
            self.add("TT101", module.key, item.rel, directive.line, issue, fix, cell)
        orphans = [p for p in item.exported if p.target is None]
        if orphans:
            first = orphans[0]
            line, cell = item.directive_place(first.directive, first.cell)
            wanted = exports_to if exports_ok else f"{course.location + '.' if course.location else ''}{module.name}"
            self.add("TT115", module.key, item.rel, line,
                     f"{len(orphans)} exported cell(s) in {item.path.name} but the file has no `#| default_exp` "
                     f"target", f"add `#| default_exp {wanted}` at the top of {item.rel}", cell)
        for parsed in item.exported:
            if parsed.directive is not None and parsed.directive.args:
                line, cell = item.directive_place(parsed.directive, parsed.cell)
                self._check_target(module, item, parsed.directive.args, line, cell,
                                   f"#| {parsed.directive.name} {parsed.directive.args}")
        self._misplaced_directives(module, item)

    def _check_target(self, module: CourseModule, item: ModuleSource, raw: str, line: int, cell: Optional[int],
                      shown: str) -> None:
        problem = _target_problem(raw, self.course)
        if problem is None:
            return
        code, reason = problem
        location = self.course.location
        suggestion = f"{location + '.' if location else ''}{module.name}"
        if code == "TT106" or normalise_target(raw, self.course.package) == suggestion:
            last = normalise_target(raw, self.course.package).split(".")[-1]
            suggestion = f"{location + '.' if location else ''}{last}_ops"
        self.add(code, module.key, item.rel, line, f"`{shown}` {reason}",
                 f"change the directive on {_place(item, line, cell)} to `#| default_exp {suggestion}`"
                 + (" (and exports_to in module.yaml to match)" if module.meta_path else ""), cell)

    def _misplaced_directives(self, module: CourseModule, item: ModuleSource) -> None:
        for parsed in item.cells:
            body = parsed.cell.body
            if not any("#" in line and "|" in line for line in body):
                continue
            try:
                tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(body) + "\n").readline))
            except (tokenize.TokenError, IndentationError, SyntaxError):
                continue
            for token in tokens:
                if token.type != tokenize.COMMENT:
                    continue
                match = DIRECTIVE.match(token.string.strip())
                if match and match["name"] in CHECKED_DIRECTIVES:
                    line, cell = item.place(parsed.cell, token.start[0])
                    self.add("TT116", module.key, item.rel, line,
                             f"`{token.string.strip()}` is below code in its cell, so nbdev ignores it",
                             "move it to the top of the cell (directives are the first comment lines of a "
                             "code cell), or delete it", cell)

    def check_conflicts(self) -> None:
        """Two sources, one target — including stray extra files in module folders."""
        owners: Dict[str, Tuple[ModuleAnalysis, ModuleSource, int, Optional[int]]] = {}
        for entry in self.analysis.modules:
            if entry.dev is None or entry.dev.source is None:
                continue
            for target, line, cell in self._targets_of(entry.dev):
                first = owners.get(target)
                if first is None:
                    owners[target] = (entry, entry.dev, line, cell)
                elif first[1].path != entry.dev.path:
                    self.add("TT112", entry.key, entry.dev.rel, line,
                             f"two sources export to {self.course.package}.{target}: {first[1].rel} and "
                             f"{entry.dev.rel}", f"give {entry.key} its own target (change the directive on "
                             f"{_place(entry.dev, line, cell)})", cell,
                             details=[f"also exported by {_place(first[1], first[2], first[3])}"],
                             related=[first[0].key])
        for entry in self.analysis.modules:
            for extra in entry.extras:
                targets = self._targets_of(extra)
                clashes = [(t, line, cell) for t, line, cell in targets if t in owners]
                for target, line, cell in clashes:
                    first = owners[target]
                    self.add("TT112", entry.key, extra.rel, line,
                             f"two sources export to {self.course.package}.{target}: {first[1].rel} and "
                             f"{extra.rel}",
                             f"delete {extra.rel} (or remove its export directives) so that {first[1].rel} is the "
                             f"only source of {self.course.package}.{target}", cell,
                             details=[f"also exported by {_place(first[1], first[2], first[3])}"],
                             related=[first[0].key])
                if not clashes and (extra.default_exps or extra.exported):
                    where = extra.default_exps[0].line if extra.default_exps else \
                        extra.exported[0].directive.line if extra.exported[0].directive else None
                    self.add("TT113", entry.key, extra.rel, where,
                             f"{extra.rel} is not the module's dev file but has export directives (nbdev exports "
                             f"every notebook in the modules folder)",
                             f"delete {extra.rel}, move it out of the modules folder, or fold it into "
                             f"{entry.dev.rel if entry.dev else entry.module.name + '.py'}")

    def _targets_of(self, item: ModuleSource) -> List[Tuple[str, int, Optional[int]]]:
        """Targets a source exports to, each with the directive that names it."""
        out: List[Tuple[str, int, Optional[int]]] = []
        seen: Set[str] = set()
        if item.source is None:
            return out
        default = item.default_target
        default_line: Optional[Tuple[int, Optional[int]]] = None
        for c in item.source.cells:
            for d in c.directives:
                if d.name == "default_exp":
                    default_line = (d.line, c.index + 1 if item.notebook else None)
        if default and default_line:
            out.append((default, default_line[0], default_line[1]))
            seen.add(default)
        for parsed in item.exported:
            if parsed.target and parsed.target not in seen:
                seen.add(parsed.target)
                line, cell = item.directive_place(parsed.directive, parsed.cell)  # type: ignore[arg-type]
                out.append((parsed.target, line, cell))
        return out

    def check_public_names(self) -> None:
        owner: Dict[str, Tuple[str, ModuleSource, int, Optional[int]]] = {}
        for entry in self.analysis.modules:
            if entry.dev is None:
                continue
            seen: Set[str] = set()
            for parsed in entry.dev.exported:
                if parsed.tree is None or not parsed.public:
                    continue
                for name in public_names(parsed.code, entry.dev.rel):
                    if name in seen:
                        continue
                    seen.add(name)
                    line, cell = entry.dev.place(parsed.cell, _name_line(parsed.tree, name))
                    if name in owner and owner[name][0] != entry.key:
                        first_key, first_item, first_line, first_cell = owner[name]
                        self.add("TT114", entry.key, entry.dev.rel, line,
                                 f"`{name}` is exported by both {first_key} and {entry.key}; "
                                 f"`from {self.course.package} import {name}` gets only one of them",
                                 f"rename `{name}` on {_place(entry.dev, line, cell)}, make it private "
                                 f"(`_{name}`), or import it from {first_key} instead of redefining it", cell,
                                 details=[f"first defined at {_place(first_item, first_line, first_cell)}"],
                                 related=[first_key])
                    else:
                        owner.setdefault(name, (entry.key, entry.dev, line, cell))

    # -- paired notebooks
    def check_pair(self, entry: ModuleAnalysis) -> None:
        py, nb = entry.dev, entry.paired
        if py is None or nb is None or py.source is None or nb.source is None:
            return

        def signature(item: ModuleSource) -> List[Tuple[ParsedCell, Tuple[str, ...]]]:
            out = []
            for c in item.source.cells if item.source else []:
                if c.kind != "code":
                    continue
                names = tuple(f"{d.name} {normalise_target(d.args, self.course.package)}".strip()
                              for d in c.directives if d.name in CHECKED_DIRECTIVES)
                if not names:
                    continue
                body = tuple(line.rstrip() for line in c.body if line.strip())
                parsed = next(p for p in item.cells if p.cell is c)
                out.append((parsed, names + ("",) + body))
            return out

        left, right = signature(py), signature(nb)
        for index in range(max(len(left), len(right))):
            a = left[index] if index < len(left) else None
            b = right[index] if index < len(right) else None
            if a is not None and b is not None and a[1] == b[1]:
                continue
            detail = []
            if a is not None and b is not None:
                lines = list(difflib.unified_diff(list(a[1]), list(b[1]), py.path.name, nb.path.name, lineterm="", n=0))
                detail = [line for line in lines[2:8] if not line.startswith("@@")]
            line = py.place(a[0].cell, 1)[0] if a is not None else None
            nb_cell = b[0].cell.index + 1 if b is not None else None
            where_nb = f"cell {nb_cell} of {nb.rel}" if nb_cell else f"{nb.rel} (no such exported cell)"
            self.add("TT117", entry.key, py.rel, line,
                     f"{py.path.name} and {nb.path.name} export different code (exported cell {index + 1}: "
                     f"{_place(py, line, None) if line else 'missing in ' + py.rel} vs {where_nb})",
                     f"re-sync the pair (e.g. `jupytext --sync {py.rel}`) so both export the same code; "
                     f"nbdev exports the notebook", details=detail, related=())
            return

    # -- components
    def check_components(self, entry: ModuleAnalysis) -> None:
        module, item = entry.module, entry.dev
        if not module.components or item is None or item.source is None:
            return
        defined: Set[str] = set()
        for parsed in item.exported:
            if parsed.tree is not None:
                defined |= bound_names(parsed.tree, imports=False)[0]
        if any(p.tree is None for p in item.exported):
            return  # a syntax error is already reported; don't guess what the cell defines
        lines = self.ylines(module)
        meta_rel = self.rel(module.meta_path)
        for index, raw in enumerate(module.components):
            name = raw.strip()
            name = name[:-2] if name.endswith("()") else name
            if name not in defined:
                line = lines.get(f"components[{index}]") or lines.get("components")
                close = difflib.get_close_matches(name, sorted(defined), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                self.add("TT118", module.key, meta_rel, line,
                         f"module.yaml component `{name}` is not defined by {module.key}'s exported cells{hint}",
                         f"define `{name}` in an exported cell of {item.rel}, or remove it from components on "
                         f"line {line} of {meta_rel}")

    # -- exported code
    def check_code(self, entry: ModuleAnalysis) -> None:
        module, item = entry.module, entry.dev
        if item is None or item.source is None:
            return
        exported = [p for p in item.exported if p.tree is not None]
        self._coupling(module, item, exported)
        self._python_versions(module, item, exported)
        self._unexported_names(module, item, exported)

    def _coupling(self, module: CourseModule, item: ModuleSource, cells: List[ParsedCell]) -> None:
        course = self.course
        folders = {m.key for m in course.modules}
        for parsed in cells:
            reported: Set[Tuple[str, int]] = set()

            def add(code: str, node: ast.AST, issue: str, fix: str, details: Sequence[str] = ()) -> None:
                line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
                if (code, line) in reported:
                    return
                reported.add((code, line))
                self.add(code, module.key, item.rel, line, issue, fix, cell, details)

            code = parsed.code
            in_sys_path: Set[int] = set()  # nodes of sys.path statements: reported once, as TT210
            if "sys" in code or "addsitedir" in code or "PYTHONPATH" in code:
                for stmt in parsed.nodes:
                    if not isinstance(stmt, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)) \
                            or not _changes_sys_path(stmt):
                        continue
                    text = statement_source(parsed, stmt)
                    in_sys_path.update(id(n) for n in ast.walk(stmt))
                    missing = []
                    for const in ast.walk(stmt):
                        if isinstance(const, ast.Constant) and isinstance(const.value, str):
                            folder = MODULE_FOLDER.match(const.value)
                            if folder and const.value not in folders:
                                real = next((m.key for m in course.modules if m.name == folder["name"]), None)
                                missing.append(f"the folder {const.value} does not exist"
                                               + (f" ({folder['name']} is in {real})" if real else ""))
                    add("TT210", stmt, f"exported code changes sys.path: `{text}`"
                        + (f"; {'; '.join(missing)}" if missing else ""),
                        f"delete the sys.path change and import from the package (`from {course.package}."
                        f"{course.location + '.' if course.location else ''}<module> import ...`)")
            _file_reads(self, parsed, add, in_sys_path)

    def _python_versions(self, module: CourseModule, item: ModuleSource, cells: List[ParsedCell]) -> None:
        oldest = self.oldest
        aliases = _stdlib_aliases(cells)
        new_stdlib = _new_stdlib_pattern(aliases)
        future_annotations = any(
            isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
            for p in cells for n in p.tree.body)  # type: ignore[union-attr]
        for parsed in cells:
            tree = parsed.tree
            assert tree is not None
            code = parsed.code
            if parsed.newer is not None:
                by_text = _newer_syntax_by_text(code)  # the statement's first line, where ast points further on
                line, cell = item.place(parsed.cell, by_text[0] if by_text else parsed.newer.lineno or 1)
                self.add("TT230", module.key, item.rel, line,
                         f"exported code needs a newer Python than {show(oldest)}: {parsed.newer.msg}",
                         f"rewrite {_place(item, line, cell)} for Python {show(oldest)} (requires-python)", cell)
            elif oldest < (3, 10) and "with" in code:
                starts = _offsets(code)
                for node in parsed.nodes:
                    if isinstance(node, (ast.With, ast.AsyncWith)) and _parenthesised_with(node, code, starts):
                        line, cell = item.place(parsed.cell, node.lineno)
                        self.add("TT230", module.key, item.rel, line,
                                 f"exported code uses parenthesised context managers, which need Python 3.10, but "
                                 f"the course supports Python {show(oldest)}",
                                 f"on {_place(item, line, cell)}, drop the parentheses and split the items with "
                                 f"`\\` or nested `with` statements", cell)
            if oldest < (3, 10) and not future_annotations and "|" in code:
                for node in _union_nodes(tree):
                    line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
                    shown = ast.unparse(node) if hasattr(ast, "unparse") else "X | Y"
                    self.add("TT232", module.key, item.rel, line,
                             f"`{shown}` is evaluated at run time and fails on Python {show(oldest)} "
                             f"(type unions need 3.10)",
                             f"use Optional[...]/Union[...] from typing on {_place(item, line, cell)} (or quote "
                             f"the annotation)", cell)
            if new_stdlib.search(code):
                visitor = _NewStdlibVisitor(aliases)
                visitor.visit(tree)
                for node, what, version in visitor.found:
                    if version <= oldest:
                        continue
                    line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
                    self.add("TT231", module.key, item.rel, line,
                             f"{what} needs Python {show(version)}, but the course supports Python {show(oldest)}",
                             f"on {_place(item, line, cell)}, use an alternative available in {show(oldest)} or "
                             f"guard it (try/except ImportError, or `if sys.version_info >= {version}:`)", cell)
        for ref in self.graph.refs.get(module.key, []):
            removed = REMOVED_MODULES.get(ref.top)
            if removed and not ref.level and not ref.guarded and (self.newest is None or self.newest >= removed):
                supports = f"the course supports Python {show(self.newest)}" if self.newest else \
                    "the course sets no upper Python bound"
                self.add("TT234", module.key, ref.path, ref.line,
                         f"module {ref.top} was removed from the standard library in Python {show(removed)}, and "
                         f"{supports}", f"replace `{ref.statement}` on {ref.where}", ref.cell)

    def _unexported_names(self, module: CourseModule, item: ModuleSource, cells: List[ParsedCell]) -> None:
        exported_names: Set[str] = set()
        for parsed in cells:
            names, star = bound_names(parsed.tree)  # type: ignore[arg-type]
            if star:
                return  # `from x import *` may bind any name: nothing to prove
            exported_names |= names
        hidden: Dict[str, Tuple[int, Optional[int]]] = {}
        for parsed in item.unexported:
            if parsed.tree is None:
                continue
            names, _ = bound_names(parsed.tree)
            for name in names:
                if name not in exported_names and name not in BUILTIN_NAMES and name not in hidden:
                    hidden[name] = item.place(parsed.cell, 1)
        if not hidden:
            return
        for parsed in cells:
            words = set(re.findall(r"[A-Za-z_]\w*", parsed.code)) & set(hidden)
            if not words:
                continue
            local = _locally_bound(parsed.nodes)
            done: Set[str] = set()
            for node in parsed.nodes:
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in words \
                        and node.id not in local and node.id not in done:
                    done.add(node.id)
                    line, cell = item.place(parsed.cell, node.lineno)
                    def_line, def_cell = hidden[node.id]
                    self.add("TT233", module.key, item.rel, line,
                             f"exported code uses `{node.id}`, which only a non-exported cell defines "
                             f"({_place(item, def_line, def_cell)}): the exported module raises NameError",
                             f"define or import `{node.id}` in an exported cell (add `#| export` to the cell that "
                             f"defines it, or repeat the import)", cell)

    # -- dependencies
    def check_dependencies(self) -> None:
        graph, course = self.graph, self.course
        by_key = {m.key: m for m in course.modules}
        for key, items in graph.unknown.items():
            module = by_key[key]
            meta_rel = self.rel(module.meta_path)
            for name, line in items:
                close = difflib.get_close_matches(name, [m.name for m in course.modules], n=1)
                self.add("TT203", key, meta_rel, line,
                         f"prerequisite `{name}` in module.yaml is no module of the course",
                         f"change it on line {line} of {meta_rel} to "
                         + (f"`{close[0]}`" if close else "the name of an existing module"))
        for key, dep, refs in graph.undeclared():
            module = by_key[key]
            meta_rel = self.rel(module.meta_path)
            line = self.ylines(module).get("dependencies.prerequisites") or module.meta_lines.get("dependencies")
            ref = refs[0]
            self.add("TT201", key, ref.path, ref.line,
                     f"exported code imports {dep} (`{ref.statement}`), but module.yaml does not declare it",
                     f"add `{by_key[dep].name}` to dependencies.prerequisites in {meta_rel}"
                     + (f" (line {line})" if line else "") + ", or remove the import", ref.cell,
                     details=[r.describe() for r in refs], related=[dep])
        unreadable = {e.key for e in self.analysis.modules
                      if e.dev is None or e.dev.source is None or any(p.tree is None for p in e.dev.exported)}
        for key, dep in graph.unused():
            if key in unreadable:  # its imports are unknown, not absent
                continue
            module = by_key[key]
            path, line = graph.declared_lines.get(key, {}).get(dep, (self.rel(module.meta_path), None))
            self.add("TT202", key, path, line,
                     f"module.yaml declares prerequisite `{by_key[dep].name}`, but {key}'s exported code never "
                     f"imports {dep}", f"remove `{by_key[dep].name}` from dependencies.prerequisites on line {line} "
                     f"of {path}, unless it is only a conceptual prerequisite", related=[dep])
        for cycle in graph.cycles():
            evidence = []
            for a, b in zip(cycle, cycle[1:]):
                evidence += [f"{a} -> {b}: {e}" for e in graph.evidence(a, b)]
            path, line, cell = self._edge_place(cycle[0], cycle[1])
            backwards = [(a, b) for a, b in zip(cycle, cycle[1:]) if by_key[b].number > by_key[a].number]
            culprit = backwards[0] if backwards else (cycle[0], cycle[1])
            self.add("TT204", cycle[0], path, line, f"dependency cycle: {' -> '.join(cycle)}",
                     f"break the cycle: {culprit[0]} must not depend on {culprit[1]} (a later module); move the "
                     f"shared code into the lower-numbered module", cell, details=evidence, related=cycle[1:-1])
        for key, dep in graph.backwards():
            path, line, cell = self._edge_place(key, dep)
            refs = graph.actual.get(key, {}).get(dep)
            how = f"imports it (`{refs[0].statement}`)" if refs else "declares it as a prerequisite"
            self.add("TT205", key, path, line,
                     f"{key} depends on {dep}, which comes {'at the same place' if by_key[dep].number == by_key[key].number else 'later'} in the course: it {how}",
                     f"a module may use only lower-numbered modules: remove the dependency of {key} on {dep}, or "
                     f"move the code it needs into {key} or an earlier module", cell,
                     details=graph.evidence(key, dep), related=[dep])
        for key, refs in graph.refs.items():
            for ref in refs:
                resolution = graph.resolutions.get(ref)
                if resolution is None:
                    continue
                if resolution.kind == "unresolved":
                    known = sorted(f"{course.package}.{t}" for t in self.resolver.targets)
                    wanted = f"{course.package}.{resolution.target}" if resolution.target else ref.name
                    close = difflib.get_close_matches(wanted, known, n=1)
                    if resolution.modules:
                        fix = (f"fix the `#| default_exp` of {resolution.modules[0]} to match its exports_to "
                               f"(see its TT101); this import is then correct")
                    else:
                        fix = "import a module that a course module exports" + \
                            (f" (did you mean {close[0]}?)" if close else "")
                    self.add("TT206", key, ref.path, ref.line,
                             f"`{ref.statement}`: {resolution.problem or wanted + ' is not exported by any module'}",
                             fix, ref.cell, related=resolution.modules)
                elif resolution.kind == "package" and resolution.missing:
                    where = f"{course.package}.{resolution.target}" if resolution.target else course.package
                    for name in resolution.missing:
                        candidates = sorted(self.resolver.defined.get(resolution.target or "", set())
                                            | set(self.resolver.public))
                        close = difflib.get_close_matches(name, candidates, n=1)
                        self.add("TT207", key, ref.path, ref.line,
                                 f"`{ref.statement}`: {where} does not define `{name}`",
                                 f"import a name that {where} exports" +
                                 (f" (did you mean `{close[0]}`?)" if close else ""), ref.cell)
                elif resolution.kind == "intree":
                    owner = resolution.modules[0] if resolution.modules else None
                    target = next((t for t, keys in self.resolver.targets.items() if owner in keys), None)
                    instead = f"`from {course.package}.{target} import ...`" if target else \
                        f"an import from the {course.package} package"
                    what = "the modules folder" if ref.top == self.resolver.modules_top else \
                        f"the dev file {ref.top}" + (f" of {owner}" if owner else " (no such module)")
                    self.add("TT211", key, ref.path, ref.line,
                             f"exported code imports {what} (`{ref.statement}`): it works only inside a checkout",
                             f"use {instead} instead", ref.cell)

    def _edge_place(self, key: str, dep: str) -> Tuple[Optional[str], Optional[int], Optional[int]]:
        refs = self.graph.actual.get(key, {}).get(dep)
        if refs:
            return refs[0].path, refs[0].line, refs[0].cell
        path, line = self.graph.declared_lines.get(key, {}).get(dep, (None, None))
        return path, line, None

    def check_third_party(self) -> None:
        course = self.course
        dists = _declared_dists(course)
        used: Set[str] = set()
        reported: Set[Tuple[str, str]] = set()
        for key, refs in self.graph.refs.items():
            for ref in refs:
                resolution = self.graph.resolutions.get(ref)
                if resolution is None or resolution.kind != "thirdparty":
                    continue
                top = ref.top
                providers = [d for d in dists if _provides(d, top)]
                used.update(providers)
                if providers or (key, top) in reported:
                    continue
                reported.add((key, top))
                path, line = _config_place(course, "dependencies")
                where = f"[project] dependencies in {path}" if path and path.endswith(".toml") else \
                    f"requirements in {path}" if path else "the course's dependencies"
                dist = IMPORT_TO_DIST.get(top, (top.replace("_", "-"),))[0]
                others = [r.describe() for r in refs if r.top == top and r is not ref]
                if ref.guarded:
                    self.add("TT222", key, ref.path, ref.line,
                             f"exported code optionally imports {top} (`{ref.statement}`), which the course's "
                             f"dependencies do not declare", "declare it as an optional dependency "
                             "([project.optional-dependencies]) or document it", ref.cell, details=others)
                else:
                    self.add("TT220", key, ref.path, ref.line,
                             f"exported code imports {top} (`{ref.statement}`), which the course's dependencies do "
                             f"not declare: it works in a developer's environment and fails in a fresh venv",
                             f"add \"{dist}\" to {where}, or remove the import", ref.cell, details=others)
        for dist in dists:
            if dist not in used:
                path, line = _config_place(course, "dependencies")
                self.add("TT221", COURSE, path, line,
                         f"the course declares the dependency {dist}, but no exported code imports it",
                         f"remove {dist} from the dependencies in {path}, unless the package needs it at run time "
                         f"without importing it")

    # -- a committed package in the tree
    def check_package_tree(self) -> None:
        course = self.course
        package_dir = course.root / course.package
        if not package_dir.is_dir():
            return
        for path in sorted(package_dir.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = self.rel(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            module_path = path.relative_to(package_dir).with_suffix("")
            parts = list(module_path.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            target = ".".join(parts)
            owners = self.resolver.targets.get(target, [])
            key = owners[0] if owners else COURSE
            self._generated_header(path, rel, text, key)
            is_package = path.name == "__init__.py"
            for line, name, level, names in _package_imports(text, course.package):
                if level:
                    base = parts if is_package else parts[:-1]
                    up = level - 1
                    if up > len(base):
                        continue
                    dotted = base[:len(base) - up] + (name.split(".") if name else [])
                else:
                    dotted = name.split(".")[1:]
                missing: List[List[str]] = []
                if dotted and not _module_exists(package_dir, dotted):
                    missing.append(dotted)
                elif names and package_dir.joinpath(*dotted).is_dir():
                    init = package_dir.joinpath(*dotted, "__init__.py")
                    try:
                        init_text = init.read_text(encoding="utf-8") if init.is_file() else ""
                    except (OSError, UnicodeDecodeError):
                        init_text = ""
                    for imported in names:
                        if imported != "*" and not _module_exists(package_dir, dotted + [imported]) \
                                and not re.search(rf"\b{re.escape(imported)}\b", init_text):
                            missing.append(dotted + [imported])
                for dotted_name in missing:
                    shown = ".".join([course.package] + dotted_name)
                    self.add("TT240", key, rel, line,
                             f"{rel} imports {shown}, but {course.package}/{'/'.join(dotted_name)}.py does not exist: "
                             f"`import {course.package}` fails for anyone who installs the package",
                             f"export the module that provides {shown} (tito export) or remove the import from {rel}")

    def _generated_header(self, path: Path, rel: str, text: str, key: str) -> None:
        head = text.splitlines()[:5]
        for number, line in enumerate(head, 1):
            named: List[str] = []
            match = re.search(r"File to edit:\s*(\S+?)\.?\s*$", line)
            if match:
                named = [match[1]]
            elif line.startswith(GENERATED_MARK):
                found = re.search(r" from (.+?) — edit", line)
                if found:
                    named = [s.strip() for s in found[1].split(",")]
            for source in named:
                candidates = [path.parent / source, self.course.root / source]
                if "[unknown]" in source or not any(c.is_file() for c in candidates):
                    self.add("TT241", key, rel, number,
                             f"{rel} says it is generated from {source}, which does not exist",
                             f"delete {rel} and export again from the module sources (tito export)")


READ_FIX = "ship the data inside the package and locate it with importlib.resources, or take the path as a parameter"


def _file_reads(self: "_Validator", parsed: ParsedCell, add, skip: Set[int]) -> None:  # type: ignore[no-untyped-def]
    """Reads relative to the working directory (`open("data/x.csv")`, `np.load("w.npy")`,
    `Path("data").read_text()`, os.chdir) or to the source tree (`__file__` + `..`, `modules/NN_name/`)."""
    modules_top = self.resolver.modules_top
    code = parsed.code
    tree_paths = re.compile(rf"(^|[/\\]){re.escape(modules_top)}[/\\]|(^|[/\\])\d\d_[A-Za-z]\w*[/\\]")
    check_tree = bool(tree_paths.search(code))
    check_file = "__file__" in code
    docstrings = _docstring_nodes(parsed.nodes) if check_tree else set()
    for node in parsed.nodes:
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0] if node.args else None
            if name == "chdir":
                add("TT212", node, "exported code changes the working directory (os.chdir)", READ_FIX)
                continue
            path = None
            if name == "open" and isinstance(func, ast.Name):
                mode = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "mode"), None)
                writing = isinstance(mode, ast.Constant) and isinstance(mode.value, str) \
                    and any(c in mode.value for c in "wax")
                path = None if writing else _relative_path_literal(first)
            elif name in READ_CALLS:
                path = _relative_path_literal(first)
            elif isinstance(func, ast.Attribute) and func.attr in PATH_READS and isinstance(func.value, ast.Call):
                inner = func.value
                inner_name = inner.func.id if isinstance(inner.func, ast.Name) else \
                    inner.func.attr if isinstance(inner.func, ast.Attribute) else ""
                if inner_name == "Path":
                    path = _relative_path_literal(inner.args[0] if inner.args else None)
            if path:
                add("TT212", node, f"exported code reads `{path}` relative to the working directory", READ_FIX)
                continue
        if check_file and isinstance(node, (ast.Call, ast.BinOp, ast.Assign)):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if "__file__" in names:
                consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                parents = sum(1 for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr == "parent")
                if any(c == ".." or "../" in c or "..\\" in c for c in consts) or parents >= 2 \
                        or any(MODULE_FOLDER.match(c) or c == modules_top for c in consts):
                    add("TT212", node, "exported code builds a path from __file__ that leaves the package (into "
                        "the source tree)", READ_FIX)
                    continue
        if check_tree and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            value = node.value
            if tree_paths.search(value) and len(value) < 200 and "\n" not in value:
                add("TT212", node, f"exported code refers to the source tree: `{value}`", READ_FIX)


def _module_exists(package_dir: Path, dotted: List[str]) -> bool:
    base = package_dir.joinpath(*dotted)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() or base.is_dir()


def _package_imports(text: str, package: str) -> List[Tuple[int, str, int, Tuple[str, ...]]]:
    """Module-level (unindented) imports of the package itself in a committed package file, read as
    text: (line, module, level, names). Indented imports (in functions, try blocks) are skipped."""
    pattern = re.compile(rf"^(?:from[ \t]+(?P<from>\.+[\w.]*|{re.escape(package)}(?:\.[\w.]+)?)[ \t]+import[ \t]+"
                         rf"(?P<names>.*)|import[ \t]+(?P<imp>{re.escape(package)}(?:\.[\w.]+)?)\b)")
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(("from", "import")):
            continue
        match = pattern.match(line)
        if not match:
            continue
        if match["imp"]:
            found.append((number, match["imp"], 0, ()))
            continue
        module = match["from"]
        names_text = match["names"].split("#")[0]
        if names_text.strip().startswith("("):
            extra = number
            while ")" not in names_text and extra < len(lines):
                names_text += " " + lines[extra].split("#")[0]
                extra += 1
        names = tuple(n.split(" as ")[0].strip() for n in names_text.strip(" ()\\").split(",") if n.strip())
        level = len(module) - len(module.lstrip("."))
        found.append((number, module.lstrip("."), level, names))
    return found


def _is_sys_path(node: ast.AST) -> bool:
    if isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
        and node.value.id == "sys"


def _changes_sys_path(stmt: ast.stmt) -> bool:
    """sys.path.append/insert/extend/...(), sys.path = / += / [i] =, site.addsitedir(), PYTHONPATH = ..."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if _is_sys_path(target):
                return True
            if isinstance(target, ast.Subscript) and any(
                    isinstance(c, ast.Constant) and c.value == "PYTHONPATH" for c in ast.walk(target)):
                return True
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if _is_sys_path(node.func.value) and node.func.attr in ("append", "insert", "extend", "remove", "pop",
                                                                    "clear", "__setitem__"):
                return True
            if node.func.attr == "addsitedir":
                return True
            if node.func.attr in ("putenv", "setdefault", "update") and any(
                    isinstance(c, ast.Constant) and c.value == "PYTHONPATH" for c in ast.walk(node)):
                return True
    return False


def statement_source(parsed: ParsedCell, node: ast.AST) -> str:
    start = getattr(node, "lineno", 1)
    end = getattr(node, "end_lineno", None) or start
    text = " ".join(line.strip() for line in parsed.cell.body[start - 1:end])
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "name"


# --------------------------------------------------------------------------- public API

def validate(course: Course, module: Optional[str] = None) -> ValidationReport:
    """Run every static check on the course (or report only what concerns one module:
    a folder `03_activations`, name `activations` or number `3`). Never raises for problems in
    the course's files: they are findings. Raises CourseError for an unknown module."""
    start = time.perf_counter()
    selected = course.module(module).key if module else None
    validator = _Validator(course)
    validator.run()
    findings = validator.findings
    if selected:
        findings = [f for f in findings if f.concerns(selected)]
    order = {m.key: i for i, m in enumerate(course.modules)}
    findings.sort(key=lambda f: (order.get(f.module, len(order)), f.module, f.path or "", f.line or 0, f.code))
    checked = [selected] if selected else [m.key for m in course.modules]
    return ValidationReport(course, findings, checked, validator.notes, validator.oldest,
                            time.perf_counter() - start, validator.graph)


def run_validate(course_path: Path, module: Optional[str] = None, fmt: str = "text") -> Tuple[str, int]:
    """`tito package validate [MODULE] [--format text|json]`: (output, exit code).
    0 = no errors (warnings allowed), 1 = errors found, 2 = usage or configuration error."""
    if fmt not in FORMATS:
        return f"tito: error: unknown format {fmt!r} (choose from {', '.join(FORMATS)})\n", 2
    try:
        report = validate(load_course(Path(course_path)), module)
    except VerifierError as exc:
        return error_output(exc, fmt), 2
    text = report.render_json() if fmt == "json" else report.render_text()
    return text, 0 if report.ok else 1
