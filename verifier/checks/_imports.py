"""Imports between modules: undeclared (TT201), unused (TT202) and unknown (TT203) prerequisites,
cycles (TT204), progression (TT205), imports of package modules (TT206) or names (TT207) nothing
exports, and in-tree imports of dev files (TT211).

Impact follows what happens in a fresh venv: an import in the ImportError fallback of a try that imports
the package never runs once the package is installed (no finding); a failing import inside a
try/except ImportError (or Exception, or a bare except) does not break `import`, the installed package
silently runs on the fallback (TT208, degraded); any other failing import breaks `import tinytorch.x`
(module level) or a call (inside a function), recorded as the finding's `when`.
"""
from __future__ import annotations

import difflib
from typing import Iterator, Optional, Tuple

from .context import CheckContext, Emitter
from .findings import Finding, When


def check_dependencies(ctx: CheckContext, out: Emitter) -> None:
    graph, course = ctx.graph, ctx.course
    by_key = {m.key: m for m in course.modules}
    for key, items in graph.unknown.items():
        module = by_key[key]
        meta_rel = ctx.rel(module.meta_path)
        for name, line in items:
            close = difflib.get_close_matches(name, [m.name for m in course.modules], n=1)
            out.add("TT203", key, meta_rel, line,
                     f"prerequisite `{name}` in module.yaml is no module of the course",
                     f"change it on line {line} of {meta_rel} to "
                     + (f"`{close[0]}`" if close else "the name of an existing module"))
    for key, dep, refs in graph.undeclared():
        module = by_key[key]
        meta_rel = ctx.rel(module.meta_path)
        line = ctx.ylines(module).get("dependencies.prerequisites") or module.meta_lines.get("dependencies")
        ref = refs[0]
        out.add("TT201", key, ref.path, ref.line,
                 f"exported code imports {dep} (`{ref.statement}`), but module.yaml does not declare it",
                 f"add `{by_key[dep].name}` to dependencies.prerequisites in {meta_rel}"
                 + (f" (line {line})" if line else "") + ", or remove the import", ref.cell,
                 details=[r.describe() for r in refs], related=[dep])
    unreadable = {e.key for e in ctx.analysis.modules
                  if e.dev is None or e.dev.source is None or any(not p.has_tree for p in e.dev.exported)}
    for key, dep in graph.unused():
        if key in unreadable:  # its imports are unknown, not absent
            continue
        module = by_key[key]
        path, line = graph.declared_lines.get(key, {}).get(dep, (ctx.rel(module.meta_path), None))
        out.add("TT202", key, path, line,
                 f"module.yaml declares prerequisite `{by_key[dep].name}`, but {key}'s exported code never "
                 f"imports {dep}", f"remove `{by_key[dep].name}` from dependencies.prerequisites on line {line} "
                 f"of {path}, unless it is only a conceptual prerequisite", related=[dep])
    for cycle in graph.cycles():
        evidence = []
        for a, b in zip(cycle, cycle[1:]):
            evidence += [f"{a} -> {b}: {e}" for e in graph.evidence(a, b)]
        path, line, cell = _edge_place(ctx, cycle[0], cycle[1])
        backwards = [(a, b) for a, b in zip(cycle, cycle[1:]) if by_key[b].number > by_key[a].number]
        culprit = backwards[0] if backwards else (cycle[0], cycle[1])
        out.add("TT204", cycle[0], path, line, f"dependency cycle: {' -> '.join(cycle)}",
                 f"break the cycle: {culprit[0]} must not depend on {culprit[1]} (a later module); move the "
                 f"shared code into the lower-numbered module", cell, details=evidence, related=cycle[1:-1])
    for key, dep in graph.backwards():
        path, line, cell = _edge_place(ctx, key, dep)
        imports = graph.actual.get(key, {}).get(dep)
        how = f"imports it (`{imports[0].statement}`)" if imports else "declares it as a prerequisite"
        order = 'at the same place' if by_key[dep].number == by_key[key].number else 'later'
        out.add("TT205", key, path, line,
                 f"{key} depends on {dep}, which comes {order} in the course: it {how}",
                 f"a module may use only lower-numbered modules: remove the dependency of {key} on {dep}, or "
                 f"move the code it needs into {key} or an earlier module", cell,
                 details=graph.evidence(key, dep), related=[dep])
    for key, refs in graph.refs.items():
        for ref in refs:
            resolution = graph.resolutions.get(ref)
            if resolution is None or ref.fallback:
                continue  # a fallback of a package import never runs once the package is installed
            when = When.CALL if ref.in_function else When.IMPORT
            place = dict(what=ref.statement, when=when, target=ctx.package_module(ref.target))

            # key, ref and place are bound as defaults so `add` keeps this iteration's values (B023)
            def add(code: str, issue: str, fix: str, related=(), *, key=key, ref=ref, place=place) -> None:
                if ref.guarded and code in ("TT206", "TT207", "TT211"):
                    out.add("TT208", key, ref.path, ref.line,
                            f"{issue}; it sits in a try/except ImportError, so `import` succeeds and the "
                            f"installed package silently runs on the fallback", fix, ref.cell,
                            related=related, what=ref.statement, target=place["target"])
                else:
                    out.add(code, key, ref.path, ref.line, issue, fix, ref.cell, related=related, **place)

            if resolution.kind == "unresolved":
                known = sorted(f"{course.package}.{t}" for t in ctx.resolver.targets)
                wanted = f"{course.package}.{resolution.target}" if resolution.target else ref.name
                close = difflib.get_close_matches(wanted, known, n=1)
                if resolution.modules:
                    fix = (f"fix the `#| default_exp` of {resolution.modules[0]} to match its exports_to "
                           f"(see its TT101); this import is then correct")
                else:
                    fix = "import a module that a course module exports" + \
                        (f" (did you mean {close[0]}?)" if close else "")
                add("TT206", f"`{ref.statement}`: {resolution.problem or wanted + ' is not exported by any module'}",
                    fix, related=resolution.modules)
            elif resolution.kind == "package" and resolution.missing:
                where = f"{course.package}.{resolution.target}" if resolution.target else course.package
                for name in resolution.missing:
                    candidates = sorted(ctx.resolver.defined.get(resolution.target or "", set())
                                        | set(ctx.resolver.public))
                    close = difflib.get_close_matches(name, candidates, n=1)
                    add("TT207", f"`{ref.statement}`: {where} does not define `{name}`",
                        f"import a name that {where} exports" + (f" (did you mean `{close[0]}`?)" if close else ""))
            elif resolution.kind == "intree":
                owner = resolution.modules[0] if resolution.modules else None
                target = next((t for t, keys in ctx.resolver.targets.items() if owner in keys), None)
                instead = f"`from {course.package}.{target} import ...`" if target else \
                    f"an import from the {course.package} package"
                what = "the modules folder" if ref.top == ctx.resolver.modules_top else \
                    f"the dev file {ref.top}" + (f" of {owner}" if owner else " (no such module)")
                add("TT211", f"exported code imports {what} (`{ref.statement}`): it works only inside a checkout",
                    f"use {instead} instead")

def _edge_place(ctx: CheckContext, key: str, dep: str) -> Tuple[Optional[str], Optional[int], Optional[int]]:
    refs = ctx.graph.actual.get(key, {}).get(dep)
    if refs:
        return refs[0].path, refs[0].line, refs[0].cell
    path, line = ctx.graph.declared_lines.get(key, {}).get(dep, (None, None))
    return path, line, None


CODES = frozenset({'TT201', 'TT202', 'TT203', 'TT204', 'TT205', 'TT206', 'TT207', 'TT208', 'TT211'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_dependencies(ctx, out)
    yield from out
