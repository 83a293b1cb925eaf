"""The output of `tinytorch-verifier package validate`, kept by the content of everything it depends on, so that a
pre-commit hook or an editor that validates an unchanged course again gets the same text at once
(no parsing, no check runs). It is a cache, never a source of truth: the key is the SHA-256 of

- the command: course path as given, working folder, module, format; the user id;
- the verifier's own code (every .py file of the package, by content) and the running Python
  (version, executable, sys.path);
- what is installed: the names in every site-packages folder, and the distribution metadata in every
  other sys.path folder (dist-info names carry the versions that checks such as TT220 and TT010 read);
- the course tree, every entry below its root: each regular file by path, mode and content; each
  folder by path and mode; each FIFO, socket or device by path and kind (never opened).

A tree the key cannot describe cheaply or exactly is not cached: a symbolic link anywhere in it (a
read may follow it out of the tree), more than MAX_ENTRIES entries or MAX_BYTES bytes of files (a
course with a venv or data inside), or anything unreadable. The key is computed again after the run
and the output kept only when nothing changed meanwhile. Usage and configuration errors (exit 2) are
not kept. Only the newest MAX_KEPT outputs stay in the cache folder. TITO_VALIDATE_CACHE=0 turns it off.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import List, Optional, Tuple

MAX_ENTRIES = 5000
MAX_BYTES = 64 * 1024 * 1024
MAX_KEPT = 200
OUTPUT_CACHE_FORMAT = 1  # bump when the output of validation changes meaning


def _tree(root: Path, digest: "hashlib._Hash") -> bool:
    """Feed the course tree into `digest`; False when the tree cannot be cached (see the module doc)."""
    entries, size = 0, 0

    def unreadable(error: OSError) -> None:
        raise error  # a folder the walk cannot list: the tree is not cached

    for here, dirs, files in os.walk(root, onerror=unreadable):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(here, name)
            entries += 1
            if entries > MAX_ENTRIES:
                return False
            try:
                info = os.lstat(path)
            except OSError:
                return False
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                return False
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
                if size > MAX_BYTES:
                    return False
                try:
                    with open(path, "rb") as handle:
                        content = handle.read()
                except OSError:
                    return False
                digest.update(f"f\0{rel}\0{info.st_mode}\0{len(content)}\0".encode("utf-8", "surrogateescape"))
                digest.update(hashlib.sha256(content).digest())
            else:  # a folder, or a special file (only its kind: opening a FIFO would block)
                digest.update(f"o\0{rel}\0{info.st_mode}\0".encode("utf-8", "surrogateescape"))
    return True


def _environment(digest: "hashlib._Hash") -> None:
    import site
    import sysconfig

    sites: List[str] = [value for key in ("purelib", "platlib") if (value := sysconfig.get_paths().get(key))]
    try:
        sites += site.getsitepackages()
    except AttributeError:  # some virtualenv flavours
        pass
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user, str):
        sites.append(user)
    # site folders: every name (the checks list their top-level modules); the other sys.path entries
    # (the working folder, a script's folder): only distribution metadata, which the checks read there
    for folder in dict.fromkeys(sites + sys.path):
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            names = []
        if folder not in sites:
            names = [name for name in names if name.endswith((".dist-info", ".egg-info"))]
        digest.update(f"p\0{folder}\0{len(names)}\0".encode("utf-8", "surrogateescape"))
        digest.update("\0".join(names).encode("utf-8", "surrogateescape"))
    from ..cache import verifier_digest

    digest.update(f"v\0{verifier_digest()}".encode("utf-8"))


def output_key(course_path: Path, module: Optional[str], fmt: str) -> Optional[str]:
    """The key of this validation's output, or None when it is not to be cached."""
    try:
        root = Path(course_path).resolve()
        if not root.is_dir():
            return None
        digest = hashlib.sha256()
        command = [str(OUTPUT_CACHE_FORMAT), str(course_path), os.getcwd(), module or "", fmt,
                   str(os.geteuid() if hasattr(os, "geteuid") else ""), sys.version, sys.executable]
        digest.update("\0".join(command).encode("utf-8", "surrogateescape"))
        _environment(digest)
        if not _tree(root, digest):
            return None
        return digest.hexdigest()
    except (OSError, ValueError, RecursionError):
        return None


def load_output(key: str) -> Optional[Tuple[str, int]]:
    from ..cache import load_result, result_file

    kept = load_result(result_file("validate-output", key))
    if isinstance(kept, list) and len(kept) == 2 and isinstance(kept[0], str) and kept[1] in (0, 1):
        return kept[0], kept[1]
    return None


def keep_output(key: str, text: str, code: int) -> None:
    from ..cache import result_file, store_result

    path = result_file("validate-output", key)
    store_result(path, [text, code])
    try:  # only the newest MAX_KEPT outputs stay: every edit of a course makes a new key
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[MAX_KEPT:]:
            old.unlink()
    except OSError:
        pass


def validate_output(course_path: Path, module: Optional[str] = None, fmt: str = "text") -> Tuple[str, int]:
    """`run_validate` behind the output cache — what `tinytorch-verifier package validate` calls. On a hit nothing of
    the checks is imported (this module needs only the standard library); on a miss the output is
    computed by `run_validate` and kept when the key did not change during the run."""
    from ..cache import validate_cache_enabled

    key = output_key(course_path, module, fmt) if validate_cache_enabled() else None
    kept = load_output(key) if key is not None else None
    if kept is not None:
        return kept
    from .validate import run_validate

    text, code = run_validate(course_path, module, fmt)
    if key is not None and code in (0, 1) and output_key(course_path, module, fmt) == key:
        keep_output(key, text, code)
    return text, code
