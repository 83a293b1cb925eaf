"""The library behind `tinytorch-verifier bench`: the course's speed beside PyTorch (the default), `--pipelines`
(tinytorch-verifier verify's per-Python work beside tox and tox-uv) or `--validate` (`tinytorch-verifier package
validate` timed as
a whole process). Prints its table and report path and returns the exit code; cli/ only parses and calls."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional


def bench(course_path: Optional[Path], reports: Path, *, rounds: int, only: str, keep_openblas_env: bool,
          fail_on_miss: bool, pipelines: bool, pythons: Optional[List[str]], jobs: int, validate: bool,
          runs: int) -> int:
    from ..course.discovery import default_course, load_course

    if validate:  # `tinytorch-verifier package validate` timed as a whole process: no wheel, no torch
        from .process import print_validate_timing
        return print_validate_timing(course_path or default_course(), runs, fail_on_miss)
    from ..atomic import write_atomic
    from .measure import render_table, run_bench

    course = load_course(course_path or default_course())
    if pipelines:
        from .pipelines import run_and_report

        table, report, ok = run_and_report(course, pythons, jobs, reports)
        print(table)
        print(f"report: {report}")
        return 0 if ok else 1
    result = run_bench(course, rounds=rounds, only=only, keep_openblas_tuning=keep_openblas_env)
    print(render_table(result))
    write_atomic(reports / "bench.json", json.dumps(result.to_json(), indent=2) + "\n")
    print(f"report: {reports / 'bench.json'}")
    missed = [row for row in result.rows() if row["met"] is False]
    return 1 if fail_on_miss and missed else 0
