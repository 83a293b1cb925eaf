"""module.yaml metadata: shape (TT001), presence (TT006), dev file (TT110), name (TT111) and
components defined by the exported cells (TT118; components may be names or `- name: X` mappings).
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterator, List, Set, Tuple

from ..course.analysis import ModuleAnalysis
from ..course.discovery import CourseModule
from ..deps.cellfacts import facts_of
from .context import CheckContext, Emitter
from .findings import Finding


def check_module_yaml(ctx: CheckContext, out: Emitter, entry: ModuleAnalysis) -> None:
    module = entry.module
    meta_rel = ctx.rel(module.meta_path)
    if module.meta_problem is not None:
        out.add("TT001", module.key, meta_rel, module.meta_problem.line, module.meta_problem.message,
                 f"fix {meta_rel}" + (f" at line {module.meta_problem.line}" if module.meta_problem.line else "")
                 + " (it must be a YAML mapping: name, exports_to, dependencies, components ...)")
        return
    if module.meta_path is None:
        with_yaml = sum(1 for m in ctx.course.modules if m.meta_path)
        # the course uses module.yaml when most modules have one (upstream 4246c759: 1 of 20 has one, the rest none)
        if ctx.course.layout in ("A", "B") and with_yaml * 2 > len(ctx.course.modules):
            out.add("TT006", module.key, ctx.rel(module.folder), None,
                     f"{module.key} has no module.yaml, while the course's modules declare one",
                     f"add {ctx.rel(module.folder)}/module.yaml with name, exports_to and "
                     f"dependencies.prerequisites")
        return
    meta = module.meta or {}
    lines = ctx.ylines(module)
    shapes = (("exports_to", str, "a dotted module name"), ("name", str, "a string"),
              ("components", list, "a list of names"), ("dependencies", dict, "a mapping"),
              ("files", dict, "a mapping"))
    for key, kind, what in shapes:
        if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
            out.add("TT001", module.key, meta_rel, lines.get(key),
                     f"module.yaml `{key}` must be {what}, found {type(meta[key]).__name__}",
                     f"fix `{key}` on line {lines.get(key)} of {meta_rel}")
    deps = meta.get("dependencies")
    if isinstance(deps, dict) and deps.get("prerequisites") is not None \
            and not isinstance(deps["prerequisites"], list):
        line = lines.get("dependencies.prerequisites")
        out.add("TT001", module.key, meta_rel, line, "module.yaml `dependencies.prerequisites` must be a list "
                 "of module names", f"write it as a YAML list on line {line} of {meta_rel}")
    name = meta.get("name")
    if isinstance(name, str) and name not in (module.name, module.key):
        out.add("TT111", module.key, meta_rel, lines.get("name"),
                 f"module.yaml name `{name}` does not match the folder {module.key}",
                 f"change `name` on line {lines.get('name')} of {meta_rel} to `{module.name}`")
    files = meta.get("files")
    dev_file = files.get("dev_file") if isinstance(files, dict) else None
    if dev_file:
        line = lines.get("files.dev_file")
        declared = module.folder / str(dev_file)
        stem = Path(str(dev_file)).stem
        if not declared.is_file():
            found = f"; the dev file is {module.source.name}" if module.source else ""
            out.add("TT110", module.key, meta_rel, line,
                     f"module.yaml files.dev_file names {dev_file}, which does not exist{found}",
                     f"change `dev_file` on line {line} of {meta_rel} to "
                     f"`{module.source.name if module.source else module.name + '.py'}`")
        elif stem not in (module.name, f"{module.name}_dev"):
            out.add("TT110", module.key, ctx.rel(declared), None,
                     f"dev file {dev_file} does not match the folder {module.key}",
                     f"rename it to {module.name}{Path(str(dev_file)).suffix} (or {module.name}_dev"
                     f"{Path(str(dev_file)).suffix}) and update files.dev_file on line {line} of {meta_rel}")



def component_names(module: CourseModule) -> List[Tuple[int, str]]:
    """(index, name) of module.yaml components, written as names (`- Tensor`, `- relu()`) or as
    mappings (`- name: Tensor` with more keys); entries with neither are skipped."""
    raw = module.meta.get("components") if isinstance(module.meta, dict) else None
    out: List[Tuple[int, str]] = []
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(item, dict):
            item = item.get("name")
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            continue
        name = str(item).strip()
        name = name[:-2] if name.endswith("()") else name
        if name:
            out.append((index, name))
    return out


def check_components(ctx: CheckContext, out: Emitter, entry: ModuleAnalysis) -> None:
    module, item = entry.module, entry.dev
    components = component_names(module)
    if not components or item is None or item.source is None:
        return
    defined: Set[str] = set()
    for parsed in item.exported:
        facts = facts_of(parsed, item.package)
        if facts is not None:
            defined |= facts.defined
    if any(not p.has_tree for p in item.exported):
        return  # a syntax error is already reported; don't guess what the cell defines
    lines = ctx.ylines(module)
    meta_rel = ctx.rel(module.meta_path)
    for index, name in components:
        if name not in defined:
            line = lines.get(f"components[{index}]") or lines.get("components")
            close = difflib.get_close_matches(name, sorted(defined), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            out.add("TT118", module.key, meta_rel, line,
                     f"module.yaml component `{name}` is not defined by {module.key}'s exported cells{hint}",
                     f"define `{name}` in an exported cell of {item.rel}, or remove it from components on "
                     f"line {line} of {meta_rel}")



CODES = frozenset({'TT001', 'TT006', 'TT110', 'TT111', 'TT118'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    for entry in ctx.analysis.modules:
        check_module_yaml(ctx, out, entry)
        check_components(ctx, out, entry)
    yield from out
