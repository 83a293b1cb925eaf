"""The top-level guard around every `tito` command: exit codes that say who failed.

    0  ready / done
    1  blocked by the course (the command itself returns it)
    2  usage or configuration error: a VerifierError, a full disk, a path that cannot be written
    3  internal error of the verifier: one line asking for a bug report, naming a log file that
       holds the traceback — never a traceback on the terminal
  130  interrupted (Ctrl-C)

CI can tell a crash of the verifier (3) from a course that legitimately blocks a release (1).
SIGTERM is handled as Ctrl-C. Whatever the exit (done, error, Ctrl-C, SIGTERM), every child process
group is killed and waited for, then every process still carrying this run's token — never another's.
A full disk is one line wherever it surfaced: "no space left on device in PATH: free N MB".
"""
from __future__ import annotations

import datetime
import errno
import os
import signal
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from ..errors import VerifierError

EXIT_READY = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

BUG_REPORT_HINT = "please report this bug to the tinytorch-verifier maintainers with that file"
LOG_DIR_VARIABLE = "TITO_LOG_DIR"  # where crash logs go; default: the system's temporary folder

# errno values that mean "the machine", not the verifier and not the course
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EMFILE: "too many open files",
}


def crash_log_folder() -> Path:
    configured = os.environ.get(LOG_DIR_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir())


def write_crash_log(error: BaseException, argv: Sequence[str]) -> Optional[Path]:
    """Write the traceback and the command line to a new log file; None when nothing can be written."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"tito {' '.join(argv)}\npython {sys.version.split()[0]} on {sys.platform}\n\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for folder in (crash_log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f"tito-crash-{stamp}-", suffix=".log", dir=str(folder))
            with os.fdopen(handle, "w", encoding="utf-8", errors="replace") as out:
                out.write(text)
            return Path(name)
        except (OSError, RecursionError, MemoryError):
            continue
    return None


def environment_problem(error: BaseException) -> Optional[str]:
    """One line for an OSError caused by the machine (full disk, read-only file system...)."""
    if not isinstance(error, OSError) or error.errno not in _ENVIRONMENT_ERRNOS:
        return None
    from ..runner.workdirs import disk_full_line, is_disk_full

    if is_disk_full(error):
        return disk_full_line(error)
    where = f" writing {error.filename}" if error.filename else ""
    return f"{_ENVIRONMENT_ERRNOS[error.errno]}{where} — free some space or point the output elsewhere, then rerun"


def _say(stream: TextIO, line: str) -> None:
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed or broken stderr must not turn into a traceback


def _end_children() -> None:
    """Kill every child group, wait for them, then kill what still carries this run's token (a
    descendant that left its group); later commands in this process (tests) may start children again."""
    from ..runner.processes import allow_new, stop_all

    stop_all()
    allow_new()


def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main thread; returns the previous handler (or None)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum, frame):
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):
        return None


def run_guarded(command: Callable[[], int], argv: Sequence[str], stderr: Optional[TextIO] = None) -> int:
    """Run one tito command and map whatever happens to an exit code and at most one line on stderr."""
    previous = _sigterm_as_interrupt()
    try:
        return _guarded(command, argv, stderr or sys.stderr)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _guarded(command: Callable[[], int], argv: Sequence[str], err: TextIO) -> int:
    from ..runner.processes import allow_new

    allow_new()  # a command in a process where an earlier one was interrupted (tests) may start children
    try:
        try:
            code = command()
        finally:
            _end_children()  # no child outlives tito, whatever ended the command (normal exit too)
        return int(code or 0)
    except VerifierError as error:
        _say(err, f"tito: error: {error}")
        return int(getattr(error, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    except KeyboardInterrupt:
        _say(err, "tito: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as stop:  # argparse inside a command, or an explicit exit
        return stop.code if isinstance(stop.code, int) else (EXIT_USAGE if stop.code else EXIT_READY)
    except BrokenPipeError:
        return EXIT_READY if _stdout_closed_early() else EXIT_USAGE
    except BaseException as error:  # noqa: BLE001 - the point of the guard: nothing escapes as a traceback
        problem = environment_problem(error)
        if problem:
            _say(err, f"tito: error: {problem}")
            return EXIT_USAGE
        log = write_crash_log(error, argv)
        where = f"; the traceback is in {log}" if log else " (no log file could be written)"
        _say(err, f"tito: internal error: {type(error).__name__} in the verifier{where} — {BUG_REPORT_HINT}")
        return EXIT_INTERNAL


def _stdout_closed_early() -> bool:
    """`tito package deps | head`: the reader went away; not an error of anyone's. Silence the
    interpreter's own complaint when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return True
