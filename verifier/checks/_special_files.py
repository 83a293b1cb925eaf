"""Special files in the course tree (TT009): a named pipe, socket or device anywhere the verifier
reads or copies (module folders, the committed package, tests/, the course copied for the editable
stage). Reading one blocks or fails; they are reported here by name and never opened anywhere.
"""
from __future__ import annotations

from typing import Iterator

from ..course.files import SPECIAL_HINT, special_files, special_kind
from .context import CheckContext, Emitter
from .findings import COURSE, Finding

# what the editable stage's copy of the course leaves out as well (build output, caches, venvs)
NOT_COPIED = (".git", "__pycache__", ".venv", "venv", ".nox", ".tox", "build", "dist", ".tito", "reports",
              "node_modules")


def check_special_files(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    owners = {m.folder.resolve(): m.key for m in course.modules}
    for path in special_files(course.root, skip=NOT_COPIED):
        rel = ctx.rel(path)
        key = next((owners[p] for p in path.parent.resolve().parents if p in owners), None)
        key = owners.get(path.parent.resolve(), key or COURSE)
        out.add("TT009", key, rel, None, f"{rel} is {special_kind(path)}, not a regular file",
                f"{SPECIAL_HINT.replace('it', rel, 1)}")


CODES = frozenset({"TT009"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_special_files(ctx, out)
    yield from out
