"""`tito`: the thin command line over the verifier's library API.

User mistakes (VerifierError) print one line and exit 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

from ..errors import VerifierError

EMBEDDED_COURSE = Path(__file__).resolve().parents[2] / "course"


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
    from ..course.discovery import load_course
    from ..package.export import plan_export, targets_of_modules, write_package

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


def _console():
    """Rich console; wide when writing to a file or CI log, so tables are not squeezed to 80 columns."""
    import sys as _sys

    from rich.console import Console
    return Console(highlight=False, width=None if _sys.stdout.isatty() else 160)


def _run_verification(args: argparse.Namespace, options) -> int:
    """Run a verification, write every report, print the status screen; exit 0 ready, 1 blocked."""
    from ..pipeline.verify import verify
    from ..pipeline.progress import progress_for
    from ..reports.status import print_status, write_reports

    console = _console()
    with progress_for(console, _is_ci()) as progress:
        result = verify(options, progress)
    paths, decision = write_reports(result, args.reports)
    print_status(result, decision, console)
    console.print(f"reports: {', '.join(str(p) for p in paths)}", markup=False)
    if result.partial:  # a partial check passes or fails on what it ran; it is never a release verdict
        return 0 if result.ok and all(b.category == "partial run" for b in decision.blockers) else 1
    return 0 if decision.ready else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from ..pipeline.verify import VerifyOptions

    return _run_verification(args, VerifyOptions(
        course=args.course or default_course(), pythons=args.python or None,
        extra_pythons=args.extra_python or [], strict=args.strict or _is_ci(),
        scenarios=args.scenario or None, run_tests=not args.no_tests, jobs=args.jobs, keep_work=args.keep_work,
        latest=args.latest, fail_fast=args.fail_fast))


def cmd_test(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.verify import VerifyOptions
    from ..pipeline.selection import select_for_module

    course_path = args.course or default_course()
    scenarios, tests, run_tests = None, None, not args.quick
    if args.quick:
        scenarios = ["imports"]
    elif args.module:
        scenarios, tests = select_for_module(load_course(course_path), args.module)
        run_tests = bool(tests)
    return _run_verification(args, VerifyOptions(
        course=course_path, pythons=args.python or None, strict=_is_ci(), scenarios=scenarios,
        run_tests=run_tests, test_selection=tests, jobs=args.jobs))


def cmd_validate(args: argparse.Namespace) -> int:
    from ..checks.validate import run_validate

    text, code = run_validate(args.course or default_course(), args.module, args.format)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def cmd_deps(args: argparse.Namespace) -> int:
    from ..deps.graph import run_deps

    text, code = run_deps(args.course or default_course(), args.format, args.check)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def cmd_build(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ..package.build import build_course, sha256
    from ..course.discovery import load_course

    course = load_course(args.course or default_course())
    work = Path(tempfile.mkdtemp(prefix="tito-build-"))
    try:
        artifacts, problems = build_course(course, work / "dist", work)
        args.out.mkdir(parents=True, exist_ok=True)
        for artifact in (artifacts.sdist, artifacts.wheel):
            shutil.copy2(artifact, args.out / artifact.name)
            print(f"{artifact.name:<48} {artifact.stat().st_size:>9} bytes  sha256 {sha256(artifact)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for problem in problems:
        print(f"build check failed: {problem}", file=sys.stderr)
    print(f"build: {'SUCCESS' if not problems else 'BLOCKED'} -> {args.out}")
    return 0 if not problems else 1


def cmd_install(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from ..package.build import build_course
    from ..course.discovery import load_course
    from ..runner.envs import Venv, create_venv
    from ..runner.interpreters import current_interpreter, find_interpreter

    course = load_course(args.course or default_course())
    interpreter = current_interpreter().path
    if args.python:
        lookup = find_interpreter(args.python)
        if lookup.interpreter is None:
            raise VerifierError(lookup.describe_missing(), hint="install it or name another --python")
        interpreter = lookup.interpreter.path
    work = Path(tempfile.mkdtemp(prefix="tito-install-"))
    try:
        artifacts, problems = build_course(course, work / "dist", work)
        if args.venv and Venv(args.venv).python.exists():
            venv = Venv(args.venv)
        else:
            target = args.venv or Path(".tito") / f"venv-{course.distribution}"
            if target.exists():
                shutil.rmtree(target)
            venv = create_venv(interpreter, target)
        done = venv.install([str(artifacts.wheel)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not done.ok:
        print(done.tail(20), file=sys.stderr)
        raise VerifierError(f"pip could not install {artifacts.wheel.name} into {venv.root}")
    for problem in problems:
        print(f"warning: build check: {problem}", file=sys.stderr)
    print(f"installed {artifacts.wheel.name} into {venv.root}\ntry it: {venv.python} -c \"import tinytorch; "
          f"print(tinytorch.__version__)\"")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..reports.status import load_result, print_status
    from ..pipeline.gate import decide

    result = load_result(args.reports)
    decision = decide(result)
    print_status(result, decision, _console())
    return 0 if decision.ready else 1


def cmd_report(args: argparse.Namespace) -> int:
    from ..reports.status import load_result, render

    result = load_result(args.reports)
    text = render(result, args.format)
    if args.output:
        from ..reports.terminal import write_atomic
        write_atomic(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import tempfile

    from ..package.api import SNAPSHOT, package_surface, snapshot_text
    from ..course.discovery import load_course
    from ..package.export import plan_export, write_package
    from ..reports.terminal import write_atomic

    course = load_course(args.course or default_course())
    with tempfile.TemporaryDirectory(prefix="tito-api-") as work:
        write_package(plan_export(course), Path(work))
        surface = package_surface(Path(work) / course.package)
    target = args.output or course.root / SNAPSHOT
    write_atomic(target, snapshot_text(surface, course.version))
    print(f"API snapshot of {sum(len(v) for v in surface.values())} public names in {len(surface)} modules "
          f"-> {target}")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..package.locks import compile_lock
    from ..course.matrix import python_matrix

    course = load_course(args.course or default_course())
    for version in args.python or python_matrix(course):
        state = compile_lock(course, version, force=args.force)
        print(f"Python {version}: {state.path} ({state.status})")
    return 0


def _course_pyproject(args: argparse.Namespace) -> Path:
    from ..course.discovery import load_course

    course = load_course(args.course or default_course())
    if course.pyproject_path is None:
        raise VerifierError("the course has no pyproject.toml to edit", course.root)
    return course.pyproject_path


def cmd_classifiers(args: argparse.Namespace) -> int:
    from ..course.pyproject_edit import sync_classifiers
    from ..reports.status import load_result

    path = _course_pyproject(args)
    result = load_result(args.reports)
    verified = [p.version for p in result.pythons if p.verified]
    if not args.sync:
        print("verified: " + ", ".join(verified) + "  (use --sync to write them as classifiers)")
        return 0
    versions = sync_classifiers(path, verified)
    print(f"{path}: classifiers now {', '.join(v.rsplit(' ', 1)[-1] for v in versions)}")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from ..course.pyproject_edit import bump_version

    path = _course_pyproject(args)
    print(f"{path}: version {bump_version(path, args.bump)}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    from ..reports.status import aggregate, write_reports

    result = aggregate(args.folder)
    paths, decision = write_reports(result, args.reports)
    print(f"merged {len(result.pythons)} Python rows; ready: {'YES' if decision.ready else 'NO'}; "
          f"reports: {', '.join(map(str, paths))}")
    return 0 if decision.ready else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from ..reports.status import compare_runs, load_result

    rows = compare_runs(load_result(args.locked), load_result(args.latest))
    print(f"{'Python':<8} {'NumPy locked':<14} {'NumPy latest':<14} {'locked':<14} {'latest':<14}")
    differ = 0
    for version, numpy_locked, numpy_latest, status_locked, status_latest in rows:
        mark = "  <- differs" if (numpy_locked, status_locked) != (numpy_latest, status_latest) else ""
        differ += bool(mark)
        print(f"{version:<8} {numpy_locked:<14} {numpy_latest:<14} {status_locked:<14} {status_latest:<14}{mark}")
    print(f"{differ} of {len(rows)} Pythons differ between the locked and the latest run")
    return 0


def _verify_args(parser: argparse.ArgumentParser) -> None:
    _course_arg(parser)
    parser.add_argument("--jobs", type=int, default=2, help="Pythons verified at once (default 2)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="where reports go (default ./reports)")


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from ..bench import run_bench
    from ..course.discovery import load_course
    from ..reports.terminal import write_atomic

    course = load_course(args.course or default_course())
    result = run_bench(course, args.shared if args.shared.is_dir() else None)
    rows = result.ratios()
    print(f"single-threaded train step (forward, backward, Adam), Python {result.python}")
    print(f"{'model':<8} {'vs':<10} {'ours ms':>9} {'ref ms':>9} {'ratio':>7} {'target':>7}  met")
    for row in rows:
        target = f"{row['target']:.1f}x" if row["target"] else "-"
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        print(f"{row['model']:<8} {row['against']:<10} {row['ours_ms']:>9} {row['reference_ms']:>9} "
              f"{row['ratio']:>6}x {target:>7}  {met}")
    for note in result.notes:
        print(f"note: {note}")
    write_atomic(args.reports / "bench.json", json.dumps({"python": result.python, "ours": result.ours,
                 "torch": result.torch, "numpy": result.numpy, "ratios": rows}, indent=2) + "\n")
    print(f"report: {args.reports / 'bench.json'}")
    return 0


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
    _verify_args(verify)
    verify.add_argument("--python", action="append", metavar="X.Y",
                        help="verify this Python instead of the course's matrix (repeatable)")
    verify.add_argument("--extra-python", action="append", metavar="X.Y",
                        help="verify this Python in addition to the matrix (repeatable)")
    verify.add_argument("--strict", action="store_true",
                        help="a Python without interpreter fails the run (always on when CI=true)")
    verify.add_argument("--scenario", action="append", metavar="NAME", help="run only this scenario (repeatable)")
    verify.add_argument("--no-tests", action="store_true", help="skip the course's tests")
    verify.add_argument("--latest", action="store_true",
                        help="ignore the course's lock files: resolve what a student installing today gets")
    verify.add_argument("--keep-work", action="store_true", help="keep the temporary work directory")
    verify.add_argument("--fail-fast", action="store_true",
                        help="stop at the first blocking stage (default: keep going, report every stage that can run)")
    verify.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="course speed beside PyTorch and the NumPy floor (ratios, one run)")
    _course_arg(bench)
    bench.add_argument("--shared", type=Path, default=EMBEDDED_COURSE.parent.parent / "shared" / "bench",
                       help="folder with torch_ref.py and numpy_floor.py (default ../shared/bench)")
    bench.add_argument("--reports", type=Path, default=Path("reports"))
    bench.set_defaults(func=cmd_bench)

    package = sub.add_parser("package", help="package checks: validate, deps, test, build, install, status, report")
    psub = package.add_subparsers(dest="package_command", metavar="COMMAND")
    psub.required = True

    validate = psub.add_parser("validate", help="static checks of exports and dependencies (no code runs)")
    _course_arg(validate)
    validate.add_argument("module", nargs="?", help="only this module")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(func=cmd_validate)

    deps = psub.add_parser("deps", help="dependency graph and build order")
    _course_arg(deps)
    deps.add_argument("--format", choices=("text", "mermaid", "dot", "json"), default="text")
    deps.add_argument("--check", action="store_true", help="exit 1 on declared/actual mismatch or cycle")
    deps.set_defaults(func=cmd_deps)

    for parent, name in ((psub, "test"), (None, "test")):
        if parent is None:
            # `tito test integration` is the course docs' name for the same command
            test_group = sub.add_parser("test", help="alias: `tito test integration` = `tito package test`")
            tsub = test_group.add_subparsers(dest="test_command", metavar="integration")
            tsub.required = True
            test = tsub.add_parser("integration", help="scenarios and course tests in fresh venvs")
        else:
            test = parent.add_parser(name, help="scenarios and course tests in fresh venvs")
        _verify_args(test)
        test.add_argument("--quick", action="store_true", help="only the imports scenario")
        test.add_argument("--module", help="this module and every module that depends on it")
        test.add_argument("--python", action="append", metavar="X.Y", help="only this Python (repeatable)")
        test.set_defaults(func=cmd_test)

    build = psub.add_parser("build", help="sdist + wheel of the exported course, with build checks")
    _course_arg(build)
    build.add_argument("--out", type=Path, default=Path("dist"), help="where the artifacts go (default ./dist)")
    build.set_defaults(func=cmd_build)

    install = psub.add_parser("install", help="the built wheel into a fresh venv (or one you name) to try by hand")
    _course_arg(install)
    install.add_argument("--venv", type=Path, help="venv to install into (default: a fresh .tito/venv-tinytorch)")
    install.add_argument("--python", metavar="X.Y", help="interpreter version for a new venv")
    install.set_defaults(func=cmd_install)

    api = psub.add_parser("api", help="snapshot the public API (compared by verify to catch breaking changes)")
    _course_arg(api)
    api.add_argument("--output", type=Path, help="where to write it (default: the course's api.json)")
    api.set_defaults(func=cmd_api)

    lock = psub.add_parser("lock", help="compile per-Python lock files with pip-tools (only when inputs changed)")
    _course_arg(lock)
    lock.add_argument("--python", action="append", metavar="X.Y", help="only this Python (repeatable)")
    lock.add_argument("--force", action="store_true", help="compile even when the inputs did not change")
    lock.set_defaults(func=cmd_lock)

    classifiers = psub.add_parser("classifiers", help="Python classifiers from the last verify (--sync writes them)")
    _course_arg(classifiers)
    classifiers.add_argument("--sync", action="store_true", help="rewrite the classifiers in pyproject.toml")
    classifiers.add_argument("--reports", type=Path, default=Path("reports"))
    classifiers.set_defaults(func=cmd_classifiers)

    version = psub.add_parser("version", help="bump the course's version in pyproject.toml")
    _course_arg(version)
    version.add_argument("--bump", choices=("patch", "minor", "major"), required=True)
    version.set_defaults(func=cmd_version)

    merge = psub.add_parser("aggregate", help="merge the reports of a CI matrix into one status report")
    merge.add_argument("folder", type=Path, help="folder holding one sub-folder of reports per job")
    merge.add_argument("--reports", type=Path, default=Path("reports"))
    merge.set_defaults(func=cmd_aggregate)

    compare = psub.add_parser("compare", help="locked vs latest verify: where a student today gets something else")
    compare.add_argument("locked", type=Path, help="reports folder of the locked run")
    compare.add_argument("latest", type=Path, help="reports folder of the --latest run")
    compare.set_defaults(func=cmd_compare)

    status = psub.add_parser("status", help="one screen: ready for release YES/NO, from the last verify")
    status.add_argument("--reports", type=Path, default=Path("reports"))
    status.set_defaults(func=cmd_status)

    report = psub.add_parser("report", help="the last verify as Markdown, JSON, JUnit XML or HTML")
    report.add_argument("--reports", type=Path, default=Path("reports"))
    report.add_argument("--format", choices=("markdown", "json", "junit", "html"), default="markdown")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")
    report.set_defaults(func=cmd_report)
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
