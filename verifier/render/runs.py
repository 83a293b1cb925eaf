"""The library behind the commands that run a verification and show it live: `tinytorch-verifier verify` (=
`tinytorch-verifier
package verify`), `tinytorch-verifier package test` (= `tinytorch-verifier test integration`) and
`tinytorch-verifier cohort verify`. Each takes
the command's options as typed arguments, prints its progress and status screen on the terminal and
returns the exit code (0 ready / passed, 1 blocked); cli/ only parses and calls.

The pipeline is imported inside each function: importing this module (as cli/ does to parse a
command line) must not load it — `tinytorch-verifier package validate` pays only for what validation needs.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

from ..errors import VerifierError

if TYPE_CHECKING:
    from rich.console import Console

    from ..pipeline.verify import VerifyOptions


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def plain_output(no_color: bool) -> bool:
    """No ANSI escapes at all: --no-color, NO_COLOR set to anything (no-color.org) or TERM=dumb."""
    return bool(no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM", "").lower() == "dumb")


def console_for(no_color: bool) -> "Console":
    """Rich console; wide when writing to a file or CI log, so tables are not squeezed to 80 columns.
    Plain (plain_output): no colour, no style and no cursor movement — the progress is printed as
    lines — so a dumb terminal or a log shows no escape codes. It writes to sys.stdout, which
    the CLI made safe for any encoding (rich draws ASCII boxes when the encoding is not UTF)."""
    import shutil

    from rich.console import Console

    terminal = sys.stdout.isatty() if sys.stdout is not None else False
    if plain_output(no_color):
        width = shutil.get_terminal_size((160, 24)).columns if terminal else 160
        return Console(highlight=False, width=width, no_color=True, color_system=None, force_terminal=False)
    return Console(highlight=False, width=None if terminal else 160)


def run_verification(options: "VerifyOptions", reports: Path, no_color: bool) -> int:
    """Run a verification, write every report, print the status screen; exit 0 ready, 1 blocked."""
    from ..pipeline.progress import progress_for
    from ..pipeline.verify import verify
    from .status import print_status, write_reports

    console = console_for(no_color)
    with progress_for(console, is_ci()) as progress:
        result = verify(options, progress)
    paths, decision = write_reports(result, reports)
    print_status(result, decision, console)
    console.print(f"reports: {', '.join(str(p) for p in paths)}", markup=False)
    if decision.partial:  # a partial check passes or fails on what it ran; it is never a release verdict
        return 0 if result.ok and decision.passed else 1
    return 0 if decision.ready else 1


def verify_release(course: Optional[Path], reports: Path, *, pythons: Optional[List[str]],
                   extra_pythons: List[str], strict: bool, scenarios: Optional[List[str]], run_tests: bool,
                   jobs: Optional[int], keep_work: bool, latest: bool, fail_fast: bool, installer: str,
                   baseline: Optional[str], baseline_strict: bool, canary: Optional[str], install_pythons: bool,
                   sandbox: bool, sandbox_writable: Sequence[Path], no_color: bool) -> int:
    """`tinytorch-verifier verify`: the release verification of the course in fresh venvs per Python."""
    from ..course.discovery import default_course
    from ..pipeline.verify import VerifyOptions

    if install_pythons:
        _install_pythons(course, pythons, extra_pythons)
    if sandbox:  # every child runs under bubblewrap (runner/sandbox.py); without it, one warning
        import tempfile

        from ..runner.sandbox import enable
        warning = enable(list(sandbox_writable) or [Path(tempfile.gettempdir())])
        if warning:
            print(f"tinytorch-verifier: WARNING: {warning}", file=sys.stderr)
    return run_verification(VerifyOptions(
        course=course or default_course(), pythons=pythons or None, extra_pythons=extra_pythons,
        strict=strict or is_ci(), scenarios=scenarios or None, run_tests=run_tests, jobs=jobs, keep_work=keep_work,
        latest=latest, artifacts_dir=reports / "dist", fail_fast=fail_fast, installer=installer,
        history=reports / "verify.json", baseline=baseline, baseline_strict=baseline_strict, canary=canary),
        reports, no_color)


def _install_pythons(course: Optional[Path], pythons: Optional[List[str]], extra_pythons: List[str]) -> None:
    """--install-pythons: uv installs the missing interpreters; each failure is one line, then verify runs
    (a Python still missing is NOT VERIFIED, and fails a strict run)."""
    from ..course.discovery import default_course, load_course
    from ..course.matrix import python_matrix
    from ..pipeline.pythons import install_missing

    wanted = list(pythons or python_matrix(load_course(course or default_course())))
    for outcome in install_missing(wanted + list(extra_pythons)):
        print(f"tinytorch-verifier: {outcome.line}", file=sys.stderr if not outcome.installed else sys.stdout)


def integration_test(course: Optional[Path], reports: Path, *, module: Optional[str], quick: bool, plan: bool,
                     fresh: bool, pythons: Optional[List[str]], jobs: Optional[int], installer: str,
                     no_color: bool) -> int:
    """`tinytorch-verifier package test`: scenarios and course tests in fresh venvs; --module: the module loop on
    cached dependency venvs (never a release verdict); --plan: what would run."""
    from ..course.discovery import default_course, load_course
    from ..pipeline.selection import select_for_module
    from ..pipeline.verify import VerifyOptions

    course_path = course or default_course()
    if plan or (quick and module):
        from ..pipeline import quick as quick_check

        if not module:
            raise VerifierError("--plan needs --module MODULE",
                                hint="e.g. `tinytorch-verifier package test --module 03 --plan`")
        loaded = load_course(course_path)
        if plan:
            sys.stdout.write(quick_check.render_plan(quick_check.plan_integration(loaded, module), quick=quick))
            return 0
        # the quick check of one module: the same check `tinytorch-verifier export MODULE` runs, on a temporary export
        if pythons and len(pythons) > 1:
            raise VerifierError("the quick check runs on one Python", hint="pass --python once")
        result = quick_check.quick_on_temporary_export(loaded, module, pythons[0] if pythons else None)
        sys.stdout.write(result.render())
        return 0 if result.ok else 1
    scenarios, tests, run_tests = None, None, not quick
    if quick:
        scenarios = ["imports"]
    elif module:
        scenarios, tests = select_for_module(load_course(course_path), module)
        run_tests = bool(tests)
    # the module loop: cached dependency venvs, only the fresh wheel installed (never a release verdict)
    return run_verification(VerifyOptions(
        course=course_path, pythons=pythons or None, strict=is_ci(), scenarios=scenarios,
        run_tests=run_tests, test_selection=tests, jobs=jobs, installer=installer,
        cached_envs=bool(module) and not fresh, history=reports / "verify.json"), reports, no_color)


def verify_cohort(submissions: Path, reports: Path, *, pythons: Optional[List[str]], scenarios: Optional[List[str]],
                  run_tests: bool, jobs: Optional[int], timeout: float, rerun: bool, assignment: str,
                  keep_work: bool, scheduler: str, no_color: bool) -> int:
    """`tinytorch-verifier cohort verify`: every student's tree (pipeline/cohort.py), one gradebook; exit 1
    if interrupted."""
    from ..pipeline.cohort import CohortOptions
    from ..pipeline.cohort_run import run_cohort
    from ..pipeline.preflight import check_pythons, check_reports_target
    from .cohort import print_summary, student_line, write_cohort_html, write_gradebook

    check_reports_target(reports)
    check_pythons(pythons)
    console = console_for(no_color)
    options = CohortOptions(submissions, reports, pythons or None, scenarios or None, run_tests, jobs, timeout,
                            rerun, assignment, keep_work=keep_work, scheduler=scheduler)
    result = run_cohort(options, lambda row, done, total: console.print(student_line(row, done, total),
                                                                        markup=False))
    paths = [*write_gradebook(result, reports), write_cohort_html(result, reports)]
    print_summary(result, console)
    console.print(f"gradebook: {', '.join(map(str, paths))}", markup=False)
    return 1 if result.interrupted else 0
