"""Paired sources (TT117): a `.py` and its `.ipynb` twin must export the same code.
"""
from __future__ import annotations

import difflib
from typing import Iterator, List, Tuple

from ..course.analysis import ModuleAnalysis, ModuleSource, ParsedCell
from ..course.sources import normalise_target
from .context import CHECKED_DIRECTIVES, CheckContext, Emitter, place
from .findings import Finding


def check_pair(ctx: CheckContext, out: Emitter, entry: ModuleAnalysis) -> None:
    py, nb = entry.dev, entry.paired
    if py is None or nb is None or py.source is None or nb.source is None:
        return

    def signature(item: ModuleSource) -> List[Tuple[ParsedCell, Tuple[str, ...]]]:
        out = []
        for c in item.source.cells if item.source else []:
            if c.kind != "code":
                continue
            names = tuple(f"{d.name} {normalise_target(d.args, ctx.course.package)}".strip()
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
        out.add("TT117", entry.key, py.rel, line,
                 f"{py.path.name} and {nb.path.name} export different code (exported cell {index + 1}: "
                 f"{place(py, line, None) if line else 'missing in ' + py.rel} vs {where_nb})",
                 f"re-sync the pair (e.g. `jupytext --sync {py.rel}`) so both export the same code; "
                 f"nbdev exports the notebook", details=detail, related=())
        return



CODES = frozenset({'TT117'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    for entry in ctx.analysis.modules:
        check_pair(ctx, out, entry)
    yield from out
