"""Export targets that differ only by case (TT119): `core.Dense` and `core.dense` are two files on
Linux, where validation and the build pass, but one file on macOS and Windows (case-insensitive file
systems), where installing the wheel keeps only the last one written — one module's code is gone.
A folder differing by case (`Core.x` and `core.y`) is the same trap one level up.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

from ..course.analysis import ModuleSource
from ._conflicts import _targets_of
from .context import CheckContext, Emitter, place
from .findings import Finding

# (module key, source, target, line, cell) of one export directive
Export = Tuple[str, ModuleSource, str, int, Optional[int]]


def _exports(ctx: CheckContext) -> List[Export]:
    found: List[Export] = []
    for entry in ctx.analysis.modules:
        for item in [entry.dev] + list(entry.extras):
            if item is None or item.source is None:
                continue
            found.extend((entry.key, item, target, line, cell) for target, line, cell in _targets_of(ctx, item))
    return found


def _file_of(package: str, target: str, depth: int) -> str:
    """The path the first `depth` parts of a target occupy in the wheel (a folder, or the module file)."""
    parts = target.split(".")
    head = "/".join([package] + parts[:depth])
    return head + ".py" if depth == len(parts) else head + "/"


def check_case_collisions(ctx: CheckContext, out: Emitter) -> None:
    package = ctx.course.package
    first_by_folded: Dict[str, Tuple[str, Export]] = {}
    reported = set()
    for export in _exports(ctx):
        key, item, target, line, cell = export
        for depth in range(1, len(target.split(".")) + 1):
            path = _file_of(package, target, depth)
            seen = first_by_folded.setdefault(path.casefold(), (path, export))
            if seen[0] == path:
                continue
            other_path, (other_key, other_item, other_target, other_line, other_cell) = seen
            pair = frozenset((seen[0], path))
            if pair in reported:
                break
            reported.add(pair)
            out.add("TT119", key, item.rel, line,
                    f"{package}.{target} ({place(item, line, cell)}) and {package}.{other_target} "
                    f"({place(other_item, other_line, other_cell)}) differ only by case: {other_path} and {path} "
                    f"are one file on macOS and Windows, so installing the wheel there keeps only one of them",
                    f"rename one target so the two differ in more than case (change the directive on "
                    f"{place(item, line, cell)}; module names are lowercase by convention)", cell,
                    details=[f"also exported: {package}.{other_target} at {place(other_item, other_line, other_cell)}"],
                    related=[other_key], target=f"{package}.{target}")
            break


CODES = frozenset({"TT119"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_case_collisions(ctx, out)
    yield from out
