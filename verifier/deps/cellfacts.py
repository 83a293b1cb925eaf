"""What the course-wide checks read from a cell's syntax tree, kept by the cells' text so that after
an edit of one module source the other sources are not parsed again.

`package validate` after an edit (a hook, an editor) used to spend a third of its time parsing the
about 180 cells of the sixteen unchanged modules. Loading pickled trees was slower than parsing, so
what is kept is small: per cell, the outcome of the parse (the syntax error and the newer-grammar
error, message and line) and the facts the checks that run on every module read (`CellFacts`: the
names it binds, its public names and their lines, its imports, the imports it guards by Python
version). The facts are computed from the tree by the functions below and nowhere else, whether the
tree was parsed now or in the run that filled the cache; a check that needs more of the tree (it
finds something to report in that module) asks `ParsedCell.tree`, which parses it then.

One entry per source (cache.cached_by_content, kind "cell-facts"): the key is every cell's parsed
code, export flag, parse budget and grammar, the package name and the running Python. An entry that
is unreadable, malformed or foreign is computed again; TITO_VALIDATE_CACHE=0 turns it off.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from ..course.analysis import CourseAnalysis, ModuleSource, ParsedCell
from ..course.pyversions import NEW_MODULES, Version
from .imports import ImportRef, bound_names, extract_imports, statement_text, tree_public_names
from .timing import lazy_annotations

FACTS_FORMAT = "1"  # bump when what an entry holds changes meaning
KIND = "cell-facts"


@dataclass(frozen=True)
class ImportFacts:
    """One import of an exported cell (deps.imports.RawImport without the node)."""
    lineno: int               # line in the cell's body
    statement: str            # the import as written (whitespace collapsed)
    name: str
    names: Tuple[str, ...]
    level: int
    in_function: bool
    guarded: bool
    dynamic: bool
    fallback: bool


@dataclass(frozen=True)
class CellFacts:
    bound: FrozenSet[str]                           # bound_names(tree)[0]
    star: bool                                      # bound_names(tree)[1]: `from x import *`
    defined: FrozenSet[str]                         # bound_names(tree, imports=False)[0]
    public: Tuple[Tuple[str, int], ...] = ()        # tree_public_names with public_name_line (exported cells)
    imports: Tuple[ImportFacts, ...] = ()           # what module_imports reads (exported cells)
    backports: Tuple[Tuple[int, Version], ...] = ()  # imports that run only below a version (exported cells)
    future_annotations: bool = False                # timing.lazy_annotations([tree]) (exported cells)


# ------------------------------------------------------------------ facts from a tree
def version_test(test: ast.expr) -> Optional[Tuple[Version, bool]]:
    """`sys.version_info < (3, 11)` -> ((3, 11), True): the body runs below 3.11. `>= (3, 11)` ->
    ((3, 11), False): the else-branch runs below 3.11. None for any other test."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and len(test.comparators) == 1):
        return None
    left = test.left.value if isinstance(test.left, ast.Subscript) else test.left
    name = left.attr if isinstance(left, ast.Attribute) else left.id if isinstance(left, ast.Name) else ""
    right = test.comparators[0]
    if name != "version_info" or not isinstance(right, ast.Tuple) or len(right.elts) < 2 or \
            not all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in right.elts[:2]):
        return None
    bound = (right.elts[0].value, right.elts[1].value)  # type: ignore[attr-defined]
    op = test.ops[0]
    if isinstance(op, ast.Lt):
        return bound, True
    if isinstance(op, ast.GtE):
        return bound, False
    if isinstance(op, ast.LtE):
        return (bound[0], bound[1] + 1), True
    if isinstance(op, ast.Gt):
        return (bound[0], bound[1] + 1), False
    return None


def stdlib_newer(statements: Sequence[ast.stmt]) -> Optional[Version]:
    """The version that added a stdlib module the statements import (`import tomllib` -> (3, 11))."""
    for node in statements:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            if name in NEW_MODULES:
                return NEW_MODULES[name]
    return None


def public_name_line(tree: ast.Module, name: str) -> int:
    """The line (in the cell) of the top-level statement that makes `name` public."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in (name, "_all_"):
                    return node.lineno
    return 1


def _backports(tree: ast.Module) -> List[Tuple[int, Version]]:
    """(line, version) of each import under `if sys.version_info < v` (or its else) or in the
    ImportError handler of a try that imports a stdlib module added in v."""
    from .imports import IMPORT_GUARDS, handlers_catch

    found: List[Tuple[int, Version]] = []

    def mark(statements: Iterable[ast.stmt], version: Version) -> None:
        for stmt in statements:
            for node in ast.walk(stmt):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.append((node.lineno, version))

    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            guard = version_test(node.test)
            if guard:
                mark(node.body if guard[1] else node.orelse, guard[0])
        elif isinstance(node, ast.Try):
            newer = stdlib_newer(node.body)
            if newer and handlers_catch(node.handlers, IMPORT_GUARDS):
                for handler in node.handlers:
                    mark(handler.body, newer)
    return found


def facts_from_tree(parsed: ParsedCell, tree: ast.Module, package: str) -> CellFacts:
    bound, star = bound_names(tree)
    defined = bound_names(tree, imports=False)[0]
    if not parsed.exported:
        return CellFacts(frozenset(bound), star, frozenset(defined))
    public = tuple((name, public_name_line(tree, name)) for name in tree_public_names(tree))
    imports: List[ImportFacts] = []
    backports: List[Tuple[int, Version]] = []
    if "import" in parsed.code:
        dynamic = "import_module" in parsed.code or "__import__" in parsed.code
        for raw in extract_imports(tree, dynamic, package):
            imports.append(ImportFacts(getattr(raw.node, "lineno", 1), statement_text(parsed.cell.body, raw.node),
                                       raw.name, raw.names, raw.level, raw.in_function, raw.guarded, raw.dynamic,
                                       raw.fallback))
        backports = _backports(tree)
    return CellFacts(frozenset(bound), star, frozenset(defined), public, tuple(imports), tuple(backports),
                     lazy_annotations([tree]))


def facts_of(parsed: ParsedCell, package: str) -> Optional[CellFacts]:
    """The cell's facts (None when it has no tree: a syntax error, or refused by the parse budget)."""
    if not parsed.has_tree:
        return None
    if isinstance(parsed.facts, CellFacts):
        return parsed.facts
    tree = parsed.tree
    if tree is None:
        return None
    parsed.facts = facts = facts_from_tree(parsed, tree, package)
    return facts


# ------------------------------------------------------------------ the cache of one source's facts
def _error_json(error: Optional[SyntaxError]) -> Any:
    return None if error is None else [error.msg, error.lineno]


def _error_from_json(raw: Any) -> Optional[SyntaxError]:
    if raw is None:
        return None
    message, line = raw
    if not isinstance(message, str) or not (line is None or isinstance(line, int)):
        raise TypeError("not an error entry")
    error = SyntaxError(message)
    error.lineno = line
    return error


def _facts_json(facts: Optional[CellFacts]) -> Any:
    if facts is None:
        return None
    return {"bound": sorted(facts.bound), "star": facts.star, "defined": sorted(facts.defined),
            "public": [list(pair) for pair in facts.public],
            "imports": [[i.lineno, i.statement, i.name, list(i.names), i.level, i.in_function, i.guarded,
                         i.dynamic, i.fallback] for i in facts.imports],
            "backports": [[line, list(version)] for line, version in facts.backports],
            "future_annotations": facts.future_annotations}


def _strings(raw: Any) -> Tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise TypeError("not a list of names")
    return tuple(raw)


def _facts_from_json(raw: Any) -> Optional[CellFacts]:
    if raw is None:
        return None
    imports = []
    for lineno, statement, name, names, level, in_function, guarded, dynamic, fallback in raw["imports"]:
        if not (isinstance(lineno, int) and isinstance(statement, str) and isinstance(name, str)
                and isinstance(level, int) and all(isinstance(flag, bool)
                                                   for flag in (in_function, guarded, dynamic, fallback))):
            raise TypeError("not an import entry")
        imports.append(ImportFacts(lineno, statement, name, _strings(names), level, in_function, guarded,
                                   dynamic, fallback))
    public = tuple((str(name), int(line)) for name, line in raw["public"])
    backports = tuple((int(line), (int(version[0]), int(version[1]))) for line, version in raw["backports"])
    if not isinstance(raw["star"], bool) or not isinstance(raw["future_annotations"], bool):
        raise TypeError("not a flag")
    return CellFacts(frozenset(_strings(raw["bound"])), raw["star"], frozenset(_strings(raw["defined"])),
                     public, tuple(imports), backports, raw["future_annotations"])


@dataclass(frozen=True)
class _Outcome:
    """What one cell's entry holds: the parse's errors and, when it parsed, its facts."""
    error: Optional[SyntaxError]
    newer: Optional[SyntaxError]
    facts: Optional[CellFacts]


def _key_text(item: ModuleSource) -> str:
    parts = [FACTS_FORMAT, sys.version, item.package]
    for parsed in item.cells:
        parts.append(f"{int(parsed.exported)}|{parsed.too_large}|{parsed.feature_version}|{parsed.parse_code}")
    return "\0".join(parts)


def _computed(item: ModuleSource) -> List[_Outcome]:
    return [_Outcome(parsed.error, parsed.newer, facts_of(parsed, item.package)) for parsed in item.cells]


def _outcomes_from_json(raw: Any, count: int) -> Optional[List[_Outcome]]:
    if not isinstance(raw, list) or len(raw) != count:
        return None
    return [_Outcome(_error_from_json(error), _error_from_json(newer), _facts_from_json(facts))
            for error, newer, facts in raw]


def attach_facts(analysis: CourseAnalysis) -> None:
    """Give every parsed cell of the course its parse outcome and facts: from the cache for a source
    whose cells did not change (nothing parsed), else by parsing its cells (and keeping them)."""
    for entry in analysis.modules:
        for item in (entry.dev, entry.paired, *entry.extras):
            if item is not None and item.cells:
                _attach(item)


def _attach(item: ModuleSource) -> None:
    from ..cache import cached_by_content

    outcomes = cached_by_content(
        KIND, _key_text(item), lambda: _computed(item),
        lambda found: [[_error_json(o.error), _error_json(o.newer), _facts_json(o.facts)] for o in found],
        lambda raw: _outcomes_from_json(raw, len(item.cells)),
        keep=lambda found: not any(parsed.unstable for parsed in item.cells))
    for parsed, outcome in zip(item.cells, outcomes):
        if not parsed.parsed:
            parsed.known_outcome(outcome.error, outcome.newer)
        if outcome.facts is not None and parsed.facts is None:
            parsed.facts = outcome.facts


def module_imports(item: ModuleSource) -> List[ImportRef]:
    """The imports of a source's exported cells, in file order."""
    refs: List[ImportRef] = []
    for parsed in item.exported:
        facts = facts_of(parsed, item.package)
        if facts is None:
            continue
        for raw in facts.imports:
            line, cell = item.place(parsed.cell, raw.lineno)
            refs.append(ImportRef(item.module.key, item.rel, line, cell, raw.statement, raw.name, raw.names,
                                  raw.level, raw.in_function, raw.guarded, parsed.target, raw.dynamic,
                                  raw.fallback))
    return refs
