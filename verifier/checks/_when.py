"""When an install-breaking finding fails, for checks that locate a line but not its timing (TT212,
TT230-TT234 ...): the exported cell holding the line is walked once with `deps.timing` and the statement
at that line decides — `import` when it runs while `import tinytorch.x` executes the module, `call` when
only a function call runs it. Findings that already say when (TT206/TT207/TT211/TT220/TT233 ...), or
that are not in an exported cell of a module source, are left as they are.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

from ..deps.timing import Timing, lazy_annotations, timings
from .context import CheckContext
from .findings import Finding, Impact, When


def _timing_at(ctx: CheckContext, path: str, line: int, cell: Optional[int],
               cache: Dict[int, Dict[int, Timing]]) -> Optional[Tuple[When, Optional[str], Optional[str]]]:
    for entry in ctx.analysis.modules:
        item = entry.dev
        if item is None or item.rel != path or item.source is None:
            continue
        exported = [p for p in item.exported if p.tree is not None]
        lazy = lazy_annotations(p.tree for p in exported)
        for parsed in exported:
            first, first_cell = item.place(parsed.cell, 1)
            if first_cell != cell:
                continue
            body_line = line - first + 1
            if body_line < 1 or body_line > len(parsed.cell.body):
                continue
            table = cache.setdefault(id(parsed), timings(parsed.tree, lazy))  # type: ignore[arg-type]
            found: List[Timing] = [table[id(n)] for n in parsed.nodes
                                   if getattr(n, "lineno", None) == body_line and id(n) in table
                                   and table[id(n)].evaluated]
            if not found:
                return None
            at_import = any(t.at_import and not t.caught for t in found)
            scope = next((t.scope for t in found if t.scope), None)
            return (When.IMPORT if at_import else When.CALL, ctx.package_module(parsed.target), scope)
    return None


def locate_when(ctx: CheckContext, findings: Sequence[Finding]) -> List[Finding]:
    """The findings, each install-breaking one whose locations do not say when given that timing."""
    cache: Dict[int, Dict[int, Timing]] = {}
    out: List[Finding] = []
    for finding in findings:
        if finding.impact is Impact.INSTALL_BREAKING and finding.when is None and finding.path and finding.line:
            timing = _timing_at(ctx, finding.path, finding.line, finding.cell, cache)
            if timing is not None:
                when, target, scope = timing
                finding.locations = tuple(replace(loc, when=when, target=loc.target or target,
                                                  scope=loc.scope or scope) for loc in finding.locations)
        out.append(finding)
    return out
