"""Naming of module folders (TT107 NN_name, TT108 shared numbers, TT109 gaps).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator

from ..course.discovery import MODULE_FOLDER, SOURCE_SUFFIXES, CourseModule
from ..course.files import read_course_text_or_none
from ..course.sources import MAX_SOURCE_BYTES
from .context import CheckContext, Emitter
from .findings import Finding


def check_naming(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    modules = course.modules
    for folder in sorted(p for p in course.modules_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")) or MODULE_FOLDER.match(folder.name):
            continue
        if _looks_like_module(ctx, folder):
            out.add("TT107", folder.name, ctx.rel(folder), None,
                     f"folder {folder.name} holds a module but is not named NN_name, so it is not part of "
                     f"the course", f"rename it to NN_{_snake(folder.name)} with the next free number")
    for module in modules:
        digits = module.key.split("_", 1)[0]
        if len(digits) != 2:
            out.add("TT107", module.key, ctx.rel(module.folder), None,
                     f"folder {module.key} has a {len(digits)}-digit number; module folders are NN_name",
                     f"rename the folder to {module.number:02d}_{module.name}")
    seen: Dict[int, CourseModule] = {}
    for module in modules:
        if module.number in seen:
            first = seen[module.number]
            out.add("TT108", module.key, ctx.rel(module.folder), None,
                     f"{module.key} and {first.key} share the number {module.number:02d}",
                     f"renumber {module.key} so that every module has its own number", related=[first.key])
        else:
            seen[module.number] = module
    numbers = sorted(seen)
    start = 0 if numbers and numbers[0] == 0 else 1
    expected = start
    for number in numbers:
        if number > expected:
            module = seen[number]
            missing = ", ".join(f"{n:02d}" for n in range(expected, min(number, expected + 10)))
            missing += f" … {number - 1:02d}" if number - expected > 10 else ""  # a huge gap: not listed in full
            before = next((seen[n].key for n in reversed(numbers) if n < number), None)
            where = f"between {before} and {module.key}" if before else f"before {module.key}"
            out.add("TT109", module.key, ctx.rel(module.folder), None,
                     f"module numbers have a gap: no {missing} {where}",
                     f"renumber the folders from {expected:02d} without gaps (rename {module.key} to "
                     f"{expected:02d}_{module.name})")
        expected = number + 1

def _looks_like_module(ctx: CheckContext, folder: Path) -> bool:
    if (folder / "module.yaml").is_file():
        return True
    for path in folder.iterdir():
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            text = read_course_text_or_none(path, ctx.course.root, MAX_SOURCE_BYTES)
            if text is None:
                continue  # special, outside the course, too big or not UTF-8: reported where it is read
            if re.search(r"#\s?\|\s*(default_exp|export)\b", text):
                return True
    return False



def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "name"



CODES = frozenset({'TT107', 'TT108', 'TT109'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_naming(ctx, out)
    yield from out
