"""Reading module sources as cells, exactly as the real tools do: jupytext splits a percent-format
`.py` file into cells, nbdev 2.x reads the directives at the top of each code cell.

A Cell knows the line of the source file where it starts, so that every exported line can be
traced back to the student's file and line. The cells come from jupytext itself (its own cell
reader, run over the file while recording where each cell begins), so lines before the first
`# %%` marker are a code cell, the YAML header is no cell, and magics are uncommented as jupytext
does. Directives follow nbdev 2.x (`nbdev.process.extract_directives`): they are the leading
`#|` comment lines of a code cell (`#|export`, `# | export` and `#| export:` all count; names are
case-sensitive); the first line that is neither blank, nor a directive, nor a `%%cell` magic ends
the block — a plain comment included. nbdev drops the directive lines from the exported code but
keeps Quarto options (`#| label: x`) and cell magics of that block; `Cell.body` is that code.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import SourceError

MAX_SOURCE_BYTES = 5 * 1024 * 1024  # a module source is a lesson, not a data file

# nbdev.process: `_dir_pre('python')`, `_quarto_re('python')`, `_cell_mgc`
NBDEV_DIRECTIVE_PREFIX = re.compile(r"\s*#\s*\|")
NBDEV_QUARTO_OPTION = re.compile(r"\s*#\s*\|\s*[\w|-]+\s*:")
NBDEV_CELL_MAGIC = re.compile(r"^\s*%%\w+")
# One stripped comment that reads as a directive (for checks that look for misplaced ones).
DIRECTIVE = re.compile(r"^#\s*\|\s*(?P<name>[\w-]+)(?P<args>.*)$")
# The directives nbdev's ExportModuleProc acts on, and what each means for the exported module.
EXPORT_DIRECTIVES = ("export", "exports", "exporti")


@dataclass(frozen=True)
class Directive:
    name: str
    args: str
    line: int  # 1-based line in the source file (for a notebook: line inside the cell)

    @property
    def arg_list(self) -> List[str]:
        return self.args.split()


@dataclass
class Cell:
    index: int              # 0-based position among the notebook's cells (jupytext's, for a .py file)
    kind: str               # "code", "markdown" or "raw"
    lines: List[str]        # the cell's source as jupytext reads it, directives included
    first_line: int         # source line of lines[0] (for notebooks: 1, see `notebook`)
    header: str = ""        # text after `# %%` (cell type, nbgrader metadata ...)
    directives: List[Directive] = field(default_factory=list)
    body_offset: int = 0    # lines[body_offset] is the first line of the body (see `body`)
    # Indices into `lines` of the body, in order: the Quarto options / cell magics nbdev keeps
    # from the directive block (normalised in `kept`), then the code after the block.
    body_indices: List[int] = field(default_factory=list)
    kept: Dict[int, str] = field(default_factory=dict)
    directives_only: bool = False  # a code cell of nothing but directives (and blank lines)

    @property
    def body(self) -> List[str]:
        """The code nbdev exports for this cell (directive lines removed)."""
        return [self.kept.get(i, self.lines[i]) for i in self.body_indices]

    def nbdev_source(self) -> List[Tuple[str, int]]:
        """(text, source line) of what nbdev writes for this cell when exported. As `body`, except
        for a cell of nothing but directives: nbdev's slicing then keeps every line of it."""
        if not self.directives_only:
            return list(zip(self.body, self.body_numbers))
        lines = [(self.kept[i], self.first_line + i) for i in self.body_indices]
        return lines + [(text, self.first_line + i) for i, text in enumerate(self.lines)]

    @property
    def body_numbers(self) -> List[int]:
        """Source line of each body line (notebook: line inside the cell)."""
        return [self.first_line + i for i in self.body_indices]

    @property
    def body_first_line(self) -> int:
        return self.first_line + self.body_offset

    def directive(self, *names: str) -> Optional[Directive]:
        for d in self.directives:
            if d.name in names:
                return d
        return None

    def nbdev_directives(self) -> Dict[str, Directive]:
        """The directives as nbdev holds them: a dict in first-seen order, a repeated name keeping
        its last arguments (`dict(L(_directive(s) for s in dirs))`)."""
        found: Dict[str, Directive] = {}
        for d in self.directives:
            found[d.name] = d
        return found


@dataclass
class SourceFile:
    path: Path
    cells: List[Cell]
    notebook: bool

    def location(self, cell: Cell, line_in_body: int = 0) -> str:
        """Human-readable place of a body line: `file.py:42` or `file.ipynb (cell 7, line 3)`."""
        numbers = cell.body_numbers
        if self.notebook:
            line = numbers[line_in_body] if line_in_body < len(numbers) else cell.body_offset + line_in_body + 1
            return f"{self.path} (cell {cell.index + 1}, line {line})"
        line = numbers[line_in_body] if line_in_body < len(numbers) else cell.body_first_line + line_in_body
        return f"{self.path}:{line}"


def normalise_target(raw: str, package: str) -> str:
    """`tinytorch.core.tensor` and `core.tensor` both mean `core.tensor` inside the package."""
    value = raw.strip()
    if value.startswith(package + "."):
        value = value[len(package) + 1:]
    return value


def parse_directive_line(text: str) -> Optional[Tuple[str, List[str]]]:
    """nbdev.process._directive: `#| name args` -> (name, args); colon handling as nbdev's."""
    text = re.sub("^" + NBDEV_DIRECTIVE_PREFIX.pattern, "#|", text)
    if text.strip().endswith(":"):
        text = text.replace(":", "")
    if ":" in text:
        text = text.replace(":", ": ")
    words = text.strip()[2:].strip().split()
    if not words:
        return None
    return words[0], words[1:]


def _normalise_quarto(text: str) -> str:
    """nbdev.process._norm_quarto: a space after the option's colon."""
    match = NBDEV_QUARTO_OPTION.match(text)
    return match.group(0) + " " + NBDEV_QUARTO_OPTION.sub("", text).lstrip() if match else text


def apply_nbdev_directives(cell: Cell) -> None:
    """nbdev.process.extract_directives for one code cell: split the leading directive block from
    the code, parse its directives and record which lines nbdev keeps as code."""
    cell.directives, cell.kept, cell.body_indices, cell.body_offset = [], {}, [], 0
    cell.directives_only = False
    if cell.kind != "code" or not cell.lines:
        cell.body_indices = list(range(len(cell.lines)))
        return
    first_code: Optional[int] = None
    for i, text in enumerate(cell.lines):
        if text.strip() != "" and not NBDEV_DIRECTIVE_PREFIX.match(text) and not NBDEV_CELL_MAGIC.match(text):
            first_code = i
            break
    if first_code == 0:
        cell.body_indices = list(range(len(cell.lines)))
        return
    # nbdev slices lines[:first_code] and lines[first_code:]; with no code line both are every line
    block = cell.lines if first_code is None else cell.lines[:first_code]
    code_from = 0 if first_code is None else first_code
    for i, text in enumerate(block):
        parsed = parse_directive_line(text) if NBDEV_DIRECTIVE_PREFIX.match(text) else None
        if parsed is not None:
            cell.directives.append(Directive(parsed[0], " ".join(parsed[1]), cell.first_line + i))
        if NBDEV_QUARTO_OPTION.match(text) or NBDEV_CELL_MAGIC.match(text):
            cell.kept[i] = _normalise_quarto(text)
            cell.body_indices.append(i)
    if first_code is not None:
        cell.body_indices += list(range(code_from, len(cell.lines)))
    else:
        cell.directives_only = True
    # nbdev normalises `#| name:` (no value) to `#| name: ` and, stripping what follows the colon,
    # loses the line's newline: the kept option is glued to the front of the next body line.
    glued: List[int] = []
    for position, i in enumerate(cell.body_indices[:-1]):
        text = cell.kept.get(i)
        if text is not None and NBDEV_QUARTO_OPTION.sub("", cell.lines[i]).strip() == "":
            following = cell.body_indices[position + 1]
            cell.kept[following] = text + cell.kept.get(following, cell.lines[following])
            glued.append(i)
    cell.body_indices = [i for i in cell.body_indices if i not in glued]
    cell.body_offset = cell.body_indices[0] if cell.body_indices else len(cell.lines)


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"cannot read module source: {exc.strerror}", path) from None
    if size > MAX_SOURCE_BYTES:
        raise SourceError(f"module source is {size // (1024 * 1024)} MiB, over the "
                          f"{MAX_SOURCE_BYTES // (1024 * 1024)} MiB limit for a lesson file", path,
                          hint="move data out of the source file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", path, line,
                          hint="save the file as UTF-8") from None


def _jupytext_cells_with_lines(text: str) -> List[Tuple[object, int, str]]:
    """Run jupytext's own percent-format reader over `text` and return, for every notebook cell,
    (the nbformat cell, the 0-based line where its content starts, the text after `# %%`).

    This is `jupytext.jupytext.TextNotebookConverter.reads` with the cell reader class wrapped so
    that each `read(lines)` call records where it started: jupytext hands every reader the lines
    left over, so the cell begins at len(all lines) - len(lines left)."""
    from jupytext.cell_reader import DoublePercentScriptCellReader  # noqa: F401 (the reader we wrap)
    from jupytext.jupytext import TextNotebookConverter

    total = len(text.splitlines())
    starts: List[Tuple[int, str]] = []

    converter = TextNotebookConverter({"extension": ".py", "format_name": "percent"}, None)
    base = converter.implementation.cell_reader_class

    class RecordingReader(base):  # type: ignore[misc, valid-type]
        def read(self, lines):
            begin = total - len(lines)
            marker = lines[0] if lines else ""
            cell, pos = super().read(lines)
            offset = 1 if (self.start_code_re.match(marker) or self.alternative_start_code_re.match(marker)) else 0
            header = marker.split("%%", 1)[1].strip() if offset else ""
            starts.append((begin + offset, header))
            return cell, pos

    converter.implementation = copy.copy(converter.implementation)
    converter.implementation.cell_reader_class = RecordingReader
    notebook = converter.reads(text)
    cells = list(notebook.cells)
    # a header cell (root-level metadata kept as a raw cell) comes before any recorded read
    extra = len(cells) - len(starts)
    positions = [(0, "")] * extra + starts
    return [(cell, start, header) for cell, (start, header) in zip(cells, positions)]


def parse_percent(text: str, path: Path) -> List[Cell]:
    """Split a jupytext percent-format file into cells as jupytext does, keeping source lines."""
    if not re.search(r"^\s*#\s*%%", text, re.MULTILINE):
        raise SourceError("not a percent-format source: no `# %%` cell markers", path, 1,
                          hint="start each cell with a `# %%` line (jupytext percent format)")
    try:
        read = _jupytext_cells_with_lines(text)
    except Exception as exc:  # jupytext's own complaint about the file, as one line
        raise SourceError(f"jupytext cannot read this file: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          path, 1, hint="re-save it with `jupytext --to py:percent`") from None
    cells: List[Cell] = []
    for index, (nb_cell, start, header) in enumerate(read):
        kind = nb_cell.cell_type if nb_cell.cell_type in ("code", "markdown", "raw") else "raw"
        cell = Cell(index=index, kind=kind, lines=nb_cell.source.split("\n") if nb_cell.source else [], first_line=start + 1,
                    header=header)
        apply_nbdev_directives(cell)
        cells.append(cell)
    return cells


def parse_notebook(text: str, path: Path) -> List[Cell]:
    """Read an .ipynb file's cells; broken JSON is reported with its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"not valid notebook JSON: {exc.msg} (column {exc.colno})", path, exc.lineno,
                          hint="repair or re-save the notebook") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SourceError("not a notebook: no `cells` list at the top level", path, 1,
                          hint="re-save the notebook with Jupyter or jupytext")
    cells: List[Cell] = []
    for index, raw in enumerate(data["cells"]):
        if not isinstance(raw, dict):
            raise SourceError(f"notebook cell {index + 1} is not an object", path, None)
        source = raw.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        kind = raw.get("cell_type", "code")
        cell = Cell(index=index, kind=kind if kind in ("code", "markdown", "raw") else "raw",
                    lines=str(source).splitlines(), first_line=1)
        apply_nbdev_directives(cell)
        cells.append(cell)
    return cells


# jupytext's reader is thorough and slow (about 0.1 s per 1,000 lines): a file read once per
# process is not read again while its text is unchanged (validation, export and the API snapshot
# all read the same sources). Each caller gets its own copy of the cells.
_PERCENT_CACHE: Dict[str, Tuple[str, List[Cell]]] = {}


def read_source(path: Path) -> SourceFile:
    text = read_text(path)
    if path.suffix == ".ipynb":
        return SourceFile(path, parse_notebook(text, path), notebook=True)
    key = str(Path(path).resolve())
    cached = _PERCENT_CACHE.get(key)
    if cached is None or cached[0] != text:
        cached = (text, parse_percent(text, path))
        _PERCENT_CACHE[key] = cached
    return SourceFile(path, copy.deepcopy(cached[1]), notebook=False)
