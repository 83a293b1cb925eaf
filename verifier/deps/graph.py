"""The module dependency graph: declared (module.yaml prerequisites) versus actual (the imports of
exported cells), cycles with the import lines that form them, and the topological build order.

The actual graph is read with `ast` from exported cells only — module-level imports, imports
inside functions, inside `try/except ImportError`, absolute (`tinytorch.core.tensor`), relative
(`from .tensor import Tensor`, as nbdev writes them) and in-tree (`from tensor_dev import Tensor`)
forms. Nothing is imported or executed.

`run_deps` is the library side of `tito package deps`: it returns the output text and exit code.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..course.analysis import CourseAnalysis, ModuleSource, analyse_course, relative
from ..course.discovery import Course, CourseModule, load_course
from ..errors import VerifierError
from ..package.export import normalise_target, public_names
from ..course.pyversions import is_stdlib

FORMATS = ("text", "mermaid", "dot", "json")
IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


# --------------------------------------------------------------------------- import extraction

@dataclass(frozen=True)
class RawImport:
    node: ast.AST
    name: str                 # module as written ("" for `from . import x`)
    names: Tuple[str, ...]    # imported names of a from-import
    level: int                # relative import level (0: absolute)
    in_function: bool         # inside a def/lambda: runs at call time, not import time
    guarded: bool             # inside the body of a try/except ImportError (or `if TYPE_CHECKING:`)
    dynamic: bool = False     # importlib.import_module("...") / __import__("...")


def _catches_import_error(handlers: Sequence[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            if kind is None:
                return True
            name = kind.id if isinstance(kind, ast.Name) else kind.attr if isinstance(kind, ast.Attribute) else ""
            if name in IMPORT_GUARDS:
                return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: List[RawImport] = []
        self.depth = 0
        self.guard = 0

    def _add(self, node: ast.AST, name: str, names: Tuple[str, ...], level: int, dynamic: bool = False) -> None:
        self.found.append(RawImport(node, name, names, level, self.depth > 0, self.guard > 0, dynamic))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Try(self, node: ast.Try) -> None:
        guarded = _catches_import_error(node.handlers)
        self.guard += guarded
        for stmt in node.body:
            self.visit(stmt)
        self.guard -= guarded
        for other in list(node.handlers) + list(node.orelse) + list(node.finalbody):
            self.visit(other)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.guard += 1
            for stmt in node.body:
                self.visit(stmt)
            self.guard -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name, (), 0)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(node, node.module or "", tuple(a.name for a in node.names), node.level or 0)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            text = node.args[0].value
            level = len(text) - len(text.lstrip("."))
            self._add(node, text.lstrip("."), (), level, dynamic=True)
        self.generic_visit(node)


def _statement_imports(statements: Iterable[ast.AST], depth: int, guard: int, out: List[RawImport]) -> None:
    """Import statements only (the fast path): recurse through statement bodies, never expressions."""
    for node in statements:
        if isinstance(node, ast.Import):
            out.extend(RawImport(node, alias.name, (), 0, depth > 0, guard > 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(RawImport(node, node.module or "", tuple(a.name for a in node.names), node.level or 0,
                                 depth > 0, guard > 0))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _statement_imports(node.body, depth + 1, guard, out)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            guarded = int(_catches_import_error(node.handlers))  # type: ignore[attr-defined]
            _statement_imports(node.body, depth, guard + guarded, out)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                _statement_imports(handler.body, depth, guard, out)
            _statement_imports(node.orelse, depth, guard, out)  # type: ignore[attr-defined]
            _statement_imports(node.finalbody, depth, guard, out)  # type: ignore[attr-defined]
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            _statement_imports(node.body, depth, guard + 1, out)
            _statement_imports(node.orelse, depth, guard, out)
        else:
            for name in ("body", "orelse", "finalbody", "cases"):
                value = getattr(node, name, None)
                if isinstance(value, list):
                    _statement_imports(value, depth, guard, out)


def extract_imports(tree: ast.AST, dynamic: bool = True) -> List[RawImport]:
    """Every import of a parsed cell, with where it runs (module level or in a function) and
    whether it is guarded by try/except ImportError. With dynamic=False, importlib.import_module()
    and __import__() calls are not looked for (a faster walk over statements only)."""
    if not dynamic:
        found: List[RawImport] = []
        _statement_imports(getattr(tree, "body", []), 0, 0, found)
        return found
    visitor = _ImportVisitor()
    visitor.visit(tree)
    return visitor.found


def bound_names(tree: ast.Module, imports: bool = True) -> Tuple[Set[str], bool]:
    """Names a cell binds at module level (defs, classes, assignments, imports, loop and with
    targets, also inside module-level if/try/with/for blocks), and whether it star-imports.
    With imports=False, names bound only by import statements are left out."""
    names: Set[str] = set()
    star = False

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)

    def block(statements: Iterable[ast.stmt]) -> None:
        nonlocal star
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and imports:
                for alias in node.names:
                    if alias.name == "*":
                        star = True
                    else:
                        names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                block(node.body)
                block(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                block(node.body)
            elif isinstance(node, ast.If):
                block(node.body)
                block(node.orelse)
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                block(node.body)  # type: ignore[attr-defined]
                for handler in node.handlers:  # type: ignore[attr-defined]
                    if handler.name:
                        names.add(handler.name)
                    block(handler.body)
                block(node.orelse)  # type: ignore[attr-defined]
                block(node.finalbody)  # type: ignore[attr-defined]
            elif isinstance(node, ast.While):
                block(node.body)
                block(node.orelse)
    block(tree.body)
    return names, star


# --------------------------------------------------------------------------- references and resolution

@dataclass(frozen=True)
class ImportRef:
    """One import in a module's exported code, located in the student's file."""
    module: str               # importing module key
    path: str                 # source path relative to the course root
    line: int                 # line in the file (notebook: line inside `cell`)
    cell: Optional[int]       # 1-based notebook cell, None for .py sources
    statement: str            # the import as written (whitespace collapsed)
    name: str
    names: Tuple[str, ...]
    level: int
    in_function: bool
    guarded: bool
    target: Optional[str]     # export target of the cell holding the import (for relative imports)
    dynamic: bool = False

    @property
    def where(self) -> str:
        if self.cell is not None:
            return f"{self.path} (cell {self.cell}, line {self.line})"
        return f"{self.path}:{self.line}"

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    def describe(self) -> str:
        notes = []
        if self.in_function:
            notes.append("inside a function")
        if self.guarded:
            notes.append("inside try/except ImportError")
        suffix = f" ({', '.join(notes)})" if notes else ""
        return f"{self.where} `{self.statement}`{suffix}"


@dataclass
class Resolution:
    kind: str                         # package | unresolved | intree | stdlib | future | thirdparty
    modules: Tuple[str, ...] = ()     # course modules the import reaches
    target: Optional[str] = None      # package-internal target (`core.tensor`)
    missing: Tuple[str, ...] = ()     # imported names the target does not define
    problem: str = ""


def statement_text(code_lines: Sequence[str], node: ast.AST) -> str:
    start = getattr(node, "lineno", 1)
    end = getattr(node, "end_lineno", None) or start
    text = " ".join(line.strip() for line in code_lines[start - 1:end])
    if isinstance(node, ast.Call):  # a dynamic import: show just the call
        segment = ast.get_source_segment("\n".join(code_lines), node)
        text = segment or text
    return " ".join(text.split())


def module_imports(item: ModuleSource) -> List[ImportRef]:
    """The imports of a source's exported cells, in file order."""
    refs: List[ImportRef] = []
    for parsed in item.exported:
        if parsed.tree is None or "import" not in parsed.code:
            continue
        dynamic = "import_module" in parsed.code or "__import__" in parsed.code
        for raw in extract_imports(parsed.tree, dynamic):
            line, cell = item.place(parsed.cell, getattr(raw.node, "lineno", 1))
            refs.append(ImportRef(item.module.key, item.rel, line, cell,
                                  statement_text(parsed.cell.body, raw.node), raw.name, raw.names, raw.level,
                                  raw.in_function, raw.guarded, parsed.target, raw.dynamic))
    return refs


class Resolver:
    """Maps imports to course modules using what each module's exported cells define."""

    def __init__(self, analysis: CourseAnalysis) -> None:
        course = analysis.course
        self.package = course.package
        self.targets: Dict[str, List[str]] = {}          # target -> owning module keys
        self.defined: Dict[str, Set[str]] = {}           # target -> names bound at its module level
        self.open_targets: Set[str] = set()              # targets that star-import (any name may exist)
        self.public: Dict[str, List[str]] = {}           # public name -> module keys
        self.stems: Dict[str, str] = {}                  # dev file stem -> module key
        self.declared_targets: Dict[str, str] = {}       # module.yaml exports_to (normalised) -> module key
        try:
            self.modules_top = course.modules_dir.resolve().relative_to(course.root).parts[0]
        except (ValueError, IndexError):
            self.modules_top = course.modules_dir.name
        for entry in analysis.modules:
            for path in (entry.module.source, entry.module.paired):
                if path is not None:
                    self.stems.setdefault(path.stem, entry.key)
            if entry.module.exports_to:
                self.declared_targets.setdefault(normalise_target(entry.module.exports_to, self.package), entry.key)
            broken = entry.dev is None or entry.dev.source is None or not entry.dev.default_exps \
                or any(p.tree is None for p in entry.dev.exported)
            if broken and entry.module.exports_to:
                # what the module cannot show (unreadable, no target, a syntax error), module.yaml still
                # declares: imports of it resolve, and any name may exist (no cascade of findings)
                declared = normalise_target(entry.module.exports_to, self.package)
                owners = self.targets.setdefault(declared, [])
                if entry.key not in owners:
                    owners.append(entry.key)
                self.open_targets.add(declared)
            if entry.dev is None:
                continue
            for parsed in entry.dev.exported:
                if parsed.target is None:
                    continue
                owners = self.targets.setdefault(parsed.target, [])
                if entry.key not in owners:
                    owners.append(entry.key)
                defined = self.defined.setdefault(parsed.target, set())
                if parsed.tree is None:
                    self.open_targets.add(parsed.target)
                else:
                    names, star = bound_names(parsed.tree)
                    defined.update(names)
                    if star:
                        self.open_targets.add(parsed.target)
                    if parsed.public:
                        for name in public_names(parsed.code, entry.dev.rel):
                            keys = self.public.setdefault(name, [])
                            if entry.key not in keys:
                                keys.append(entry.key)

    def _is_namespace(self, rel: str) -> bool:
        return any(t.startswith(rel + ".") for t in self.targets)

    def _internal(self, rel: str, names: Tuple[str, ...]) -> Resolution:
        shown = f"{self.package}.{rel}" if rel else self.package
        if rel in self.targets:
            defined = self.defined.get(rel, set())
            missing = () if rel in self.open_targets else tuple(
                n for n in names if n != "*" and n not in defined and f"{rel}.{n}" not in self.targets)
            return Resolution("package", tuple(self.targets[rel]), rel, missing)
        if rel == "" or self._is_namespace(rel):
            modules: List[str] = []
            missing_list: List[str] = []
            for name in names:
                sub = f"{rel}.{name}" if rel else name
                if name == "*":
                    continue
                if sub in self.targets:
                    modules += [m for m in self.targets[sub] if m not in modules]
                elif self._is_namespace(sub):
                    continue
                elif rel == "" and name in self.public:
                    modules += [m for m in self.public[name] if m not in modules]
                else:
                    missing_list.append(name)
            if missing_list and not modules and rel:
                return Resolution("unresolved", (), rel, tuple(missing_list),
                                  f"{shown}.{missing_list[0]} is not exported by any module")
            return Resolution("package", tuple(modules), rel or None, tuple(missing_list))
        owner = self.declared_targets.get(rel)
        if owner is not None:  # module.yaml says who should export it: keep the edge, blame the directive
            return Resolution("unresolved", (owner,), rel, (),
                              f"{shown} is not exported by any module ({owner} declares it as exports_to, but "
                              f"its `#| default_exp` says otherwise)")
        return Resolution("unresolved", (), rel, (), f"{shown} is not exported by any module")

    def resolve(self, ref: ImportRef) -> Resolution:
        if ref.level:
            if ref.target is None:
                return Resolution("unresolved", problem="relative import in a cell with no export target")
            parts = ref.target.split(".")[:-1]
            up = ref.level - 1
            if up > len(parts):
                return Resolution("unresolved", problem=f"relative import `{'.' * ref.level}{ref.name}` goes "
                                                        f"above the {self.package} package")
            base = parts[:len(parts) - up]
            rel = ".".join(base + ([ref.name] if ref.name else []))
            return self._internal(rel, ref.names)
        top = ref.top
        if ref.name == "__future__":
            return Resolution("future")
        if top == self.package:
            rel = ref.name[len(self.package) + 1:] if "." in ref.name else ""
            return self._internal(rel, ref.names)
        if top.endswith("_dev") or top == self.modules_top:
            module = self.stems.get(top)
            return Resolution("intree", (module,) if module else ())
        if is_stdlib(top):
            return Resolution("stdlib")
        if top in self.stems:
            return Resolution("intree", (self.stems[top],))
        return Resolution("thirdparty")


# --------------------------------------------------------------------------- the graph

def resolve_prerequisite(course: Course, ref: str) -> Optional[CourseModule]:
    """A prerequisite entry may be a name (`tensor`), a folder (`01_tensor`) or a number."""
    ref = str(ref).strip()
    for module in course.modules:
        if ref in (module.name, module.key) or (ref.isdigit() and int(ref) == module.number):
            return module
    return None


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
        edges = self.edges()
        index: Dict[str, int] = {}
        low: Dict[str, int] = {}
        stack: List[str] = []
        on_stack: Set[str] = set()
        components: List[List[str]] = []
        counter = [0]

        def connect(node: str) -> None:  # Tarjan; the graph is a course (tens of modules), recursion is fine
            index[node] = low[node] = counter[0]
            counter[0] += 1
            stack.append(node)
            on_stack.add(node)
            for nxt in edges[node]:
                if nxt not in index:
                    connect(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    components.append(component)

        for key in self.keys:
            if key not in index:
                connect(key)
        cycles = []
        for component in components:
            members = set(component)
            start = min(component, key=lambda k: (self.numbers[k], k))
            # shortest path start -> ... -> start inside the component (BFS)
            parents: Dict[str, str] = {}
            queue = [start]
            found = None
            while queue and found is None:
                nxt_queue = []
                for node in queue:
                    for nxt in edges[node]:
                        if nxt not in members:
                            continue
                        if nxt == start:
                            found = node
                            break
                        if nxt not in parents:
                            parents[nxt] = node
                            nxt_queue.append(nxt)
                    if found is not None:
                        break
                queue = nxt_queue
            path = [start]
            node = found
            while node is not None and node != start:
                path.insert(1, node)
                node = parents.get(node)
            cycles.append(path + [start])
        cycles.sort(key=lambda c: self.numbers[c[0]])
        return cycles

    def order(self) -> Optional[List[str]]:
        """Topological build order (dependencies first, ties by module number); None if there is a cycle."""
        edges = self.edges()
        remaining = {k: set(v) for k, v in edges.items()}
        order: List[str] = []
        while remaining:
            ready = sorted((k for k, deps in remaining.items() if not deps), key=lambda k: self.numbers[k])
            if not ready:
                return None
            node = ready[0]
            order.append(node)
            del remaining[node]
            for deps in remaining.values():
                deps.discard(node)
        return order

    def backwards(self) -> List[Tuple[str, str]]:
        """Edges to a module with the same or a higher number (progression violations)."""
        return [(key, dep) for key, deps in self.edges().items() for dep in deps
                if self.numbers[dep] >= self.numbers[key]]


def yaml_item_lines(path: Optional[Path]) -> Dict[str, int]:
    """Lines of nested module.yaml entries: `dependencies.prerequisites[0]` -> 7, `components[2]` -> 15."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return dict(_yaml_item_lines(text))


@lru_cache(maxsize=256)
def _yaml_item_lines(text: str) -> Tuple[Tuple[str, int], ...]:
    import yaml

    lines: Dict[str, int] = {}
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ()

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                lines[key] = key_node.start_mark.line + 1
                walk(value, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{prefix}[{i}]"] = item.start_mark.line + 1
                walk(item, f"{prefix}[{i}]")

    walk(node, "")
    return tuple(lines.items())


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
        declared[module.key] = []
        for i, name in enumerate(prerequisites):
            line = lines.get(f"dependencies.prerequisites[{i}]") or lines.get("dependencies.prerequisites")
            found = resolve_prerequisite(course, name)
            if found is None:
                unknown.setdefault(module.key, []).append((name, line))
            elif found.key not in declared[module.key]:
                declared[module.key].append(found.key)
                declared_lines.setdefault(module.key, {})[found.key] = (meta_rel, line)
    refs: Dict[str, List[ImportRef]] = {}
    resolutions: Dict[ImportRef, Resolution] = {}
    actual: Dict[str, Dict[str, List[ImportRef]]] = {}
    for entry in analysis.modules:
        refs[entry.key] = module_imports(entry.dev) if entry.dev else []
        for ref in refs[entry.key]:
            resolution = resolver.resolve(ref)
            resolutions[ref] = resolution
            for dep in resolution.modules:
                if dep != entry.key:
                    actual.setdefault(entry.key, {}).setdefault(dep, []).append(ref)
    return DependencyGraph(course, keys, numbers, declared, declared_lines, unknown, refs, resolutions, actual)


# --------------------------------------------------------------------------- rendering

def _mismatches(graph: DependencyGraph) -> List[str]:
    lines = []
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
    mismatches = _mismatches(graph)
    if mismatches:
        out += ["", "Declared versus actual:"] + [f"  - {m}" for m in mismatches]
    cycles = graph.cycles()
    if cycles:
        out += ["", "Cycles:"]
        for cycle in cycles:
            out.append(f"  - {' -> '.join(cycle)}")
            for a, b in zip(cycle, cycle[1:]):
                out += [f"      {a} -> {b}: {e}" for e in graph.evidence(a, b)]
    out.append("")
    problems = len(mismatches) + len(cycles)
    out.append("Result: declared and actual graphs agree, no cycles" if problems == 0 else
               f"Result: {len(mismatches)} declared/actual mismatch(es), {len(cycles)} cycle(s)")
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
        "unknown_prerequisites": [{"module": k, "name": n, "line": line}
                                  for k, items in graph.unknown.items() for n, line in items],
        "cycles": [{"modules": cycle,
                    "evidence": [{"from": a, "to": b, "why": graph.evidence(a, b)} for a, b in zip(cycle, cycle[1:])]}
                   for cycle in graph.cycles()],
    }


def render_json(graph: DependencyGraph) -> str:
    return json.dumps(graph_dict(graph), indent=2) + "\n"


RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot, "json": render_json}


def course_graph(course: Course) -> DependencyGraph:
    return build_graph(analyse_course(course))


def error_output(exc: VerifierError, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"ok": False, "error": {"message": exc.message, "path": str(exc.path) if exc.path else None,
                                                  "line": exc.line, "hint": exc.hint}}, indent=2) + "\n"
    return f"tito: error: {exc}\n"


def run_deps(course_path: Path, fmt: str = "text", check: bool = False) -> Tuple[str, int]:
    """`tito package deps`: (output, exit code). 0 = printed (and, with check, no mismatch or cycle);
    1 = check found a declared/actual mismatch or a cycle; 2 = usage or configuration error."""
    if fmt not in RENDERERS:
        return f"tito: error: unknown format {fmt!r} (choose from {', '.join(FORMATS)})\n", 2
    try:
        graph = course_graph(load_course(Path(course_path)))
    except VerifierError as exc:
        return error_output(exc, fmt), 2
    text = RENDERERS[fmt](graph)
    failed = check and bool(_mismatches(graph) or graph.cycles())
    return text, 1 if failed else 0
