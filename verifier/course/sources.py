"""Reading module sources as cells: jupytext percent-format `.py` files and `.ipynb` notebooks.

A Cell knows the line of the source file where its body starts, so that every exported
line can be traced back to the student's file and line. Directives (`#| export`, ...)
are only the comment lines at the top of a code cell, as nbdev reads them: a line in
ordinary code or inside a string that happens to contain `#| export` is not a directive.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import SourceError

CELL_MARKER = re.compile(r"^#\s?%%(?P<rest>.*)$")
DIRECTIVE = re.compile(r"^#\s?\|\s*(?P<name>[\w-]+)(?P<args>.*)$")
MAX_SOURCE_BYTES = 5 * 1024 * 1024  # a module source is a lesson, not a data file


@dataclass(frozen=True)
class Directive:
    name: str
    args: str
    line: int  # 1-based line in the source file (for a notebook: line inside the cell)


@dataclass
class Cell:
    index: int              # 0-based position among the file's cells
    kind: str               # "code", "markdown" or "raw"
    lines: List[str]        # the body, directives included
    first_line: int         # source line of lines[0] (for notebooks: 1, see `notebook`)
    header: str = ""        # text after `# %%` (cell type, nbgrader metadata ...)
    directives: List[Directive] = field(default_factory=list)
    body_offset: int = 0    # lines[body_offset:] is the code after the directive block

    @property
    def body(self) -> List[str]:
        return self.lines[self.body_offset:]

    @property
    def body_first_line(self) -> int:
        return self.first_line + self.body_offset

    def directive(self, *names: str) -> Optional[Directive]:
        for d in self.directives:
            if d.name in names:
                return d
        return None


@dataclass
class SourceFile:
    path: Path
    cells: List[Cell]
    notebook: bool

    def location(self, cell: Cell, line_in_body: int = 0) -> str:
        """Human-readable place of a body line: `file.py:42` or `file.ipynb (cell 7, line 3)`."""
        if self.notebook:
            return f"{self.path} (cell {cell.index + 1}, line {cell.body_offset + line_in_body + 1})"
        return f"{self.path}:{cell.body_first_line + line_in_body}"


def _parse_directives(cell: Cell) -> None:
    """Directives are the leading comment lines of a code cell that look like `#| name args`."""
    if cell.kind != "code":
        return
    offset = 0
    for i, text in enumerate(cell.lines):
        stripped = text.strip()
        match = DIRECTIVE.match(stripped)
        if match:
            cell.directives.append(Directive(match["name"], match["args"].strip(), cell.first_line + i))
            offset = i + 1
        elif stripped == "" or (stripped.startswith("#") and not stripped.startswith("#|")):
            # blank lines and plain comments may sit between directives; the body starts after the last one
            continue
        else:
            break
    cell.body_offset = offset


def _cell_kind(header: str) -> str:
    rest = header.strip()
    if rest.startswith("[markdown]") or rest.startswith("[md]"):
        return "markdown"
    if rest.startswith("[raw]"):
        return "raw"
    return "code"


def _strip_trailing_blank(lines: List[str]) -> List[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


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


def parse_percent(text: str, path: Path) -> List[Cell]:
    """Split a jupytext percent-format file into cells, keeping source line numbers."""
    lines = text.splitlines()
    starts: List[Tuple[int, str]] = []
    in_header = False
    for number, text_line in enumerate(lines):
        if number == 0 and text_line.strip() == "# ---":
            in_header = True
            continue
        if in_header:
            if text_line.strip() == "# ---":
                in_header = False
            continue
        match = CELL_MARKER.match(text_line)
        if match:
            starts.append((number, match["rest"]))
    if not starts:
        raise SourceError("not a percent-format source: no `# %%` cell markers", path, 1,
                          hint="start each cell with a `# %%` line (jupytext percent format)")
    cells: List[Cell] = []
    bounds = starts + [(len(lines), "")]
    for index, ((start, header), (end, _)) in enumerate(zip(bounds, bounds[1:])):
        body = _strip_trailing_blank(lines[start + 1:end])
        cell = Cell(index=index, kind=_cell_kind(header), lines=body, first_line=start + 2, header=header.strip())
        _parse_directives(cell)
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
                    lines=_strip_trailing_blank(str(source).splitlines()), first_line=1)
        _parse_directives(cell)
        cells.append(cell)
    return cells


def read_source(path: Path) -> SourceFile:
    text = read_text(path)
    if path.suffix == ".ipynb":
        return SourceFile(path, parse_notebook(text, path), notebook=True)
    return SourceFile(path, parse_percent(text, path), notebook=False)
