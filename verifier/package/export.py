"""Export: module sources -> one importable package, with nbdev's directive semantics.

  #| default_exp a.b     the file's cells export to <package>/a/b.py
  #| export [a.c]        export this cell (to a.c instead, when named); public names go into __all__
  #| exports             as export (nbdev also shows the source in docs)
  #| exporti             export without adding names to __all__ (imports stay absolute)
  #| hide                documentation only: nbdev 2.x still exports a `#| hide` + `#| export` cell
  _all_ = ['name', ...]  in an exported cell: names added to __all__ explicitly

The rules are nbdev 2.x's (nbdev.export.ExportModuleProc, nbdev.maker.ModuleMaker), checked
against nbdev itself over real TinyTorch trees by tests/integration/test_corpus_nbdev.py: the same
files, the same code per cell, the same `__all__`, `from <package>...` imports of public cells made
relative, cells up to the last `from __future__` import before `__all__`. Each exported file
starts with a header naming its sources; each exported cell is preceded by a marker
`# %% <source>:<line> (cell N)` (instead of nbdev's `# %% <notebook> #<cell id>`) so that any
installed line maps back to the student's file and line (see runner/attribution.py).

A module that cannot be exported becomes a ModuleProblem of the plan; the others are exported.
The package `__init__.py` is what Course.package_init names: the course's own committed file,
nbdev's (`__version__` only) or the star-import one assembled from the modules' metadata;
subpackage `__init__.py` files are nbdev's: empty, created only where missing."""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from ..atomic import atomic_tree
from ..course import sources as course_sources
from ..course.budget import ParseBudget
from ..course.discovery import Course, CourseModule
from ..course.files import TEXT_LIMIT, read_course_bytes, read_course_text_or_none, refuse_special_files
from ..course.sources import EXPORT_DIRECTIVES, GENERATED_MARK, Cell, SourceFile, normalise_target, read_source
from ..errors import ExportError, VerifierError
from ..ownership import check_package_target

DEFAULT_TARGET = "#"  # nbdev's key for "the file's `#| default_exp` target"


@dataclass
class ExportedCell:
    module: CourseModule
    source: SourceFile
    cell: Cell
    public: bool  # False for exporti: its names stay out of __all__ and its imports stay absolute


@dataclass
class Target:
    """One generated file of the package, e.g. `core.tensor` -> tinytorch/core/tensor.py."""
    name: str
    cells: List[ExportedCell] = field(default_factory=list)
    summary: str = ""  # nbdev's module docstring: the `> ...` line of the notebook's `# Title` cell

    @property
    def sources(self) -> List[Path]:
        seen: List[Path] = []
        for item in self.cells:
            if item.source.path not in seen:
                seen.append(item.source.path)
        return seen

    def relative_file(self) -> Path:
        return Path(*self.name.split(".")).with_suffix(".py")


@dataclass(frozen=True)
class ModuleProblem:
    """Why one module could not be exported; the rest of the course still is."""
    module: str              # folder name, e.g. "16_capstone"
    message: str
    path: Optional[Path]
    line: Optional[int] = None
    hint: str = ""

    @property
    def location(self) -> str:
        if self.path is None:
            return self.module
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        hint = f" — {self.hint}" if self.hint else ""
        return f"{self.location}: {self.message}{hint}"

    def as_error(self) -> ExportError:
        return ExportError(self.message, self.path, self.line, self.hint)


@dataclass
class ExportPlan:
    course: Course
    targets: Dict[str, Target]
    module_targets: Dict[str, str]  # module key -> its default_exp target
    sources: Dict[str, SourceFile]  # module key -> parsed source
    problems: List[ModuleProblem] = field(default_factory=list)

    def target_of(self, module: CourseModule) -> Optional[Target]:
        name = self.module_targets.get(module.key)
        return self.targets.get(name) if name else None

    def raise_for_problems(self) -> None:
        """For callers that need every module (a build, a release): the first problem as an error."""
        if self.problems:
            raise self.problems[0].as_error()


# -- nbdev's __all__ (nbdev.maker.ModuleMaker.make_all) --------------------------------------

def _decorator_id(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    func = getattr(node, "func", None)
    return func.id if isinstance(func, ast.Name) else ""


def _assignment_targets(node: ast.stmt) -> List[ast.expr]:
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return list(node.targets) if isinstance(node, ast.Assign) else []


def nbdev_all(trees: Sequence[List[ast.stmt]]) -> List[str]:
    """nbdev's __all__ for the top-level statements of the public cells: assigned names first,
    then defs and classes (not those decorated with @patch...), then what `_all_ = [...]` lists;
    names starting with `_` only through `_all_`; each name once, first occurrence kept."""
    statements = [node for tree in trees for node in tree]
    assigns = [n for n in statements if isinstance(n, (ast.AnnAssign, ast.Assign, ast.AugAssign))]
    listed: List[str] = []
    for node in assigns:
        first = _assignment_targets(node)[0]
        if isinstance(first, ast.Name) and first.id == "_all_" and isinstance(node.value, (ast.List, ast.Tuple)):
            for item in node.value.elts:
                value = item.value if isinstance(item, ast.Constant) else getattr(item, "id", None)
                if isinstance(value, str):
                    listed.append(value)
    symbols = [n.name for n in statements
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and not any(_decorator_id(d).startswith("patch") for d in n.decorator_list)]
    assigned: List[str] = []
    for node in assigns:
        for target in _assignment_targets(node):
            for element in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                name = getattr(element, "id", None)
                if name:
                    assigned.append(name)
    names: List[str] = []
    for name in [n for n in assigned + symbols if n and n[0] != "_"] + listed:
        if name not in names:
            names.append(name)
    return names


def public_names(code: str, where: str) -> List[str]:
    """Names nbdev puts into __all__ for one cell (see nbdev_all)."""
    return nbdev_all([_parse_cell(code, where)])


def _parse_cell(code: str, where: str) -> List[ast.stmt]:
    """Top-level statements of a cell; a cell starting with a magic is not Python (nbdev skips it)."""
    if code.strip()[:1] in ("%", "!"):
        return []
    too_large = ParseBudget().admit(code)  # one cell's budget: its tree is dropped once its names are read
    if too_large:
        raise ExportError(f"cell too large to analyse: about {too_large:,} tokens, over the parse budget",
                          hint=f"at {where}: move the data out of the source")
    try:
        return ast.parse(code).body
    except SyntaxError as exc:
        raise ExportError(f"syntax error in exported cell: {exc.msg}",
                          hint=f"at {where}, cell line {exc.lineno}") from None
    except (RecursionError, MemoryError, ValueError):  # absurd nesting, NUL bytes: still not Python we export
        raise ExportError("exported cell is too deeply nested or malformed for Python's parser",
                          hint=f"at {where}: split the expression") from None


# -- nbdev's relative imports (nbdev.maker.relative_import / update_import) --------------------

def relative_import(name: str, module_dir: str) -> str:
    """`tinytorch.core.tensor` seen from tinytorch/core -> `.tensor` (nbdev's rule, verbatim)."""
    path = name.replace(".", "/")
    if not os.path.commonpath([path, module_dir]):
        return name
    rel = os.path.relpath(path, module_dir)
    if rel == ".":
        return "."
    result = rel.replace(f"..{os.path.sep}", ".")
    if not all(c == "." for c in result):
        result = "." + result
    return result.replace(os.path.sep, ".")


def imports_made_relative(lines: List[str], tree: List[ast.stmt], module_dir: str) -> List[str]:
    """What nbdev does to an exported (public) cell: top-level `from <package>... import` become
    relative to the generated file. Line count is unchanged (markers stay exact)."""
    out = list(lines)
    for node in tree:
        if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
            continue
        module = node.module
        index = node.lineno - 1
        if index >= len(out):
            continue
        section = out[index][node.col_offset:node.end_col_offset]
        relative = relative_import(module, module_dir)
        renamed = re.sub(f"(from +){re.escape(module)}", rf"\g<1>{relative}", section)
        out[index] = out[index].replace(section, renamed)
    return out


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _summary(cell: Cell) -> str:
    """nbdev's module docstring source: the first `> ` line of a `# Title` markdown cell."""
    for line in cell.lines:
        if line.startswith("> "):
            return line.lstrip("> ").strip()
    return ""


def _plan_module(course: Course, module: CourseModule, source: SourceFile,
                 owner: Dict[str, Path]) -> Dict[str, Target]:
    """One source's exports as nbdev's ExportModuleProc collects them; raises for a problem."""
    default: Optional[str] = None
    default_line = 0
    collected: Dict[str, List[ExportedCell]] = {}
    summaries: List[str] = []
    for cell in source.cells:
        if cell.kind == "markdown" and cell.lines and "\n".join(cell.lines).startswith("# "):
            collected.setdefault(DEFAULT_TARGET, [])
            summaries.append(_summary(cell))
            continue
        if cell.kind != "code":
            continue
        for name, directive in cell.nbdev_directives().items():
            args = directive.arg_list
            if name == "default_exp":
                if len(args) != 1:
                    raise ExportError(f"`#| default_exp` needs exactly one module path, got {len(args)}",
                                      source.path, directive.line, hint="use e.g. `#| default_exp core.tensor`")
                default, default_line = normalise_target(args[0], course.package), directive.line
                if not course_sources.is_module_path(default):
                    raise ExportError(f"`#| default_exp {directive.args}` is not a dotted module path (parts: "
                                      "identifiers, no keyword, ≤ 100 characters)", source.path, directive.line,
                                      hint="use e.g. `#| default_exp core.tensor`")
            elif name in EXPORT_DIRECTIVES:
                if len(args) > 1:
                    raise ExportError(f"`#| {name} {directive.args}` names more than one module",
                                      source.path, directive.line, hint=f"use `#| {name}` or `#| {name} core.<name>`")
                key = normalise_target(args[0], course.package) if args else DEFAULT_TARGET
                if key != DEFAULT_TARGET and not course_sources.is_module_path(key):
                    raise ExportError(f"`#| {name} {directive.args}` is not a dotted module path",
                                      source.path, directive.line)
                collected.setdefault(key, []).append(ExportedCell(module, source, cell, public=name != "exporti"))
    planned: Dict[str, Target] = {}
    for key, cells in collected.items():
        if not cells:
            continue
        target = default if key == DEFAULT_TARGET else key
        if target is None:
            first = cells[0].cell.nbdev_directives()
            line = next(d.line for d in first.values() if d.name in EXPORT_DIRECTIVES)
            raise ExportError("exported cell but the file has no `#| default_exp` target", source.path, line,
                              hint="add a cell with `#| default_exp core.<name>`")
        for item in cells:  # a module that would not import is not exported at all
            _parse_cell("\n".join(item.cell.body), item.source.location(item.cell))
        planned[target] = Target(target, list(cells), next((s for s in summaries if s), "")
                               if key == DEFAULT_TARGET else "")
    if default is not None:
        if default in owner and owner[default] != source.path:
            raise ExportError(f"two sources export to {course.package}.{default}: "
                              f"{_relative(owner[default], course.root)} and "
                              f"{_relative(source.path, course.root)}", source.path, default_line,
                              hint="give each module its own `#| default_exp` target")
    return planned


def plan_export(course: Course) -> ExportPlan:
    """Read every module source and collect its exported cells under their targets. A module that
    cannot be exported (no source, unreadable, no target, a syntax error...) becomes a
    ModuleProblem in the plan; every other module is still planned."""
    plan = ExportPlan(course, {}, {}, {})
    owner: Dict[str, Path] = {}  # default_exp target -> the source that owns it
    for module in course.modules:
        if module.source is None:
            plan.problems.append(ModuleProblem(
                module.key, f"module folder {module.key} has no source file", module.folder,
                hint=f"add {module.name}.py (percent format) or {module.name}.ipynb"))
            continue
        try:
            source = read_source(module.source, course.root)
            planned = _plan_module(course, module, source, owner)
        except VerifierError as exc:
            plan.problems.append(ModuleProblem(module.key, exc.message, exc.path or module.source, exc.line,
                                               exc.hint))
            continue
        except OSError as exc:
            plan.problems.append(ModuleProblem(module.key, f"cannot read module source: {exc.strerror or exc}",
                                               module.source))
            continue
        plan.sources[module.key] = source
        for cell in source.cells:
            found = cell.nbdev_directives().get("default_exp") if cell.kind == "code" else None
            if found:
                default = normalise_target(found.args, course.package)
                owner[default] = module.source
                plan.module_targets[module.key] = default
        for name, target in planned.items():
            existing = plan.targets.setdefault(name, Target(name, summary=target.summary))
            existing.cells.extend(target.cells)
    return plan


def _body_blocks(item: ExportedCell, root: Path, module_dir: str) -> str:
    """One exported cell: a marker naming its source line, then the code nbdev exports. When the
    body skips source lines (directive lines between kept Quarto options), a new marker follows."""
    cell = item.cell
    body = [text for text, _ in cell.nbdev_source()]
    numbers = [number for _, number in cell.nbdev_source()]
    if item.public:
        body = imports_made_relative(body, _parse_cell("\n".join(body), item.source.location(cell)), module_dir)
    rel = _relative(item.source.path, root)
    out: List[str] = []
    previous = None
    for text, number in zip(body, numbers):
        if previous is None or number != previous + 1:
            place = f"{rel} (cell {cell.index + 1})" if item.source.notebook else \
                f"{rel}:{number} (cell {cell.index + 1})"
            out.append(f"# %% {place}")
        out.append(text)
        previous = number
    if not body:
        out.append(f"# %% {rel} (cell {cell.index + 1})" if item.source.notebook
                   else f"# %% {rel}:{cell.body_first_line} (cell {cell.index + 1})")
    return "\n".join(out) + "\n"


def _has_future_import(item: ExportedCell) -> bool:
    tree = _parse_cell("\n".join(item.cell.body), item.source.location(item.cell))
    return any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree)


def render_target(plan: ExportPlan, target: Target) -> str:
    """The generated file, laid out as nbdev lays it out: module docstring, cells up to the last
    `from __future__` import, `__all__`, the other cells (markers instead of nbdev's cell ids)."""
    root = plan.course.root
    package_dir = Path(plan.course.package)
    module_dir = (package_dir / target.relative_file()).parent.as_posix()
    names = exported_names(plan, target)
    live = [item for item in target.cells if any(text.strip() for text, _ in item.cell.nbdev_source())]
    last_future = max((i + 1 for i, item in enumerate(live) if _has_future_import(item)), default=0)
    blocks = [_body_blocks(item, root, module_dir) for item in live]
    sources = ", ".join(_relative(p, root) for p in target.sources)
    header = f"{GENERATED_MARK} from {sources} — edit the source, not this file.\n"
    if target.summary:
        header += f'"""{target.summary}"""\n'
    all_line = f"__all__ = {names!r}\n"
    if last_future:
        return header + "\n".join(blocks[:last_future]) + "\n# %% auto #0\n" + all_line + "\n" + \
            "\n".join(blocks[last_future:])
    return header + all_line + "\n" + "\n".join(blocks)


def exported_names(plan: ExportPlan, target: Target) -> List[str]:
    return nbdev_all([_parse_cell("\n".join(item.cell.body), item.source.location(item.cell))
                      for item in target.cells if item.public])


def render_package_init(plan: ExportPlan, present: Iterable[str]) -> str:
    """The top-level __init__: version, then every module's public names in course order."""
    course = plan.course
    present = set(present)
    lines = [f'"""{course.package}: the package built from the course modules.',
             "",
             f"{GENERATED_MARK} from the modules' metadata — do not edit.",
             '"""',
             f"__version__ = {course.version!r}",
             ""]
    all_names: List[str] = []
    ordered = [plan.module_targets[m.key] for m in course.modules if m.key in plan.module_targets]
    ordered += [name for name in plan.targets if name not in ordered]
    for name in ordered:
        if name not in present or name not in plan.targets:
            continue
        lines.append(f"from .{name} import *  # noqa: F401,F403")
        for exported in exported_names(plan, plan.targets[name]):
            if exported not in all_names:
                all_names.append(exported)
    # What each module promises (module.yaml `components`), checked from the installed wheel.
    components = {f"{course.package}.{plan.module_targets[m.key]}": m.components for m in course.modules
                  if m.components and plan.module_targets.get(m.key) in present}
    lines += ["", f"__all__ = ['__version__'] + {all_names!r}",
              f"_components = {components!r}", ""]
    return "\n".join(lines)


def render_nbdev_init(course: Course) -> str:
    """What nbdev_export leaves in a fresh package __init__.py (nbdev.config.update_version)."""
    return f'__version__ = "{course.version}"\n'


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _copy_committed(committed: Path, copy: Path, root: Path) -> None:
    """A committed file copied as every course file is read: regular, inside the course, size-capped."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(read_course_bytes(committed, root, TEXT_LIMIT))


def _same_place(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _write_subpackage_inits(course: Course, package_dir: Path, in_course: bool) -> List[Path]:
    """nbdev.config.add_init: every folder below the package holding Python files gets an
    `__init__.py` when it has none — an empty file. Outside the course tree, a folder the course
    commits an `__init__.py` for gets that file (nbdev would have left it in place)."""
    written: List[Path] = []
    committed_dir = course.root / course.package
    for folder, dirs, files in sorted(os.walk(package_dir, topdown=False), reverse=True):
        folder_path = Path(folder)
        if folder_path == package_dir or "__pycache__" in folder_path.parts:
            continue
        init = folder_path / "__init__.py"
        holds_python = any(f.endswith(".py") for f in files) or any(
            any(f.endswith(".py") for f in os.listdir(folder_path / d)) for d in dirs)
        if init.exists() or not holds_python:
            continue
        committed = committed_dir / folder_path.relative_to(package_dir) / "__init__.py"
        if not in_course and committed.is_file():
            _copy_committed(committed, init, course.root)
        else:
            _write(init, "")
        written.append(init)
    return written


def _write_package_init(plan: ExportPlan, package_dir: Path, in_course: bool) -> Optional[Path]:
    """The top-level __init__.py the course's toolchain makes (Course.package_init)."""
    course = plan.course
    init = package_dir / "__init__.py"
    if course.package_init == "course":
        committed = course.root / course.package / "__init__.py"
        if not committed.is_file():
            raise ExportError(f"the package __init__ is the course's own, but {course.package}/__init__.py "
                              f"does not exist", course.root / course.package,
                              hint='commit one, or set [tool.tinytorch] init = "nbdev" in pyproject.toml')
        if in_course:
            return None  # shipped unchanged: it already is where it belongs
        _copy_committed(committed, init, course.root)
        return init
    if course.package_init == "star-imports":
        present = [t.name for t in plan.targets.values() if (package_dir / t.relative_file()).is_file()]
        _write(init, render_package_init(plan, present))
    else:
        _write(init, render_nbdev_init(course))
    return init


def write_package(plan: ExportPlan, out_dir: Path, only: Optional[Sequence[str]] = None) -> List[Path]:
    """Write the package under out_dir/<package>. `only` limits the written targets (names).
    Modules with problems (plan.problems) are simply absent; every other module is written. Atomic:
    the package is built in a temporary folder beside the target (starting from a copy of
    the package already there) and moved into place only when complete, so a failing or interrupted
    export leaves the previous package untouched — never half-written."""
    course, package_dir = plan.course, Path(out_dir) / plan.course.package
    in_course = _same_place(package_dir, course.root / course.package)
    refuse_special_files(package_dir, Path(out_dir))  # the staging copy would block on a FIFO
    if in_course:  # the swap replaces a folder of the user's tree: only ever the course's package folder
        check_package_target(package_dir, course.root, [course.modules_dir])
    with atomic_tree(package_dir) as staged:
        written = _write_into(plan, staged, only, in_course)
    return [package_dir / path.relative_to(staged) for path in written]


def _write_into(plan: ExportPlan, package_dir: Path, only: Optional[Sequence[str]], in_course: bool) -> List[Path]:
    course = plan.course
    selected = [t for t in plan.targets.values() if only is None or t.name in only]
    written: List[Path] = []
    if only is None and package_dir.is_dir():
        _remove_stale(package_dir, {t.relative_file() for t in plan.targets.values()})
    for target in selected:
        path = package_dir / target.relative_file()
        _write(path, render_target(plan, target))
        written.append(path)
    written += _write_subpackage_inits(course, package_dir, in_course)
    init = _write_package_init(plan, package_dir, in_course)
    if init is not None:
        written.append(init)
    return written


def _remove_stale(package_dir: Path, keep: set) -> None:
    """Drop generated files whose source no longer exports them (never touches hand-written files)."""
    for path in package_dir.rglob("*.py"):
        rel = path.relative_to(package_dir)
        if rel in keep or path.name == "__init__.py":
            continue
        text = read_course_text_or_none(path, package_dir)
        if text is not None and text.startswith(GENERATED_MARK):
            path.unlink(missing_ok=True)


def targets_of_modules(plan: ExportPlan, modules: Sequence[CourseModule]) -> List[str]:
    keys = {m.key for m in modules}
    return [t.name for t in plan.targets.values() if any(c.module.key in keys for c in t.cells)]
