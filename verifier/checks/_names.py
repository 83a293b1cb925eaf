"""Names (TT233): exported code that uses a name only a non-exported cell defines (NameError once exported).

One cause, one fix: the uses are grouped per defining non-exported cell, and the finding sits at that
cell ("the cell at line 170 is not exported but exported code uses List, Profiler, ... (first use line
606)"; fix: add `#| export` to it). Every use stays in the finding's locations, each with when it fails:
at `import tinytorch.x` (module level, class bodies, decorators, defaults, annotations evaluated at def
time) or only when a function is called. Uses in the ImportError fallback of a package import never run
once the package is installed and are not findings.
"""
from __future__ import annotations

import ast
import builtins
import re
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

from ..course.analysis import ModuleSource, ParsedCell
from ..course.discovery import CourseModule
from ..deps.cellfacts import facts_of
from ..deps.imports import fallback_nodes
from ..deps.timing import timings
from .context import CheckContext, Emitter, place
from .findings import Finding, Location, When
from .module_cache import per_module

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
        # match-statement captures (Python 3.10+; not in the 3.9 ast the types describe)
        elif type(node).__name__ in ("MatchAs", "MatchStar") and (captured := getattr(node, "name", None)):
            names.add(captured)
        elif type(node).__name__ == "MatchMapping" and (rest := getattr(node, "rest", None)):
            names.add(rest)
    return names



def _unexported_names(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource,
                      cells: List[ParsedCell]) -> None:
    exported_names: Set[str] = set()
    for parsed in cells:
        facts = facts_of(parsed, item.package)
        if facts is None:
            continue  # not parsed (the caller passes parsed cells only)
        if facts.star:
            return  # `from x import *` may bind any name: nothing to prove
        exported_names |= facts.bound
    hidden: Dict[str, Tuple[int, Optional[int]]] = {}
    for parsed in item.unexported:
        facts = facts_of(parsed, item.package)
        if facts is None:
            continue
        for name in facts.bound:
            if name not in exported_names and name not in BUILTIN_NAMES and name not in hidden:
                hidden[name] = item.place(parsed.cell, 1)
    if not hidden:
        return
    # the module's `from __future__ import annotations`, read from the facts (no cell parsed for it)
    lazy = any(facts.future_annotations for facts in (facts_of(p, item.package) for p in cells) if facts)
    # (line, cell) of the defining cell -> the uses it causes, in file order
    uses: Dict[Tuple[int, Optional[int]], List[Tuple[str, Location]]] = {}
    for parsed in cells:
        words = set(re.findall(r"[A-Za-z_]\w*", parsed.code)) & set(hidden)
        if not words or parsed.tree is None:
            continue
        local = _locally_bound(parsed.nodes)
        skip = fallback_nodes(parsed.tree, item.package) if "except" in parsed.code else set()
        timing = timings(parsed.tree, lazy)
        target = ctx.package_module(parsed.target)
        done: Set[str] = set()
        for node in parsed.nodes:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in words \
                    and node.id not in local and id(node) not in skip:
                t = timing.get(id(node))
                if t is not None and not t.evaluated:
                    continue  # an annotation Python never evaluates
                when = When.IMPORT if t is not None and t.at_import and not t.caught else When.CALL
                scope = t.scope if t is not None else None
                key = (node.id, when, scope)
                if key in done:
                    continue
                done.add(key)  # type: ignore[arg-type]
                line, cell = item.place(parsed.cell, node.lineno)
                uses.setdefault(hidden[node.id], []).append(
                    (node.id, Location(module.key, item.rel, line, cell, node.id, when, target, scope)))
    for (def_line, def_cell), found in uses.items():
        found.sort(key=lambda u: (u[1].cell or 0, u[1].line or 0))
        used = list(dict.fromkeys(name for name, _ in found))
        first = found[0][1]
        at_import = [loc for _, loc in found if loc.when is When.IMPORT]
        shown = ", ".join(f"`{n}`" for n in used[:6]) + (", …" if len(used) > 6 else "")
        if at_import:
            effect = f"`import {at_import[0].target or 'the module'}` raises NameError (line {at_import[0].line})"
        else:
            scopes = list(dict.fromkeys(loc.scope for _, loc in found if loc.scope))
            effect = "NameError when " + ", ".join(f"{s}()" for s in scopes[:3]) + \
                (" and others are" if len(scopes) > 3 else " is" if len(scopes) == 1 else " are") + " called"
        cell_place = place(item, def_line, def_cell)
        out.add("TT233", module.key, item.rel, def_line,
                f"the cell at {cell_place} is not exported, but exported code uses {shown} "
                f"(first use line {first.line}{f' of cell {first.cell}' if first.cell else ''}): {effect}",
                f"add `#| export` as the first line of the cell at {cell_place} (nbdev then exports it to "
                f"{first.target or 'the module'}), or define or import {shown} in an exported cell",
                def_cell, details=[f"{loc.path}:{loc.line} uses `{name}`"
                                   + (f" (cell {loc.cell})" if loc.cell else "")
                                   + (" at import" if loc.when is When.IMPORT else f" in {loc.scope or 'a call'}")
                                   for name, loc in found],
                locations=[loc for _, loc in found])


CODES = frozenset({'TT233'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    # a module's findings depend on its own source and on these course-wide values only (module_cache.py):
    # after an edit of another module its cells are not walked (nor parsed) again
    inputs = [str(ctx.oldest), ctx.course.package]
    yield from per_module(ctx, "names", inputs, CODES, _unexported_names)
