"""The course's module dependency graph: declared (module.yaml prerequisites) versus actual (the
imports of exported cells), with the evidence of every edge; cycles, build order and progression
are computed by the domain-free `digraph` module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..course.analysis import CourseAnalysis, relative
from ..course.discovery import Course
from . import digraph
from .cellfacts import module_imports
from .imports import ImportRef
from .resolve import Resolution, Resolver, resolve_prerequisite, yaml_item_lines


@dataclass
class DependencyGraph:
    course: Course
    keys: List[str]
    numbers: Dict[str, int]
    declared: Dict[str, Optional[List[str]]]                  # key -> declared module keys (None: no module.yaml)
    declared_lines: Dict[str, Dict[str, Tuple[str, Optional[int]]]]  # key -> dep key -> (module.yaml, line)
    unknown: Dict[str, List[Tuple[str, Optional[int]]]]       # key -> unknown prerequisite names with lines
    refs: Dict[str, List[ImportRef]]
    resolutions: Dict[ImportRef, Resolution]
    actual: Dict[str, Dict[str, List[ImportRef]]] = field(default_factory=dict)

    @property
    def has_declared(self) -> bool:
        return any(v is not None for v in self.declared.values())

    def edges(self) -> Dict[str, List[str]]:
        """Union of declared and actual edges: module -> the modules it depends on."""
        out: Dict[str, List[str]] = {k: [] for k in self.keys}
        for key in self.keys:
            for dep in list(self.actual.get(key, {})) + list(self.declared.get(key) or []):
                if dep != key and dep not in out[key]:
                    out[key].append(dep)
            out[key].sort(key=lambda k: self.numbers[k])
        return out

    def undeclared(self) -> List[Tuple[str, str, List[ImportRef]]]:
        result = []
        for key in self.keys:
            declared = self.declared.get(key)
            if declared is None:
                continue
            for dep, refs in self.actual.get(key, {}).items():
                if dep not in declared:
                    result.append((key, dep, refs))
        return result

    def unused(self) -> List[Tuple[str, str]]:
        result = []
        for key in self.keys:
            for dep in self.declared.get(key) or []:
                if dep != key and dep not in self.actual.get(key, {}):
                    result.append((key, dep))
        return result

    def evidence(self, key: str, dep: str) -> List[str]:
        refs = self.actual.get(key, {}).get(dep)
        if refs:
            return [ref.describe() for ref in refs]
        path, line = self.declared_lines.get(key, {}).get(dep, ("module.yaml", None))
        module = next(m for m in self.course.modules if m.key == dep)
        return [f"{path}{':' + str(line) if line else ''} declares prerequisite `{module.name}`"]

    def cycles(self) -> List[List[str]]:
        """One cycle per strongly connected component, as [a, b, ..., a], starting at its lowest-numbered module."""
        return digraph.cycles(self.edges(), self.keys, lambda k: (self.numbers[k], k))

    def order(self) -> Optional[List[str]]:
        """Topological build order (dependencies first, ties by module number); None if there is a cycle."""
        try:
            return digraph.order(self.edges(), lambda k: (self.numbers[k], k))
        except digraph.GraphError:
            return None

    def dependents(self, key: str) -> List[str]:
        """`key` and every module that depends on it, directly or not, in course order."""
        closure = digraph.reverse_closure(self.edges(), [key])
        return [k for k in self.keys if k in closure]

    def backwards(self) -> List[Tuple[str, str]]:
        """Edges to a module with the same or a higher number (progression violations)."""
        return [(key, dep) for key, deps in self.edges().items() for dep in deps
                if self.numbers[dep] >= self.numbers[key]]


def build_graph(analysis: CourseAnalysis, resolver: Optional[Resolver] = None) -> DependencyGraph:
    course = analysis.course
    resolver = resolver or Resolver(analysis)
    keys = [m.key for m in course.modules]
    numbers = {m.key: m.number for m in course.modules}
    declared: Dict[str, Optional[List[str]]] = {}
    declared_lines: Dict[str, Dict[str, Tuple[str, Optional[int]]]] = {}
    unknown: Dict[str, List[Tuple[str, Optional[int]]]] = {}
    for module in course.modules:
        prerequisites = module.prerequisites if module.meta_path and module.meta_problem is None else None
        if prerequisites is None:
            declared[module.key] = None
            continue
        lines = yaml_item_lines(module.meta_path)
        meta_rel = relative(module.meta_path, course.root) if module.meta_path else "module.yaml"
        names: List[str] = []
        declared[module.key] = names
        for i, name in enumerate(prerequisites):
            line = lines.get(f"dependencies.prerequisites[{i}]") or lines.get("dependencies.prerequisites")
            found = resolve_prerequisite(course, name)
            if found is None:
                unknown.setdefault(module.key, []).append((name, line))
            elif found.key not in names:
                names.append(found.key)
                declared_lines.setdefault(module.key, {})[found.key] = (meta_rel, line)
    refs: Dict[str, List[ImportRef]] = {}
    resolutions: Dict[ImportRef, Resolution] = {}
    actual: Dict[str, Dict[str, List[ImportRef]]] = {}
    for entry in analysis.modules:
        refs[entry.key] = module_imports(entry.dev) if entry.dev else []
        for ref in refs[entry.key]:
            resolution = resolver.resolve(ref)
            resolutions[ref] = resolution
            if ref.fallback:  # runs only when the package import before it fails: never once installed
                continue
            for dep in resolution.modules:
                if dep != entry.key:
                    actual.setdefault(entry.key, {}).setdefault(dep, []).append(ref)
    return DependencyGraph(course, keys, numbers, declared, declared_lines, unknown, refs, resolutions, actual)
