"""Python versions: syntax (TT230), stdlib modules and names (TT231), run-time `X | Y` unions (TT232)
newer than the oldest supported Python, and stdlib modules removed by a supported newer one (TT234).
"""
from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from ..course.analysis import ModuleSource, ParsedCell
from ..course.discovery import CourseModule
from ..course.pyversions import NEW_KEYWORDS, NEW_MODULES, NEW_NAMES, REMOVED_MODULES, Version, is_stdlib, show
from ..deps.imports import handlers_catch
from .context import CheckContext, Emitter, place
from .findings import Finding
from .module_cache import module_findings

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


def newer_syntax_by_text(code: str) -> Optional[Tuple[int, Version, str]]:
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
        end = starts[last.end_lineno - 1] + last.end_col_offset
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


# a `try` whose handler catches one of these guards its body: the new name may fail there (an import, an
# attribute or a keyword an older Python lacks) and the handler has the fallback
VERSION_GUARDS = {"ImportError", "ModuleNotFoundError", "AttributeError", "TypeError", "Exception", "BaseException"}


class _NewStdlibVisitor(ast.NodeVisitor):
    """Uses of stdlib modules, names and keywords that need a newer Python, outside version guards."""

    def __init__(self, aliases: Dict[str, str]) -> None:
        # local name -> dotted stdlib name (`t` -> `typing`, `dataclass` -> `dataclasses.dataclass`)
        self.aliases = aliases
        self.found: List[Tuple[ast.AST, str, Version]] = []
        self.guard = 0

    def _guarded_block(self, body: Iterable[ast.AST]) -> None:
        self.guard += 1
        for stmt in body:
            self.visit(stmt)
        self.guard -= 1

    def visit_Try(self, node: ast.Try) -> None:
        if handlers_catch(node.handlers, VERSION_GUARDS):
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


def _python_versions(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource,
                     cells: List[ParsedCell]) -> None:
    oldest = ctx.oldest
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
            by_text = newer_syntax_by_text(code)  # the statement's first line, where ast points further on
            line, cell = item.place(parsed.cell, by_text[0] if by_text else parsed.newer.lineno or 1)
            out.add("TT230", module.key, item.rel, line,
                     f"exported code needs a newer Python than {show(oldest)}: {parsed.newer.msg}",
                     f"rewrite {place(item, line, cell)} for Python {show(oldest)} (requires-python)", cell)
        elif oldest < (3, 10) and "with" in code:
            starts = _offsets(code)
            for node in parsed.nodes:
                if isinstance(node, (ast.With, ast.AsyncWith)) and _parenthesised_with(node, code, starts):
                    line, cell = item.place(parsed.cell, node.lineno)
                    out.add("TT230", module.key, item.rel, line,
                             f"exported code uses parenthesised context managers, which need Python 3.10, but "
                             f"the course supports Python {show(oldest)}",
                             f"on {place(item, line, cell)}, drop the parentheses and split the items with "
                             f"`\\` or nested `with` statements", cell)
        if oldest < (3, 10) and not future_annotations and "|" in code:
            for node in _union_nodes(tree):
                line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
                shown = ast.unparse(node) if hasattr(ast, "unparse") else "X | Y"
                out.add("TT232", module.key, item.rel, line,
                         f"`{shown}` is evaluated at run time and fails on Python {show(oldest)} "
                         f"(type unions need 3.10)",
                         f"use Optional[...]/Union[...] from typing on {place(item, line, cell)} (or quote "
                         f"the annotation)", cell)
        if new_stdlib.search(code):
            visitor = _NewStdlibVisitor(aliases)
            visitor.visit(tree)
            for node, what, version in visitor.found:
                if version <= oldest:
                    continue
                line, cell = item.place(parsed.cell, getattr(node, "lineno", 1))
                out.add("TT231", module.key, item.rel, line,
                         f"{what} needs Python {show(version)}, but the course supports Python {show(oldest)}",
                         f"on {place(item, line, cell)}, use an alternative available in {show(oldest)} or "
                         f"guard it (try/except ImportError, or `if sys.version_info >= {version}:`)", cell)


def _removed_modules(ctx: CheckContext, out: Emitter, module: CourseModule) -> None:
    """TT234: imports of standard-library modules removed before the newest supported Python."""
    for ref in ctx.graph.refs.get(module.key, []):
        removed = REMOVED_MODULES.get(ref.top)
        if removed and not ref.level and not ref.guarded and not ref.fallback \
                and (ctx.newest is None or ctx.newest >= removed):
            supports = f"the course supports Python {show(ctx.newest)}" if ctx.newest else \
                "the course sets no upper Python bound"
            out.add("TT234", module.key, ref.path, ref.line,
                     f"module {ref.top} was removed from the standard library in Python {show(removed)}, and "
                     f"{supports}", f"replace `{ref.statement}` on {ref.where}", ref.cell)


def _unparsable_newer_syntax(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource) -> None:
    """Exported cells the running interpreter cannot parse at all, because their syntax is newer."""
    for parsed in item.exported:
        if parsed.error is None:
            continue
        newer = newer_syntax_by_text(parsed.code)
        if newer and newer[1] > ctx.oldest:
            line, cell = item.place(parsed.cell, newer[0])
            out.add("TT230", module.key, item.rel, line,
                    f"exported code uses {newer[2]}, which needs Python {show(newer[1])}, but the "
                    f"course supports Python {show(ctx.oldest)}",
                    f"rewrite {place(item, line, cell)} without it", cell)


CODES = frozenset({'TT230', 'TT231', 'TT232', 'TT234'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    # the syntax findings of a module depend on its own source and the oldest Python only, so they are
    # kept per module (module_cache.py); TT234 reads the import graph and runs every time
    inputs = [str(ctx.oldest)]
    for module, item, exported in ctx.dev_sources():
        def compute(module: CourseModule = module, item: ModuleSource = item,
                    exported: List[ParsedCell] = exported) -> List[List[Finding]]:
            syntax, unparsable = Emitter(CODES), Emitter(CODES)
            _python_versions(ctx, syntax, module, item, exported)
            _unparsable_newer_syntax(ctx, unparsable, module, item)
            return [syntax.findings, unparsable.findings]
        syntax, unparsable = module_findings("pyversions", item, inputs, 2, compute)
        removed = Emitter(CODES)
        _removed_modules(ctx, removed, module)
        yield from syntax
        yield from removed
        yield from unparsable
