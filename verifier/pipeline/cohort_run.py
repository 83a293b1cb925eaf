"""The entry point of a cohort run (`tinytorch-verifier cohort verify`): every student verified on a local pool of
threads, each a child process (pipeline/cohort.py verify_student), or one task per student on a Dask
cluster (pipeline/cohort_dask.py) when a scheduler is named. Apart from cohort.py so that the Dask
leg, which builds on cohort.py, is not imported back by it."""
from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
from typing import Dict, List, Optional

from ..runner import sandbox
from ..runner.processes import signal_all, stop_all
from ..runner.workdirs import keep_work_dir, make_work_dir, remove_work_dir
from .cohort import (
    ERROR,
    NOT_RUN,
    CohortOptions,
    CohortResult,
    OnStudent,
    StudentRow,
    Submission,
    _Plan,
    discover,
    load_previous,
    verify_student,
)
from .cohort_dask import run_cohort_on_cluster


def run_cohort(options: CohortOptions, on_student: Optional[OnStudent] = None,
               submissions: Optional[List[Submission]] = None) -> CohortResult:
    started = time.monotonic()
    students = submissions if submissions is not None else discover(options.submissions, options.assignment)
    if options.scheduler:  # one task per student on a Dask cluster: the same verify_student, on the workers
        return run_cohort_on_cluster(options, students, on_student)
    warning = ""
    if options.sandbox:
        bwrap, why = sandbox.probe()
        warning = "" if bwrap else f"{sandbox.NOT_SANDBOXED}: {why}"
    else:
        warning = f"{sandbox.NOT_SANDBOXED}: sandbox turned off"
    jobs = min(options.students_at_once(), len(students))
    plan = _Plan(options, make_work_dir("tito-cohort-"), load_previous(options.reports), not warning,
                 max(1, (os.cpu_count() or 2) // jobs), threading.Event())
    rows: Dict[str, StudentRow] = {}
    interrupted = False
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="student")
    futures = {pool.submit(verify_student, sub, plan): sub for sub in students}
    try:
        pending = set(futures)
        while pending:
            try:
                finished, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                            return_when=concurrent.futures.FIRST_COMPLETED)
            except KeyboardInterrupt:
                interrupted = True
                _stop_children(plan, pending)
                break
            for future in finished:
                sub = futures[future]
                rows[sub.student] = _row_of(future, sub)
                if on_student:
                    on_student(rows[sub.student], len(rows), len(students))
        for future, sub in futures.items():
            if sub.student not in rows:
                rows[sub.student] = _row_of(future, sub) if future.done() else \
                    StudentRow(sub.student, NOT_RUN, note="not run: the cohort run was interrupted")
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        (keep_work_dir if options.keep_work else remove_work_dir)(plan.work)
    ordered = [rows[sub.student] for sub in students]
    return CohortResult(ordered, warning, interrupted, time.monotonic() - started, jobs)


def _row_of(future: concurrent.futures.Future, sub: Submission) -> StudentRow:
    if future.cancelled():
        return StudentRow(sub.student, NOT_RUN, note="not run: the cohort run was interrupted")
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, OSError) and error.errno == 28:
        return StudentRow(sub.student, ERROR, note=f"no space left on device: {error.filename or ''}")
    return StudentRow(sub.student, ERROR, note=f"internal error of the verifier: {type(error).__name__}: {error}")


def _stop_children(plan: _Plan, pending, grace: float = 30.0) -> None:
    """Ctrl-C: start no student, ask the running ones to stop (partial reports), then kill the rest."""
    plan.cancelled.set()
    signal_all(signal.SIGTERM)
    concurrent.futures.wait(pending, timeout=grace)
    stop_all()
