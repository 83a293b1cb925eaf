"""One `cmd_*` function per `tinytorch-verifier` command: it hands the parsed options, typed, to the one library
function that does the command's work (render/commands.py, render/runs.py, bench/command.py) and
returns its exit code. The parser that names them is main.py. Each imports its library function when
it runs, so that parsing a command line loads none of them (tests/unit/test_validate_process.py).
"""
from __future__ import annotations

from argparse import Namespace


def cmd_export(args: Namespace) -> int:
    from ..render.commands import export
    return export(args.course, None if args.all else args.module, check=args.check, no_check=args.no_check,
                  python=args.python)


def cmd_verify(args: Namespace) -> int:
    from ..render.runs import verify_release
    return verify_release(
        args.course, args.reports, pythons=args.python, extra_pythons=args.extra_python or [], strict=args.strict,
        scenarios=args.scenario, run_tests=not args.no_tests, jobs=args.jobs, keep_work=args.keep_work,
        latest=args.latest, fail_fast=args.fail_fast, installer=args.installer, baseline=args.baseline,
        baseline_strict=args.baseline_strict, canary=args.canary, install_pythons=args.install_pythons,
        sandbox=args.sandbox, sandbox_writable=args.sandbox_writable, no_color=args.no_color)


def cmd_test(args: Namespace) -> int:
    from ..render.runs import integration_test
    return integration_test(args.course, args.reports, module=args.module, quick=args.quick, plan=args.plan,
                            fresh=args.fresh, pythons=args.python, jobs=args.jobs, installer=args.installer,
                            no_color=args.no_color)


def cmd_cohort_verify(args: Namespace) -> int:
    from ..render.runs import verify_cohort
    return verify_cohort(
        args.submissions, args.reports, pythons=args.python, scenarios=args.scenario, run_tests=not args.no_tests,
        jobs=args.jobs, timeout=args.timeout, rerun=args.rerun, assignment=args.assignment,
        keep_work=args.keep_work, scheduler=args.scheduler, no_color=args.no_color)


def cmd_bench(args: Namespace) -> int:
    from ..bench.command import bench
    return bench(args.course, args.reports, rounds=args.rounds, only=args.only, fail_on_miss=args.fail_on_miss,
                 keep_openblas_env=args.keep_openblas_env, pipelines=args.pipelines, pythons=args.python,
                 jobs=args.jobs, validate=args.validate, runs=args.runs)


def cmd_python_list(args: Namespace) -> int:
    from ..render.commands import python_list
    return python_list(args.course, args.python)


def cmd_validate(args: Namespace) -> int:
    from ..render.commands import validate
    return validate(args.course, args.module, args.format)


def cmd_deps(args: Namespace) -> int:
    from ..render.commands import deps
    return deps(args.course, args.format, args.check)


def cmd_build(args: Namespace) -> int:
    from ..render.commands import build
    return build(args.course, args.out)


def cmd_install(args: Namespace) -> int:
    from ..render.commands import install
    return install(args.course, args.venv, args.python, args.force)


def cmd_api(args: Namespace) -> int:
    from ..render.commands import api
    return api(args.course, args.output)


def cmd_lock(args: Namespace) -> int:
    from ..render.commands import lock
    return lock(args.course, args.python, args.force)


def cmd_classifiers(args: Namespace) -> int:
    from ..render.commands import classifiers
    return classifiers(args.course, args.reports, args.sync)


def cmd_version(args: Namespace) -> int:
    from ..render.commands import version
    return version(args.course, args.bump)


def cmd_status(args: Namespace) -> int:
    from ..render.commands import status
    return status(args.reports, args.no_color)


def cmd_report(args: Namespace) -> int:
    from ..render.commands import report
    return report(args.reports, args.format, args.output, args.bundle)


def cmd_aggregate(args: Namespace) -> int:
    from ..render.commands import aggregate
    return aggregate(args.folder, args.reports)


def cmd_compare(args: Namespace) -> int:
    from ..render.commands import compare
    return compare(args.locked, args.latest)
