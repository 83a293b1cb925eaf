"""`tinytorch-verifier cohort verify --scheduler tcp://HOST:8786`: a class verified on a Dask distributed cluster.

The instructor's machine (the client) sends each student's tree as one task: a gzipped tar archive of
the files `cohort.copy_tree` would copy (workers need not share its file system; refused above
MAX_ARCHIVE_MB), with the run's options. On the worker, `verify_on_worker` unpacks it into a marked
work folder and runs the very code of the local mode (`cohort.verify_student`: a child
`python -m verifier.cli verify`, its timeout, bubblewrap when the worker has it) and sends back the
row and the student's report files, which the client writes into REPORTS/students/<student>/; the
gradebook is then written as in local mode. Workers need the verifier installed (the same version)
and the Pythons of the matrix. `dask` / `distributed` come with the `tinytorch-verifier[cluster]` extra.

Not done here, on purpose: a student's previous verdict is not reused (the sandbox a worker has is
known only on the worker), and Ctrl-C cancels the students not started while a running one ends on
its worker (Dask cannot interrupt a running task) at the latest at --timeout.
"""
from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import VerifierError
from ..runner import sandbox
from ..runner.workdirs import keep_work_dir, make_work_dir, remove_work_dir
from .cohort import (
    CLONE_FAILED,
    ERROR,
    NOT_RUN,
    REPORT_NAMES,
    CohortOptions,
    CohortResult,
    OnStudent,
    StudentRow,
    Submission,
    _fetch,
    _Plan,
    _walk,
    verify_student,
)

MAX_ARCHIVE_MB = 50            # a task's payload travels through the scheduler's comms: trees, not datasets
CONNECT_TIMEOUT = 10.0         # seconds to reach the scheduler before saying it cannot be reached
INTERRUPTED_NOTE = "not run: the cohort run was interrupted"


class TreeTooLarge(VerifierError):
    """The packed tree is over MAX_ARCHIVE_MB."""


@dataclass
class StudentJob:
    """What a worker needs to verify one student: the packed tree and the run's options."""
    student: str
    source: str                 # the student's folder or git URL on the client (for messages)
    archive: bytes
    pythons: Optional[List[str]]
    scenarios: Optional[List[str]]
    run_tests: bool
    timeout: float
    sandbox: bool


@dataclass
class WorkerOutcome:
    row: StudentRow
    files: Dict[str, bytes] = field(default_factory=dict)   # report name -> content
    sandbox_warning: str = ""                                # "" when the worker sandboxed the student
    worker: str = ""                                         # host name, for the warning


# ---------------------------------------------------------------- the tree as one archive

def pack_tree(root: Path, limit_mb: Optional[int] = None) -> bytes:
    """The files and links of `root` that copy_tree would copy, as a .tar.gz (links not followed)."""
    limit_mb = MAX_ARCHIVE_MB if limit_mb is None else limit_mb
    buffer = io.BytesIO()
    limit = limit_mb * 1024 * 1024
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel, entry in _walk(root):
            try:
                tar.add(entry.path, arcname=rel, recursive=False)
            except OSError:
                continue  # unreadable: the verification reports the file as missing, as in local mode
            if buffer.tell() > limit:
                raise TreeTooLarge(f"the tree is over {limit_mb} MB packed, more than a cluster task carries")
    return buffer.getvalue()


def _safe_member(member: tarfile.TarInfo, dest: str) -> Optional[tarfile.TarInfo]:
    """Regular files, folders and links inside the tree; a link leaving it is dropped (as unreadable)."""
    if not (member.isfile() or member.isdir() or member.issym()):
        return None
    name = Path(member.name)
    if name.is_absolute() or ".." in name.parts:
        return None
    if member.issym():
        target = Path(os.path.normpath(Path(dest, name).parent / member.linkname))
        if not str(target).startswith(dest.rstrip(os.sep) + os.sep):
            return None
    return member


def unpack_tree(archive: bytes, dest: Path) -> None:
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if _safe_member(m, str(dest))]
        if hasattr(tarfile, "data_filter"):  # Python with extraction filters: theirs on top of ours
            tar.extractall(dest, members=members, filter="data")
        else:
            tar.extractall(dest, members=members)  # every member checked by _safe_member


# ---------------------------------------------------------------- on the worker

def _threads_of_worker() -> int:
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except Exception:  # outside a worker (tests call this directly): one student at a time
        return 1


def verify_on_worker(job: StudentJob) -> WorkerOutcome:
    """One student on a worker: the local mode's verify_student on the unpacked tree."""
    work = make_work_dir("tito-cohort-")
    try:
        tree = work / "submitted" / job.student
        unpack_tree(job.archive, tree)
        if job.sandbox:
            bwrap, why = sandbox.probe()
            warning = "" if bwrap else f"{sandbox.NOT_SANDBOXED}: {why}"
        else:
            warning = f"{sandbox.NOT_SANDBOXED}: sandbox turned off"
        reports = work / "reports"
        options = CohortOptions(tree, reports, job.pythons, job.scenarios, job.run_tests, timeout=job.timeout,
                                sandbox=job.sandbox)
        child_jobs = max(1, (os.cpu_count() or 2) // _threads_of_worker())
        plan = _Plan(options, work / "students", {}, not warning, child_jobs, threading.Event())
        (work / "students").mkdir()
        row = verify_student(Submission(job.student, str(tree)), plan)
        row.note = row.note.replace(str(tree), job.source)
        for failure in row.failures:
            failure.message = failure.message.replace(str(tree), job.source)
        folder = reports / "students" / job.student
        files = {name: (folder / name).read_bytes() for name in REPORT_NAMES if (folder / name).is_file()}
        return WorkerOutcome(row, files, warning, socket.gethostname())
    finally:
        remove_work_dir(work)


# ---------------------------------------------------------------- on the instructor's machine

def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise VerifierError("--scheduler needs Dask distributed, which is not installed",
                            hint="pip install 'tinytorch-verifier[cluster]'") from None
    return distributed


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A client of the scheduler at `address`, or one line saying it cannot be reached."""
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VerifierError(f"cannot reach the Dask scheduler {address} within {timeout:.0f} s ({why})",
                            hint="start it with `dask scheduler` and pass its tcp://HOST:PORT") from None


def _job(sub: Submission, plan: _Plan, base: Path) -> Tuple[Optional[StudentJob], Optional[StudentRow]]:
    """(the task, None), or (None, the row saying why there is no task)."""
    base.mkdir(parents=True)
    tree, why = _fetch(sub, plan, base)
    if tree is None:
        return None, StudentRow(sub.student, CLONE_FAILED, note=why)
    if not tree.is_dir():
        return None, StudentRow(sub.student, ERROR, note=f"{tree}: no such folder")
    try:
        archive = pack_tree(tree)
    except TreeTooLarge as exc:
        return None, StudentRow(sub.student, ERROR, note=f"{tree}: {exc} — remove data files from the tree")
    options = plan.options
    return StudentJob(sub.student, sub.source, archive, options.pythons, options.scenarios, options.run_tests,
                      options.timeout, options.sandbox), None


def _write_reports(outcome: WorkerOutcome, reports: Path) -> StudentRow:
    folder = reports / "students" / outcome.row.student
    folder.mkdir(parents=True, exist_ok=True)
    for name in REPORT_NAMES:  # a stale report must never be read as this run's
        (folder / name).unlink(missing_ok=True)
    for name, content in outcome.files.items():
        if name in REPORT_NAMES:
            (folder / name).write_bytes(content)
    outcome.row.report = str(folder)
    return outcome.row


def _row_of_failed_task(student: str, error: BaseException) -> StudentRow:
    return StudentRow(student, ERROR, note=f"the cluster could not verify it: {type(error).__name__}: {error}")


def run_cohort_on_cluster(options: CohortOptions, students: List[Submission],
                          on_student: Optional[OnStudent] = None) -> CohortResult:
    started = time.monotonic()
    distributed = _distributed()
    client = connect(options.scheduler)
    work = make_work_dir("tito-cohort-")
    plan = _Plan(options, work, {}, options.sandbox, 1, threading.Event())
    rows: Dict[str, StudentRow] = {}
    warnings: List[str] = []
    interrupted = False
    futures: Dict[Any, str] = {}

    def finish(row: StudentRow) -> None:
        rows[row.student] = row
        if on_student:
            on_student(row, len(rows), len(students))

    try:
        try:
            for sub in students:
                job, refused = _job(sub, plan, work / sub.student)
                if refused is not None:
                    finish(refused)
                    continue
                key = f"tito-cohort-{sub.student}-{os.urandom(4).hex()}"
                futures[client.submit(verify_on_worker, job, key=key, pure=False, retries=0)] = sub.student
            for future in distributed.as_completed(list(futures), loop=client.loop):
                student = futures[future]
                try:
                    outcome = future.result()
                except Exception as error:  # a worker died, the verifier is missing there …: one row
                    finish(_row_of_failed_task(student, error))
                    continue
                said = f"{outcome.sandbox_warning} (worker {outcome.worker})"
                if outcome.sandbox_warning and said not in warnings:
                    warnings.append(said)
                finish(_write_reports(outcome, options.reports))
        except KeyboardInterrupt:  # students not started never start; the gradebook has what finished
            interrupted = True
            client.cancel([f for f, s in futures.items() if s not in rows])
    finally:
        try:
            client.close(timeout=CONNECT_TIMEOUT)
        except Exception:  # closing a client whose scheduler went away: nothing left to do  # noqa: S110
            pass
        (keep_work_dir if options.keep_work else remove_work_dir)(work)
    ordered = [rows.get(sub.student) or StudentRow(sub.student, NOT_RUN, note=INTERRUPTED_NOTE) for sub in students]
    warning = "" if options.sandbox and not warnings else \
        (f"{sandbox.NOT_SANDBOXED}: sandbox turned off" if not options.sandbox else "; ".join(warnings))
    return CohortResult(ordered, warning, interrupted, time.monotonic() - started, len(futures) or 1)
