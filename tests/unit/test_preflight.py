"""Preflight: a run that cannot finish fails at once with exit 2 — an unusable --reports target or an
unknown --python — before anything is exported or built."""
from __future__ import annotations

import os
import time

import pytest

from verifier.cli import main


def run(capsys, *argv):
    started = time.monotonic()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err, time.monotonic() - started


def test_reports_target_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "reports"
    target.write_text("")
    code, err, seconds = run(capsys, "verify", "--reports", str(target))
    assert code == 2 and "not a folder" in err and err.count("\n") == 1 and seconds < 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_reports_target_in_a_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err, _ = run(capsys, "verify", "--reports", str(folder / "reports"))
    finally:
        folder.chmod(0o700)
    assert code == 2 and "not writable" in err


def test_reports_target_under_a_file_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err, _ = run(capsys, "package", "test", "--quick", "--reports", str(blocker / "reports"))
    assert code == 2 and "cannot be created" in err


@pytest.mark.parametrize("version, expected", [("banana", "is not a Python version"), ("3.99", "3.99")])
def test_unknown_python_fails_before_the_build(version, expected, tmp_path, capsys):
    code, err, seconds = run(capsys, "verify", "--python", version, "--reports", str(tmp_path / "r"))
    assert code == 2 and expected in err and seconds < 30
    assert not (tmp_path / "r").exists()


def test_read_commands_do_not_need_a_writable_reports_folder(tmp_path, capsys):
    target = tmp_path / "reports"
    target.write_text("")
    code, err, _ = run(capsys, "package", "status", "--reports", str(target))
    assert "not a folder" not in err
