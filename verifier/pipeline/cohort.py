"""Verifying a whole class: `tinytorch-verifier cohort verify SUBMISSIONS` — the library behind it.

Each student works in their own copy of the course (a GitHub Classroom repository `<assignment>-<login>/`,
nbgrader's `submitted/<student>/<assignment>/`, or any folder per student; or a roster CSV
`student,path_or_git_url,ref`). Per student, the same verification as `tinytorch-verifier verify` runs in its own
child process (`python -m verifier.cli verify`) with a timeout, on a copy of the tree in the run's
work folder, sandboxed with bubblewrap (runner/sandbox.py) when it works here. Its reports go to
REPORTS/students/<student>/; a tree that is not a course, cannot be cloned, hangs or runs out of
memory is one row with one line, and the others go on.

The result is a gradebook: one typed row per student (verdict, modules to fix from the gate's
blockers, first failing stage per Python, seconds), written by render/cohort.py as gradebook.csv,
cohort.json and cohort.html. A student whose tree content and options are unchanged since the last
cohort.json keeps its verdict (`rerun` forces). Ctrl-C asks the running children to stop (they
write partial reports), then kills what is left; the gradebook is written with what finished.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..course.discovery import load_course
from ..course.matrix import python_matrix, version_key
from ..errors import VerifierError
from ..results import FAILED, result_from_json
from ..runner.processes import Completed, run
from .gate import decide

VERIFIED, NOT_VERIFIED, NOT_A_COURSE = "VERIFIED", "NOT VERIFIED", "NOT A COURSE"
CLONE_FAILED, TIMEOUT, OUT_OF_MEMORY = "CLONE FAILED", "TIMEOUT", "OUT OF MEMORY"
ERROR, INTERRUPTED, NOT_RUN = "ERROR", "INTERRUPTED", "NOT RUN"
REUSABLE = frozenset({VERIFIED, NOT_VERIFIED, NOT_A_COURSE, TIMEOUT, OUT_OF_MEMORY})  # verdicts of the tree
GRADEBOOK_COLUMNS = ("student", "verdict", "modules_to_fix", "first_failing_stage", "seconds", "note")
REPORT_NAMES = ("verify.json", "status.md", "junit.xml", "report.html")  # what `tinytorch-verifier verify` writes
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".venv", "venv", ".tox",
                          ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tito"})
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")   # also a folder name under students/
GIT_URL = re.compile(r"^(git@|[a-z+]+://)|\.git/?$")
DEFAULT_TIMEOUT = 1800.0


@dataclass
class Submission:
    student: str
    source: str               # the student's folder, or a git URL
    ref: str = ""             # branch or tag to clone (roster only)
    where: str = ""           # roster.csv:LINE, for messages

    @property
    def is_git(self) -> bool:
        return bool(GIT_URL.search(self.source))


@dataclass
class Failure:
    signature: str            # identical across students for the same failure (clusters)
    module: str
    message: str


@dataclass
class StudentRow:
    student: str
    verdict: str
    modules_to_fix: List[str] = field(default_factory=list)
    first_failing: List[str] = field(default_factory=list)     # "3.12:cnn", "course:build"
    seconds: float = 0.0
    note: str = ""                                             # the one line of an error row
    stages: Dict[str, str] = field(default_factory=dict)       # "3.12:cnn" -> passed / failed / not run
    failures: List[Failure] = field(default_factory=list)
    tree_hash: str = ""
    reused: bool = False
    report: str = ""                                           # the student's report folder

    def gradebook_row(self) -> List[str]:
        return [self.student, self.verdict, ";".join(self.modules_to_fix), ";".join(self.first_failing),
                f"{self.seconds:.1f}", self.note]


@dataclass
class CohortOptions:
    submissions: Path
    reports: Path
    pythons: Optional[List[str]] = None          # None: the newest Python of each student's course matrix
    scenarios: Optional[List[str]] = None
    run_tests: bool = True
    jobs: Optional[int] = None                   # students at once (None: half the cores, at least 1)
    timeout: float = DEFAULT_TIMEOUT             # per student, seconds
    rerun: bool = False
    assignment: str = ""                         # nbgrader assignment folder / Classroom prefix
    sandbox: bool = True
    keep_work: bool = False
    scheduler: str = ""                          # tcp://HOST:PORT of a Dask scheduler (cohort_dask.py)

    def students_at_once(self) -> int:
        return max(1, self.jobs or (os.cpu_count() or 2) // 2)


@dataclass
class CohortResult:
    rows: List[StudentRow]
    sandbox_warning: str = ""    # "" when student code ran under bubblewrap
    interrupted: bool = False
    seconds: float = 0.0
    jobs: int = 1

    def to_json(self) -> Dict[str, object]:
        return {"format": 1, "sandbox_warning": self.sandbox_warning, "interrupted": self.interrupted,
                "seconds": round(self.seconds, 1), "jobs": self.jobs, "students": [asdict(r) for r in self.rows]}


def row_from_json(raw: Dict) -> StudentRow:
    raw = dict(raw)
    failures = [Failure(**f) for f in raw.pop("failures", [])]
    known = set(StudentRow.__dataclass_fields__)
    return StudentRow(**{k: v for k, v in raw.items() if k in known}, failures=failures)


# ---------------------------------------------------------------- finding the students

def _looks_like_course(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() or (folder / "settings.ini").is_file() or \
        (folder / "modules").is_dir()


def _classroom_prefix(names: List[str], assignment: str) -> str:
    """GitHub Classroom names repositories `<assignment>-<login>`: the shared prefix up to a '-'."""
    if assignment:
        prefix = assignment.rstrip("-") + "-"
        return prefix if all(n.startswith(prefix) and len(n) > len(prefix) for n in names) else ""
    if len(names) < 2:
        return ""
    common = os.path.commonprefix(names)
    prefix = common[:common.rfind("-") + 1]
    return prefix if prefix and all(len(n) > len(prefix) for n in names) else ""


def _nbgrader_tree(folder: Path, assignment: str) -> Path:
    """`submitted/<student>/<assignment>/`: the assignment folder inside a student's folder."""
    if _looks_like_course(folder):
        return folder
    if assignment and (folder / assignment).is_dir():
        return folder / assignment
    inner = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return inner[0] if len(inner) == 1 and _looks_like_course(inner[0]) else folder


def read_roster(path: Path) -> List[Submission]:
    """`student,path_or_git_url,ref` lines (a header line and '#' comments allowed)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifierError(f"cannot read the roster: {exc}", path, hint="pass a UTF-8 CSV file") from None
    found = []
    for number, cells in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#") or (number == 1 and cells[0].lower() == "student"):
            continue
        if len(cells) < 2 or not cells[1]:
            raise VerifierError("a roster line needs `student,path_or_git_url[,ref]`", path, number)
        source = cells[1]
        if not GIT_URL.search(source) and not Path(source).is_absolute():
            source = str((path.parent / source).resolve())
        found.append(Submission(cells[0], source, cells[2] if len(cells) > 2 else "", f"{path}:{number}"))
    return found


def discover(submissions: Path, assignment: str = "") -> List[Submission]:
    """The students of a submissions folder or roster, each with a unique id usable as a folder name."""
    if submissions.is_file():
        found = read_roster(submissions)
    elif submissions.is_dir():
        if _looks_like_course(submissions) and (submissions / "modules").is_dir():
            raise VerifierError("this is one course, not a folder of student trees", submissions,
                                hint="use `tinytorch-verifier verify --course` for one course, or pass the folder "
                                     "holding them")
        folders = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        prefix = _classroom_prefix([p.name for p in folders], assignment)
        found = [Submission(p.name[len(prefix):], str(_nbgrader_tree(p, assignment))) for p in folders]
    else:
        raise VerifierError("no submissions folder or roster here", submissions,
                            hint="pass a folder with one sub-folder per student, or a roster CSV")
    seen: Dict[str, Submission] = {}
    for sub in found:
        if not STUDENT_ID.match(sub.student):
            raise VerifierError(f"student id {sub.student!r} is not usable (letters, digits, . _ @ + -)",
                                Path(sub.where.rsplit(":", 1)[0]) if sub.where else submissions)
        if sub.student in seen:
            raise VerifierError(f"student {sub.student!r} appears twice ({seen[sub.student].source} and "
                                f"{sub.source})", submissions, hint="give every student one row / folder")
        seen[sub.student] = sub
    if not found:
        raise VerifierError("no student trees found", submissions, hint="one sub-folder per student expected")
    return found


# ---------------------------------------------------------------- the tree: hash and copy

def _walk(root: Path, rel: str = "") -> Iterator[Tuple[str, os.DirEntry]]:
    """Regular files and symlinks, sorted, never following a link nor opening a special file."""
    try:
        entries = sorted(os.scandir(root / rel if rel else root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode) or stat.S_ISREG(mode):
            yield path, entry
        elif stat.S_ISDIR(mode) and entry.name not in SKIPPED_DIRS:
            yield from _walk(root, path)


def tree_hash(root: Path, salt: str = "") -> str:
    """Content hash of the tree (sources, pyproject, locks, tests …) plus the run's options."""
    digest = hashlib.sha256(salt.encode())
    for rel, entry in _walk(root):
        digest.update(f"\0{rel}\0".encode())
        if entry.is_symlink():
            digest.update(b"link:" + os.readlink(entry.path).encode())
            continue
        try:
            with open(entry.path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def copy_tree(root: Path, target: Path) -> None:
    """The student's tree into the work folder: files and links as they are (links not followed)."""
    target.mkdir(parents=True)
    for rel, entry in _walk(root):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), dest)
        else:
            try:
                shutil.copy2(entry.path, dest, follow_symlinks=False)
            except OSError:
                pass  # unreadable: the verification reports the file as missing


# ---------------------------------------------------------------- one student

@dataclass
class _Plan:
    options: CohortOptions
    work: Path
    previous: Dict[str, StudentRow]
    sandboxed: bool
    child_jobs: int
    cancelled: threading.Event


def _one_line(text: str, strip: str = "") -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line.replace(strip, "") if strip else line


def _signature(text: str) -> str:
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    return re.sub(r"\b\d+(\.\d+)? ?(s|ms|MB|GB)\b", "N", text)


def _fetch(sub: Submission, plan: _Plan, base: Path) -> Tuple[Optional[Path], str]:
    """(the tree to verify, "") or (None, why it cannot be fetched)."""
    if not sub.is_git:
        return Path(sub.source), ""
    clone = base / "clone"
    command = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never", "clone", "--quiet",
               "--depth", "1", *(["--branch", sub.ref] if sub.ref else []), sub.source, str(clone)]
    done = run(command, env=dict(os.environ, GIT_TERMINAL_PROMPT="0"), timeout=300)
    if not done.ok:
        why = "timed out" if done.timed_out else _one_line(done.stderr) or f"git exit {done.returncode}"
        return None, f"git clone {sub.source}{' --branch ' + sub.ref if sub.ref else ''} failed: {why}"
    return clone, ""


def _command(tree: Path, reports: Path, tmp: Path, pythons: List[str], plan: _Plan) -> List[str]:
    options = plan.options
    command = [sys.executable, "-m", "verifier.cli", "verify", "--course", str(tree), "--reports", str(reports),
               "--jobs", str(plan.child_jobs)]
    for version in pythons:
        command += ["--python", version]
    for scenario in options.scenarios or []:
        command += ["--scenario", scenario]
    if not options.run_tests:
        command.append("--no-tests")
    if plan.sandboxed:
        command += ["--sandbox", "--sandbox-writable", str(tree), "--sandbox-writable", str(tmp)]
    return command


def _from_report(row: StudentRow, report: Path, strip: str) -> bool:
    """Fill the row from the student's verify.json; False when there is none."""
    try:
        result = result_from_json(json.loads(report.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return False
    decision = decide(result)
    row.verdict = VERIFIED if decision.passed and not result.interrupted else NOT_VERIFIED
    row.modules_to_fix = decision.modules_to_fix
    for stage in result.stages:
        row.stages[f"course:{stage.name}"] = stage.status
    first_course = next((s.name for s in result.stages if s.status == FAILED), "")
    if first_course:
        row.first_failing.append(f"course:{first_course}")
    for python in result.pythons:
        for stage in python.stages:
            row.stages[f"{python.version}:{stage.name}"] = stage.status
        failed = next((s.name for s in python.stages if s.status == FAILED), "")
        if python.missing:
            failed = "interpreter"
        if failed:
            row.first_failing.append(f"{python.version}:{failed}")
    seen = set()
    for blocker in decision.blockers:
        message = blocker.message.replace(strip, "")
        signature = _signature(f"{blocker.category}: {blocker.module or ''}: {message}")
        if signature not in seen:
            seen.add(signature)
            row.failures.append(Failure(signature, blocker.module or "", message))
    return True


def verify_student(sub: Submission, plan: _Plan) -> StudentRow:
    start = time.monotonic()
    row = _verify_student(sub, plan)
    if not row.reused:
        row.seconds = round(time.monotonic() - start, 1)
    if row.note and not row.failures:
        row.failures.append(Failure(_signature(f"{row.verdict}: {row.note}"), "", row.note))
    return row


def _verify_student(sub: Submission, plan: _Plan) -> StudentRow:
    options = plan.options
    if plan.cancelled.is_set():
        return StudentRow(sub.student, NOT_RUN, note="not run: the cohort run was interrupted")
    base = plan.work / sub.student
    base.mkdir(parents=True)
    tree, why = _fetch(sub, plan, base)
    if tree is None:
        return StudentRow(sub.student, CLONE_FAILED, note=why)
    try:
        course = load_course(tree)
        pythons = options.pythons or [max(python_matrix(course), key=version_key)]
    except VerifierError as exc:
        return StudentRow(sub.student, NOT_A_COURSE, note=str(exc))
    salt = json.dumps([pythons, options.scenarios, options.run_tests, plan.sandboxed])
    digest = tree_hash(tree, salt)
    reports = options.reports / "students" / sub.student
    previous = plan.previous.get(sub.student)
    if previous and not options.rerun and previous.tree_hash == digest and previous.verdict in REUSABLE \
            and (reports / "verify.json").is_file():
        previous.reused = True
        return previous
    copy, tmp = base / "tree", base / "tmp"
    copy_tree(tree, copy)
    tmp.mkdir()
    reports.mkdir(parents=True, exist_ok=True)
    for name in REPORT_NAMES:  # a stale report must never be read as this run's
        (reports / name).unlink(missing_ok=True)
    # the child's temporary files (venvs, staging) stay in the student's own work folder
    env = dict(os.environ, TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    done = run(_command(copy, reports, tmp, pythons, plan), env=env, timeout=options.timeout)
    row = StudentRow(sub.student, ERROR, tree_hash=digest, report=str(reports))
    strip = f"{copy}/"
    has_report = _from_report(row, reports / "verify.json", strip)
    _verdict_of_child(row, done, has_report, options.timeout, strip)
    if plan.cancelled.is_set() and not done.ok:
        row.verdict, row.note = INTERRUPTED, row.note or "interrupted (partial report)"
    return row


def _verdict_of_child(row: StudentRow, done: Completed, has_report: bool, timeout: float, strip: str) -> None:
    """A child that did not end with a report: one line saying why."""
    text = done.stderr + "\n" + done.stdout
    if done.timed_out:
        row.verdict, row.note = TIMEOUT, f"no verdict within {timeout:.0f} s: the verification was killed"
    elif "MemoryError" in text or "Cannot allocate memory" in text or done.returncode == -signal.SIGKILL:
        if not has_report:
            row.verdict, row.note = OUT_OF_MEMORY, "the verification ran out of memory (killed)"
    elif not has_report:
        line = _one_line(done.stderr, strip) or _one_line(done.stdout, strip) or f"exit {done.returncode}"
        row.verdict, row.note = ERROR, line.replace("tinytorch-verifier: error: ", "")


# ---------------------------------------------------------------- the whole class

def load_previous(reports: Path) -> Dict[str, StudentRow]:
    try:
        data = json.loads((reports / "cohort.json").read_text(encoding="utf-8"))
        return {row.student: row for row in map(row_from_json, data.get("students", []))}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # no usable history: every student is verified


OnStudent = Callable[[StudentRow, int, int], None]   # (row, done so far, total)
