"""A small reader of the jupytext percent format, for the files it fully understands — so that a
validation after an edit does not pay for importing jupytext (nbformat, jsonschema, markdown-it:
more than the rest of the run). It gives the same cells as jupytext's own reader (cell type, source,
start line, header text; see sources._jupytext_split) or None, and None means "ask jupytext".

It answers only for files made of the plainest constructs: cell markers written exactly `# %%` or
`# %% [markdown]`, no YAML header, shebang or coding line, and no line jupytext would rewrite (a
commented magic, a shell or help command, an escaped code-start marker, a markdown cell written as a
string). Anything that could be another marker (`# %%` with other options, `#%%`, `<codecell>`,
`In[ ]`) is a doubt too. Where it answers, it follows jupytext's DoublePercentScriptCellReader step
by step: the quote tracking that hides a marker inside a multi-line string, the fenced blocks of
markdown cells, the blank lines dropped before the next marker. tests/unit/test_percent_reader.py
compares it with jupytext on every source of the course and of the corpus, and on generated files.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

CODE_MARKER = "# %%"
MARKDOWN_MARKER = "# %% [markdown]"
# Any line jupytext might take for a cell marker (its start_code_re and alternative_start_code_re
# are narrower than this): a line of this shape other than the two markers above is a doubt.
_MARKER_LIKE = re.compile(r"^\s*#\s*(%%|<codecell>|In\[)")
_STRIP_COMMENT = re.compile(r"^[\s#]*")
# The bash commands jupytext's magics module takes for shell magics in Python code.
_SHELL_COMMANDS = frozenset({"cat", "cd", "cp", "mv", "rm", "rmdir", "mkdir", "copy", "ddir", "echo", "ls", "ldir",
                             "ren"})
# Wider than jupytext's magics patterns (each theirs matches, these match): a line or cell magic, a
# shell or help command, a magic assigned to a name, `name?`, an escaped `# +` code start.
_MAGIC_LIKE = re.compile(r"^[\s#]*(%+[a-zA-Z]|[?!]|[A-Za-z_][A-Za-z_$0-9]*\s*=\s*[%!])|^[\s#]*\S*\?\s*$|^\s*#[\s#]*\+")
_HEADER_RULE = re.compile(r"^---\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BLANK = re.compile(r"^\s*$")

Split = List[Tuple[str, str, int, str]]  # (cell type, source, 0-based start line, header), as sources.py keeps


class _Quotes:
    """Whether the next line starts inside a string, tracked as jupytext's StringParser does for
    Python (commented lines skipped, a single quote ends with its line, triple quotes span lines)."""

    def __init__(self) -> None:
        self.single: Optional[str] = None
        self.triple: Optional[str] = None

    def quoted(self) -> bool:
        return bool(self.single or self.triple)

    def read(self, line: str) -> None:
        if not self.quoted() and line.lstrip().startswith("#"):
            return
        triple_start = -1
        if self.triple is not None:
            if 3 * self.triple not in line:
                return
        elif '"' not in line and "'" not in line:
            return
        for i, char in enumerate(line):
            if self.single is None and self.triple is None and char == "#":
                break
            if char not in "\"'":
                continue
            if line[i - 1:i] == "\\":
                continue
            if self.single == char:
                self.single = None
                continue
            if self.single is not None:
                continue
            if line[i - 2:i + 1] == 3 * char and i >= triple_start + 3:
                if self.triple == char:
                    self.triple, triple_start = None, i
                    continue
                if self.triple is not None:
                    continue
                self.triple, triple_start = char, i
                continue
            if self.triple is not None:
                continue
            self.single = char
        self.single = None


def _uncomment(line: str) -> str:
    return line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line


def _opening_fence(text: str) -> Optional[Tuple[str, int]]:
    match = _FENCE.match(text)
    if not match or (match.group(1)[0] == "`" and "`" in match.group(2)):
        return None
    return match.group(1)[0], len(match.group(1))


def _closes_fence(text: str, fence: Tuple[str, int]) -> bool:
    match = _FENCE.match(text)
    if match is None:
        return False
    return match.group(1)[0] == fence[0] and len(match.group(1)) >= fence[1] and not match.group(2).strip()


def _header_doubt(lines: List[str]) -> bool:
    """A shebang, a coding line or a YAML header: jupytext turns them into notebook metadata."""
    if lines and lines[0].startswith("#!"):
        return True
    if any(re.search("coding[:=]", line) for line in lines[:2]):
        return True
    for line in lines:
        if not line.startswith("#"):
            return False
        text = _uncomment(line)
        if _HEADER_RULE.match(text):
            return True
        if text.strip():
            return False
    return False


def _code_line_doubt(line: str) -> bool:
    """A line jupytext's uncomment_magic or unescape_code_start might rewrite (a wider net than theirs)."""
    if _MAGIC_LIKE.match(line):
        return True
    rest = _STRIP_COMMENT.sub("", line)
    return bool(rest) and rest.split(None, 1)[0] in _SHELL_COMMANDS


def _cell_end(lines: List[str], start: int, kind: str) -> Tuple[int, int]:
    """(end of the cell's content, start of the next cell) for the cell whose first line is
    lines[start] — DoublePercentScriptCellReader.find_cell_end for these two cell kinds."""
    quotes = _Quotes()
    fence: Optional[Tuple[str, int]] = None
    following = len(lines)
    for i in range(start, len(lines)):
        line = lines[i]
        if quotes.quoted():
            quotes.read(line)
            continue
        quotes.read(line)
        if kind == "markdown":
            text = _uncomment(line)
            if fence:
                if _closes_fence(text, fence):
                    fence = None
                continue
            opening = _opening_fence(text)
            if opening and any(_closes_fence(_uncomment(later), opening) for later in lines[i + 1:]):
                fence = opening
                continue
        if i > start and (line == CODE_MARKER or line == MARKDOWN_MARKER):
            following = i
            break
    cell = lines[start:following]
    if len(cell) >= 3 and not _BLANK.match(cell[-3]) and _BLANK.match(cell[-2]) and _BLANK.match(cell[-1]):
        return following - 2, following
    if following - start > 0 and lines[following - 1] == "":
        return following - 1, following
    return following, following


def read_percent(text: str) -> Optional[Split]:
    """The cells of a percent-format `.py` source as jupytext reads them, or None when the file uses
    anything this reader does not fully understand (then jupytext must read it)."""
    lines = text.splitlines()
    if _header_doubt(lines):
        return None
    for line in lines:
        if _MARKER_LIKE.match(line) and line != CODE_MARKER and line != MARKDOWN_MARKER:
            return None
    split: Split = []
    position = 0
    while position < len(lines):
        marker = lines[position]
        explicit = marker in (CODE_MARKER, MARKDOWN_MARKER)
        kind = "markdown" if marker == MARKDOWN_MARKER else "code"
        end, following = _cell_end(lines, position, kind)
        first = position + 1 if explicit else position
        content = lines[first:end]
        if kind == "code":
            if any(_code_line_doubt(line) for line in content):
                return None
        else:
            if re.match(r"^[rR]?(\"\"\"|''')", "\n".join(content).strip()):
                return None  # a markdown cell written as a string: jupytext strips the quotes
            content = [_uncomment(line) for line in content]
        split.append((kind, "\n".join(content), first, marker.split("%%", 1)[1].strip() if explicit else ""))
        position = following
    return split
