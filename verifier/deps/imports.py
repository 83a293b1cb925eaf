"""Import extraction: the one walker over a parsed cell that finds its imports (with where they
run: module level or in a function, guarded by try/except ImportError, in the ImportError fallback
of a package import), the names a cell binds, and the `ImportRef` that locates one import (a module's
refs are built from its cells' kept facts: cellfacts.module_imports). Pure `ast`; nothing is imported
or executed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Set, Tuple

IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class RawImport:
    node: ast.AST
    name: str                 # module as written ("" for `from . import x`)
    names: Tuple[str, ...]    # imported names of a from-import
    level: int                # relative import level (0: absolute)
    in_function: bool         # inside a def/lambda: runs at call time, not import time
    guarded: bool             # inside the body of a try/except ImportError (or `if TYPE_CHECKING:`)
    dynamic: bool = False     # importlib.import_module("...") / __import__("...")
    fallback: bool = False    # in the except-ImportError handler of a try that imports the package itself:
    #                           runs only when the package import fails, i.e. never once the package is installed

def attribute_chain(node: ast.expr) -> Optional[List[str]]:
    """`np.linalg.norm` -> ["np", "linalg", "norm"]; None when the chain does not end at a name."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def handlers_catch(handlers: Sequence[ast.ExceptHandler], names: Set[str]) -> bool:
    """Whether one of a `try`'s handlers catches an exception named in `names` (a bare except does)."""
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            if kind is None:
                return True
            name = kind.id if isinstance(kind, ast.Name) else kind.attr if isinstance(kind, ast.Attribute) else ""
            if name in names:
                return True
    return False


def _catches_import_error(handlers: Sequence[ast.ExceptHandler]) -> bool:
    return handlers_catch(handlers, IMPORT_GUARDS)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")



def imports_package(statements: Sequence[ast.stmt], package: str) -> bool:
    """Whether a try body imports from the package itself (absolute or relative)."""
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == package):
                return True
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == package for a in node.names):
                return True
    return False


def is_package_fallback(node: ast.AST, package: str) -> bool:
    """A try/except ImportError whose try imports the package: its handlers are a dev-time fallback."""
    return isinstance(node, ast.Try) and _catches_import_error(node.handlers) and imports_package(node.body, package)


def fallback_nodes(tree: ast.AST, package: str) -> Set[int]:
    """ids of every node inside the except-ImportError handlers of a package-import try."""
    ids: Set[int] = set()
    for node in ast.walk(tree):
        if is_package_fallback(node, package):
            for handler in node.handlers:  # type: ignore[attr-defined]
                for stmt in handler.body:
                    ids.update(id(n) for n in ast.walk(stmt))
    return ids


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.found: List[RawImport] = []
        self.package = package
        self.depth = 0
        self.guard = 0
        self.fallback = 0

    def _add(self, node: ast.AST, name: str, names: Tuple[str, ...], level: int, dynamic: bool = False) -> None:
        self.found.append(RawImport(node, name, names, level, self.depth > 0, self.guard > 0, dynamic,
                                    self.fallback > 0))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Try(self, node: ast.Try) -> None:
        guarded = _catches_import_error(node.handlers)
        fallback = guarded and imports_package(node.body, self.package)
        self.guard += guarded
        for stmt in node.body:
            self.visit(stmt)
        self.guard -= guarded
        self.fallback += fallback
        for handler in node.handlers:
            self.visit(handler)
        self.fallback -= fallback
        for other in list(node.orelse) + list(node.finalbody):
            self.visit(other)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.guard += 1
            for stmt in node.body:
                self.visit(stmt)
            self.guard -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name, (), 0)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(node, node.module or "", tuple(a.name for a in node.names), node.level or 0)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            text = node.args[0].value
            level = len(text) - len(text.lstrip("."))
            self._add(node, text.lstrip("."), (), level, dynamic=True)
        self.generic_visit(node)


def _statement_imports(statements: Iterable[ast.AST], depth: int, guard: int, fallback: int, package: str,
                       out: List[RawImport]) -> None:
    """Import statements only (the fast path): recurse through statement bodies, never expressions."""
    for node in statements:
        if isinstance(node, ast.Import):
            out.extend(RawImport(node, alias.name, (), 0, depth > 0, guard > 0, False, fallback > 0)
                       for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(RawImport(node, node.module or "", tuple(a.name for a in node.names), node.level or 0,
                                 depth > 0, guard > 0, False, fallback > 0))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _statement_imports(node.body, depth + 1, guard, fallback, package, out)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            guarded = int(_catches_import_error(node.handlers))  # type: ignore[attr-defined]
            falls = int(bool(guarded) and imports_package(node.body, package))  # type: ignore[attr-defined]
            _statement_imports(node.body, depth, guard + guarded, fallback, package, out)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                _statement_imports(handler.body, depth, guard, fallback + falls, package, out)
            _statement_imports(node.orelse, depth, guard, fallback, package, out)  # type: ignore[attr-defined]
            _statement_imports(node.finalbody, depth, guard, fallback, package, out)  # type: ignore[attr-defined]
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            _statement_imports(node.body, depth, guard + 1, fallback, package, out)
            _statement_imports(node.orelse, depth, guard, fallback, package, out)
        else:
            for name in ("body", "orelse", "finalbody", "cases"):
                value = getattr(node, name, None)
                if isinstance(value, list):
                    _statement_imports(value, depth, guard, fallback, package, out)


def extract_imports(tree: ast.AST, dynamic: bool = True, package: str = "tinytorch") -> List[RawImport]:
    """Every import of a parsed cell, with where it runs (module level or in a function), whether it
    is guarded by try/except ImportError, and whether it is the fallback of a package import. With
    dynamic=False, importlib.import_module() and __import__() calls are not looked for (a faster walk
    over statements only)."""
    if not dynamic:
        found: List[RawImport] = []
        _statement_imports(getattr(tree, "body", []), 0, 0, 0, package, found)
        return found
    visitor = _ImportVisitor(package)
    visitor.visit(tree)
    return visitor.found


def bound_names(tree: ast.Module, imports: bool = True) -> Tuple[Set[str], bool]:
    """Names a cell binds at module level (defs, classes, assignments, imports, loop and with
    targets, also inside module-level if/try/with/for blocks), and whether it star-imports.
    With imports=False, names bound only by import statements are left out."""
    names: Set[str] = set()
    star = False

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)

    def block(statements: Iterable[ast.stmt]) -> None:
        nonlocal star
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and imports:
                for alias in node.names:
                    if alias.name == "*":
                        star = True
                    else:
                        names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                block(node.body)
                block(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                block(node.body)
            elif isinstance(node, ast.If):
                block(node.body)
                block(node.orelse)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                block(node.body)  # type: ignore[attr-defined]
                for handler in node.handlers:  # type: ignore[attr-defined]
                    if handler.name:
                        names.add(handler.name)
                    block(handler.body)
                block(node.orelse)  # type: ignore[attr-defined]
                block(node.finalbody)  # type: ignore[attr-defined]
            elif isinstance(node, ast.While):
                block(node.body)
                block(node.orelse)
    block(tree.body)
    return names, star


@dataclass(frozen=True)
class ImportRef:
    """One import in a module's exported code, located in the student's file."""
    module: str               # importing module key
    path: str                 # source path relative to the course root
    line: int                 # line in the file (notebook: line inside `cell`)
    cell: Optional[int]       # 1-based notebook cell, None for .py sources
    statement: str            # the import as written (whitespace collapsed)
    name: str
    names: Tuple[str, ...]
    level: int
    in_function: bool
    guarded: bool
    target: Optional[str]     # export target of the cell holding the import (for relative imports)
    dynamic: bool = False
    fallback: bool = False    # in the ImportError fallback of a package import (dev-time only)

    @property
    def where(self) -> str:
        if self.cell is not None:
            return f"{self.path} (cell {self.cell}, line {self.line})"
        return f"{self.path}:{self.line}"

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    def describe(self) -> str:
        notes = []
        if self.in_function:
            notes.append("inside a function")
        if self.guarded:
            notes.append("inside try/except ImportError")
        suffix = f" ({', '.join(notes)})" if notes else ""
        return f"{self.where} `{self.statement}`{suffix}"



def statement_text(code_lines: Sequence[str], node: ast.AST) -> str:
    start = getattr(node, "lineno", 1)
    end = getattr(node, "end_lineno", None) or start
    text = " ".join(line.strip() for line in code_lines[start - 1:end])
    if isinstance(node, ast.Call):  # a dynamic import: show just the call
        segment = ast.get_source_segment("\n".join(code_lines), node)
        text = segment or text
    return " ".join(text.split())


def tree_public_names(tree: ast.Module) -> List[str]:
    """Names nbdev puts into __all__ for a parsed cell: top-level defs, classes and assignments not
    starting with `_`, plus `_all_ = [...]` — the rules of package.export.public_names, read from the
    tree the analysis already parsed (so no cell is parsed twice)."""
    names: List[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            candidates = [node.name]
        elif isinstance(node, ast.Assign):
            candidates = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if candidates == ["_all_"] and isinstance(node.value, (ast.List, ast.Tuple)):
                names.extend(str(e.value) for e in node.value.elts if isinstance(e, ast.Constant))
                continue
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            candidates = [node.target.id]
        else:
            continue
        names.extend(n for n in candidates if not n.startswith("_"))
    return names
