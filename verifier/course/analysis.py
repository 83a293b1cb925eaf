"""Reading a course for static checks: every module source as parsed cells, never raising.

This is the read-only half of `export.plan_export` (same directive semantics, same target
normalisation) that records problems instead of stopping at the first: an unreadable file or
a cell with a syntax error is kept with its location so the validator can report it. Nothing
here imports or executes student code: sources are read as text and parsed with `ast`.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import SourceError
from .budget import ParseBudget
from .discovery import SOURCE_SUFFIXES, Course, CourseModule
from .sources import EXPORT_DIRECTIVES, Cell, Directive, SourceFile, normalise_target, read_source

UNSTABLE = "tito_unstable"  # set on the error of a parse that ran out of stack or memory


class ParsedCell:
    """One code cell of a source: exported (with its target) or not. Its tree is parsed on first use:
    the outcome of the parse (`error`, `newer`, `has_tree`) and the facts the course-wide checks read
    (deps/cellfacts.py) may come from the verifier's cache instead, so an unchanged module is not parsed."""

    def __init__(self, cell: Cell, code: str, exported: bool, parse_code: str,
                 feature_version: Optional[Tuple[int, int]] = None, directive: Optional[Directive] = None,
                 target: Optional[str] = None, public: bool = True, too_large: int = 0) -> None:
        self.cell = cell
        self.code = code
        self.exported = exported
        self.parse_code = parse_code          # what is parsed: the code, magics blanked in a non-exported cell
        self.feature_version = feature_version
        self.directive = directive            # the export directive, when exported
        self.target = target                  # normalised export target; None when the file has none
        self.public = public                  # False for `#| exporti`
        self.too_large = too_large            # estimated tokens of a cell refused by the parse budget (not parsed)
        self.facts: object = None             # deps.cellfacts.CellFacts, set from the cache or the tree
        self._parsed = False
        self._outcome_known = bool(too_large)  # a refused cell has no tree and no error
        self._tree: Optional[ast.Module] = None
        self._error: Optional[SyntaxError] = None
        self._newer: Optional[SyntaxError] = None
        self._nodes: Optional[List[ast.AST]] = None

    def _parse_now(self) -> None:
        if not self._parsed:
            self._parsed = True
            if not self.too_large:
                self._tree, self._error, self._newer = _parse(self.parse_code, self.feature_version)
            self._outcome_known = True

    def known_outcome(self, error: Optional[SyntaxError], newer: Optional[SyntaxError]) -> None:
        """The parse's outcome as a cache kept it for this very code: `error` and `newer` are then read
        without parsing (the tree, when a check asks for it, is parsed then and comes out the same)."""
        if not self._parsed:
            self._error, self._newer, self._outcome_known = error, newer, True

    @property
    def parsed(self) -> bool:
        """Whether the tree was parsed in this process (else it would cost a parse to read it)."""
        return self._parsed

    @property
    def unstable(self) -> bool:
        """The parse failed for want of stack or memory: its outcome may differ next time (not cached)."""
        return self._parsed and bool(getattr(self._error, UNSTABLE, False))

    @property
    def tree(self) -> Optional[ast.Module]:
        self._parse_now()
        return self._tree

    @property
    def error(self) -> Optional[SyntaxError]:
        if not self._outcome_known:
            self._parse_now()
        return self._error

    @property
    def newer(self) -> Optional[SyntaxError]:
        """The error of the oldest supported Python's grammar when the code parses only with the running one."""
        if not self._outcome_known:
            self._parse_now()
        return self._newer

    @property
    def has_tree(self) -> bool:
        """`tree is not None`, without parsing when the outcome is known."""
        return not self.too_large and self.error is None

    @property
    def nodes(self) -> List[ast.AST]:
        """Every node of the cell's tree (one ast.walk, shared by all checks)."""
        if self._nodes is None:
            tree = self.tree
            self._nodes = list(ast.walk(tree)) if tree is not None else []
        return self._nodes


@dataclass
class ModuleSource:
    """A source file in a module folder: the dev file, its paired notebook, or a stray extra file."""
    module: CourseModule
    path: Path
    rel: str                                # posix path relative to the course root
    source: Optional[SourceFile] = None
    read_error: Optional[SourceError] = None
    default_exps: List[Directive] = field(default_factory=list)
    cells: List[ParsedCell] = field(default_factory=list)
    package: str = "tinytorch"

    @property
    def notebook(self) -> bool:
        return self.path.suffix == ".ipynb"

    @property
    def default_target(self) -> Optional[str]:
        """nbdev semantics (as plan_export): the last `#| default_exp` of the file wins."""
        if not self.default_exps:
            return None
        return normalise_target(self.default_exps[-1].args, self.package)

    @property
    def exported(self) -> List[ParsedCell]:
        return [c for c in self.cells if c.exported]

    @property
    def unexported(self) -> List[ParsedCell]:
        return [c for c in self.cells if not c.exported]

    def place(self, cell: Cell, line_in_body: int = 1) -> Tuple[int, Optional[int]]:
        """(line, notebook cell) of a 1-based line of a cell's body (what ast line numbers count)."""
        if self.notebook:
            return cell.body_offset + line_in_body, cell.index + 1
        return cell.body_first_line + line_in_body - 1, None

    def directive_place(self, directive: Directive, cell: Cell) -> Tuple[int, Optional[int]]:
        return directive.line, (cell.index + 1 if self.notebook else None)


@dataclass
class ModuleAnalysis:
    module: CourseModule
    dev: Optional[ModuleSource]
    paired: Optional[ModuleSource]
    extras: List[ModuleSource] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.module.key


@dataclass
class CourseAnalysis:
    course: Course
    modules: List[ModuleAnalysis]

    def rel(self, path: Path) -> str:
        return relative(path, self.course.root)

    def by_key(self) -> Dict[str, ModuleAnalysis]:
        return {m.key: m for m in self.modules}


def relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _parse(code: str, feature_version: Optional[Tuple[int, int]] = None
           ) -> Tuple[Optional[ast.Module], Optional[SyntaxError], Optional[SyntaxError]]:
    """(tree, error, newer): with a feature_version, `newer` is the error of that grammar when
    the code parses only with the running interpreter's grammar."""
    try:
        if feature_version is not None:
            try:
                return ast.parse(code, feature_version=feature_version), None, None
            except SyntaxError as newer:
                try:
                    return ast.parse(code), None, newer
                except SyntaxError:
                    pass
        return ast.parse(code), None, None
    except SyntaxError as exc:
        return None, exc, None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. NUL bytes, absurd nesting
        error = SyntaxError(str(exc) or type(exc).__name__)
        error.lineno = 1
        # how deep the parser got before the stack or the memory ran out is not a function of the code
        setattr(error, UNSTABLE, isinstance(exc, (RecursionError, MemoryError)))
        return None, error, None


def read_module_source(course: Course, module: CourseModule, path: Path,
                       feature_version: Optional[Tuple[int, int]] = None) -> ModuleSource:
    item = ModuleSource(module, path, relative(path, course.root), package=course.package)
    try:
        item.source = read_source(path, course.root)
    except SourceError as exc:
        item.read_error = exc
        return item
    except OSError as exc:
        item.read_error = SourceError(f"cannot read module source: {exc.strerror or exc}", path)
        return item
    for cell in item.source.cells:
        if cell.kind == "code":
            item.default_exps.extend(d for d in cell.directives if d.name == "default_exp")
    default = item.default_target
    budget = ParseBudget()
    for cell in item.source.cells:
        if cell.kind != "code":
            continue
        code = "\n".join(cell.body)
        directive = cell.directive(*EXPORT_DIRECTIVES)
        too_large = budget.admit(code)
        # nbdev 2.x exports a `#| hide` + `#| export` cell too
        if directive is not None:
            target = normalise_target(directive.args, course.package) if directive.args else default
            item.cells.append(ParsedCell(cell, code, True, code, feature_version, directive, target,
                                         public=directive.name != "exporti", too_large=too_large))
        else:
            # notebook magics and shell escapes are not Python; tests cells may use them
            clean = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.body)
            item.cells.append(ParsedCell(cell, code, False, clean, too_large=too_large))
    return item


def _extra_sources(module: CourseModule) -> List[Path]:
    known = {p.resolve() for p in (module.source, module.paired) if p is not None}
    extras = []
    for path in sorted(module.folder.iterdir()):
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and not path.name.startswith((".", "_")) \
                and path.resolve() not in known:
            extras.append(path)
    return extras


def analyse_course(course: Course, feature_version: Optional[Tuple[int, int]] = None) -> CourseAnalysis:
    """Read every module's dev file, paired notebook and extra source files in its folder.
    With a feature_version (the oldest supported Python), exported cells are parsed with that
    grammar and a cell that needs a newer one keeps the error in `ParsedCell.newer`."""
    modules: List[ModuleAnalysis] = []
    for module in course.modules:
        dev = read_module_source(course, module, module.source, feature_version) if module.source else None
        paired = read_module_source(course, module, module.paired) if module.paired else None
        extras = []
        for path in _extra_sources(module):
            extra = read_module_source(course, module, path)
            # a file that is not a percent-format source or notebook (a test script, a helper) is not a source
            if extra.source is not None:
                extras.append(extra)
        modules.append(ModuleAnalysis(module, dev, paired, extras))
    return CourseAnalysis(course, modules)
