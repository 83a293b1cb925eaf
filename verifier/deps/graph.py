"""The module dependency graph, public entry points: `course_graph(course)` builds the declared
(module.yaml prerequisites) versus actual (imports of exported cells) graph; `run_deps` is the
library side of `tinytorch-verifier package deps` (output text and exit code).

The work is split by concern: `imports` (the one import-extraction walker), `resolve` (what an
import reaches), `digraph` (generic cycles, order, reverse closure), `graph_model` (the course's
graph) and `render` (text, mermaid, dot, json). The names below are re-exported for callers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

from ..course.analysis import analyse_course
from ..course.discovery import Course, load_course
from ..errors import VerifierError
from .cellfacts import module_imports
from .graph_model import DependencyGraph, build_graph
from .imports import ImportRef, RawImport, bound_names, extract_imports, statement_text
from .render import RENDERERS, graph_dict, mismatches, render_dot, render_json, render_mermaid, render_text
from .resolve import Resolution, Resolver, resolve_prerequisite, yaml_item_lines

FORMATS = ("text", "mermaid", "dot", "json")

__all__ = ["DependencyGraph", "FORMATS", "ImportRef", "RawImport", "Resolution", "Resolver", "bound_names",
           "build_graph", "course_graph", "error_output", "extract_imports", "graph_dict", "module_imports",
           "render_dot", "render_json", "render_mermaid", "render_text", "resolve_prerequisite", "run_deps",
           "statement_text", "yaml_item_lines"]


def course_graph(course: Course) -> DependencyGraph:
    return build_graph(analyse_course(course))


def error_output(exc: VerifierError, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"ok": False, "error": {"message": exc.message, "path": str(exc.path) if exc.path else None,
                                                  "line": exc.line, "hint": exc.hint}}, indent=2) + "\n"
    return f"tinytorch-verifier: error: {exc}\n"


def run_deps(course_path: Path, fmt: str = "text", check: bool = False) -> Tuple[str, int]:
    """`tinytorch-verifier package deps`: (output, exit code). 0 = printed (and, with check, no mismatch or cycle);
    1 = check found a declared/actual mismatch or a cycle; 2 = usage or configuration error."""
    if fmt not in RENDERERS:
        return f"tinytorch-verifier: error: unknown format {fmt!r} (choose from {', '.join(FORMATS)})\n", 2
    try:
        graph = course_graph(load_course(Path(course_path)))
    except VerifierError as exc:
        return error_output(exc, fmt), 2
    text = RENDERERS[fmt](graph)
    failed = check and bool(mismatches(graph) or graph.cycles())
    return text, 1 if failed else 0
