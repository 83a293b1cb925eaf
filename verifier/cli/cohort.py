"""`tito cohort verify SUBMISSIONS`: the command line over pipeline/cohort.py (a whole class, one
gradebook); kept beside main.py so that the main parser only names it."""
from __future__ import annotations

import argparse
from pathlib import Path


def cmd_cohort_verify(args: argparse.Namespace) -> int:
    from ..pipeline.cohort import CohortOptions
    from ..pipeline.cohort_run import run_cohort
    from ..render.cohort import print_summary, student_line, write_cohort_html, write_gradebook
    from ._preflight import check_pythons, check_reports_target
    from .commands import _console

    check_reports_target(args.reports)
    check_pythons(args.python)
    console = _console(args)
    options = CohortOptions(args.submissions, args.reports, args.python or None, args.scenario or None,
                            not args.no_tests, args.jobs, args.timeout, args.rerun, args.assignment,
                            keep_work=args.keep_work, scheduler=args.scheduler)
    result = run_cohort(options, lambda row, done, total: console.print(student_line(row, done, total),
                                                                        markup=False))
    paths = [*write_gradebook(result, args.reports), write_cohort_html(result, args.reports)]
    print_summary(result, console)
    console.print(f"gradebook: {', '.join(map(str, paths))}", markup=False)
    return 1 if result.interrupted else 0


def add_cohort_parser(sub) -> None:
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
    run.set_defaults(func=cmd_cohort_verify)
