"""`tinytorch-verifier`: the thin command line over the verifier's library API — the parser and the entry point.

The parser is built per command group (one `_add_*` function each); every command's work is one call
from a `cmd_*` function in commands.py into the library. User mistakes (VerifierError) print one line
and exit 2 — never a traceback; a crash of the verifier itself exits 3 with the path of a log file
(runner/guard.py); arguments are checked before anything runs (pipeline/preflight.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import commands


def _course_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=None,
                        help="path of the TinyTorch course (default: the embedded course)")


def _add_venv_command(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int],
                      own: Sequence[Tuple[str, Union[str, Dict[str, Any]]]]) -> None:
    """A command that runs the wheel in fresh venvs — `verify` (= `package verify`) and `package test`
    (= `test integration`): the options both take, then the command's `own` options in help order
    (an option given by its help text alone is an on/off flag)."""
    _course_arg(parser)
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="tasks (Python x stage) run at once (default: the number of cores)")
    parser.add_argument("--installer", choices=("uv", "pip"), default="uv",
                        help="installer of the venvs (default uv; pip when uv is missing)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="where reports go (default ./reports)")
    for flag, settings in own:
        parser.add_argument(flag, **({"action": "store_true", "help": settings} if isinstance(settings, str)
                                     else settings))
    parser.set_defaults(func=func)


_VERIFY_OPTIONS = (  # the release verification's own options
    ("--python", {"action": "append", "metavar": "X.Y",
                  "help": "verify this Python instead of the course's matrix (repeatable)"}),
    ("--extra-python", {"action": "append", "metavar": "X.Y",
                        "help": "verify this Python in addition to the matrix (repeatable)"}),
    ("--strict", "a Python without interpreter fails the run (always on when CI=true)"),
    ("--scenario", {"action": "append", "metavar": "NAME", "help": "run only this scenario (repeatable)"}),
    ("--no-tests", "skip the course's tests"),
    ("--latest", "ignore the course's lock files: resolve what a student installing today gets"),
    ("--keep-work", "keep the temporary work directory"),
    ("--install-pythons", "install the matrix's missing interpreters with `uv python install X.Y` first"),
    ("--fail-fast", "stop at the first blocking stage (default: keep going, report every stage that can run)"),
    ("--baseline", {"metavar": "REF", "help": "compare with an earlier release: a git tag/branch/commit of the "
                    "course's repository or a release wheel (.whl); its API and speed per operation"}),
    ("--baseline-strict", "with --baseline: a scenario's numbers (accuracy, loss, forward checksum) changed beyond "
                          "tolerance block the release (default: reported, advisory)"),
    ("--canary", {"nargs": "?", "const": "warn", "choices": ("warn", "block"),
                  "help": "one more leg: newest Python and NumPy (pre-releases), -X dev, the package's "
                          "deprecation warnings as errors; advisory unless --canary=block"}),
    ("--sandbox", "run every child (student code) under bubblewrap: no network, only the work folder"),
    ("--sandbox-writable", {"action": "append", "type": Path, "default": [], "help": argparse.SUPPRESS}),
)
_TEST_OPTIONS = (  # `package test`'s own options (alias `test integration`)
    ("--quick", "only the imports scenario"),
    ("--module", {"help": "this module and every module that depends on it "
                          "(cached dependency venvs: the module loop, never a release verdict)"}),
    ("--fresh", "with --module: fresh venvs instead of cached ones"),
    ("--python", {"action": "append", "metavar": "X.Y", "help": "only this Python (repeatable)"}),
    ("--plan", "print what would run (dependencies, dependents, scenarios, tests); run nothing"),
)


def _add_export(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="export module sources into the course's package folder")
    _course_arg(export)
    group = export.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="export every module (default)")
    group.add_argument("module", nargs="?", help="one module: 03_activations, activations or 3")
    export.add_argument("--no-check", action="store_true",
                        help="skip the static checks and quick integration check after writing")
    export.add_argument("--python", metavar="X.Y", help="Python of the quick check (default: newest of the matrix)")
    export.add_argument("--check", action="store_true", help="write nothing: exit 1 when the committed package "
                        "folder differs from the export of its sources (naming the first stale file)")
    export.set_defaults(func=commands.cmd_export)


def _add_cohort(sub: argparse._SubParsersAction) -> None:
    cohort = sub.add_parser("cohort", help="a whole class: verify every student's tree, write a gradebook")
    csub = cohort.add_subparsers(dest="cohort_command", metavar="COMMAND")
    csub.required = True
    run = csub.add_parser("verify", help="verify each student's tree (sandboxed) -> gradebook.csv, cohort.html")
    run.add_argument("submissions", type=Path, help="folder of student trees (Classroom, nbgrader) or roster CSV")
    run.add_argument("--reports", type=Path, default=Path("reports/cohort"), help="default ./reports/cohort")
    run.add_argument("--python", action="append", metavar="X.Y", help="default: newest of the course's matrix")
    run.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    run.add_argument("--no-tests", action="store_true", help="skip the course's tests")
    run.add_argument("--jobs", type=int, default=None, metavar="N", help="students at once (default: cores / 2)")
    run.add_argument("--timeout", type=float, default=1800.0, help="seconds per student (default 1800)")
    run.add_argument("--rerun", action="store_true", help="verify again students whose tree did not change")
    run.add_argument("--assignment", default="", help="nbgrader assignment folder / Classroom name prefix")
    run.add_argument("--keep-work", action="store_true", help="keep the work folder (students' copies)")
    run.add_argument("--scheduler", default="", metavar="tcp://HOST:PORT",
                     help="send each student to this Dask scheduler's workers (needs the [cluster] extra)")
    run.set_defaults(func=commands.cmd_cohort_verify)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="course speed beside PyTorch and the matmul peak (ratios, one run)")
    _course_arg(bench)
    bench.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default 3; medians)")
    bench.add_argument("--only", default="", help="comma-separated models (cnn-8, cnn-28, gpt-16, mlp)")
    bench.add_argument("--keep-openblas-env", action="store_true",
                       help="keep OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the benchmark's process")
    bench.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a speed target is missed")
    bench.add_argument("--pipelines", action="store_true",
                       help="instead: verify's per-Python work beside tox and tox-uv on the same wheel")
    bench.add_argument("--python", action="append", metavar="X.Y", help="with --pipelines: only this Python")
    bench.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="with --pipelines: Pythons at once")
    bench.add_argument("--validate", action="store_true", help="instead: `package validate` as a whole process")
    bench.add_argument("--runs", type=int, default=15, help="with --validate: timed runs per command (default 15)")
    bench.add_argument("--reports", type=Path, default=Path("reports"))
    bench.set_defaults(func=commands.cmd_bench)


def _add_python(sub: argparse._SubParsersAction) -> None:
    python = sub.add_parser("python", help="the Pythons of the course's matrix on this machine")
    pysub = python.add_subparsers(dest="python_command", metavar="COMMAND")
    pysub.required = True
    python_list = pysub.add_parser("list", help="each Python of the matrix: found where, full version, "
                                                "support status, NumPy of its lock (exit 1 if one is missing)")
    _course_arg(python_list)
    python_list.add_argument("--python", action="append", metavar="X.Y", help="only this Python (repeatable)")
    python_list.set_defaults(func=commands.cmd_python_list)


def _add_package(sub: argparse._SubParsersAction) -> None:
    package = sub.add_parser("package", help="package checks: validate, deps, test, build, install, status, report")
    psub = package.add_subparsers(dest="package_command", metavar="COMMAND")
    psub.required = True
    package_verify = psub.add_parser("verify", help="the release verification (same as `tinytorch-verifier verify`)")
    _add_venv_command(package_verify, commands.cmd_verify, _VERIFY_OPTIONS)
    validate = psub.add_parser("validate", help="static checks of exports and dependencies (no code runs)")
    _course_arg(validate)
    validate.add_argument("module", nargs="?", help="only this module")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(func=commands.cmd_validate)
    deps = psub.add_parser("deps", help="dependency graph and build order")
    _course_arg(deps)
    deps.add_argument("--format", choices=("text", "mermaid", "dot", "json"), default="text")
    deps.add_argument("--check", action="store_true", help="exit 1 on declared/actual mismatch or cycle")
    deps.set_defaults(func=commands.cmd_deps)
    _add_venv_command(psub.add_parser("test", help="scenarios and course tests in fresh venvs"), commands.cmd_test,
                      _TEST_OPTIONS)
    _add_package_files(psub)
    _add_reports(psub)


def _add_package_files(psub: argparse._SubParsersAction) -> None:
    """The commands that make files: artifacts, a venv, the API snapshot, locks, the course's pyproject."""
    build = psub.add_parser("build", help="sdist + wheel of the exported course, with build checks")
    _course_arg(build)
    build.add_argument("--out", type=Path, default=Path("dist"), help="where the artifacts go (default ./dist)")
    build.set_defaults(func=commands.cmd_build)
    install = psub.add_parser("install", help="the built wheel into a fresh venv (or one you name) to try by hand")
    _course_arg(install)
    install.add_argument("--venv", type=Path, help="venv to install into (default: a fresh .tito/venv-tinytorch)")
    install.add_argument("--python", metavar="X.Y", help="interpreter version for a new venv")
    install.add_argument("--force", action="store_true",
                         help="replace a venv tinytorch-verifier did not make (never a folder that is not a venv)")
    install.set_defaults(func=commands.cmd_install)
    api = psub.add_parser("api", help="snapshot the public API (compared by verify to catch breaking changes)")
    _course_arg(api)
    api.add_argument("--output", type=Path, help="where to write it (default: the course's api.json)")
    api.set_defaults(func=commands.cmd_api)
    lock = psub.add_parser("lock", help="compile per-Python lock files with pip-tools (only when inputs changed)")
    _course_arg(lock)
    lock.add_argument("--python", action="append", metavar="X.Y", help="only this Python (repeatable)")
    lock.add_argument("--force", action="store_true", help="compile even when the inputs did not change")
    lock.set_defaults(func=commands.cmd_lock)
    classifiers = psub.add_parser("classifiers", help="Python classifiers from the last verify (--sync writes them)")
    _course_arg(classifiers)
    classifiers.add_argument("--sync", action="store_true", help="rewrite the classifiers in pyproject.toml")
    classifiers.add_argument("--reports", type=Path, default=Path("reports"))
    classifiers.set_defaults(func=commands.cmd_classifiers)
    version = psub.add_parser("version", help="bump the course's version in pyproject.toml")
    _course_arg(version)
    version.add_argument("--bump", choices=("patch", "minor", "major"), required=True)
    version.set_defaults(func=commands.cmd_version)


def _add_reports(psub: argparse._SubParsersAction) -> None:
    """The commands over the reports of earlier runs."""
    merge = psub.add_parser("aggregate", help="merge the reports of a CI matrix into one status report")
    merge.add_argument("folder", type=Path, help="folder holding one sub-folder of reports per job")
    merge.add_argument("--reports", type=Path, default=Path("reports"))
    merge.set_defaults(func=commands.cmd_aggregate)
    compare = psub.add_parser("compare", help="locked vs latest verify: where a student today gets something else")
    compare.add_argument("locked", type=Path, help="reports folder of the locked run")
    compare.add_argument("latest", type=Path, help="reports folder of the --latest run")
    compare.set_defaults(func=commands.cmd_compare)
    status = psub.add_parser("status", help="one screen: ready for release YES/NO, from the last verify")
    status.add_argument("--reports", type=Path, default=Path("reports"))
    status.set_defaults(func=commands.cmd_status)
    report = psub.add_parser("report", help="the last verify as Markdown, JSON, JUnit XML or HTML")
    report.add_argument("--reports", type=Path, default=Path("reports"))
    report.add_argument("--format", choices=("markdown", "json", "junit", "html"), default="markdown")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")
    report.add_argument("--bundle", type=Path, metavar="DIR",
                        help="write the release hand-off folder (artifacts, reports, graph, API, examples, index.html)")
    report.set_defaults(func=commands.cmd_report)


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked: importing importlib.metadata costs ~30 ms at every start."""
    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        from importlib.metadata import PackageNotFoundError, version
        try:
            print(f"{parser.prog} {version(parser.prog)}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            print(f"{parser.prog} (version unknown: not installed)")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinytorch-verifier", description="TinyTorch release guardian.")
    parser.add_argument("--version", action=_VersionAction, nargs=0, default=argparse.SUPPRESS, help="the version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_export(sub)
    verify = sub.add_parser("verify", help="export, validate, build, and verify the wheel in fresh venvs per Python")
    _add_venv_command(verify, commands.cmd_verify, _VERIFY_OPTIONS)
    _add_cohort(sub)
    _add_bench(sub)
    _add_python(sub)
    _add_package(sub)
    # `tinytorch-verifier test integration` is the course docs' name for `tinytorch-verifier package test`
    test_group = sub.add_parser("test", help="alias: `test integration` = `package test`")
    tsub = test_group.add_subparsers(dest="test_command", metavar="integration")
    tsub.required = True
    integration = tsub.add_parser("integration", help="scenarios and course tests in fresh venvs")
    _add_venv_command(integration, commands.cmd_test, _TEST_OPTIONS)
    _add_everywhere(parser, "--no-color", action="store_true", default=False,
                    help="no colours or other terminal escapes (also NO_COLOR=1 or TERM=dumb)")
    return parser


def _add_everywhere(parser: argparse.ArgumentParser, *flags: str, **options) -> None:
    """An option of every command: accepted before the command name and after it."""
    parser.add_argument(*flags, **options)
    sub_options = {**options, "default": argparse.SUPPRESS}  # the value given before the command stays
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                _add_everywhere(command, *flags, **sub_options)


def main(argv: Optional[List[str]] = None) -> int:
    from ..pipeline.preflight import run_command
    from ..runner.guard import EXIT_USAGE, current_folder_problem, make_streams_safe

    make_streams_safe()  # any encoding: what the terminal cannot show becomes "?", never a crash
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    gone = current_folder_problem()
    if gone:  # relative defaults (./reports, the course found from here) cannot be resolved
        print(f"tinytorch-verifier: error: {gone}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(words)
    return run_command(args, args.func, words)


if __name__ == "__main__":
    sys.exit(main())
