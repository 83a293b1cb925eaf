"""The top-level guard of `tinytorch-verifier`: exit codes say who failed (0 ready, 1 blocked, 2 usage or
configuration, 3 internal error with a log file), and no traceback ever reaches the terminal."""
from __future__ import annotations

import errno
import io
import subprocess
import sys

import pytest

from verifier.errors import CourseError
from verifier.runner import guard as _guard
from verifier.runner.guard import EXIT_INTERNAL, EXIT_USAGE, run_guarded


def run(command, tmp_path, monkeypatch):
    monkeypatch.setenv("TITO_LOG_DIR", str(tmp_path / "logs"))
    err = io.StringIO()
    code = run_guarded(command, ["package", "validate"], err)
    return code, err.getvalue()


def test_a_command_result_is_passed_through(tmp_path, monkeypatch):
    assert run(lambda: 1, tmp_path, monkeypatch) == (1, "")
    assert run(lambda: None, tmp_path, monkeypatch) == (0, "")


def test_a_user_error_is_one_line_and_exit_2(tmp_path, monkeypatch):
    def fail():
        raise CourseError("bad thing", tmp_path / "pyproject.toml", 3, hint="fix it")
    code, text = run(fail, tmp_path, monkeypatch)
    assert code == EXIT_USAGE
    assert text.count("\n") == 1 and "pyproject.toml:3: bad thing — fix it" in text


@pytest.mark.parametrize("error", [AttributeError("'str' object has no attribute 'get'"), RecursionError(),
                                   MemoryError(), KeyError("x"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")])
def test_a_bug_is_exit_3_with_a_log_holding_the_traceback(error, tmp_path, monkeypatch):
    def crash():
        raise error
    code, text = run(crash, tmp_path, monkeypatch)
    assert code == EXIT_INTERNAL
    assert text.count("\n") == 1 and "Traceback" not in text
    assert "internal error" in text and "report" in text
    logs = list((tmp_path / "logs").glob("tito-crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in text
    log = logs[0].read_text()
    assert "Traceback" in log and type(error).__name__ in log and "tinytorch-verifier package validate" in log


def test_an_unwritable_log_folder_falls_back_to_the_temporary_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TITO_LOG_DIR", str(blocker / "sub"))
    err = io.StringIO()
    assert run_guarded(lambda: 1 / 0, ["x"], err) == EXIT_INTERNAL
    assert "tito-crash-" in err.getvalue()


def test_a_full_disk_is_a_clear_error_not_a_bug(tmp_path, monkeypatch):
    def full():
        raise OSError(errno.ENOSPC, "No space left on device", "/out/verify.json")
    code, text = run(full, tmp_path, monkeypatch)
    assert code == EXIT_USAGE and "no space left" in text and "/out/verify.json" in text
    assert not (tmp_path / "logs").exists()


def test_interrupt_is_130(tmp_path, monkeypatch):
    def stop():
        raise KeyboardInterrupt
    assert run(stop, tmp_path, monkeypatch)[0] == 130


def test_main_guards_every_command(tmp_path, monkeypatch, capsys):
    """A crash inside a command, reached through `main`, is exit 3 and one line on stderr."""
    import verifier.deps.graph as graph
    from verifier.cli import main

    def boom(*args, **kwargs):
        raise AttributeError("'list' object has no attribute 'get'")
    monkeypatch.setenv("TITO_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(graph, "run_deps", boom)
    assert main(["package", "deps", "--course", str(tmp_path)]) == EXIT_INTERNAL
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.startswith("tinytorch-verifier: internal error: AttributeError")
    assert captured.err.count("\n") == 1


def test_a_subprocess_crash_prints_no_traceback(tmp_path):
    """In a fresh interpreter: a crashing command leaves one line on stderr and exit 3."""
    done = subprocess.run([sys.executable, "-c", "import sys; from verifier.runner.guard import run_guarded; "
                           "sys.exit(run_guarded(lambda: {}['missing'], ['x']))"],
                          capture_output=True, text=True, env={"TITO_LOG_DIR": str(tmp_path), "PATH": ""})
    assert done.returncode == EXIT_INTERNAL, done.stderr
    assert "Traceback" not in done.stdout + done.stderr and done.stderr.count("\n") == 1


def test_closed_stdout_is_not_a_crash(tmp_path):
    script = ("import sys\nfrom verifier.runner.guard import run_guarded\n"
              "def spam():\n    while True:\n        print('x' * 100)\n"
              "sys.exit(run_guarded(spam, ['x']))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and proc.returncode in (0, 2)


def test_guard_module_documents_the_codes():
    assert "3  internal error" in _guard.__doc__
