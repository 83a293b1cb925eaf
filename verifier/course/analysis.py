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


@dataclass
class ParsedCell:
    """One code cell of a source: exported (with its target) or not."""
    cell: Cell
    code: str
    tree: Optional[ast.Module]
    error: Optional[SyntaxError]
    exported: bool
    directive: Optional[Directive] = None  # the export directive, when exported
    target: Optional[str] = None           # normalised export target; None when the file has none
    public: bool = True                    # False for `#| exporti`
    newer: Optional[SyntaxError] = None    # parses, but not with the oldest supported Python's grammar
    too_large: int = 0                     # estimated tokens of a cell refused by the parse budget (not parsed)
    _nodes: Optional[List[ast.AST]] = field(default=None, repr=False)

    @property
    def nodes(self) -> List[ast.AST]:
        """Every node of the cell's tree (one ast.walk, shared by all checks)."""
        if self._nodes is None:
            self._nodes = list(ast.walk(self.tree)) if self.tree is not None else []
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
            tree, error, newer = _parse(code, feature_version) if not too_large else (None, None, None)
            target = normalise_target(directive.args, course.package) if directive.args else default
            item.cells.append(ParsedCell(cell, code, tree, error, True, directive, target,
                                         public=directive.name != "exporti", newer=newer, too_large=too_large))
        else:
            # notebook magics and shell escapes are not Python; tests cells may use them
            clean = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.body)
            tree, error, _ = _parse(clean) if not too_large else (None, None, None)
            item.cells.append(ParsedCell(cell, code, tree, error, False, too_large=too_large))
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
