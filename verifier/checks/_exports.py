"""Export directives: one `#| default_exp` per dev file (TT102, TT103) equal to module.yaml exports_to
(TT101), valid targets (TT104) under the course's chosen location (TT105) shadowing nothing (TT106),
exported cells without a target (TT115) and directives below code (TT116).
"""
from __future__ import annotations

import io
import keyword
import re
import tokenize
from typing import Dict, Iterator, Optional, Tuple

from ..course.analysis import ModuleAnalysis, ModuleSource
from ..course.discovery import Course, CourseModule
from ..course.pyversions import SHADOWABLE_STDLIB
from ..course.sources import DIRECTIVE, normalise_target
from ._thirdparty import declared_imports, installed_top_levels
from .context import CHECKED_DIRECTIVES, CheckContext, Emitter, place
from .findings import Finding


def _target_problem(raw: str, course: Course, enforce_location: bool = True) -> Optional[Tuple[str, str]]:
    """(code, reason) when an export target is not acceptable, else None."""
    value = raw.strip()
    package = course.package
    if not value:
        return "TT104", "is empty"
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        return "TT104", "is an absolute path"
    if "/" in value or "\\" in value:
        return "TT104", "contains a path separator (use dots: core.tensor)"
    if ".." in value or value.startswith(".") or value.endswith("."):
        return "TT104", "has empty or relative (..) parts"
    if value.endswith((".py", ".ipynb")):
        return "TT104", "names a file, not a module (drop the extension)"
    rel = normalise_target(value, package)
    for part in rel.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            return "TT104", f"has `{part}`, which is not a Python identifier"
    if rel == package:
        return "TT104", f"is the {package} package itself"
    location = course.location.strip(".") if enforce_location else ""
    if location and not (rel.startswith(location + ".")):
        where = f"{package}.{location}"
        if rel == location:
            return "TT105", f"is {where} itself, not a module inside it"
        return "TT105", f"is outside {where} (the allowed location)"
    parts = rel.split(".")
    for part in parts:
        if part in SHADOWABLE_STDLIB:
            return "TT106", f"has `{part}`, which shadows the standard-library module {part}"
    last = parts[-1]
    if last in installed_top_levels() or last in declared_imports(course):
        return "TT106", f"has `{last}`, which shadows the installed package {last}"
    return None



def check_exports(ctx: CheckContext, out: Emitter, entry: ModuleAnalysis) -> None:
    module, item = entry.module, entry.dev
    if item is None or item.source is None:
        return
    course = ctx.course
    exports_to = normalise_target(module.exports_to, course.package) if module.exports_to else None
    meta_rel = ctx.rel(module.meta_path)
    meta_line = module.meta_lines.get("exports_to")
    exports_ok = exports_to is not None and _target_problem(exports_to, course, ctx.location_explicit) is None
    if not item.default_exps:
        wanted = exports_to if exports_ok else ctx.suggested_target(module)
        out.add("TT102", module.key, item.rel, 1 if not item.notebook else None,
                 f"{item.path.name} has no `#| default_exp` directive, so its cells have no target module",
                 f"add a code cell at the top of {item.rel} with `#| default_exp {wanted}`")
    for extra in item.default_exps[1:]:
        first = item.default_exps[0]
        out.add("TT103", module.key, item.rel, extra.line,
                 f"{item.path.name} has {len(item.default_exps)} `#| default_exp` directives "
                 f"(lines {', '.join(str(d.line) for d in item.default_exps)}); nbdev uses only the last",
                 f"keep one: `#| default_exp {normalise_target(first.args, course.package)}`, and delete the "
                 f"directive on line {extra.line} of {item.rel}")
    cells_of: Dict[int, int] = {}
    if item.notebook:
        for c in item.source.cells:
            for d in c.directives:
                cells_of[id(d)] = c.index + 1
    for directive in item.default_exps:
        cell = cells_of.get(id(directive))
        _check_target(ctx, out, module, item, directive.args, directive.line, cell, f"#| default_exp {directive.args}")
    default = item.default_target
    if item.default_exps and module.exports_to and default != exports_to:
        directive = item.default_exps[-1]
        cell = cells_of.get(id(directive))
        issue = (f"#| default_exp {directive.args} does not match exports_to {module.exports_to} "
                 f"in module.yaml")
        if exports_ok:
            fix = f"change the directive on {place(item, directive.line, cell)} to `#| default_exp {exports_to}`"
        else:
            fix = (f"change exports_to on line {meta_line} of {meta_rel} to `{course.package}.{default}`")
        out.add("TT101", module.key, item.rel, directive.line, issue, fix, cell)
    orphans = [p for p in item.exported if p.target is None]
    if orphans:
        orphan = orphans[0]
        assert orphan.directive is not None  # an exported cell always carries its export directive
        line, cell = item.directive_place(orphan.directive, orphan.cell)
        wanted = exports_to if exports_ok else ctx.suggested_target(module)
        out.add("TT115", module.key, item.rel, line,
                 f"{len(orphans)} exported cell(s) in {item.path.name} but the file has no `#| default_exp` "
                 f"target", f"add `#| default_exp {wanted}` at the top of {item.rel}", cell)
    for parsed in item.exported:
        if parsed.directive is not None and parsed.directive.args:
            line, cell = item.directive_place(parsed.directive, parsed.cell)
            _check_target(ctx, out, module, item, parsed.directive.args, line, cell,
                               f"#| {parsed.directive.name} {parsed.directive.args}")
    _misplaced_directives(ctx, out, module, item)

def _check_target(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource, raw: str, line: int,
                  cell: Optional[int], shown: str) -> None:
    problem = _target_problem(raw, ctx.course, ctx.location_explicit)
    if problem is None:
        return
    code, reason = problem
    suggestion = ctx.suggested_target(module)
    location = suggestion.rsplit(".", 1)[0] if "." in suggestion else ""
    if code == "TT106" or normalise_target(raw, ctx.course.package) == suggestion:
        last = normalise_target(raw, ctx.course.package).split(".")[-1]
        suggestion = f"{location + '.' if location else ''}{last}_ops"
    out.add(code, module.key, item.rel, line, f"`{shown}` {reason}",
             f"change the directive on {place(item, line, cell)} to `#| default_exp {suggestion}`"
             + (" (and exports_to in module.yaml to match)" if module.meta_path else ""), cell)

def _misplaced_directives(ctx: CheckContext, out: Emitter, module: CourseModule, item: ModuleSource) -> None:
    for parsed in item.cells:
        body = parsed.cell.body
        if not any("#" in line and "|" in line for line in body):
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(body) + "\n").readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        for token in tokens:
            if token.type != tokenize.COMMENT:
                continue
            match = DIRECTIVE.match(token.string.strip())
            if match and match["name"] in CHECKED_DIRECTIVES:
                line, cell = item.place(parsed.cell, token.start[0])
                out.add("TT116", module.key, item.rel, line,
                         f"`{token.string.strip()}` is below code in its cell, so nbdev ignores it",
                         "move it to the top of the cell (directives are the first comment lines of a "
                         "code cell), or delete it", cell)


CODES = frozenset({'TT101', 'TT102', 'TT103', 'TT104', 'TT105', 'TT106', 'TT115', 'TT116'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    for entry in ctx.analysis.modules:
        check_exports(ctx, out, entry)
    yield from out
