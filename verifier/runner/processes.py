"""Running child processes safely: timeouts, memory limits, whole-group kills.

Student code only ever runs through `run`: in its own process group (so a timeout or Ctrl-C
ends it and everything it started), with an address-space limit on POSIX, and with its
output captured — a hang or a crash is a result, never a stuck verifier.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

DEFAULT_MEMORY_MB = 4096

_live: Set[subprocess.Popen] = set()
_live_lock = threading.Lock()


@dataclass
class Completed:
    args: List[str]
    returncode: Optional[int]   # None when killed at the timeout
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    peak_memory_mb: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 30) -> str:
        text = (self.stdout.rstrip() + "\n" + self.stderr.rstrip()).strip()
        return "\n".join(text.splitlines()[-lines:])


def _limits(memory_mb: Optional[int]):
    if os.name != "posix":
        return None

    def apply() -> None:
        os.setsid()  # own process group: killed as a whole
        if memory_mb:
            import resource
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def kill_all() -> None:
    """End every child still running (used on Ctrl-C / SIGTERM)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill_group(proc)


def run(args: Sequence[str], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
        timeout: float = 600.0, memory_mb: Optional[int] = None, dump_on_timeout: bool = False) -> Completed:
    """Run a command to completion or to its timeout; never raises for the child's failure.

    With dump_on_timeout (for Python children started with `-X faulthandler`), a child that
    times out first gets SIGABRT, so that faulthandler prints where every thread was stuck.
    """
    args = [str(a) for a in args]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(args, cwd=str(cwd) if cwd else None, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                encoding="utf-8", errors="replace", preexec_fn=_limits(memory_mb))
    except OSError as exc:
        return Completed(args, 127, "", f"cannot start {args[0]}: {exc.strerror}", 0.0, False)
    with _live_lock:
        _live.add(proc)
    try:
        if os.name == "posix":
            stdout, stderr, returncode, timed_out, peak = _wait_posix(proc, timeout, dump_on_timeout)
        else:
            stdout, stderr, returncode, timed_out, peak = _wait_portable(proc, timeout)
    finally:
        with _live_lock:
            _live.discard(proc)
    return Completed(args, returncode, stdout or "", stderr or "", time.monotonic() - start, timed_out, peak)


def _wait_portable(proc: subprocess.Popen, timeout: float):
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return stdout, stderr, proc.returncode, False, None
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        return stdout, stderr, None, True, None


def _wait_posix(proc: subprocess.Popen, timeout: float, dump_on_timeout: bool = False):
    """Wait with os.wait4 so that this child's own peak memory (ru_maxrss) is known."""
    chunks: Dict[str, List[str]] = {"out": [], "err": []}

    def drain(stream, key: str) -> None:
        chunks[key].append(stream.read())

    readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    fired = threading.Event()

    def on_timeout() -> None:
        fired.set()
        if dump_on_timeout:
            try:
                os.kill(proc.pid, signal.SIGABRT)  # faulthandler dumps the stuck stacks, then aborts
            except OSError:
                pass
            time.sleep(2.0)
        _kill_group(proc)

    timer = threading.Timer(timeout, on_timeout)
    timer.daemon = True
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else \
        (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
    _kill_group(proc)  # anything the child left running in its group goes too
    for reader in readers:
        reader.join(timeout=5)
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, KiB elsewhere
    return ("".join(chunks["out"]), "".join(chunks["err"]), None if fired.is_set() else proc.returncode,
            fired.is_set(), usage.ru_maxrss / scale)
