"""Size and complexity of the exported code per course module, from the AST (no code runs).

Per module, in course order: lines of code (non-blank, non-comment lines of its exported
cells), functions (including methods), classes, and McCabe cyclomatic complexity — written
here rather than taken from radon/mccabe to avoid a dependency for ~40 lines: each function
counts 1 plus one per decision point (if/elif, for, while, except, conditional expression,
each extra operand of `and`/`or`, each `if` of a comprehension, each `case`, each `assert`, as radon counts), and the
module-level code counts the same way. A module is *flagged* when its complexity is more than
FLAG_RATIO times that of every module after it in the course (at least MIN_LATER of them): an
early module that outweighs everything built on it is usually doing too much for its place.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import List

from .export import ExportPlan

FLAG_RATIO = 1.5
MIN_LATER = 2            # with fewer later modules the comparison says little (the last ones are never flagged)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.IfExp, ast.Assert)


@dataclass
class ModuleMetrics:
    module: str              # course module key, e.g. 10_spatial
    lines: int               # non-blank, non-comment lines of exported code
    functions: int           # functions and methods
    classes: int
    complexity: int          # cyclomatic complexity, summed over functions and module-level code
    max_function: int        # the most complex function's complexity
    max_function_name: str
    flagged: bool = False    # much more complex than every module after it


def _decisions(node: ast.AST) -> int:
    """Decision points inside `node`, not descending into nested functions (they count on their own)."""
    count = 0
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FUNCTIONS) or isinstance(child, ast.Lambda):
            continue
        if isinstance(child, BRANCHES):
            count += 1
        elif isinstance(child, ast.BoolOp):
            count += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            count += 1 + len(child.ifs)
        elif type(child).__name__ == "match_case":
            count += 1
        count += _decisions(child)
    return count


def _functions(tree: ast.AST) -> List[ast.AST]:
    return [n for n in ast.walk(tree) if isinstance(n, FUNCTIONS)]


def code_metrics(code: str) -> dict:
    """Lines, functions, classes and complexity of one piece of Python source."""
    tree = ast.parse(code)
    functions = _functions(tree)
    per_function = [(1 + _decisions(f), getattr(f, "name", "?")) for f in functions]
    module_level = _decisions(tree)
    lines = sum(1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#"))
    worst = max(per_function, default=(0, ""))
    return {"lines": lines, "functions": len(functions),
            "classes": sum(isinstance(n, ast.ClassDef) for n in ast.walk(tree)),
            "complexity": sum(c for c, _ in per_function) + module_level,
            "max_function": worst[0], "max_function_name": worst[1]}


def flag_outliers(rows: List[ModuleMetrics], ratio: float = FLAG_RATIO) -> List[ModuleMetrics]:
    """Flag each module whose complexity exceeds `ratio` x that of every later module."""
    for index, row in enumerate(rows):
        later = [r.complexity for r in rows[index + 1:]]
        row.flagged = len(later) >= MIN_LATER and row.complexity > ratio * max(later)
    return rows


def module_metrics(plan: ExportPlan) -> List[ModuleMetrics]:
    """Per course module (course order), the metrics of the cells it exports."""
    rows: List[ModuleMetrics] = []
    for module in plan.course.modules:
        cells = [item.cell for target in plan.targets.values() for item in target.cells
                 if item.module.key == module.key]
        if not cells:
            continue
        code = "\n".join("\n".join(cell.body) for cell in cells)
        try:
            figures = code_metrics(code)
        except SyntaxError:
            continue  # validation reports it; nothing to measure
        rows.append(ModuleMetrics(module.key, **figures))
    return flag_outliers(rows)
