"""Rendering the dependency graph: text (build order, graph, mismatches, cycles), Mermaid, Graphviz
dot and JSON — the formats of `tinytorch-verifier package deps`.
"""
from __future__ import annotations

import json
from typing import Dict, List

from .graph_model import DependencyGraph
from .imports import ImportRef


def unreadable_module_yamls(graph: DependencyGraph) -> List[Dict[str, object]]:
    """module.yaml files that cannot be read (YAML alias bomb, not a mapping ...): the declared graph is
    unknown there. `tinytorch-verifier package validate` reports each as TT001 with the same path, line and message."""
    found: List[Dict[str, object]] = []
    for module in graph.course.modules:
        problem = module.meta_problem
        if problem is None or module.meta_path is None:
            continue
        try:
            rel = module.meta_path.resolve().relative_to(graph.course.root.resolve()).as_posix()
        except ValueError:
            rel = str(module.meta_path)
        found.append({"module": module.key, "path": rel, "line": problem.line, "message": problem.message})
    return found


def mismatches(graph: DependencyGraph) -> List[str]:
    lines = []
    for item in unreadable_module_yamls(graph):
        where = f"{item['path']}:{item['line']}" if item["line"] else str(item["path"])
        lines.append(f"{where}: {item['message']} — its declared prerequisites cannot be checked (TT001)")
    for key, dep, refs in graph.undeclared():
        lines.append(f"{key} imports {dep} but module.yaml does not declare it: {refs[0].describe()}")
    for key, dep in graph.unused():
        lines.append(f"{key} declares {dep} but its exported code never imports it: {graph.evidence(key, dep)[0]}")
    for key, items in graph.unknown.items():
        for name, _ in items:
            lines.append(f"{key} declares prerequisite `{name}`, which is no module of the course")
    return lines


def _source_note(graph: DependencyGraph) -> str:
    if graph.has_declared:
        return "declared in module.yaml, checked against the imports of exported code"
    return "no module.yaml declares prerequisites, so there is no declared graph: " \
           "the graph is inferred from the imports of exported code"


def render_text(graph: DependencyGraph) -> str:
    course = graph.course
    out = [f"Dependencies of {course.root} (layout {course.layout}, {len(graph.keys)} modules; {_source_note(graph)})",
           ""]
    order = graph.order()
    if order is None:
        out.append("Build order: none (the graph has a cycle)")
    else:
        out.append("Build order:")
        out += [f"  {i}. {key}" for i, key in enumerate(order, 1)]
    out += ["", "Graph (module -> the modules it depends on; * = declared only, ! = imported but undeclared):"]
    undeclared = {(a, b) for a, b, _ in graph.undeclared()}
    unused = set(graph.unused())
    for key, deps in graph.edges().items():
        shown = [dep + ("*" if (key, dep) in unused else "!" if (key, dep) in undeclared else "") for dep in deps]
        out.append(f"  {key} -> {', '.join(shown)}" if shown else f"  {key}: (no dependencies)")
    found = mismatches(graph)
    if found:
        out += ["", "Declared versus actual:"] + [f"  - {m}" for m in found]
    cycles = graph.cycles()
    if cycles:
        out += ["", "Cycles:"]
        for cycle in cycles:
            out.append(f"  - {' -> '.join(cycle)}")
            for a, b in zip(cycle, cycle[1:]):
                out += [f"      {a} -> {b}: {e}" for e in graph.evidence(a, b)]
    out.append("")
    problems = len(found) + len(cycles)
    out.append("Result: declared and actual graphs agree, no cycles" if problems == 0 else
               f"Result: {len(found)} declared/actual mismatch(es), {len(cycles)} cycle(s)")
    return "\n".join(out) + "\n"


def _node_id(key: str) -> str:
    return "m" + "".join(c if c.isalnum() else "_" for c in key)


def render_mermaid(graph: DependencyGraph) -> str:
    out = ["flowchart BT", f"  %% {_source_note(graph)}; an arrow points from a module to a module it depends on"]
    for key in graph.keys:
        out.append(f'  {_node_id(key)}["{key}"]')
    undeclared = {(a, b) for a, b, _ in graph.undeclared()}
    unused = set(graph.unused())
    for key, deps in graph.edges().items():
        for dep in deps:
            if (key, dep) in unused:
                out.append(f"  {_node_id(key)} -. declared only .-> {_node_id(dep)}")
            elif (key, dep) in undeclared:
                out.append(f"  {_node_id(key)} -- undeclared --> {_node_id(dep)}")
            else:
                out.append(f"  {_node_id(key)} --> {_node_id(dep)}")
    in_cycle = {k for cycle in graph.cycles() for k in cycle}
    if in_cycle:
        out.append("  classDef cycle fill:#fdd,stroke:#c00")
        out.append(f"  class {','.join(_node_id(k) for k in graph.keys if k in in_cycle)} cycle")
    return "\n".join(out) + "\n"


def render_dot(graph: DependencyGraph) -> str:
    out = [f'digraph "{graph.course.package}" {{', f"  // {_source_note(graph)}", "  rankdir=BT;",
           "  node [shape=box];"]
    in_cycle = {k for cycle in graph.cycles() for k in cycle}
    for key in graph.keys:
        out.append(f'  "{key}"{" [color=red]" if key in in_cycle else ""};')
    undeclared = {(a, b) for a, b, _ in graph.undeclared()}
    unused = set(graph.unused())
    for key, deps in graph.edges().items():
        for dep in deps:
            attrs = ' [style=dashed, label="declared only"]' if (key, dep) in unused else \
                ' [color=red, label="undeclared"]' if (key, dep) in undeclared else ""
            out.append(f'  "{key}" -> "{dep}"{attrs};')
    out.append("}")
    return "\n".join(out) + "\n"


def _ref_dict(ref: ImportRef) -> Dict[str, object]:
    return {"path": ref.path, "line": ref.line, "cell": ref.cell, "statement": ref.statement,
            "in_function": ref.in_function, "guarded": ref.guarded}


def graph_dict(graph: DependencyGraph) -> Dict[str, object]:
    undeclared = graph.undeclared()
    modules = []
    for module in graph.course.modules:
        key = module.key
        modules.append({
            "module": key, "number": module.number, "name": module.name,
            "declared": graph.declared.get(key),
            "actual": {dep: [_ref_dict(r) for r in refs] for dep, refs in graph.actual.get(key, {}).items()},
        })
    return {
        "course": str(graph.course.root), "layout": graph.course.layout,
        "declared_graph": graph.has_declared, "note": _source_note(graph),
        "order": graph.order(), "modules": modules,
        "undeclared": [{"module": a, "depends_on": b, "imports": [_ref_dict(r) for r in refs]}
                       for a, b, refs in undeclared],
        "unused": [{"module": a, "depends_on": b} for a, b in graph.unused()],
        "unreadable_module_yaml": unreadable_module_yamls(graph),
        "unknown_prerequisites": [{"module": k, "name": n, "line": line}
                                  for k, items in graph.unknown.items() for n, line in items],
        "cycles": [{"modules": cycle,
                    "evidence": [{"from": a, "to": b, "why": graph.evidence(a, b)} for a, b in zip(cycle, cycle[1:])]}
                   for cycle in graph.cycles()],
    }


def render_json(graph: DependencyGraph) -> str:
    return json.dumps(graph_dict(graph), indent=2) + "\n"


RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot, "json": render_json}
