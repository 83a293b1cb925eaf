"""Attribution: from a failure in the installed package back to the student's module and line.

Every exported cell is preceded by a marker `# %% <source>:<line> (cell N)`. A traceback
frame in an installed `tinytorch/...` file is mapped through the nearest marker above it to
the source file and line, and the deepest such frame names the breaking module.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..course.discovery import MODULE_FOLDER
from ..results import Attribution

# Traceback frames (`File "x.py", line 3, in f`) and faulthandler frames (`File "x.py", line 3 in f`).
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+),? in (?P<func>\S+)')
MARKER = re.compile(r"^# %% (?P<source>\S+?)(?::(?P<line>\d+))? \(cell (?P<cell>\d+)\)$")


def module_of_source(source: str) -> Optional[str]:
    """`modules/10_spatial/spatial.py` -> `10_spatial`."""
    for part in reversed(Path(source).parts[:-1]):
        if MODULE_FOLDER.match(part):
            return part
    return None


def _qualname(tree: ast.Module, line: int) -> str:
    """`Conv2d.backward` for a line inside that method, from the installed file's AST."""
    names: List[str] = []
    body = tree.body
    while True:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                    node.lineno <= line <= (getattr(node, "end_lineno", None) or node.lineno):
                names.append(node.name)
                body = node.body
                break
        else:
            return ".".join(names)


def map_line(installed: Path, line: int) -> Optional[Tuple[str, int, str]]:
    """(source path, source line, qualified function) of `line` in an exported file, or None."""
    try:
        text = installed.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    for index in range(min(line, len(lines)) - 1, -1, -1):
        match = MARKER.match(lines[index])
        if match:
            offset = (line - 1) - index - 1
            source_line = int(match["line"]) + offset if match["line"] else offset + 1
            try:
                function = _qualname(ast.parse(text), line)
            except SyntaxError:
                function = ""
            return match["source"], source_line, function
    return None


def attribute_traceback(text: str, package: str = "tinytorch", inside: Optional[Path] = None) -> Optional[Attribution]:
    """The deepest frame of `text` inside the installed package (or, with `inside`, inside that
    exported package folder), mapped to its module source."""
    found: Optional[Attribution] = None
    root = str(inside.resolve()) + os.sep if inside is not None else None
    for raw in text.splitlines():
        match = FRAME.match(raw)
        if not match:
            continue
        path = Path(match["path"])
        if root is not None:
            if not str(path.resolve()).startswith(root):
                continue
        elif package not in path.parts or "site-packages" not in path.parts:
            continue
        mapped = map_line(path, int(match["line"]))
        if mapped is None:
            continue
        source, source_line, function = mapped
        module = module_of_source(source)
        if module:
            found = Attribution(module, source, source_line, function or match["func"], "traceback")
    return found


PACKAGE_MODULE = re.compile(r"\b(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b")


def attribute_message(text: str, targets: Dict[str, str]) -> Optional[Attribution]:
    """When a failure has no traceback into the package but its message names an exported module
    (`tinytorch.core.tensor`), blame the course module that exports it. `targets` maps dotted
    module names to course module keys."""
    for match in PACKAGE_MODULE.finditer(text):
        name = match["name"]
        while name:
            if name in targets:
                return Attribution(targets[name], name, None, how="message")
            name = name.rpartition(".")[0]
    return None


def attribute_api(course, origins: List[Tuple[str, str]], targets: Dict[str, str]) -> Optional[Attribution]:
    """The module to blame for breaking API changes: `origins` are (package module, name) pairs from the
    API diff (`tinytorch.core.dense`, `create_mlp`); the course module exporting that package module
    (`targets`, or the longest exported prefix) defines the name. Lowest-numbered first; the line is the
    name's definition in the student's source when it still exists (a changed signature), else none."""
    by_key = {m.key: m for m in course.modules}
    found: List[Tuple[int, str, str]] = []
    for module, name in origins:
        probe = module
        while probe and probe not in targets:
            probe = probe.rpartition(".")[0]
        key = targets.get(probe) if probe else None
        if key is not None and key in by_key:
            found.append((by_key[key].number, key, name))
    if not found:
        return None
    _, key, name = min(found)
    module = by_key[key]
    path = str(module.source.relative_to(course.root)) if module.source else key
    line = None
    if module.source is not None:
        try:
            text = module.source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        pattern = re.compile(rf"^(?:async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*[:=]")
        line = next((n for n, row in enumerate(text.splitlines(), 1) if pattern.match(row)), None)
    return Attribution(key, path, line, name, how="api")
