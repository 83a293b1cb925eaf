"""In-tree coupling of exported code: sys.path changes (TT210) and reads relative to the working
directory or the source tree (TT212) — except in the except-ImportError fallback of a try that imports
the package itself, which never runs once the package is installed.
"""
from __future__ import annotations

import ast
import re
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..course.analysis import ModuleSource, ParsedCell
from ..course.discovery import MODULE_FOLDER, CourseModule
from ..deps.imports import fallback_nodes
from .context import CheckContext, Emitter
from .findings import Finding
from .module_cache import per_module

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



def _docstring_nodes(nodes: Iterable[ast.AST]) -> Set[int]:
    ids: Set[int] = set()
    for node in nodes:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids



def _coupling(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource,
              cells: List[ParsedCell]) -> None:
    course = ctx.course
    folders = {m.key for m in course.modules}
    for parsed in cells:
        reported: Set[Tuple[str, int]] = set()

        # parsed and reported are bound as defaults so `add` keeps this cell's values (B023)
        def add(code: str, node: ast.AST, issue: str, fix: str, details: Sequence[str] = (), *,
                parsed: ParsedCell = parsed, reported: Set[Tuple[str, int]] = reported) -> None:
            line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
            if (code, line) in reported:
                return
            reported.add((code, line))
            out.add(code, module.key, item.rel, line, issue, fix, cell, details)

        code = parsed.code
        if parsed.tree is None:
            continue  # not parsed (the caller passes parsed cells only)
        in_sys_path: Set[int] = set()  # nodes of sys.path statements: reported once, as TT210
        # the except-ImportError fallback of a package import never runs once the package is installed
        fallback = fallback_nodes(parsed.tree, ctx.course.package) if "try" in code else set()
        in_sys_path |= fallback
        if "sys" in code or "addsitedir" in code or "PYTHONPATH" in code:
            for stmt in parsed.nodes:
                if not isinstance(stmt, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)) \
                        or id(stmt) in fallback or not _changes_sys_path(stmt):
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
        _file_reads(ctx, parsed, add, in_sys_path)


READ_FIX = "ship the data inside the package and locate it with importlib.resources, or take the path as a parameter"


def _file_reads(ctx: CheckContext, parsed: ParsedCell, add: Callable[..., None], skip: Set[int]) -> None:
    """Reads relative to the working directory (`open("data/x.csv")`, `np.load("w.npy")`,
    `Path("data").read_text()`, os.chdir) or to the source tree (`__file__` + `..`, `modules/NN_name/`)."""
    modules_top = ctx.resolver.modules_top
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



CODES = frozenset({'TT210', 'TT212'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    # a module's findings depend on its own source and on these course-wide values only (module_cache.py)
    course = ctx.course
    inputs = [str(ctx.oldest), course.package, course.location, ctx.resolver.modules_top,
              "\t".join(f"{m.key}/{m.name}" for m in course.modules)]
    yield from per_module(ctx, "paths", inputs, CODES, _coupling)
