"""Names (TT233): exported code that uses a name only a non-exported cell defines (NameError once exported).
"""
from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import builtins
from ..course.analysis import ModuleSource, ParsedCell
from ..course.discovery import CourseModule
from ..deps.imports import bound_names
from .context import CheckContext, Emitter, place
from .findings import Finding


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



def _unexported_names(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource, cells: List[ParsedCell]) -> None:
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
                out.add("TT233", module.key, item.rel, line,
                         f"exported code uses `{node.id}`, which only a non-exported cell defines "
                         f"({place(item, def_line, def_cell)}): the exported module raises NameError",
                         f"define or import `{node.id}` in an exported cell (add `#| export` to the cell that "
                         f"defines it, or repeat the import)", cell)



CODES = frozenset({'TT233'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    for entry in ctx.analysis.modules:
        item = entry.dev
        if item is None or item.source is None:
            continue
        _unexported_names(ctx, out, entry.module, item, [p for p in item.exported if p.tree is not None])
    yield from out
