"""Blame without a traceback: when a course integration test fails on an assertion and no frame of the
installed package is in its traceback, infer the suspect modules from what the test imports and exercises.

The test file is read as text and AST (never run): its `tinytorch.*` imports (`from tinytorch.core.layers
import Linear`, `from tinytorch import Tensor`, `import tinytorch as tt` then `tt.Conv2d`) are resolved to
course modules with the dependency graph's resolver (verifier/deps/resolve.py: export targets and the
public names each module defines). The failing test function narrows them to the names it uses (through
the file's own helpers, fixtures and module-level values); a test that uses none of them falls back to all
the file's imports. Suspects are ordered lowest-numbered first, except that a module whose own unit tests
ran and all passed in the same run goes after those that have no such evidence. The result is always an
inference, and says so.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple
from xml.etree import ElementTree

from ..course.discovery import Course
from ..results import Attribution

INFERRED = "inferred"


def _resolver(course: Course):
    from ..course.analysis import analyse_course
    from ..deps.resolve import Resolver
    return Resolver(analyse_course(course))


def file_of_test(course: Course, classname: str) -> Optional[Path]:
    """`tests.integration.test_x.TestY` -> <course>/tests/integration/test_x.py (the longest prefix that exists)."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        candidate = course.root.joinpath(*parts[:end]).with_suffix(".py")
        if candidate.is_file():
            return candidate
    return None


class _Imports:
    """Local names bound to the package in one test file: name -> (target, imported name or None)."""

    def __init__(self, tree: ast.Module, package: str) -> None:
        self.names: Dict[str, Tuple[str, Optional[str]]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level and \
                    (node.module == package or node.module.startswith(package + ".")):
                target = node.module[len(package) + 1:] if node.module != package else ""
                for alias in node.names:
                    if alias.name != "*":
                        self.names[alias.asname or alias.name] = (target, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        local = alias.asname or package
                        target = alias.name[len(package) + 1:] if alias.asname and alias.name != package else ""
                        self.names[local] = (target, None)


def _used(node: ast.AST) -> Set[str]:
    """Names a function body reads, with the dotted chains (`tt.Conv2d`, `tt.core.spatial.Conv2d`)."""
    found: Set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            chain: List[str] = []
            value: ast.AST = sub
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                found.add(".".join([value.id] + chain[::-1]))
        elif isinstance(sub, ast.arg):
            found.add(sub.arg)  # a fixture requested by name
    return found


def exercised_names(tree: ast.Module, test_name: str) -> Optional[Set[str]]:
    """Names the test function uses, through the file's own functions, classes and module-level values.
    None when the function is not found."""
    name = test_name.split("[")[0]
    top: Dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    top[target.id] = node
    start = top.get(name)
    if start is None:  # a method of a test class
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                start = next((m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                              and m.name == name), None) or start
    if start is None:
        return None
    seen: Set[str] = set()
    todo: List[ast.AST] = [start]
    visited: Set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        for used in _used(current):
            seen.add(used)
            helper = top.get(used.split(".")[0])
            if helper is not None and helper is not start:
                todo.append(helper)
    return seen


def _modules_of(resolver, target: str, name: Optional[str]) -> List[str]:
    if name is not None:
        sub = f"{target}.{name}" if target else name
        if sub in resolver.targets:
            return list(resolver.targets[sub])
        owners = resolver.targets.get(target, []) if target else []
        defining = [m for m in owners if name in resolver.defined.get(target, set())]
        return defining or list(owners) or list(resolver.public.get(name, []))
    return list(resolver.targets.get(target, []))


def _resolve_use(resolver, imports: _Imports, used: str) -> List[str]:
    """Course modules one used name (`Linear`, `tt.Conv2d`, `spatial.Conv2d`) comes from."""
    head, *rest = used.split(".")
    if head not in imports.names:
        return []
    target, name = imports.names[head]
    if name is not None:
        return _modules_of(resolver, target, name)
    # a module or the package itself: walk the attribute chain as far as it names a target
    parts = [p for p in target.split(".") if p]
    for attr in rest:
        candidate = ".".join(parts + [attr])
        if candidate in resolver.targets or any(t.startswith(candidate + ".") for t in resolver.targets):
            parts.append(attr)
            continue
        return _modules_of(resolver, ".".join(parts), attr)
    return _modules_of(resolver, ".".join(parts), None) if parts else []


def suspects_of_test(course: Course, test_id: str, resolver=None) -> Dict[str, List[str]]:
    """Suspect module keys of one failing test `classname::name`, each with the names that implicate it."""
    classname, _, name = test_id.partition("::")
    path = file_of_test(course, classname)
    if path is None:
        return {}
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return {}
    resolver = resolver or _resolver(course)
    imports = _Imports(tree, course.package)
    if not imports.names:
        return {}
    used = exercised_names(tree, name) if name else None
    evidence: Dict[str, List[str]] = {}
    for item in sorted(used or ()):
        for module in _resolve_use(resolver, imports, item):
            evidence.setdefault(module, []).append(item)
    if not evidence:  # the test uses none of the imported names directly: every import is a suspect
        for local, (target, imported) in imports.names.items():
            for module in _modules_of(resolver, target, imported):
                evidence.setdefault(module, []).append(local)
    return evidence


def passing_unit_modules(junit: Path) -> Set[str]:
    """Module names (`tensor`) whose unit tests (`tests/unit/test_<name>.py`) ran and all passed."""
    ran: Dict[str, bool] = {}
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return set()
    for case in root.iter("testcase"):
        text = case.get("file") or case.get("classname", "").replace(".", "/")
        match = re.search(r"unit/test_(?P<name>\w+?)(?:\.py|/|$)", text)
        if not match or case.find("skipped") is not None:
            continue
        failed = case.find("failure") is not None or case.find("error") is not None
        ran[match["name"]] = ran.get(match["name"], True) and not failed
    return {name for name, ok in ran.items() if ok}


def infer_blame(course: Course, test_ids: Sequence[str], passing: Iterable[str] = ()) -> Optional[Attribution]:
    """The suspects of failing integration tests, as an inferred attribution (None: no suspect).
    Modules implicated by every failing test come first; a module whose unit tests all passed goes last."""
    resolver = _resolver(course)
    sets: List[Set[str]] = []
    names: Dict[str, Set[str]] = {}
    for test_id in test_ids:
        found = suspects_of_test(course, test_id, resolver)
        if found:
            sets.append(set(found))
            for module, used in found.items():
                names.setdefault(module, set()).update(used)
    if not sets:
        return None
    common = set.intersection(*sets)
    candidates = common or set.union(*sets)
    by_key = {m.key: m for m in course.modules}
    cleared = {m.key for m in course.modules if m.name in set(passing)}
    order = sorted((k for k in candidates if k in by_key),
                   key=lambda k: (k in cleared, by_key[k].number, k))
    if not order:
        return None
    first = by_key[order[0]]
    source = str(first.source.relative_to(course.root)) if first.source else first.key
    own = sorted(names.get(first.key, ()))
    shown = ", ".join(own[:6]) + ("…" if len(own) > 6 else "")
    return Attribution(first.key, source, None, how=INFERRED, suspects=order,
                       cleared=[k for k in order if k in cleared], evidence=shown)
