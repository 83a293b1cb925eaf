"""`tinytorch-verifier bench --validate` (run first by `nox -s bench`): `tinytorch-verifier package validate` timed
as a whole process,
the way a pre-commit hook or an editor runs it — interpreter start, imports, reading the course, every
check, the output — against the target of 0.3 s (median) on the embedded course.

Both ways a user starts it are timed, interleaved run by run so a change in the machine's load hits
both alike: `python -m verifier.cli package validate --course C` and the `tinytorch-verifier` entry point, on an
unchanged course (the whole output comes from the cache: checks/output_cache.py), and — the case of a
hook after each commit — on a copy of the course where one module source gets a new comment before
every run (only that file is read anew; the other per-file results come from the cache). One first
run per command fills the caches and is reported apart ("first run"). The children get a bench-owned
cache folder (TITO_CACHE) and a bench-owned bytecode folder (PYTHONPYCACHEPREFIX,
PYTHONDONTWRITEBYTECODE unset): an installed tinytorch-verifier has its modules compiled, and this keeps the
user's cache and the source tree untouched. Wall time is what the caller waits; CPU time (user +
system, from the child's rusage) moves less with the load of a shared machine, and the load average
is printed beside both.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..errors import VerifierError
from ..runner.processes import run

TARGET_SECONDS = 0.3  # median, whole process, embedded course
DEFAULT_RUNS = 15


@dataclass
class ProcessTiming:
    """The timed runs of one command line."""
    label: str
    command: List[str]
    wall: List[float] = field(default_factory=list)
    cpu: List[float] = field(default_factory=list)
    first: Optional[float] = None   # the run that filled the caches, not in `wall`
    missing: str = ""               # why the command could not be timed ("" when it was)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def met(self) -> bool:
        return bool(self.wall) and self.median <= TARGET_SECONDS


def tito_entry_point() -> Optional[Path]:
    """The `tinytorch-verifier` script of the running interpreter's environment (what `pip install` made),
    else PATH's."""
    beside = Path(sys.executable).parent / ("tinytorch-verifier.exe" if os.name == "nt" else "tinytorch-verifier")
    if beside.is_file():
        return beside
    found = shutil.which("tinytorch-verifier")
    return Path(found) if found else None


def _children_cpu() -> float:
    """User + system seconds of every child waited for so far (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def _edited_copy(course: Path, work: Path) -> Tuple[Path, Path]:
    """A copy of the course and the module source the edited runs change (never the user's course)."""
    from ..course.discovery import load_course
    from ..course.files import ignore_special_files

    copy = work / "edited-course"
    shutil.copytree(course, copy, ignore=ignore_special_files(".git", ".venv", "__pycache__", ".tito"))
    sources = [m.source for m in load_course(copy).modules if m.source is not None]
    if not sources:
        raise VerifierError("the course has no module source to edit", course)
    return copy, sources[0]


def _once(timing: ProcessTiming, cwd: Path, env: dict, edit: Optional[Path] = None) -> Tuple[float, float]:
    """One run: (wall seconds, CPU seconds). A usage or crash exit (2, 3) stops the bench with its line.
    With `edit`, a comment is first appended to that source: the run then sees a changed course."""
    if edit is not None:
        with open(edit, "a", encoding="utf-8") as handle:
            handle.write(f"\n# edited by tinytorch-verifier bench --validate ({len(timing.wall)})\n")
    before = _children_cpu()
    done = run(timing.command, cwd=cwd, env=env, timeout=120)
    cpu = _children_cpu() - before
    if done.timed_out or done.returncode not in (0, 1):
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise VerifierError(f"{timing.label} exited {done.returncode}: {last}",
                            hint="run it by hand to see the whole output")
    return done.seconds, cpu


def time_validate(course: Path, runs: int = DEFAULT_RUNS) -> Tuple[List[ProcessTiming], str, str]:
    """Time `runs` whole-process validations per command, interleaved; (timings, load before, load after)."""
    if runs < 1:
        raise VerifierError(f"--runs must be at least 1 (got {runs})")
    course = course.resolve()
    tail = ["package", "validate", "--course", str(course)]
    timings = [ProcessTiming("python -m verifier.cli package validate", [sys.executable, "-m", "verifier.cli", *tail])]
    script = tito_entry_point()
    entry = ProcessTiming("tinytorch-verifier package validate", [str(script), *tail] if script else [])
    if script is None:
        entry.missing = "no `tinytorch-verifier` script beside this Python nor on PATH"
    timings.append(entry)
    work = Path(tempfile.mkdtemp(prefix="tito-bench-validate-"))
    try:
        copy, edited = _edited_copy(course, work)
        after_edit = ProcessTiming("... after an edit of one module source",
                                   [sys.executable, "-m", "verifier.cli", "package", "validate", "--course", str(copy)])
        timings.append(after_edit)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(TITO_CACHE=str(work / "cache"), PYTHONPYCACHEPREFIX=str(work / "pycache"), NO_COLOR="1")
        live = [t for t in timings if not t.missing]
        load_before = _load()
        for timing in live:
            timing.first = _once(timing, work, env)[0]
        for _ in range(runs):
            for timing in live:
                wall, cpu = _once(timing, work, env, edited if timing is after_edit else None)
                timing.wall.append(wall)
                timing.cpu.append(cpu)
        return timings, load_before, _load()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(timings: Sequence[ProcessTiming], course: Path, runs: int, load_before: str, load_after: str) -> str:
    lines = [f"tinytorch-verifier package validate as a whole process on {course}: {runs} timed runs per command, "
             f"interleaved, "
             f"after one first run each (caches filled); load average {load_before} before, {load_after} after",
             f"{'command':<42} {'median':>8} {'min-max':>15} {'CPU median':>11} {'first run':>10}  "
             f"target <= {TARGET_SECONDS:.2f} s"]
    for t in timings:
        if t.missing:
            lines.append(f"{t.label:<42} not timed: {t.missing}")
            continue
        spread = f"{min(t.wall):.3f}-{max(t.wall):.3f}"
        first = f"{t.first:.3f}" if t.first is not None else "-"
        lines.append(f"{t.label:<42} {t.median:>7.3f}s {spread:>14}s {statistics.median(t.cpu):>10.3f}s "
                     f"{first:>9}s  {'met' if t.met else 'MISSED'}")
    return "\n".join(lines)


def print_validate_timing(course: Path, runs: int = DEFAULT_RUNS, fail_on_miss: bool = False) -> int:
    """`tinytorch-verifier bench --validate`: time, print the table; exit 1 on a missed target only
    with --fail-on-miss."""
    timings, load_before, load_after = time_validate(course, runs)
    print(render(timings, course, runs, load_before, load_after))
    return 1 if fail_on_miss and not all(t.met for t in timings if not t.missing) else 0
