"""The top-level guard around every `tinytorch-verifier` command: exit codes that say who failed.

    0  ready / done
    1  blocked by the course (the command itself returns it)
    2  usage or configuration error: a VerifierError, a full disk, a path that cannot be written
    3  internal error of the verifier: one line asking for a bug report, naming a log file that
       holds the traceback — never a traceback on the terminal
  130  interrupted (Ctrl-C)

CI can tell a crash of the verifier (3) from a course that legitimately blocks a release (1).
SIGTERM is handled as Ctrl-C. Whatever the exit (done, error, Ctrl-C, SIGTERM), every child process
group is killed and waited for, then every process still carrying this run's token — never another's.
A full disk is one line wherever it surfaced: "no space left on device in PATH: free N MB"; a failed
write to stdout or stderr names the stream ("cannot write to standard output: ..."), and a current
folder deleted under a running tinytorch-verifier is one line too.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TextIO

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
    import tempfile  # only a crash needs it: a hook's `package validate` starts faster without

    configured = os.environ.get(LOG_DIR_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir())


def write_crash_log(error: BaseException, argv: Sequence[str]) -> Optional[Path]:
    """Write the traceback and the command line to a new log file; None when nothing can be written."""
    try:  # imported here, not at start-up: only a crash needs them
        import datetime
        import tempfile
        import traceback
    except Exception:  # noqa: BLE001 - e.g. out of memory: the caller says no log could be written
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"tinytorch-verifier {' '.join(argv)}\npython {sys.version.split()[0]} on {sys.platform}\n\n"
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
    from .workdirs import disk_full_line, is_disk_full

    if is_disk_full(error):
        return disk_full_line(error)
    where = f" writing {error.filename}" if error.filename else ""
    return f"{_ENVIRONMENT_ERRNOS[error.errno]}{where} — free some space or point the output elsewhere, then rerun"


# error handlers under which any character can be written, whatever the stream's encoding
_SAFE_ERROR_HANDLERS = {"replace", "backslashreplace", "xmlcharrefreplace", "namereplace", "ignore"}


def make_streams_safe() -> None:
    """Whatever the terminal's encoding (ASCII under LC_ALL=C, cp1252 on a Windows console), a
    character it cannot show is written as "?" instead of raising UnicodeEncodeError: a finding
    naming a module `café` must print, not crash. stderr keeps Python's backslashreplace."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None or getattr(stream, "errors", None) in _SAFE_ERROR_HANDLERS:
            continue  # an in-memory stream (tests) has no encoding to fail
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError, AttributeError):
            pass  # a closed or detached stream: nothing will be written to it anyway


def current_folder_problem() -> Optional[str]:
    """One line when the current working folder no longer exists (deleted while tinytorch-verifier ran, or before)."""
    try:
        os.getcwd()
    except OSError:
        return ("the current folder no longer exists (it was deleted or moved) — "
                "cd to an existing folder and rerun")
    return None


class OutputStreamError(OSError):
    """A write to stdout or stderr failed (a full disk it is redirected to, /dev/full): raised in
    place of the bare OSError, whose missing file name would leave the guard guessing.

    Not a VerifierError: it stands in for the OSError a `write` raises (errno kept), so code between
    the write and the guard that handles OSError still sees one."""

    def __init__(self, stream_name: str, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.stream_name = stream_name


class _NamedStream:
    """sys.stdout / sys.stderr while a command runs: the same stream, but a failed write says
    which stream failed. Everything else (isatty, encoding, fileno) is the stream's own."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def _failed(self, error: OSError) -> OSError:
        return error if isinstance(error, BrokenPipeError) else OutputStreamError(self._name, error)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            raise self._failed(error) from error

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise self._failed(error) from error

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def named_streams() -> Iterator[None]:
    """While the block runs, a failed write to stdout or stderr is an OutputStreamError."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = _NamedStream(sys.stdout, "standard output")
    if sys.stderr is not None:
        sys.stderr = _NamedStream(sys.stderr, "standard error")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def output_stream_problem(error: BaseException) -> Optional[str]:
    """One line for a failed write to stdout or stderr (`tinytorch-verifier ... > /dev/full`): the stream is
    named, not the temporary folder."""
    if not isinstance(error, OutputStreamError):
        return None
    stream = sys.stdout if error.stream_name == "standard output" else sys.stderr
    _discard_output(getattr(stream, "_stream", stream))
    reason = (os.strerror(error.errno) if error.errno else str(error)).lower()
    return (f"cannot write to {error.stream_name}: {reason} — free space where it is redirected, "
            "or redirect it elsewhere, then rerun")


def _discard_output(stream: TextIO) -> None:
    """Point the failed stream at os.devnull, so the interpreter's flush at exit does not print a
    second complaint with the unwritable text still buffered."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _say(stream: TextIO, line: str) -> None:
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed or broken stderr must not turn into a traceback


def _end_children() -> None:
    """Kill every child group, wait for them, then kill what still carries this run's token (a
    descendant that left its group); later commands in this process (tests) may start children again."""
    processes = sys.modules.get(f"{__package__}.processes")
    if processes is None:  # never imported: this process started no child through it, there is none to end
        return
    processes.stop_all()
    processes.allow_new()


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
    """Run one tinytorch-verifier command and map whatever happens to an exit code and at most one line on stderr."""
    previous = _sigterm_as_interrupt()
    try:
        with named_streams():
            return _guarded(command, argv, stderr or sys.stderr)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _guarded(command: Callable[[], int], argv: Sequence[str], err: TextIO) -> int:
    processes = sys.modules.get(f"{__package__}.processes")  # not imported: no earlier run stopped anything
    if processes is not None:
        processes.allow_new()  # a command in a process where an earlier one was interrupted (tests) may start children
    try:
        try:
            code = command()
            if sys.stdout is not None:
                sys.stdout.flush()  # a failed write of the output is this command's, reported by the guard
        finally:
            _end_children()  # no child outlives tinytorch-verifier, whatever ended the command (normal exit too)
        return int(code or 0)
    except VerifierError as error:
        _say(err, f"tinytorch-verifier: error: {error}")
        return int(getattr(error, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    except KeyboardInterrupt:
        _say(err, "tinytorch-verifier: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as stop:  # argparse inside a command, or an explicit exit
        return stop.code if isinstance(stop.code, int) else (EXIT_USAGE if stop.code else EXIT_READY)
    except BrokenPipeError:
        return EXIT_READY if _stdout_closed_early() else EXIT_USAGE
    except BaseException as error:  # noqa: BLE001 - the point of the guard: nothing escapes as a traceback
        problem = output_stream_problem(error) or environment_problem(error)
        if problem is None and isinstance(error, FileNotFoundError):
            problem = current_folder_problem()  # os.getcwd() and relative paths fail once it is gone
        if problem:
            _say(err, f"tinytorch-verifier: error: {problem}")
            return EXIT_USAGE
        log = write_crash_log(error, argv)
        where = f"; the traceback is in {log}" if log else " (no log file could be written)"
        _say(err, f"tinytorch-verifier: internal error: {type(error).__name__} in the verifier{where} — "
                  f"{BUG_REPORT_HINT}")
        return EXIT_INTERNAL


def _stdout_closed_early() -> bool:
    """`tinytorch-verifier package deps | head`: the reader went away; not an error of anyone's. Silence the
    interpreter's own complaint when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return True
