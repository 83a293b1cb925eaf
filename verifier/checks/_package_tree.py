"""A committed package in the course tree: imports of package modules that do not exist (TT240) and
generated-file headers naming sources that do not exist (TT241).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Tuple

from ..course.files import read_course_text_or_none
from ..course.sources import GENERATED_MARK, MAX_SOURCE_BYTES
from .context import CheckContext, Emitter
from .findings import COURSE, Finding, When


def check_package_tree(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    package_dir = course.root / course.package
    if not package_dir.is_dir():
        return
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = ctx.rel(path)
        text = read_course_text_or_none(path, course.root, MAX_SOURCE_BYTES)
        if text is None:
            continue  # a FIFO or device is TT009 (_special_files); never opened here
        module_path = path.relative_to(package_dir).with_suffix("")
        parts = list(module_path.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        target = ".".join(parts)
        owners = ctx.resolver.targets.get(target, [])
        key = owners[0] if owners else COURSE
        _generated_header(ctx, out, path, rel, text, key)
        is_package = path.name == "__init__.py"
        for line, name, level, names in _package_imports(text, course.package):
            if level:
                base = parts if is_package else parts[:-1]
                up = level - 1
                if up > len(base):
                    continue
                dotted = base[:len(base) - up] + (name.split(".") if name else [])
            else:
                dotted = name.split(".")[1:]
            missing: List[List[str]] = []
            if dotted and not _module_exists(package_dir, dotted):
                missing.append(dotted)
            elif names and package_dir.joinpath(*dotted).is_dir():
                init = package_dir.joinpath(*dotted, "__init__.py")
                init_text = read_course_text_or_none(init, course.root, MAX_SOURCE_BYTES) or ""
                for imported in names:
                    if imported != "*" and not _module_exists(package_dir, dotted + [imported]) \
                            and not re.search(rf"\b{re.escape(imported)}\b", init_text):
                        missing.append(dotted + [imported])
            importer = ".".join([course.package] + parts)
            for dotted_name in missing:
                shown = ".".join([course.package] + dotted_name)
                out.add("TT240", key, rel, line,
                         f"{rel} imports {shown}, but {course.package}/{'/'.join(dotted_name)}.py does not exist: "
                         f"`import {importer}` fails for anyone who installs the package",
                         f"export the module that provides {shown} (tinytorch-verifier export) or remove the import "
                         f"from {rel}",
                         what=f"{shown}", when=When.IMPORT, target=importer)

def _generated_header(ctx: CheckContext, out: Emitter, path: Path, rel: str, text: str, key: str) -> None:
    head = text.splitlines()[:5]
    for number, line in enumerate(head, 1):
        named: List[str] = []
        match = re.search(r"File to edit:\s*(\S+?)\.?\s*$", line)
        if match:
            named = [match[1]]
        elif line.startswith(GENERATED_MARK):
            found = re.search(r" from (.+?) — edit", line)
            if found:
                named = [s.strip() for s in found[1].split(",")]
        # upstream keeps only the percent-format .py in git and makes the .ipynb nbdev names with
        # jupytext at export time: a header naming `x_dev.ipynb` is satisfied by the source `x_dev.py`
        stems = {m.source.stem for m in ctx.course.modules if m.source is not None}
        for source in named:
            candidates = [path.parent / source, ctx.course.root / source]
            if Path(source).suffix == ".ipynb" and Path(source).stem in stems:
                continue
            if "[unknown]" in source or not any(c.is_file() for c in candidates):
                out.add("TT241", key, rel, number,
                         f"{rel} says it is generated from {source}, which does not exist",
                         f"delete {rel} and export again from the module sources (tinytorch-verifier export)")



def _module_exists(package_dir: Path, dotted: List[str]) -> bool:
    base = package_dir.joinpath(*dotted)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() or base.is_dir()


def _package_imports(text: str, package: str) -> List[Tuple[int, str, int, Tuple[str, ...]]]:
    """Module-level (unindented) imports of the package itself in a committed package file, read as
    text: (line, module, level, names). Indented imports (in functions, try blocks) are skipped."""
    pattern = re.compile(rf"^(?:from[ \t]+(?P<from>\.+[\w.]*|{re.escape(package)}(?:\.[\w.]+)?)[ \t]+import[ \t]+"
                         rf"(?P<names>.*)|import[ \t]+(?P<imp>{re.escape(package)}(?:\.[\w.]+)?)\b)")
    lines = text.splitlines()
    found: List[Tuple[int, str, int, Tuple[str, ...]]] = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(("from", "import")):
            continue
        match = pattern.match(line)
        if not match:
            continue
        if match["imp"]:
            found.append((number, match["imp"], 0, ()))
            continue
        module = match["from"]
        names_text = match["names"].split("#")[0]
        if names_text.strip().startswith("("):
            extra = number
            while ")" not in names_text and extra < len(lines):
                names_text += " " + lines[extra].split("#")[0]
                extra += 1
        names = tuple(n.split(" as ")[0].strip() for n in names_text.strip(" ()\\").split(",") if n.strip())
        level = len(module) - len(module.lstrip("."))
        found.append((number, module.lstrip("."), level, names))
    return found



CODES = frozenset({'TT240', 'TT241'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_package_tree(ctx, out)
    yield from out
