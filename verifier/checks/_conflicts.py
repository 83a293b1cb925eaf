"""Conflicts between modules: two sources for one target (TT112), stray exporting sources (TT113),
one public name exported by two modules (TT114 — only where the package __init__ star-imports every
module, `[tool.tinytorch] init = "star-imports"`; nbdev's and a course's own __init__ do not).
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set, Tuple

from ..course.analysis import ModuleAnalysis, ModuleSource
from ..deps.cellfacts import facts_of
from .context import CheckContext, Emitter, place
from .findings import Finding


def check_conflicts(ctx: CheckContext, out: Emitter) -> None:
    """Two sources, one target — including stray extra files in module folders."""
    owners: Dict[str, Tuple[ModuleAnalysis, ModuleSource, int, Optional[int]]] = {}
    for entry in ctx.analysis.modules:
        if entry.dev is None or entry.dev.source is None:
            continue
        for target, line, cell in _targets_of(ctx, entry.dev):
            first = owners.get(target)
            if first is None:
                owners[target] = (entry, entry.dev, line, cell)
            elif first[1].path != entry.dev.path:
                out.add("TT112", entry.key, entry.dev.rel, line,
                         f"two sources export to {ctx.course.package}.{target}: {first[1].rel} and "
                         f"{entry.dev.rel}", f"give {entry.key} its own target (change the directive on "
                         f"{place(entry.dev, line, cell)})", cell,
                         details=[f"also exported by {place(first[1], first[2], first[3])}"],
                         related=[first[0].key])
    for entry in ctx.analysis.modules:
        for extra in entry.extras:
            targets = _targets_of(ctx, extra)
            clashes = [(t, line, cell) for t, line, cell in targets if t in owners]
            for target, line, cell in clashes:
                first = owners[target]
                out.add("TT112", entry.key, extra.rel, line,
                         f"two sources export to {ctx.course.package}.{target}: {first[1].rel} and "
                         f"{extra.rel}",
                         f"delete {extra.rel} (or remove its export directives) so that {first[1].rel} is the "
                         f"only source of {ctx.course.package}.{target}", cell,
                         details=[f"also exported by {place(first[1], first[2], first[3])}"],
                         related=[first[0].key])
            if not clashes and (extra.default_exps or extra.exported):
                where = extra.default_exps[0].line if extra.default_exps else \
                    extra.exported[0].directive.line if extra.exported[0].directive else None
                out.add("TT113", entry.key, extra.rel, where,
                         f"{extra.rel} is not the module's dev file but has export directives (nbdev exports "
                         f"every notebook in the modules folder)",
                         f"delete {extra.rel}, move it out of the modules folder, or fold it into "
                         f"{entry.dev.rel if entry.dev else entry.module.name + '.py'}")

def _targets_of(ctx: CheckContext, item: ModuleSource) -> List[Tuple[str, int, Optional[int]]]:
    """Targets a source exports to, each with the directive that names it."""
    out: List[Tuple[str, int, Optional[int]]] = []
    seen: Set[str] = set()
    if item.source is None:
        return out
    default = item.default_target
    default_line: Optional[Tuple[int, Optional[int]]] = None
    for c in item.source.cells:
        for d in c.directives:
            if d.name == "default_exp":
                default_line = (d.line, c.index + 1 if item.notebook else None)
    if default and default_line:
        out.append((default, default_line[0], default_line[1]))
        seen.add(default)
    for parsed in item.exported:
        if parsed.target and parsed.target not in seen:
            seen.add(parsed.target)
            line, cell = item.directive_place(parsed.directive, parsed.cell)  # type: ignore[arg-type]
            out.append((parsed.target, line, cell))
    return out

def check_public_names(ctx: CheckContext, out: Emitter) -> None:
    # Only a package __init__ that star-imports every module makes two definitions collide at
    # `from tinytorch import name`; nbdev's __init__ (`__version__` only) and a course's own do not.
    if ctx.course.package_init != "star-imports":
        return
    owner: Dict[str, Tuple[str, ModuleSource, int, Optional[int]]] = {}
    for entry in ctx.analysis.modules:
        if entry.dev is None:
            continue
        seen: Set[str] = set()
        for parsed in entry.dev.exported:
            facts = facts_of(parsed, entry.dev.package)
            if facts is None or not parsed.public:
                continue
            for name, name_line in facts.public:
                if name in seen:
                    continue
                seen.add(name)
                line, cell = entry.dev.place(parsed.cell, name_line)
                if name in owner and owner[name][0] != entry.key:
                    first_key, first_item, first_line, first_cell = owner[name]
                    out.add("TT114", entry.key, entry.dev.rel, line,
                             f"`{name}` is exported by both {first_key} and {entry.key}; "
                             f"`from {ctx.course.package} import {name}` gets only one of them",
                             f"rename `{name}` on {place(entry.dev, line, cell)}, make it private "
                             f"(`_{name}`), or import it from {first_key} instead of redefining it", cell,
                             details=[f"first defined at {place(first_item, first_line, first_cell)}"],
                             related=[first_key])
                else:
                    owner.setdefault(name, (entry.key, entry.dev, line, cell))



CODES = frozenset({'TT112', 'TT113', 'TT114'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_conflicts(ctx, out)
    check_public_names(ctx, out)
    yield from out
