"""Reading sources: unreadable files (TT002), syntax errors in exported (TT003) and other (TT008)
cells, a module folder without a dev file (TT004), cells too large to analyse within the parse
budget (TT011, see course/budget.py). Syntax that only a newer Python accepts is TT230
(see _pyversions), not a syntax error.
"""
from __future__ import annotations

from typing import Iterator

from ..course.analysis import ModuleAnalysis
from ..course.budget import FILE_TOKEN_BUDGET
from ..course.discovery import SOURCE_SUFFIXES
from ._pyversions import newer_syntax_by_text
from .context import CheckContext, Emitter, place
from .findings import Finding


def check_source(ctx: CheckContext, out: Emitter, entry: ModuleAnalysis) -> None:
    module = entry.module
    if module.source is None:
        others = sorted(p.name for p in module.folder.iterdir() if p.suffix in SOURCE_SUFFIXES)
        hint = f" (found {', '.join(others)})" if others else ""
        out.add("TT004", module.key, ctx.rel(module.folder), None,
                 f"{module.key} has no dev file {module.name}.py or {module.name}_dev.py{hint}",
                 f"name the module's source {module.name}.py (percent format) or {module.name}_dev.py")
        return
    for item in (entry.dev, entry.paired):
        if item is None:
            continue
        if item.read_error is not None:
            exc = item.read_error
            out.add("TT002", module.key, item.rel, exc.line, exc.message,
                     exc.hint or f"repair {item.rel}")
            continue
        if item is entry.paired:
            continue
        for parsed in item.cells:
            if parsed.too_large:
                line, cell = item.place(parsed.cell, 1)
                out.add("TT011", module.key, item.rel, line,
                         f"cell too large to analyse: about {parsed.too_large:,} tokens, over what is left of the "
                         f"{FILE_TOKEN_BUDGET:,}-token budget of one source file",
                         f"move the data at {place(item, line, cell)} out of the source (load it from a file the "
                         f"package ships, or generate it in code)", cell)
                continue
            if parsed.error is None:
                continue
            line, cell = item.place(parsed.cell, parsed.error.lineno or 1)
            if parsed.exported:
                newer = newer_syntax_by_text(parsed.code)
                if newer and newer[1] > ctx.oldest:
                    continue  # syntax of a newer Python: TT230, reported by _pyversions
                out.add("TT003", module.key, item.rel, line,
                         f"syntax error in an exported cell: {parsed.error.msg}",
                         f"fix the code at {place(item, line, cell)}", cell)
            else:
                out.add("TT008", module.key, item.rel, line,
                         f"syntax error in a non-exported cell: {parsed.error.msg}",
                         f"fix the code at {place(item, line, cell)}", cell)



CODES = frozenset({'TT002', 'TT003', 'TT004', 'TT008', 'TT011'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    for entry in ctx.analysis.modules:
        check_source(ctx, out, entry)
    yield from out
