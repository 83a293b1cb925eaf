"""The work of each `tito` command: one `cmd_*` function per command, each a few lines over the library
API (imported inside the function, so that parsing a command line imports none of them). The parser that
names them is main.py.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import VerifierError

EMBEDDED_COURSE = Path(__file__).resolve().parents[2] / "course"


def default_course() -> Path:
    """The course to work on when none is named: $TITO_COURSE, the current directory if it is a
    course, else the course embedded in this repository."""
    if os.environ.get("TITO_COURSE"):
        return Path(os.environ["TITO_COURSE"])
    cwd = Path.cwd()
    has_modules = (cwd / "modules").is_dir() or (cwd / "src").is_dir()  # src/: upstream's layout D
    if has_modules and ((cwd / "pyproject.toml").is_file() or (cwd / "settings.ini").is_file()):
        return cwd
    if EMBEDDED_COURSE.is_dir():  # absent from an installed wheel: there is no course beside the code
        return EMBEDDED_COURSE
    raise VerifierError("no course found: run tinytorch-verifier inside a TinyTorch checkout or pass --course PATH")


def cmd_export(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..package.export import plan_export, targets_of_modules, write_package

    course = load_course(args.course or default_course())
    if args.check:
        return _export_check(course)
    plan = plan_export(course)
    if args.module and not args.all:
        changed = [course.module(args.module)]
        only = targets_of_modules(plan, changed)
    else:
        changed, only = list(course.modules), None
    written = write_package(plan, course.root, only)
    print(f"exported {len(plan.targets) if only is None else len(only)} module file(s) "
          f"to {course.root / course.package} ({len(written)} files written)")
    keys = {m.key for m in changed}
    problems = [p for p in plan.problems if p.module in keys]
    for problem in problems:  # one line each: where, what, what to do
        print(f"tinytorch-verifier: not exported: {problem}", file=sys.stderr)
    if args.no_check:
        return 1 if problems else 0
    from ..pipeline.quick import quick_check

    exported = [m.key for m in changed if m.key not in {p.module for p in problems}]
    result = quick_check(course, exported, course.root, args.python) if exported else None
    if result is not None:
        sys.stdout.write(result.render())
    return 1 if problems or (result is not None and not result.ok) else 0


def _export_check(course) -> int:
    """Read-only: exit 1 naming the first committed file the sources no longer export to."""
    from ..package.freshness import check_freshness

    result = check_freshness(course)
    if result.committed is None:
        print(f"{course.root / course.package}: not committed, nothing to compare")
    elif result.stale:
        print(f"tinytorch-verifier: stale export: {result.stale[0].render(course.root)} — run "
              f"`tinytorch-verifier export` and commit "
              f"({len(result.stale)} stale file(s))", file=sys.stderr)
    else:
        print(f"{course.root / course.package}: up to date with the sources ({result.compared} files)")
    return 1 if result.stale else 0


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def plain_output(args: argparse.Namespace) -> bool:
    """No ANSI escapes at all: --no-color, NO_COLOR set to anything (no-color.org) or TERM=dumb."""
    return bool(getattr(args, "no_color", False) or os.environ.get("NO_COLOR")
                or os.environ.get("TERM", "").lower() == "dumb")


def _console(args: argparse.Namespace):
    """Rich console; wide when writing to a file or CI log, so tables are not squeezed to 80 columns.
    Plain (plain_output): no colour, no style and no cursor movement — the progress is printed as
    lines — so a dumb terminal or a log shows no escape codes. It writes to sys.stdout, which
    main() made safe for any encoding (rich draws ASCII boxes when the encoding is not UTF)."""
    import shutil

    from rich.console import Console

    terminal = sys.stdout.isatty() if sys.stdout is not None else False
    if plain_output(args):
        width = shutil.get_terminal_size((160, 24)).columns if terminal else 160
        return Console(highlight=False, width=width, no_color=True, color_system=None, force_terminal=False)
    return Console(highlight=False, width=None if terminal else 160)


def _run_verification(args: argparse.Namespace, options) -> int:
    """Run a verification, write every report, print the status screen; exit 0 ready, 1 blocked."""
    from ..pipeline.progress import progress_for
    from ..pipeline.verify import verify
    from ..render.status import print_status, write_reports

    console = _console(args)
    with progress_for(console, _is_ci()) as progress:
        result = verify(options, progress)
    paths, decision = write_reports(result, args.reports)
    print_status(result, decision, console)
    console.print(f"reports: {', '.join(str(p) for p in paths)}", markup=False)
    if decision.partial:  # a partial check passes or fails on what it ran; it is never a release verdict
        return 0 if result.ok and decision.passed else 1
    return 0 if decision.ready else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from ..pipeline.verify import VerifyOptions

    if args.install_pythons:
        _install_pythons(args)

    if args.sandbox:  # every child runs under bubblewrap (runner/sandbox.py); without it, one warning
        import tempfile

        from ..runner.sandbox import enable
        warning = enable(args.sandbox_writable or [Path(tempfile.gettempdir())])
        if warning:
            print(f"tinytorch-verifier: WARNING: {warning}", file=sys.stderr)
    return _run_verification(args, VerifyOptions(
        course=args.course or default_course(), pythons=args.python or None,
        extra_pythons=args.extra_python or [], strict=args.strict or _is_ci(),
        scenarios=args.scenario or None, run_tests=not args.no_tests, jobs=args.jobs, keep_work=args.keep_work,
        latest=args.latest, artifacts_dir=args.reports / "dist", fail_fast=args.fail_fast,
        installer=args.installer, history=args.reports / "verify.json", baseline=args.baseline,
        baseline_strict=args.baseline_strict, canary=args.canary))


def _install_pythons(args: argparse.Namespace) -> None:
    """--install-pythons: uv installs the missing interpreters; each failure is one line, then verify runs
    (a Python still missing is NOT VERIFIED, and fails a strict run)."""
    from ..course.discovery import load_course
    from ..course.matrix import python_matrix
    from ..pipeline.pythons import install_missing

    wanted = list(args.python or python_matrix(load_course(args.course or default_course())))
    for outcome in install_missing(wanted + list(args.extra_python or [])):
        print(f"tinytorch-verifier: {outcome.line}", file=sys.stderr if not outcome.installed else sys.stdout)


def cmd_python_list(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.pythons import list_pythons

    listing = list_pythons(load_course(args.course or default_course()), args.python)
    sys.stdout.write(listing.render())
    return 0 if all(row.interpreter for row in listing.rows) else 1


def cmd_test(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.selection import select_for_module
    from ..pipeline.verify import VerifyOptions

    course_path = args.course or default_course()
    if args.plan or (args.quick and args.module):
        from ..pipeline import quick

        if not args.module:
            raise VerifierError("--plan needs --module MODULE",
                                hint="e.g. `tinytorch-verifier package test --module 03 --plan`")
        course = load_course(course_path)
        if args.plan:
            sys.stdout.write(quick.render_plan(quick.plan_integration(course, args.module), quick=args.quick))
            return 0
        # the quick check of one module: the same check `tito export MODULE` runs, on a temporary export
        if args.python and len(args.python) > 1:
            raise VerifierError("the quick check runs on one Python", hint="pass --python once")
        result = quick.quick_on_temporary_export(course, args.module, args.python[0] if args.python else None)
        sys.stdout.write(result.render())
        return 0 if result.ok else 1
    scenarios, tests, run_tests = None, None, not args.quick
    if args.quick:
        scenarios = ["imports"]
    elif args.module:
        scenarios, tests = select_for_module(load_course(course_path), args.module)
        run_tests = bool(tests)
    # the module loop: cached dependency venvs, only the fresh wheel installed (never a release verdict)
    return _run_verification(args, VerifyOptions(
        course=course_path, pythons=args.python or None, strict=_is_ci(), scenarios=scenarios,
        run_tests=run_tests, test_selection=tests, jobs=args.jobs, installer=args.installer,
        cached_envs=bool(args.module) and not args.fresh, history=args.reports / "verify.json"))


def cmd_validate(args: argparse.Namespace) -> int:
    from ..checks.output_cache import validate_output  # an unchanged course: the last output, nothing parsed

    text, code = validate_output(args.course or default_course(), args.module, args.format)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def cmd_deps(args: argparse.Namespace) -> int:
    from ..deps.graph import run_deps

    text, code = run_deps(args.course or default_course(), args.format, args.check)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def cmd_build(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.commands import build_into

    outcome = build_into(load_course(args.course or default_course()), args.out)
    for built in outcome.files:
        print(f"{built.path.name:<48} {built.size:>9} bytes  sha256 {built.sha256}")
    for problem in outcome.problems:
        print(f"build check failed: {problem}", file=sys.stderr)
    print(f"build: {'SUCCESS' if not outcome.problems else 'BLOCKED'} -> {args.out}")
    return 0 if not outcome.problems else 1


def cmd_install(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.commands import install_into

    outcome = install_into(load_course(args.course or default_course()), args.venv, args.python, args.force)
    for problem in outcome.problems:
        print(f"warning: build check: {problem}", file=sys.stderr)
    print(f"installed {outcome.wheel} into {outcome.venv.root}\ntry it: {outcome.venv.python} -c \"import tinytorch; "
          f"print(tinytorch.__version__)\"")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..pipeline.gate import decide
    from ..render.status import load_result, print_status

    result = load_result(args.reports)
    decision = decide(result)
    print_status(result, decision, _console(args))
    if decision.partial:
        return 0 if decision.passed else 1
    return 0 if decision.ready else 1


def cmd_report(args: argparse.Namespace) -> int:
    from ..render.status import load_result, render

    result = load_result(args.reports)
    if args.bundle:
        from ..render.bundle import make_bundle

        bundle = make_bundle(result, args.reports, args.bundle)
        print(f"bundle: {len(bundle.files)} files -> {bundle.root / 'index.html'}")
        return 0
    text = render(result, args.format)
    if args.output:
        from ..render.terminal import write_atomic
        write_atomic(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..pipeline.commands import write_api_snapshot

    snapshot = write_api_snapshot(load_course(args.course or default_course()), args.output)
    print(f"API snapshot of {snapshot.names} public names in {len(snapshot.surface)} modules -> {snapshot.target}")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from ..course.discovery import load_course
    from ..course.matrix import python_matrix
    from ..package.locks import compile_lock

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
    from ..render.status import load_result

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
    from ..render.status import REPORT_FILES, aggregate, write_reports

    merged = aggregate(args.folder, output=args.reports / REPORT_FILES["json"])
    paths, decision = write_reports(merged.result, args.reports)
    if merged.skipped:
        print(f"skipped {len(merged.skipped)} earlier aggregate output(s): {', '.join(map(str, merged.skipped))}")
    print(f"merged {len(merged.result.pythons)} Python rows from {len(merged.reports)} report(s); "
          f"ready: {'YES' if decision.ready else 'NO'}; reports: {', '.join(map(str, paths))}")
    return 0 if decision.ready else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from ..render.status import compare_folders

    rows = compare_folders(args.locked, args.latest)
    print(f"{'Python':<8} {'NumPy locked':<14} {'NumPy latest':<14} {'locked':<14} {'latest':<14}")
    differ = 0
    for version, numpy_locked, numpy_latest, status_locked, status_latest in rows:
        mark = "  <- differs" if (numpy_locked, status_locked) != (numpy_latest, status_latest) else ""
        differ += bool(mark)
        print(f"{version:<8} {numpy_locked:<14} {numpy_latest:<14} {status_locked:<14} {status_latest:<14}{mark}")
    print(f"{differ} of {len(rows)} Pythons differ between the locked and the latest run")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    if args.validate:  # `tito package validate` timed as a whole process: no wheel, no torch
        from ..bench.process import print_validate_timing
        return print_validate_timing(args.course or default_course(), args.runs, args.fail_on_miss)
    from ..bench import render_table, run_bench
    from ..course.discovery import load_course
    from ..render.terminal import write_atomic

    course = load_course(args.course or default_course())
    if args.pipelines:
        from ..bench.pipelines import run_and_report

        table, report, ok = run_and_report(course, args.python, args.jobs, args.reports)
        print(table)
        print(f"report: {report}")
        return 0 if ok else 1
    result = run_bench(course, rounds=args.rounds, only=args.only, keep_openblas_tuning=args.keep_openblas_env)
    print(render_table(result))
    write_atomic(args.reports / "bench.json", json.dumps(result.to_json(), indent=2) + "\n")
    print(f"report: {args.reports / 'bench.json'}")
    missed = [row for row in result.rows() if row["met"] is False]
    return 1 if args.fail_on_miss and missed else 0
