"""The library behind tinytorch-verifier's one-shot commands — export, python list, and the `tinytorch-verifier
package` commands
that do one thing and report it (validate, deps, build, install, api, lock, classifiers, version,
status, report, aggregate, compare). Each takes the command's options as typed arguments, does the
work through the library below (course/, checks/, package/, pipeline/), prints its lines and returns
the exit code; cli/ only parses and calls. `course=None` means the default course (course/discovery.py).

The work is imported inside each function: importing this module (as cli/ does to parse a command
line) must not load it — `tinytorch-verifier package validate` pays only for what validation needs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from ..errors import VerifierError

if TYPE_CHECKING:
    from ..course.discovery import Course


def _load(course: Optional[Path]) -> "Course":
    from ..course.discovery import default_course, load_course

    return load_course(course or default_course())


def export(course_path: Optional[Path], module: Optional[str], *, check: bool, no_check: bool,
           python: Optional[str]) -> int:
    """`tinytorch-verifier export [MODULE]`: write the package folder (one module, or all when `module` is None),
    then the static checks and quick integration check; --check: compare only, write nothing."""
    from ..package.export import plan_export, targets_of_modules, write_package

    course = _load(course_path)
    if check:
        return _export_check(course)
    plan = plan_export(course)
    if module:
        changed = [course.module(module)]
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
    if no_check:
        return 1 if problems else 0
    from ..pipeline.quick import quick_check

    exported = [m.key for m in changed if m.key not in {p.module for p in problems}]
    result = quick_check(course, exported, course.root, python) if exported else None
    if result is not None:
        sys.stdout.write(result.render())
    return 1 if problems or (result is not None and not result.ok) else 0


def _export_check(course: "Course") -> int:
    """Read-only: exit 1 naming the first committed file the sources no longer export to."""
    from ..package.freshness import check_freshness

    result = check_freshness(course)
    if result.committed is None:
        print(f"{course.root / course.package}: not committed, nothing to compare")
    elif result.stale:
        print(f"tinytorch-verifier: stale export: {result.stale[0].render(course.root)} — "
              f"run `tinytorch-verifier export` and commit "
              f"({len(result.stale)} stale file(s))", file=sys.stderr)
    else:
        print(f"{course.root / course.package}: up to date with the sources ({result.compared} files)")
    return 1 if result.stale else 0


def python_list(course: Optional[Path], pythons: Optional[List[str]]) -> int:
    """`tinytorch-verifier python list`: each Python of the matrix; exit 1 when one has no interpreter here."""
    from ..pipeline.pythons import list_pythons

    listing = list_pythons(_load(course), pythons)
    sys.stdout.write(listing.render())
    return 0 if all(row.interpreter for row in listing.rows) else 1


def validate(course: Optional[Path], module: Optional[str], fmt: str) -> int:
    from ..checks.output_cache import validate_output  # an unchanged course: the last output, nothing parsed
    from ..course.discovery import default_course

    text, code = validate_output(course or default_course(), module, fmt)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def deps(course: Optional[Path], fmt: str, check: bool) -> int:
    from ..course.discovery import default_course
    from ..deps.graph import run_deps

    text, code = run_deps(course or default_course(), fmt, check)
    (sys.stderr if code == 2 else sys.stdout).write(text)
    return code


def build(course: Optional[Path], out: Path) -> int:
    from ..pipeline.commands import build_into

    outcome = build_into(_load(course), out)
    for built in outcome.files:
        print(f"{built.path.name:<48} {built.size:>9} bytes  sha256 {built.sha256}")
    for problem in outcome.problems:
        print(f"build check failed: {problem}", file=sys.stderr)
    print(f"build: {'SUCCESS' if not outcome.problems else 'BLOCKED'} -> {out}")
    return 0 if not outcome.problems else 1


def install(course: Optional[Path], venv: Optional[Path], python: Optional[str], force: bool) -> int:
    from ..pipeline.commands import install_into

    outcome = install_into(_load(course), venv, python, force)
    for problem in outcome.problems:
        print(f"warning: build check: {problem}", file=sys.stderr)
    print(f"installed {outcome.wheel} into {outcome.venv.root}\ntry it: {outcome.venv.python} -c \"import tinytorch; "
          f"print(tinytorch.__version__)\"")
    return 0


def api(course: Optional[Path], output: Optional[Path]) -> int:
    from ..pipeline.commands import write_api_snapshot

    snapshot = write_api_snapshot(_load(course), output)
    print(f"API snapshot of {snapshot.names} public names in {len(snapshot.surface)} modules -> {snapshot.target}")
    return 0


def lock(course_path: Optional[Path], pythons: Optional[List[str]], force: bool) -> int:
    from ..course.matrix import python_matrix
    from ..package.locks import compile_lock

    course = _load(course_path)
    for version in pythons or python_matrix(course):
        state = compile_lock(course, version, force=force)
        print(f"Python {version}: {state.path} ({state.status})")
    return 0


def _course_pyproject(course_path: Optional[Path]) -> Path:
    course = _load(course_path)
    if course.pyproject_path is None:
        raise VerifierError("the course has no pyproject.toml to edit", course.root)
    return course.pyproject_path


def classifiers(course: Optional[Path], reports: Path, sync: bool) -> int:
    from ..course.pyproject_edit import sync_classifiers
    from .status import load_result

    path = _course_pyproject(course)
    result = load_result(reports)
    verified = [p.version for p in result.pythons if p.verified]
    if not sync:
        print("verified: " + ", ".join(verified) + "  (use --sync to write them as classifiers)")
        return 0
    versions = sync_classifiers(path, verified)
    print(f"{path}: classifiers now {', '.join(v.rsplit(' ', 1)[-1] for v in versions)}")
    return 0


def version(course: Optional[Path], bump: str) -> int:
    from ..course.pyproject_edit import bump_version

    path = _course_pyproject(course)
    print(f"{path}: version {bump_version(path, bump)}")
    return 0


def status(reports: Path, no_color: bool) -> int:
    from ..pipeline.gate import decide
    from .runs import console_for
    from .status import load_result, print_status

    result = load_result(reports)
    decision = decide(result)
    print_status(result, decision, console_for(no_color))
    if decision.partial:
        return 0 if decision.passed else 1
    return 0 if decision.ready else 1


def report(reports: Path, fmt: str, output: Optional[Path], bundle: Optional[Path]) -> int:
    from .status import load_result, render

    result = load_result(reports)
    if bundle:
        from .bundle import make_bundle

        made = make_bundle(result, reports, bundle)
        print(f"bundle: {len(made.files)} files -> {made.root / 'index.html'}")
        return 0
    text = render(result, fmt)
    if output:
        from .terminal import write_atomic
        write_atomic(output, text)
        print(f"wrote {output}")
    else:
        sys.stdout.write(text)
    return 0


def aggregate(folder: Path, reports: Path) -> int:
    from .status import REPORT_FILES, write_reports
    from .status import aggregate as merge_reports

    merged = merge_reports(folder, output=reports / REPORT_FILES["json"])
    paths, decision = write_reports(merged.result, reports)
    if merged.skipped:
        print(f"skipped {len(merged.skipped)} earlier aggregate output(s): {', '.join(map(str, merged.skipped))}")
    print(f"merged {len(merged.result.pythons)} Python rows from {len(merged.reports)} report(s); "
          f"ready: {'YES' if decision.ready else 'NO'}; reports: {', '.join(map(str, paths))}")
    return 0 if decision.ready else 1


def compare(locked: Path, latest: Path) -> int:
    from .status import compare_folders

    rows = compare_folders(locked, latest)
    print(f"{'Python':<8} {'NumPy locked':<14} {'NumPy latest':<14} {'locked':<14} {'latest':<14}")
    differ = 0
    for version_, numpy_locked, numpy_latest, status_locked, status_latest in rows:
        mark = "  <- differs" if (numpy_locked, status_locked) != (numpy_latest, status_latest) else ""
        differ += bool(mark)
        print(f"{version_:<8} {numpy_locked:<14} {numpy_latest:<14} {status_locked:<14} {status_latest:<14}{mark}")
    print(f"{differ} of {len(rows)} Pythons differ between the locked and the latest run")
    return 0
