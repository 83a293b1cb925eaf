"""Safe reads of course files: every file the verifier reads from a course tree goes through here.

A course tree is hostile input. Before a byte is read this module checks that the path is a
regular file that resolves inside the course (no escape through `..` or a symlink), and refuses
FIFOs, devices, sockets, directories and symlink loops with one clear line — it never opens
anything that could block, and never reads more than a size cap.

    read_course_bytes(path, root, limit)   -> bytes          (raises UnsafeFileError)
    read_course_text(path, root, limit)    -> str            (UTF-8; a leading BOM is dropped)
    file_problem(path, root)               -> Optional[str]  (None when the file may be read)
    read_course_text_or_none(path, root, limit) -> Optional[str]  (for best-effort reads: line lookups)
    special_files(folder)                  -> List[Path]     (FIFOs, sockets, devices below a folder)
    ignore_special_files(*patterns)        -> callable for shutil.copytree(ignore=...) that leaves them out
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Set

from ..errors import CourseError

KIB = 1024
MIB = 1024 * KIB
TEXT_LIMIT = 5 * MIB  # a course text file (the module-source cap, sources.MAX_SOURCE_BYTES)
UTF8_BOM = b"\xef\xbb\xbf"
# longest first: the UTF-32 LE mark begins with the UTF-16 LE one
OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


SPECIAL_HINT = "remove it (a course holds ordinary files only)"


class UnsafeFileError(CourseError):
    """A course file that must not be read: special, outside the course, unreadable or too big."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def resolve_inside(path: Path, root: Path) -> Path:
    """The real path of `path`, which must lie inside `root` (after resolving symlinks and `..`)."""
    try:
        real = Path(path).resolve(strict=True)
    except FileNotFoundError:
        raise UnsafeFileError("file not found", path) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on Python < 3.13
        if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
            raise UnsafeFileError("is a symlink loop", path, hint="replace the link by a real file") from None
        raise UnsafeFileError(f"cannot be read: {exc.strerror or exc}", path) from None
    real_root = Path(root).resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafeFileError(f"points outside the course (to {real})", path,
                              hint="keep every course file inside the course folder; copy it in instead of linking")
    return real


def check_course_file(path: Path, root: Path, limit: Optional[int] = None) -> Path:
    """Raise UnsafeFileError unless `path` is a regular file inside `root` (of at most `limit` bytes)."""
    real = resolve_inside(path, root)
    try:
        info = os.stat(real)
    except OSError as exc:
        raise UnsafeFileError(f"cannot be read: {exc.strerror}", path) from None
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"is {_kind(info.st_mode)}, not a regular file", path, hint=SPECIAL_HINT)
    if limit is not None and info.st_size > limit:
        raise UnsafeFileError(f"is {_size(info.st_size)}, over the {_size(limit)} limit for this file", path,
                              hint="keep configuration and lesson files small; move data elsewhere")
    return real


def file_problem(path: Path, root: Path, limit: Optional[int] = None) -> Optional[str]:
    """What is wrong with reading `path` (one line), or None."""
    try:
        check_course_file(path, root, limit)
    except UnsafeFileError as exc:
        return exc.message
    return None


def read_course_bytes(path: Path, root: Path, limit: int) -> bytes:
    """The bytes of a regular course file, read without blocking and never past `limit`."""
    real = check_course_file(path, root, limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        handle = os.open(real, flags)
    except OSError as exc:
        raise UnsafeFileError(f"cannot be read: {exc.strerror}", path) from None
    try:
        info = os.fstat(handle)  # the file may have been swapped since the check
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"is {_kind(info.st_mode)}, not a regular file", path)
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(handle, min(remaining, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise UnsafeFileError(f"cannot be read: {exc.strerror}", path) from None
    finally:
        os.close(handle)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafeFileError(f"is over the {_size(limit)} limit for this file", path)
    return data


def decode_utf8(raw: bytes, path: Path) -> str:
    """UTF-8 text; a leading BOM is dropped; a bad byte is reported with its line; a file saved as
    UTF-16 or UTF-32 (a Windows editor's "Unicode") is named as such instead of by its first byte."""
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    for mark, encoding in OTHER_BOMS:
        if raw.startswith(mark):
            raise CourseError(f"saved as {encoding}, not UTF-8", path, 1,
                              hint=f"save it as UTF-8 (in the editor's encoding menu: UTF-8, not {encoding})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CourseError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", path, line,
                          hint="save the file as UTF-8") from None


def read_course_text(path: Path, root: Path, limit: int) -> str:
    return decode_utf8(read_course_bytes(path, root, limit), path)


def read_course_text_or_none(path: Path, root: Path, limit: int = TEXT_LIMIT) -> Optional[str]:
    """The text of a course file, or None when it may not or cannot be read (special, outside the
    course, too big, not UTF-8): for best-effort reads such as finding the line of a key."""
    try:
        return read_course_text(path, root, limit)
    except CourseError:
        return None


def special_kind(path: Path) -> Optional[str]:
    """'a named pipe (FIFO)', 'a socket', ... when `path` itself (not followed) is a special file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    return _kind(mode)


def special_files(folder: Path, skip: Iterable[str] = (".git", "__pycache__", ".venv", ".nox", ".tox")) -> List[Path]:
    """Every FIFO, socket or device below `folder` (symlinks not followed), sorted: files a copy or
    a read would block on or fail at. Folders named in `skip` are not entered."""
    skipped = set(skip)
    found: List[Path] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in skipped)
        found.extend(Path(here, name) for name in files if special_kind(Path(here, name)))
    return sorted(found)


def ignore_special_files(*patterns: str) -> Callable[[str, List[str]], Set[str]]:
    """For shutil.copytree(ignore=...): leaves out what shutil.ignore_patterns(*patterns) does and
    every special file (copytree would block on a FIFO or fail at the end with a shutil.Error)."""
    import shutil

    by_pattern = shutil.ignore_patterns(*patterns)

    def ignore(folder: str, names: List[str]) -> Set[str]:
        ignored = set(by_pattern(folder, names))
        ignored.update(name for name in names if special_kind(Path(folder, name)))
        return ignored
    return ignore


def refuse_special_files(folder: Path, root: Path) -> None:
    """Raise UnsafeFileError, one line naming the first special file below `folder` (relative to
    `root`): `tinytorch/core/x.py: is a named pipe (FIFO), not a regular file — remove it ...`."""
    if not Path(folder).is_dir():
        return
    for path in special_files(folder):
        try:
            shown = Path(os.path.relpath(path, root))
        except ValueError:
            shown = path
        raise UnsafeFileError(f"is {special_kind(path)}, not a regular file", shown, hint=SPECIAL_HINT)


def _size(count: int) -> str:
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= KIB:
        return f"{count / KIB:.0f} KiB"
    return f"{count} bytes"
