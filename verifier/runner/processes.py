"""Running child processes safely: timeouts, memory limits, whole-group kills.

Student code, builds and pip only ever run through `run`: in their own process group (so a
timeout or Ctrl-C ends it and everything it started), with an address-space limit on POSIX, and
with their output captured — a hang or a crash is a result, never a stuck verifier.

Every group started is remembered: `stop_all` (Ctrl-C, SIGTERM) kills them and waits until no
member is left, then kills what escaped its group but still carries the run's token (setsid), so
no child outlives tinytorch-verifier; once stopping, `run` starts nothing new. Each child
carries the run's token in its environment (OWNER_VARIABLE) and every group id is appended to the
marker files registered with `record_groups_in`, so a later run can sweep what a killed run left
(runner/workdirs.py). A child that failed for a full disk raises OSError(ENOSPC): the machine's
problem, not the course's.

A run that executes untrusted code (`tinytorch-verifier cohort verify`, `tinytorch-verifier verify --sandbox`) sets
a sandbox
wrapper with `set_sandbox`: from then on every command `run` starts is rewritten by it (bubblewrap,
pipeline/cohort.py) — one place, so no spawn of student code can miss it.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

DEFAULT_MEMORY_MB = 4096

OWNER_VARIABLE = "TITO_RUN_OWNER"   # in every child's environment: "<tinytorch-verifier pid>-<token>"
OWNER_TOKEN = f"{os.getpid()}-{os.urandom(4).hex()}"
DISK_FULL = re.compile(r"No space left on device(?::\s*'(?P<path>[^']+)')?")

_live: Set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_groups: Set[int] = set()           # every process group started (POSIX: the leader's pid)
_markers: List[Path] = []           # files each new group id is appended to
_stopping = threading.Event()       # set by stop_all: run() starts nothing more
_child_temps: List[Path] = []       # TMPDIR of every child: a folder in the newest work directory
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")
# run-level: (command, cwd) -> the command to start instead (a sandbox); None runs commands as given
SandboxWrapper = Callable[[List[str], Optional[Path]], List[str]]
_sandbox: Optional[SandboxWrapper] = None


@dataclass
class CpuMeter:
    """CPU seconds (user + system, the child and what it waited for) and children started by `run` on
    one thread while the meter is on: what a stage costs, unlike its wall time, does not grow when the
    machine is shared."""
    seconds: float = 0.0
    processes: int = 0

    def add(self, seconds: float) -> None:
        with _live_lock:  # a stage's own worker threads (module-imports) add to one meter
            self.seconds += seconds
            self.processes += 1


_meters = threading.local()


def current_meter() -> Optional[CpuMeter]:
    return getattr(_meters, "current", None)


@contextmanager
def metered(meter: Optional[CpuMeter] = None) -> Iterator[CpuMeter]:
    """Meter the children that `run` starts on this thread inside the block (nested meters: the inner
    one); pass a stage's meter to a worker thread the stage started to count that thread's children too."""
    outer = current_meter()
    meter = _meters.current = meter or CpuMeter()
    try:
        yield meter
    finally:
        _meters.current = outer


def set_sandbox(wrapper: Optional[SandboxWrapper]) -> None:
    """Run every later child through `wrapper` (None: no sandbox)."""
    global _sandbox
    _sandbox = wrapper


def sandboxed() -> bool:
    return _sandbox is not None


@dataclass
class Completed:
    args: List[str]
    returncode: Optional[int]   # None when killed at the timeout
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    peak_memory_mb: Optional[float] = None
    interrupted: bool = False   # not started, or killed, because the run is stopping

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.interrupted

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
    """Kill every child still running; new children may still start (a run cancelling itself)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill_group(proc)


def signal_all(signum: int) -> None:
    """Send a signal to every running child's group (a cohort asks its per-student tinytorch-verifier children to
    stop cleanly, so they end their own children and write their partial reports)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        try:
            os.killpg(proc.pid, signum) if os.name == "posix" else proc.send_signal(signum)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def stop_all(wait: float = 5.0) -> List[int]:
    """Ctrl-C / SIGTERM: start nothing more, kill every group ever started, and wait (up to `wait`
    seconds) until none of them has a living member. Returns the groups still alive (normally [])."""
    _stopping.set()
    kill_all()
    with _live_lock:
        groups = sorted(_groups)
    deadline = time.monotonic() + wait
    while True:
        living = living_groups()
        alive = [g for g in groups if living is None and group_alive(g) or living is not None and g in living]
        for group in alive:
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        if not alive or time.monotonic() > deadline:
            with _live_lock:
                _groups.difference_update(set(groups) - set(alive))
            end_own_processes()  # descendants that left their group (setsid) but carry our token
            return alive
        time.sleep(0.01)


def allow_new() -> None:
    """A new run in this process may start children again (after an earlier stop_all)."""
    _stopping.clear()


def stopping() -> bool:
    return _stopping.is_set()


def record_groups_in(marker: Path) -> None:
    with _live_lock:
        _markers.append(marker)


def use_child_temp(folder: Path) -> None:
    """Children started from now on get `folder` (inside a marked work directory) as TMPDIR: the
    build-env-* folders of `build`, pip's and uv's unpacked wheels go where the run's clean-up, the
    interrupt path and a later sweep remove them — never loose in the system's temporary folder."""
    with _live_lock:
        _child_temps.append(folder)


def forget_child_temp(folder: Path) -> None:
    with _live_lock:
        if folder in _child_temps:
            _child_temps.remove(folder)


def _with_child_temp(env: Dict[str, str]) -> Dict[str, str]:
    if any(env.get(name) != os.environ.get(name) for name in TEMP_VARIABLES):
        return env  # the caller chose the child's temporary folder (a cohort student's own): kept
    with _live_lock:
        folder = _child_temps[-1] if _child_temps else None
    if folder is None:
        return env
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return env  # the work directory is gone (a run ending): the system's folder then
    return dict(env, **{name: str(folder) for name in TEMP_VARIABLES})


def forget_marker(marker: Path) -> None:
    with _live_lock:
        if marker in _markers:
            _markers.remove(marker)


def process_table() -> Dict[int, Tuple[int, str]]:
    """pid -> (process group, state letter) of every process, from /proc (Linux; else empty)."""
    table: Dict[int, Tuple[int, str]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2:
            table[int(entry)] = (int(fields[2]), fields[0])
    return table


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where /proc cannot tell): with the pid,
    what names one process — a pid is reused, a (pid, start time) pair is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        return stat[stat.rfind(")") + 2:].split()[19]
    except (OSError, IndexError):
        return ""


def carries_token(pid: int, token: str) -> bool:
    """Whether the process has OWNER_VARIABLE=token in its environment: set by `run` in every child
    of the run that owns `token`, and inherited by their descendants — whatever group or session
    they moved to. (Another user's process cannot be read: never ours.)"""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{OWNER_VARIABLE}={token}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


def token_carriers(token: str, not_before: str = "") -> List[int]:
    """Living processes (not zombies, not this one) carrying `token`, started at or after the tick
    `not_before` (the owner's start: its children cannot be older)."""
    found = []
    for pid, (_, state) in process_table().items():
        if state in ("Z", "X") or pid == os.getpid() or not carries_token(pid, token):
            continue
        began = start_time(pid)
        if not_before and began and int(began) < int(not_before):
            continue
        found.append(pid)
    return found


def kill_carriers(token: str, not_before: str = "", wait: float = 3.0) -> List[int]:
    """SIGKILL every process carrying `token` (token_carriers), and wait until they are gone. Each is
    opened as a pidfd first and checked again through it, so a pid reused between the listing and
    the kill is never signalled. Returns the pids killed."""
    killed = []
    for pid in token_carriers(token, not_before):
        if _kill_if_carrier(pid, token):
            killed.append(pid)
    deadline = time.monotonic() + wait
    while killed and time.monotonic() < deadline:
        table = process_table()
        if not any(table.get(pid, (0, "Z"))[1] not in ("Z", "X") for pid in killed):
            break
        time.sleep(0.02)
    return killed


def _kill_if_carrier(pid: int, token: str) -> bool:
    opener = getattr(os, "pidfd_open", None)
    sender = getattr(signal, "pidfd_send_signal", None)
    if opener is None or sender is None:  # no pidfd (old kernel or Python): a last check, then the pid
        if not carries_token(pid, token):
            return False
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except OSError:
            return False
    try:
        handle = opener(pid)
    except OSError:
        return False  # gone already
    try:
        if not carries_token(pid, token):  # the pidfd holds this very process: the check is about it
            return False
        sender(handle, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


def end_own_processes() -> List[int]:
    """tinytorch-verifier is exiting: kill every process still carrying THIS run's token (a server a course test
    started in a new session, a daemon that ignored SIGTERM) — never anyone else's."""
    return kill_carriers(OWNER_TOKEN)


def living_groups() -> Optional[Set[int]]:
    """Process groups with a living member (a zombie is dead); None where /proc cannot tell."""
    if not os.path.isdir("/proc/self"):
        return None
    return {pgrp for pgrp, state in process_table().values() if state not in ("Z", "X")}


def group_alive(group: int) -> bool:
    """Whether any member of the process group still runs."""
    living = living_groups()
    if living is not None:
        return group in living
    try:
        os.killpg(group, 0)
        return True
    except OSError:
        return False


def _note_group(group: int) -> None:
    _groups.add(group)
    for marker in list(_markers):
        try:
            with open(marker, "a", encoding="utf-8") as out:
                out.write(f"group {group}\n")
        except OSError:
            pass  # the marker only helps a later sweep; its absence never stops a run


def disk_full_in(completed: "Completed", cwd: Optional[Path]) -> Optional[OSError]:
    """OSError(ENOSPC) naming the path when a failed child said the disk is full (pip, build)."""
    if completed.ok:
        return None
    found = DISK_FULL.search(completed.stderr) or DISK_FULL.search(completed.stdout)
    if found is None:
        return None
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), found["path"] or str(cwd or tempfile.gettempdir()))


def run(command: Sequence[Union[str, "os.PathLike[str]"]], cwd: Optional[Path] = None,
        env: Optional[Dict[str, str]] = None, timeout: float = 600.0, memory_mb: Optional[int] = None,
        dump_on_timeout: bool = False) -> Completed:
    """Run a command to completion or to its timeout; never raises for the child's failure.

    With dump_on_timeout (for Python children started with `-X faulthandler`), a child that
    times out first gets SIGABRT, so that faulthandler prints where every thread was stuck.
    """
    args = [str(a) for a in command]
    if _sandbox is not None:
        args = _sandbox(args, cwd)
    start = time.monotonic()
    env = dict(_with_child_temp(dict(os.environ if env is None else env)), **{OWNER_VARIABLE: OWNER_TOKEN})
    with _live_lock:  # started and registered at once: stop_all never misses a child
        if _stopping.is_set():
            return Completed(args, None, "", "not started: the run is stopping", 0.0, False, interrupted=True)
        try:
            proc = subprocess.Popen(args, cwd=str(cwd) if cwd else None, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    encoding="utf-8", errors="replace", preexec_fn=_limits(memory_mb))
        except OSError as exc:
            return Completed(args, 127, "", f"cannot start {args[0]}: {exc.strerror}", 0.0, False)
        _live.add(proc)
        _note_group(proc.pid)
    try:
        if os.name == "posix":
            stdout, stderr, returncode, timed_out, peak, cpu = _wait_posix(proc, timeout, dump_on_timeout)
        else:
            stdout, stderr, returncode, timed_out, peak, cpu = _wait_portable(proc, timeout)
    except BaseException:  # Ctrl-C while waiting: the child's group ends before the interrupt goes on
        _kill_group(proc)
        _reap(proc)
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
    meter = current_meter()
    if meter is not None:
        meter.add(cpu)
    done = Completed(args, returncode, stdout or "", stderr or "", time.monotonic() - start, timed_out, peak,
                     interrupted=_stopping.is_set() and returncode != 0)
    full = disk_full_in(done, cwd)
    if full is not None:
        raise full
    return done


def spawn(command: Sequence[Union[str, "os.PathLike[str]"]], cwd: Optional[Path], env: Dict[str, str],
          memory_mb: Optional[int] = None) -> Optional[subprocess.Popen]:
    """A long-lived child that talks over stdin/stdout (lines of text; stderr discarded), started like
    `run`'s children (own group, memory limit, the run's token and TMPDIR, the sandbox) and killed by
    stop_all like them; `release` ends it. None once the run is stopping or when it cannot start."""
    args = [str(a) for a in command]
    if _sandbox is not None:
        args = _sandbox(args, cwd)
    env = dict(_with_child_temp(dict(env)), **{OWNER_VARIABLE: OWNER_TOKEN})
    with _live_lock:
        if _stopping.is_set():
            return None
        try:
            proc = subprocess.Popen(args, cwd=str(cwd) if cwd else None, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    encoding="utf-8", errors="replace", preexec_fn=_limits(memory_mb))
        except OSError:
            return None
        _live.add(proc)
        _note_group(proc.pid)
    return proc


def release(proc: subprocess.Popen, wait: float = 10.0) -> None:
    """End a `spawn`ed child: wait up to `wait` seconds for it to exit, then kill its group."""
    _reap(proc, wait)
    _kill_group(proc)
    _reap(proc)
    with _live_lock:
        _live.discard(proc)


def _reap(proc: subprocess.Popen, wait: float = 2.0) -> None:
    try:
        proc.wait(timeout=wait)
    except (subprocess.TimeoutExpired, OSError, ChildProcessError):
        pass


def _wait_portable(proc: subprocess.Popen, timeout: float):
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return stdout, stderr, proc.returncode, False, None, 0.0
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        return stdout, stderr, None, True, None, 0.0


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
            fired.is_set(), usage.ru_maxrss / scale, usage.ru_utime + usage.ru_stime)
