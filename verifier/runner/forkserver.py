"""A fork server per Python for the student scenarios: one process in the venv imports `preload` once
(runner/preload.py: the modules outside the course package that the package's modules import at module
level, e.g. NumPy, zipfile, json, hashlib — never a module of the course package), then forks one child
per scenario; the children of one Python run side by side, each asked for by its own scenario task, so
the schedule is unchanged.

Each child is what `python -I -X faulthandler SCRIPT` from the scenario's empty folder would be:
the same interpreter, flags, environment (the server's, which is the scenario's) and memory limit
(inherited), stdin from /dev/null, its own stdout/stderr files, its own process group (a timeout
kills what it started too), `__main__` a fresh module with the script's `__file__`, sys.argv
[script], and the interpreter's own exit: a SystemExit exits with its code, an uncaught exception
prints its traceback (without the server's frame) and exits 1, atexit handlers and non-daemon
threads are waited for as at any exit. A timeout sends SIGABRT (faulthandler prints the stacks)
and 2 s later SIGKILL to the child's group. The server reports each end (exit status, seconds,
the child's CPU and peak memory from wait4) on one `TITO_FORKED {json}` line.

All that is shared is those modules' own imports: each child imports the course package afresh and
runs its code; a name is bound only where the child's code imports it, so a scenario or course module
that uses `json` without importing it still fails; a preload that cannot be imported is skipped (what
needs it fails in its own child, as alone); a preload's own output goes to the server's pipe, never into
a scenario's log (a scenario is judged by its exit and its TITO_RESULT line). `ScenarioServer.run`
returns None when the server cannot answer (it died, the run is stopping): the caller then runs the
scenario in a process of its own.
Not used inside the bubblewrap sandbox (each child there gets its own bwrap, as before).
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

from .envs import Venv, clean_env
from .processes import Completed, current_meter, release, spawn

FORKED_PREFIX = "TITO_FORKED "
READY_PREFIX = "TITO_READY "

# Runs inside the venv (never imports the verifier). argv: preload (JSON list). Requests on stdin, one
# JSON object a line: {"id", "script", "cwd", "out", "err", "timeout"}; stdin closed: exit after the children.
SERVER = r'''
import builtins, json, os, select, signal, sys, time, types
for name in json.loads(sys.argv[1]):
    try:
        __import__(name)
    except BaseException:
        pass  # a scenario that needs it fails in its own child, as it would alone
usage = os.times()
print("TITO_READY " + json.dumps({"cpu": usage.user + usage.system}), flush=True)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *args: None)
running, pending, reading, job = {}, b"", True, None
while job is None and (reading or running):
    deadlines = [t[2] + t[3] if not t[4] else t[4] + 2.0 for t in running.values()]
    wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
    ready = select.select([0, wake_r] if reading else [wake_r], [], [], wait)[0]
    if wake_r in ready:
        os.read(wake_r, 4096)
    if 0 in ready:
        chunk = os.read(0, 65536)
        reading = bool(chunk)
        pending += chunk
        while b"\n" in pending and job is None:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            began = time.monotonic()
            pid = os.fork()
            if pid == 0:
                job = request
                break
            running[pid] = [request["id"], request, began, float(request["timeout"]), 0.0]
    if job is not None:
        break
    while running:
        try:
            pid, status, rusage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        ident, request, began, timeout, fired = running.pop(pid)
        try:
            os.killpg(pid, signal.SIGKILL)  # what the scenario left running in its group goes too
        except OSError:
            pass
        print("TITO_FORKED " + json.dumps({"id": ident, "returncode": os.waitstatus_to_exitcode(status),
                                           "timed_out": bool(fired), "seconds": time.monotonic() - began,
                                           "cpu": rusage.ru_utime + rusage.ru_stime,
                                           "maxrss": rusage.ru_maxrss}), flush=True)
    now = time.monotonic()
    for pid, entry in running.items():
        try:
            if not entry[4] and now - entry[2] > entry[3]:
                entry[4] = now
                os.killpg(pid, signal.SIGABRT)  # faulthandler (inherited) prints where it was stuck
            elif entry[4] and now - entry[4] > 2.0:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
if job is None:
    os._exit(0)
# the child: from here on it is `python -I -X faulthandler SCRIPT` in the scenario's folder
signal.set_wakeup_fd(-1)
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
os.close(wake_r)
os.close(wake_w)
os.setpgid(0, 0)
try:  # Linux: the child is killed when its server dies (the run was cancelled, the server was killed)
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() == 1:  # the server died before the line above: nobody waits for this scenario
    os._exit(1)
os.chdir(job["cwd"])
for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                        (2, job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
    opened = os.open(path, flags, 0o600)
    os.dup2(opened, fd)
    os.close(opened)
script = os.path.join(job["cwd"], job["script"])
sys.argv = [job["script"]]
main = types.ModuleType("__main__")
main.__file__, main.__builtins__ = script, builtins
sys.modules["__main__"] = main
with open(script, "rb") as source:
    code = compile(source.read(), script, "exec")
try:
    exec(code, main.__dict__)
except SystemExit:
    raise
except BaseException as exc:
    if exc.__traceback__ is not None:
        exc = exc.with_traceback(exc.__traceback__.tb_next)  # the traceback starts at the script, as it would
    sys.excepthook(type(exc), exc, exc.__traceback__)
    raise SystemExit(1)
raise SystemExit(0)
'''


class ScenarioServer:
    """One Python's fork server; `run` is called from several scenario threads at once."""

    def __init__(self, venv: Venv, env: Dict[str, str], memory_mb: int, cwd: Path,
                 preload: Sequence[str] = ()) -> None:
        self._lock = threading.Lock()
        self._answers: Dict[int, Dict[str, object]] = {}
        self._arrived = threading.Condition(self._lock)
        self._next = 0
        self._alive = True
        self._ready_cpu = 0.0
        self.proc: Optional[subprocess.Popen] = spawn(
            [venv.python, "-I", "-X", "faulthandler", "-c", SERVER, json.dumps(list(preload))],
            cwd=cwd, env=clean_env(env), memory_mb=memory_mb)
        if self.proc is None:
            self._alive = False
            return
        self._reader = threading.Thread(target=self._read, name="tito-forkserver", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                if line.startswith(READY_PREFIX):
                    with self._lock:
                        self._ready_cpu = float(json.loads(line[len(READY_PREFIX):])["cpu"])
                elif line.startswith(FORKED_PREFIX):
                    answer = json.loads(line[len(FORKED_PREFIX):])
                    with self._lock:
                        self._answers[int(answer["id"])] = answer
                        self._arrived.notify_all()
            except (ValueError, KeyError, TypeError):
                continue
        with self._lock:
            self._alive = False
            self._arrived.notify_all()

    def run(self, script: str, cwd: Path, timeout: float) -> Optional[Completed]:
        """`script` (a file in `cwd`) in a forked child, as `run([python, "-I", "-X", "faulthandler",
        script], cwd=cwd, timeout=timeout, dump_on_timeout=True)` would; None when the server cannot."""
        out, err = cwd.parent / f".{cwd.name}.out", cwd.parent / f".{cwd.name}.err"
        with self._lock:
            if not self._alive or self.proc is None or self.proc.stdin is None:
                return None
            ident = self._next
            self._next += 1
            cpu, self._ready_cpu = self._ready_cpu, 0.0  # the server's own start-up: counted once
            request = {"id": ident, "script": script, "cwd": str(cwd), "out": str(out), "err": str(err),
                       "timeout": timeout}
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):
                return None
            began = time.monotonic()
            while ident not in self._answers and self._alive and time.monotonic() - began < timeout + 30.0:
                self._arrived.wait(1.0)
            answer = self._answers.pop(ident, None)
        if answer is None:
            # the server ended with this scenario in flight: killed because the run is being cancelled
            # (Ctrl-C, fail-fast), or crashed — either way it is not run a second time in a process of
            # its own (a cancelled run would start it after its children were killed, and wait for it)
            for path in (out, err):
                path.unlink(missing_ok=True)
            return Completed([script], -9, "", "the scenario server ended while this scenario ran",
                             time.monotonic() - began, False, interrupted=True)
        streams = [path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "" for path in (out, err)]
        for path in (out, err):
            path.unlink(missing_ok=True)
        meter = current_meter()
        if meter is not None:
            meter.add(cpu + float(answer["cpu"]))  # type: ignore[arg-type]
        timed_out = bool(answer["timed_out"])
        returncode = None if timed_out else int(answer["returncode"])  # type: ignore[call-overload]
        return Completed([str(a) for a in self.proc.args] + [script] if self.proc else [script], returncode,  # type: ignore[union-attr]
                         streams[0], streams[1], float(answer["seconds"]), timed_out,  # type: ignore[arg-type]
                         float(answer["maxrss"]) / 1024.0)  # type: ignore[arg-type]

    def close(self) -> None:
        """No further scenario: the server ends once its children have (it is killed after 10 s)."""
        with self._lock:
            self._alive = False
        if self.proc is None:
            return
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        release(self.proc, wait=10.0)
