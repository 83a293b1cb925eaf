"""Preflight: a run that cannot finish fails at once with exit 2 — an unusable --reports target or an
unknown --python — before anything is exported or built."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from typing import List

import pytest
from helpers import without_permission_override

from verifier.cli import main

cli_commands = importlib.import_module("verifier.cli.commands")


@pytest.fixture
def started(monkeypatch) -> List[str]:
    """The commands that began (verify, package test): preflight refusing a run means none did — nothing
    exported or built, whatever the machine's load (what a wall-clock bound tried to show)."""
    began: List[str] = []
    for name in ("cmd_verify", "cmd_test"):
        monkeypatch.setattr(cli_commands, name, lambda args, name=name: began.append(name) or 0)
    return began


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err


def test_reports_target_that_is_a_file(tmp_path, capsys, started):
    target = tmp_path / "reports"
    target.write_text("")
    code, err = run(capsys, "verify", "--reports", str(target))
    assert code == 2 and "not a folder" in err and err.count("\n") == 1 and started == []


def _without_override(argv: List[str]) -> subprocess.CompletedProcess:
    """As root, the check runs in a `tinytorch-verifier` child that cannot override permissions (helpers)."""
    prefix = without_permission_override()
    if prefix is None:
        pytest.skip("as root, needs setpriv and CAP_SETPCAP to drop CAP_DAC_OVERRIDE (or run as a non-root user)")
    return subprocess.run([*prefix, sys.executable, "-m", "verifier.cli", *argv], capture_output=True, text=True,
                          timeout=120)


def test_reports_target_in_a_read_only_folder(tmp_path, capsys, started):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    argv = ["verify", "--reports", str(folder / "reports")]
    try:
        if os.geteuid() == 0:
            done = _without_override(argv)
            code, err = done.returncode, done.stderr
            assert "Traceback" not in done.stdout + err and err.count("\n") == 1
        else:
            code, err = run(capsys, *argv)
            assert started == []
    finally:
        folder.chmod(0o700)
    assert code == 2 and "not writable" in err and not (folder / "reports").exists()


def test_reports_target_under_a_file_cannot_be_created(tmp_path, capsys, started):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run(capsys, "package", "test", "--quick", "--reports", str(blocker / "reports"))
    assert code == 2 and "cannot be created" in err and started == []


@pytest.mark.parametrize("version, expected", [("banana", "is not a Python version"), ("3.99", "3.99")])
def test_unknown_python_fails_before_the_build(version, expected, tmp_path, capsys, started):
    code, err = run(capsys, "verify", "--python", version, "--reports", str(tmp_path / "r"))
    assert code == 2 and expected in err and started == []
    assert not (tmp_path / "r").exists()


def test_read_commands_do_not_need_a_writable_reports_folder(tmp_path, capsys):
    target = tmp_path / "reports"
    target.write_text("")
    code, err = run(capsys, "package", "status", "--reports", str(target))
    assert "not a folder" not in err
