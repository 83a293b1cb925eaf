"""`tito`: the thin command line over the verifier's library API.

User mistakes (VerifierError) print one line and exit 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import VerifierError

EMBEDDED_COURSE = Path(__file__).resolve().parent.parent / "course"


def default_course() -> Path:
    """The course to work on when none is named: $TITO_COURSE, the current directory if it is a
    course, else the course embedded in this repository."""
    if os.environ.get("TITO_COURSE"):
        return Path(os.environ["TITO_COURSE"])
    cwd = Path.cwd()
    if (cwd / "modules").is_dir() and ((cwd / "pyproject.toml").is_file() or (cwd / "settings.ini").is_file()):
        return cwd
    return EMBEDDED_COURSE


def _course_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=None,
                        help="path of the TinyTorch course (default: the embedded course)")


def cmd_export(args: argparse.Namespace) -> int:
    from .course import load_course
    from .export import plan_export, targets_of_modules, write_package

    course = load_course(args.course or default_course())
    plan = plan_export(course)
    if args.module and not args.all:
        only = targets_of_modules(plan, [course.module(args.module)])
    else:
        only = None
    written = write_package(plan, course.root, only)
    print(f"exported {len(plan.targets) if only is None else len(only)} module file(s) "
          f"to {course.root / course.package} ({len(written)} files written)")
    return 0


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .pipeline import VerifyOptions, verify
    from .report import print_summary, write_json
    from .results import StageResult

    console = Console(highlight=False)

    def progress(scope: str, stage: StageResult) -> None:
        where = "course" if scope == "course" else f"py{scope}"
        detail = f"  {stage.detail}" if stage.detail and not stage.ok else ""
        console.print(f"{where:<8} {stage.name:<18} {stage.status:<8} {stage.seconds:7.1f} s{detail}",
                      markup=False)

    options = VerifyOptions(
        course=args.course or default_course(),
        pythons=args.python or None,
        extra_pythons=args.extra_python or [],
        strict=args.strict or _is_ci(),
        scenarios=args.scenario or None,
        run_tests=not args.no_tests,
        jobs=args.jobs,
        keep_work=args.keep_work,
    )
    result = verify(options, progress)
    path = write_json(result, args.reports)
    print_summary(result, console)
    console.print(f"report: {path}", markup=False)
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tito", description="TinyTorch release guardian.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    export = sub.add_parser("export", help="export module sources into the course's package folder")
    _course_arg(export)
    group = export.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="export every module (default)")
    group.add_argument("module", nargs="?", help="one module: 03_activations, activations or 3")
    export.set_defaults(func=cmd_export)

    verify = sub.add_parser("verify", help="export, validate, build, and verify the wheel in fresh venvs per Python")
    _course_arg(verify)
    verify.add_argument("--python", action="append", metavar="X.Y",
                        help="verify this Python instead of the course's matrix (repeatable)")
    verify.add_argument("--extra-python", action="append", metavar="X.Y",
                        help="verify this Python in addition to the matrix (repeatable)")
    verify.add_argument("--strict", action="store_true",
                        help="a Python without interpreter fails the run (always on when CI=true)")
    verify.add_argument("--scenario", action="append", metavar="NAME", help="run only this scenario (repeatable)")
    verify.add_argument("--no-tests", action="store_true", help="skip the course's tests")
    verify.add_argument("--jobs", type=int, default=2, help="Pythons verified at once (default 2)")
    verify.add_argument("--reports", type=Path, default=Path("reports"), help="where reports go (default ./reports)")
    verify.add_argument("--keep-work", action="store_true", help="keep the temporary work directory")
    verify.set_defaults(func=cmd_verify)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VerifierError as exc:
        print(f"tito: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tito: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
