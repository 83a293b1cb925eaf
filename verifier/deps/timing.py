"""When each node of an exported cell runs once the package is installed: at `import tinytorch.x`
(module top level, class bodies, decorators, default arguments, annotations evaluated at def time
without `from __future__ import annotations`) or only when a function is called — and whether a
failure there is caught (a module-level `try` whose handler catches NameError, Exception or
everything). Pure `ast`; nothing is imported or executed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, Iterable, Optional

from .imports import handlers_catch

# exceptions whose handler swallows a NameError (or an ImportError) raised in the try body
CATCHES_NAME_ERROR = {"NameError", "Exception", "BaseException"}


@dataclass(frozen=True)
class Timing:
    at_import: bool          # runs while `import tinytorch.x` executes the module
    scope: Optional[str]     # the function whose call runs it (`Trainer.train`); None at import time
    caught: bool = False     # inside a try whose handler catches NameError / Exception / everything
    evaluated: bool = True   # False for annotations Python never evaluates (in function bodies, or
    #                          everywhere under `from __future__ import annotations`)


NEVER = Timing(False, None, False, False)


def lazy_annotations(trees: Iterable[Optional[ast.Module]]) -> bool:
    """Whether the exported module starts with `from __future__ import annotations` (nbdev keeps a
    future import of any exported cell at the top of the module): annotations are then never evaluated."""
    for tree in trees:
        for node in getattr(tree, "body", []) or []:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__" and \
                    any(a.name == "annotations" for a in node.names):
                return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    """`if __name__ == "__main__":` — its body never runs on import."""
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__" \
        and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant) \
        and test.comparators[0].value == "__main__"


def timings(tree: ast.Module, lazy: bool = False) -> Dict[int, Timing]:
    """id(node) -> Timing for every node of a cell's tree."""
    out: Dict[int, Timing] = {}

    def mark(node: Optional[ast.AST], timing: Timing) -> None:
        if node is None:
            return
        for sub in ast.walk(node):
            out.setdefault(id(sub), timing)

    def annotations(args: ast.arguments, timing: Timing) -> None:
        every = list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs) + \
            [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in every:
            out[id(arg)] = timing
            if arg.annotation is not None:
                mark(arg.annotation, timing if not lazy else NEVER)

    def visit(nodes: Iterable[ast.AST], timing: Timing, prefix: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[id(node)] = timing
                for decorator in node.decorator_list:
                    mark(decorator, timing)
                for default in list(node.args.defaults) + [d for d in node.args.kw_defaults if d is not None]:
                    mark(default, timing)
                annotations(node.args, timing)
                if node.returns is not None:
                    mark(node.returns, timing if not lazy else NEVER)
                out[id(node.args)] = timing
                name = f"{prefix}{node.name}"
                visit(node.body, Timing(False, name), f"{name}.<locals>.")
            elif isinstance(node, ast.Lambda):
                out[id(node)] = timing
                for default in list(node.args.defaults) + [d for d in node.args.kw_defaults if d is not None]:
                    mark(default, timing)
                annotations(node.args, timing)
                out[id(node.args)] = timing
                visit([node.body], Timing(False, timing.scope or "<lambda>"), prefix)
            elif isinstance(node, ast.ClassDef):
                out[id(node)] = timing
                for sub in list(node.decorator_list) + list(node.bases) + [k.value for k in node.keywords]:
                    mark(sub, timing)
                visit(node.body, timing, f"{prefix}{node.name}.")
            elif isinstance(node, ast.If) and timing.at_import and _is_main_guard(node.test):
                out[id(node)] = timing
                mark(node.test, timing)
                visit(node.body, Timing(False, "__main__"), prefix)
                visit(node.orelse, timing, prefix)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                out[id(node)] = timing
                caught = timing.caught or handlers_catch(node.handlers, CATCHES_NAME_ERROR)  # type: ignore[attr-defined]
                visit(node.body, Timing(timing.at_import, timing.scope, caught), prefix)  # type: ignore[attr-defined]
                visit(node.handlers, timing, prefix)  # type: ignore[attr-defined]
                visit(node.orelse, timing, prefix)  # type: ignore[attr-defined]
                visit(node.finalbody, timing, prefix)  # type: ignore[attr-defined]
            elif isinstance(node, ast.AnnAssign) and not timing.at_import and timing.scope is not None:
                # an annotation in a function body is never evaluated
                out[id(node)] = timing
                mark(node.annotation, NEVER)
                visit([n for n in (node.target, node.value) if n is not None], timing, prefix)
            else:
                out[id(node)] = timing
                if lazy and isinstance(node, ast.AnnAssign):
                    mark(node.annotation, NEVER)
                visit(ast.iter_child_nodes(node), timing, prefix)

    visit(tree.body, Timing(True, None), "")
    return out
