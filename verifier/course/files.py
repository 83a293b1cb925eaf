"""Safe reads of course files: every file the verifier reads from a course tree goes through here.

A course tree is hostile input. Before a byte is read this module checks that the path is a
regular file that resolves inside the course (no escape through `..` or a symlink), and refuses
FIFOs, devices, sockets, directories and symlink loops with one clear line — it never opens
anything that could block, and never reads more than a size cap.

    read_course_bytes(path, root, limit)   -> bytes          (raises UnsafeFileError)
    read_course_text(path, root, limit)    -> str            (UTF-8; a leading BOM is dropped)
    file_problem(path, root)               -> Optional[str]  (None when the file may be read)
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Optional

from ..errors import CourseError

KIB = 1024
MIB = 1024 * KIB
UTF8_BOM = b"\xef\xbb\xbf"


class UnsafeFileError(CourseError):
    """A course file that must not be read: special, outside the course, unreadable or too big."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
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
        raise UnsafeFileError(f"is {_kind(info.st_mode)}, not a regular file", path,
                              hint="replace it by an ordinary file")
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
    """UTF-8 text; a leading BOM is dropped; a bad byte is reported with its line."""
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CourseError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", path, line,
                          hint="save the file as UTF-8") from None


def read_course_text(path: Path, root: Path, limit: int) -> str:
    return decode_utf8(read_course_bytes(path, root, limit), path)


def _size(count: int) -> str:
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= KIB:
        return f"{count / KIB:.0f} KiB"
    return f"{count} bytes"
