"""Checks made before a tito command starts its work, so that a run that cannot finish fails at once
(exit 2, one line) instead of after minutes of building: the `--reports` target must be a writable
folder (or creatable in one), and every Python named with `--python` must look like X.Y and be found."""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Optional

from ..errors import InterpreterError, VerifierError

# commands whose --reports is where they write (status, report, classifiers only read it)
WRITES_REPORTS = {"verify", "test", "integration", "aggregate", "bench"}
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


def _command_name(args: argparse.Namespace) -> str:
    return getattr(args, "test_command", None) or getattr(args, "package_command", None) or args.command


def check_reports_target(path: Path) -> None:
    """A folder the run can write its reports into: raise VerifierError (exit 2) when it cannot."""
    hint = "pass --reports with a writable folder"
    if path.exists() and not path.is_dir():
        raise VerifierError("the --reports target exists and is not a folder", path, hint=hint)
    existing: Optional[Path] = path
    while existing is not None and not existing.exists():
        existing = existing.parent if existing.parent != existing else None
    if existing is None or not existing.is_dir():
        raise VerifierError("the --reports target cannot be created", path, hint=hint)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise VerifierError(f"the --reports target is not writable ({existing} is read-only)", path, hint=hint)


def check_pythons(versions) -> None:
    """Every explicitly named --python must be X.Y and have an interpreter on this machine."""
    from ..runner.interpreters import find_interpreter

    for version in versions or []:
        if not PYTHON_VERSION.match(str(version)):
            raise VerifierError(f"--python {version!r} is not a Python version", hint="write it like --python 3.12")
        lookup = find_interpreter(version)
        if lookup.interpreter is None:
            raise InterpreterError(lookup.describe_missing(), hint="install it or name another --python")


def preflight(args: argparse.Namespace) -> None:
    name = _command_name(args)
    if name in WRITES_REPORTS and getattr(args, "reports", None) is not None:
        check_reports_target(Path(args.reports))
    if name in ("verify", "test", "integration", "install") and getattr(args, "python", None):
        check_pythons(args.python if isinstance(args.python, list) else [args.python])
