"""Atomic writes: a file is written beside its target and renamed into place, so a reader (a CI
step, a second verify, a student's editor) never sees half of it — reports, snapshots, exports.
A folder (an exported package) is built beside its target and swapped in only when complete."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def atomic_tree(target: Path) -> Iterator[Path]:
    """`with atomic_tree(folder) as staged:` — fill `staged` (a copy of `folder` when it exists, made
    in a temporary folder beside it); on success it replaces `folder`, on any error or interrupt
    `folder` stays as it was and the temporary folder is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp_root = Path(tempfile.mkdtemp(prefix=f".{target.name}.tito-", dir=str(target.parent)))
    try:
        staged = temp_root / target.name
        staged.mkdir()
        if target.is_dir():
            _copy_tree(target, staged)
        yield staged
        _swap_in(staged, target, temp_root / "previous")
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)


def _copy_tree(source: Path, copy: Path) -> None:
    """Like shutil.copytree (symlinks kept, __pycache__ left out), but the first OSError (a full
    disk) is raised as itself, not folded into a shutil.Error."""
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        here = copy / Path(folder).relative_to(source)
        here.mkdir(exist_ok=True)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            origin = os.path.join(folder, name)
            if os.path.islink(origin):
                os.symlink(os.readlink(origin), here / name)
            else:
                shutil.copy2(origin, here / name)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def _swap_in(staged: Path, target: Path, previous: Path) -> None:
    """Two renames on one file system; the previous folder comes back if the second one fails."""
    if not target.exists() and not target.is_symlink():
        os.rename(staged, target)
        return
    os.rename(target, previous)
    try:
        os.rename(staged, target)
    except BaseException:
        os.rename(previous, target)
        raise
