"""The write guard: the one gate every write of tinytorch-verifier outside its own temporary folders passes.

tinytorch-verifier writes into folders the user names or that sit in the user's tree — a venv (`package install
--venv`), the build output (`package build --out`), the reports folder, the release bundle, the
course's exported package, the cached dependency venvs and baseline wheels under the cache folder (TITO_CACHE).
Before it writes there, the target is claimed here:

- a missing folder is made and marked (MARK, a small file saying tinytorch-verifier made it);
- an empty folder, a folder holding our mark, or one holding only what tinytorch-verifier itself writes there
  (reports of an earlier version, wheels in a dist folder) is accepted and marked;
- anything else — a folder of the user's files, a symlink, a venv tinytorch-verifier did not make — is refused
  with one line (RefusedTarget, exit 2) naming the folder and what to do. Only a venv (pyvenv.cfg)
  can be replaced, and only with `--force`; a folder of user files never.

No module here starts a process or removes anything but a venv it was allowed to replace.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from .errors import VerifierError

MARK = ".tito-made"
MARK_TEXT = ("made by tinytorch-verifier: it may write into and replace what it made here;\n"
             "remove this file to keep tinytorch-verifier from touching this folder\n")

# what an earlier tinytorch-verifier wrote into a folder before the mark existed: accepted without the mark
REPORT_NAMES = ("verify.json", "status.md", "junit.xml", "report.html", "bench.json", "bench-*.json", "dist",
                ".tito-probe-*", "*.tmp")
DIST_NAMES = ("*.whl", "*.tar.gz")


class RefusedTarget(VerifierError):
    """A folder tinytorch-verifier would write into or replace is not its own."""


def is_marked(folder: Path) -> bool:
    return (folder / MARK).is_file() and not (folder / MARK).is_symlink()


def mark(folder: Path) -> None:
    try:
        (folder / MARK).write_text(MARK_TEXT, encoding="utf-8")
    except OSError:
        pass  # a read-only folder fails at the first real write, with its own one line


def is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def _only(folder: Path, patterns: Sequence[str]) -> bool:
    """Every entry of `folder` matches one of `patterns` (a sub-folder named "dist" may hold only
    distributions)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    for entry in entries:
        if not any(fnmatch.fnmatch(entry.name, p) for p in patterns) or entry.is_symlink():
            return False
        if entry.is_dir() and not (entry.name == "dist" and _only(entry, DIST_NAMES)):
            return False
    return True


def _empty(folder: Path) -> bool:
    try:
        return not any(folder.iterdir())
    except OSError:
        return False


def _refuse(folder: Path, what: str, hint: str) -> RefusedTarget:
    return RefusedTarget(f"refusing to write into {folder}: {what}", hint=hint)


def check_folder(folder: Path, option: str, tito_files: Iterable[str] = ()) -> None:
    """RefusedTarget unless `folder` is missing, empty, marked, or holds only `tito_files`."""
    folder = Path(folder)
    if folder.is_symlink():
        raise _refuse(folder, "it is a symbolic link (to a folder tinytorch-verifier did not make)",
                      f"pass {option} with a new folder, not a link")
    if folder.exists() and not folder.is_dir():
        raise _refuse(folder, "it exists and is not a folder", f"pass {option} with a folder")
    if folder.is_dir() and not (is_marked(folder) or _empty(folder) or _only(folder, tuple(tito_files))):
        raise _refuse(folder, "it holds files tinytorch-verifier did not make",
                      f"pass {option} with a new or empty folder "
                      "(tinytorch-verifier never overwrites a folder of yours)")


def claim_folder(folder: Path, option: str, tito_files: Iterable[str] = ()) -> Path:
    """A folder tinytorch-verifier fills with its own files (reports, build output): made and marked when missing;
    accepted (and marked) when empty, marked, or holding only `tito_files`; else RefusedTarget."""
    folder = Path(folder)
    check_folder(folder, option, tito_files)
    folder.mkdir(parents=True, exist_ok=True)
    if not is_marked(folder):
        mark(folder)
    return folder


def check_replaceable(folder: Path, hint: str) -> None:
    """Before tinytorch-verifier removes a folder to make it again (a cached venv under the cache folder): refused
    unless it is missing or carries the mark — a folder of the user's at that path is never removed."""
    folder = Path(folder)
    if folder.is_symlink():
        raise _refuse(folder, "it is a symbolic link (to a folder tinytorch-verifier did not make)", hint)
    if folder.exists() and not is_marked(folder):
        raise _refuse(folder, "it holds files tinytorch-verifier did not make (it replaces only what it made)", hint)


def check_file_target(path: Path, option: str) -> None:
    """A file tinytorch-verifier writes where the user said (`--output`): never a folder, never through a link."""
    if path.is_symlink():
        raise _refuse(path, "it is a symbolic link", f"pass {option} with a plain file name")
    if path.is_dir():
        raise _refuse(path, "it is a folder", f"pass {option} with a file name")


def prepare_venv_target(folder: Path, force: bool = False, replace: bool = True) -> bool:
    """Before a venv is made at `folder` (`package install --venv`): returns True when `folder` is a
    venv tinytorch-verifier made earlier (reuse it), False when a new venv may be made there (missing or empty;
    a foreign venv removed because `force` — unless `replace` is False: only checked). Anything
    else raises RefusedTarget."""
    folder = Path(folder)
    if folder.is_symlink():
        raise _refuse(folder, "it is a symbolic link", "name the venv's real folder, or a new one")
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise _refuse(folder, "it exists and is not a folder", "pass --venv with a new folder")
    if _empty(folder):
        return False
    if is_venv(folder) and is_marked(folder):
        return True
    if not is_venv(folder):
        raise _refuse(folder, "it holds files and is not a venv (tinytorch-verifier never replaces a folder of yours, "
                              "not even with --force)", "pass --venv with a new or empty folder")
    if not force:
        raise _refuse(folder, "it is a venv tinytorch-verifier did not make",
                      "pass --force to replace it, or --venv with a new folder")
    if replace:
        shutil.rmtree(folder)
    return False


def check_package_target(package_dir: Path, course_root: Path, protected: Sequence[Path] = ()) -> None:
    """The exported package replaces `package_dir` inside the course (an atomic swap that keeps the
    files already there): refused when that folder is a link, is not strictly inside the course, or
    is (or holds) one of the `protected` folders (the module sources)."""
    if package_dir.is_symlink():
        raise _refuse(package_dir, "the course's package folder is a symbolic link",
                      "make it a real folder (or remove the link) and export again")
    root = Path(os.path.realpath(course_root))
    target = Path(os.path.realpath(package_dir))
    if target == root or root not in target.parents:
        raise _refuse(package_dir, f"the package folder is not inside the course {course_root}",
                      "check the package name in pyproject.toml / settings.ini")
    for folder in protected:
        real = Path(os.path.realpath(folder))
        if real == target or target in real.parents:
            raise _refuse(package_dir, f"the package folder would replace the course's sources {folder}",
                          "give the package a name other than the modules folder")
