"""Checks made before a tinytorch-verifier command starts its work, so that a run that cannot finish fails at once
(exit 2, one line) instead of after minutes of building: the `--reports` target must be a writable
folder (or creatable in one) — and so must `report --bundle`, while `report --output` must be a file
in one — every Python named with `--python` must look like X.Y and be found, and --jobs be 1 or more. It also sweeps the
work directories and process groups left by tinytorch-verifier runs that died (runner/workdirs.py). run_command
is the whole of a command's life after parsing: sweep, preflight, the command, under the guard."""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..errors import InterpreterError, VerifierError
from ..ownership import REPORT_NAMES, check_file_target, check_folder, claim_folder
from ..runner.guard import run_guarded

# commands whose --reports is where they write (status, report, classifiers only read it)
WRITES_REPORTS = {"verify", "test", "integration", "aggregate", "bench"}
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}t?$")   # 3.14t: the free-threaded build


def _command_name(args: argparse.Namespace) -> str:
    return getattr(args, "test_command", None) or getattr(args, "package_command", None) or args.command


def check_reports_target(path: Path, option: str = "--reports") -> None:
    """A folder the run can write its reports into: raise VerifierError (exit 2) when it cannot."""
    hint = f"pass {option} with a writable folder"
    if path.exists() and not path.is_dir():
        raise VerifierError(f"the {option} target exists and is not a folder", path, hint=hint)
    existing: Optional[Path] = path
    while existing is not None and not existing.exists():
        existing = existing.parent if existing.parent != existing else None
    if existing is None or not existing.is_dir():
        raise VerifierError(f"the {option} target cannot be created", path, hint=hint)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise VerifierError(f"the {option} target is not writable ({existing} is read-only)", path, hint=hint)
    # the folder tinytorch-verifier fills (reports, bundle) must be new, empty or its own: refused before it is made
    owned = {"--reports": REPORT_NAMES, "--bundle": ()}.get(option)
    if owned is not None:
        check_folder(path, option, owned)
    _probe(path, existing, option, hint)
    if option == "--reports":
        claim_folder(path, option, REPORT_NAMES)  # marked: later runs know it as tinytorch-verifier's


def _probe(path: Path, existing: Path, option: str, hint: str) -> None:
    """Make the target (the run writes there next anyway) and write and remove a uniquely named file
    in it: permissions say too little for root or for special file systems. Nothing is removed but
    the probe file, so two runs sharing a reports folder cannot pull it from under each other."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        import tempfile  # only a command that writes reports needs it (validate starts faster without)

        handle, name = tempfile.mkstemp(prefix=".tito-probe-", dir=str(path))
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise VerifierError(f"the {option} target cannot be written ({error.strerror or error})", path,
                            hint=hint) from None


def check_output_file(path: Path) -> None:
    """`report --output FILE`: a file (not a folder) in a folder that can be written."""
    check_file_target(path, "--output")
    check_reports_target(path.parent, "--output")


def check_pythons(versions) -> None:
    """Every explicitly named --python must be X.Y (or X.Yt) and have an interpreter on this machine
    (a free-threaded X.Yt may be missing: the run says so for that Python)."""
    from ..runner.interpreters import find_interpreter

    for version in versions or []:
        if not PYTHON_VERSION.match(str(version)):
            raise VerifierError(f"--python {version!r} is not a Python version", hint="write it like --python 3.12")
        if str(version).endswith("t"):
            continue  # a free-threaded build is often absent: verify reports it NOT VERIFIED in one line
        lookup = find_interpreter(version)
        if lookup.interpreter is None:
            raise InterpreterError(lookup.describe_missing(), hint="install it or name another --python")


# commands that make work directories or start children: they sweep what dead runs left first
STARTS_CHILDREN = {"verify", "test", "integration", "install", "build", "export", "api", "bench", "lock"}


def sweep(args: argparse.Namespace) -> str:
    """Work directories and orphaned processes of tinytorch-verifier runs that died: removed; one line or ""."""
    if _command_name(args) not in STARTS_CHILDREN:
        return ""
    from ..runner.workdirs import sweep_orphans

    return sweep_orphans()


def check_jobs(jobs: Optional[int]) -> None:
    """--jobs N runs N tasks at once: 0 or a negative number is a mistake, not a request for one."""
    if jobs is not None and jobs < 1:
        raise VerifierError(f"--jobs {jobs}: must be 1 or more", hint="pass --jobs N with N >= 1, or leave it out "
                                                                       "to use every core")


def preflight(args: argparse.Namespace) -> None:
    name = _command_name(args)
    check_jobs(getattr(args, "jobs", None))
    # interpreters first: a run refused for its --python leaves no reports folder behind
    # (with --install-pythons, a missing one is installed first, or said missing in one line)
    if name in ("verify", "test", "integration", "install", "export") and getattr(args, "python", None) \
            and not getattr(args, "install_pythons", False):
        check_pythons(args.python if isinstance(args.python, list) else [args.python])
    if name in WRITES_REPORTS and getattr(args, "reports", None) is not None:
        if hasattr(args, "course") and args.course is None:
            from ..course.discovery import default_course
            default_course()  # no course to work on: said before a reports folder is made for nothing
        check_reports_target(Path(args.reports))
    if name == "report" and getattr(args, "output", None) is not None:
        check_output_file(Path(args.output))
    if name == "api" and getattr(args, "output", None) is not None:
        check_file_target(Path(args.output), "--output")
    if name == "report" and getattr(args, "bundle", None) is not None:
        check_reports_target(Path(args.bundle), "--bundle")


def run_command(args: argparse.Namespace, command: Callable[[argparse.Namespace], int], argv: Sequence[str]) -> int:
    """Run one parsed command under the guard (runner/guard.py): what dead runs left is swept (one
    line on stderr), the arguments are checked before anything runs, then the command: its exit code."""
    def checked_command() -> int:
        swept = sweep(args)
        if swept:
            print(f"tinytorch-verifier: {swept}", file=sys.stderr)
        preflight(args)  # raises a one-line error before anything runs
        return int(command(args))

    return run_guarded(checked_command, argv)
