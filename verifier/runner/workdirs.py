"""Work directories under the temporary folder: made with an owner marker, swept when their run died,
and checked for free space before a run starts.

Every work directory a run makes holds MARKER: the owner's pid (with its start time, so a reused pid
is not mistaken for the owner), the token its children carry in their environment
(processes.OWNER_VARIABLE) and, appended as they start, the ids of the process groups it started.
A run killed with SIGKILL cannot clean up; the next run finds its marker, sees the owner gone, kills
the processes still carrying that token in their environment (/proc/PID/environ) and started after
the owner — never a process merely found in a recorded group, since the kernel reuses group ids —
and removes the directory, saying so in one line. The recorded groups are kept for diagnosis only.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

from ..errors import VerifierError
from . import processes

MARKER = ".tito-owner"
PREFIXES = ("tito-verify-", "tito-build-", "tito-install-", "tito-api-", "tito-quick-")
MB = 1024 * 1024
CHILD_TEMP = "tmp"  # the TMPDIR of the run's children (processes.use_child_temp)


_start_time = processes.start_time


def make_work_dir(prefix: str = "tito-verify-") -> Path:
    """A fresh directory under the temporary folder, marked as this process's, whose child process
    groups are recorded in the marker as they start."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    marker = work / MARKER
    try:
        marker.write_text(f"owner {os.getpid()} {_start_time(os.getpid())}\n"
                          f"token {processes.OWNER_TOKEN}\n", encoding="utf-8")
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    processes.record_groups_in(marker)
    processes.use_child_temp(work / CHILD_TEMP)
    return work


def remove_work_dir(work: Optional[Path]) -> None:
    if work is None:
        return
    processes.forget_marker(work / MARKER)
    processes.forget_child_temp(work / CHILD_TEMP)
    shutil.rmtree(work, ignore_errors=True)


def keep_work_dir(work: Path) -> None:
    """--keep-work: the directory stays, unmarked, so no later sweep removes it."""
    processes.forget_marker(work / MARKER)
    processes.forget_child_temp(work / CHILD_TEMP)
    try:
        (work / MARKER).unlink()
    except OSError:
        pass


@dataclass
class Marker:
    folder: Path
    owner: int
    started: str
    token: str
    groups: Set[int] = field(default_factory=set)

    def owner_alive(self) -> bool:
        try:
            os.kill(self.owner, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # exists, owned by someone else
        now = _start_time(self.owner)
        return not (self.started and now and now != self.started)  # a reused pid is not the owner


def read_marker(folder: Path) -> Optional[Marker]:
    try:
        lines = (folder / MARKER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    values: Dict[str, List[str]] = {}
    groups: Set[int] = set()
    for line in lines:
        key, _, rest = line.partition(" ")
        if key == "group" and rest.strip().isdigit():
            groups.add(int(rest))
        else:
            values[key] = rest.split()
    owner = values.get("owner") or []
    if not owner or not owner[0].isdigit() or not values.get("token"):
        return None
    return Marker(folder, int(owner[0]), owner[1] if len(owner) > 1 else "", values["token"][0], groups)


def sweep_orphans(folder: Optional[Path] = None) -> str:
    """Remove work directories and kill processes left by runs that died; one line saying what was
    removed, or "" when there was nothing."""
    root = folder or Path(tempfile.gettempdir())
    dirs = 0
    killed: List[int] = []
    owners: List[str] = []
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIXES) and (p / MARKER).is_file()]
    except OSError:
        return ""
    for candidate in sorted(candidates):
        marker = read_marker(candidate)
        if marker is None or marker.owner_alive():
            continue
        # only processes carrying the dead run's token, started after it: a recorded group id alone
        # proves nothing (the kernel reuses it), and without /proc nothing is killed at all
        killed += processes.kill_carriers(marker.token, not_before=marker.started)
        shutil.rmtree(candidate, ignore_errors=True)
        dirs += 1
        owners.append(str(marker.owner))
    if not dirs:
        return ""
    what = f"{dirs} work director{'y' if dirs == 1 else 'ies'}"
    if killed:
        listed = ", ".join(map(str, killed))
        what += f" and {len(killed)} orphaned process{'' if len(killed) == 1 else 'es'} (pid {listed})"
    return (f"removed {what} left by tinytorch-verifier run{'s' if len(owners) > 1 else ''} that died "
            f"(pid {', '.join(owners)})")


def free_mb(path: Path) -> int:
    """Free space of the file system holding `path` (or its nearest existing parent), in MB."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return int(shutil.disk_usage(str(probe)).free // MB)
    except OSError:
        return -1


def ensure_free_space(folder: Path, need_mb: int, what: str) -> None:
    """Raise a one-line VerifierError (exit 2) when `folder` lacks the space a run needs."""
    have = free_mb(folder)
    if 0 <= have < need_mb:
        raise VerifierError(f"not enough free disk space in {folder}: free {have} MB, {what} needs about {need_mb} MB",
                            hint="free some space or set TMPDIR to a folder on a larger disk, then rerun")


def disk_full_line(error: OSError) -> str:
    """The one line for ENOSPC, wherever it surfaced (a write, pip, build)."""
    where = Path(error.filename) if error.filename else Path(tempfile.gettempdir())
    have = free_mb(where)
    free = f"free {have} MB" if have >= 0 else "free space unknown"
    return (f"no space left on device in {where}: {free} — "
            "free some space or point TMPDIR/--reports elsewhere, then rerun")


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
