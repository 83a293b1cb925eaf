"""create_venv makes its venv with virtualenv's Python API inside the verifier's process (no new
Python importing virtualenv per venv): the venv must be the one `python -m virtualenv` makes with
the same flags — same pyvenv.cfg, same seeded packages, a Python that runs and has pip — its CPU
time must still reach the stage's meter, and a failure must still be one EnvironmentSetupError."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verifier.errors import EnvironmentSetupError
from verifier.runner import envs
from verifier.runner.envs import VENV_FLAGS, clean_env, create_venv
from verifier.runner.interpreters import find_interpreter
from verifier.runner.processes import metered


def _interpreter() -> Path:
    lookup = find_interpreter(f"{sys.version_info[0]}.{sys.version_info[1]}")
    if lookup.interpreter is None:
        pytest.skip("no interpreter found for the running Python's version")
    return lookup.interpreter.path


def _config(root: Path) -> dict:
    """pyvenv.cfg without the lines that name the venv's own folder."""
    lines = (root / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    pairs = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return {key: value.replace(str(root), "<venv>") for key, value in pairs.items()}


def _content(root: Path) -> set:
    """Every path in the venv, relative, with the venv's own folder name left out (links as links)."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if "__pycache__" not in path.parts}


def test_in_process_venv_is_the_one_the_command_makes(tmp_path):
    interpreter = _interpreter()
    assert envs._virtualenv_api() is not None, "virtualenv is a dependency of the verifier"
    by_api = create_venv(interpreter, tmp_path / "api")
    by_command = tmp_path / "command"
    subprocess.run([sys.executable, "-m", "virtualenv", *VENV_FLAGS, "--python", str(interpreter), str(by_command)],
                   env=clean_env(), check=True, capture_output=True)
    assert _config(by_api.root) == {k: v.replace(str(by_command), "<venv>") for k, v in _config(by_command).items()}
    assert _content(by_api.root) == _content(by_command)
    pip = subprocess.run([str(by_api.python), "-m", "pip", "--version"], capture_output=True, text=True,
                         env=clean_env())
    assert pip.returncode == 0 and str(by_api.root) in pip.stdout
    prefix = subprocess.run([str(by_api.python), "-c", "import sys; print(sys.prefix)"], capture_output=True,
                            text=True, env=clean_env())
    assert Path(prefix.stdout.strip()).resolve() == by_api.root.resolve()


def test_in_process_venv_ignores_the_callers_virtual_env(tmp_path, monkeypatch):
    """clean_env as the child's environment: a VIRTUAL_ENV of the caller's shell does not leak in."""
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "elsewhere"))
    venv = create_venv(_interpreter(), tmp_path / "venv")
    assert "elsewhere" not in (venv.root / "pyvenv.cfg").read_text(encoding="utf-8")


def test_in_process_venv_cpu_reaches_the_meter(tmp_path):
    with metered() as meter:
        create_venv(_interpreter(), tmp_path / "venv")
    assert meter.processes == 1 and meter.seconds > 0


def test_in_process_failure_is_one_setup_error(tmp_path):
    with pytest.raises(EnvironmentSetupError) as raised:
        create_venv(tmp_path / "no-such-python", tmp_path / "venv")
    assert "virtualenv failed for" in str(raised.value) and "\n" not in str(raised.value)


def test_existing_folder_is_refused_before_virtualenv_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "_virtualenv_api", lambda: pytest.fail("virtualenv must not run"))
    (tmp_path / "venv").mkdir()
    with pytest.raises(EnvironmentSetupError, match="refusing to reuse"):
        create_venv(_interpreter(), tmp_path / "venv")


def test_without_the_api_the_command_makes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "_virtualenv_api", lambda: None)
    with metered() as meter:
        venv = create_venv(_interpreter(), tmp_path / "venv")
    assert venv.python.exists() and meter.processes == 1


def test_a_venv_that_never_finishes_is_a_failure_within_the_timeout(tmp_path, monkeypatch):
    """An interpreter that hangs when virtualenv asks it about itself must not hang the run: the
    in-process venv is bounded like the child process it replaces; the next venv is refused, not queued
    forever behind it."""
    import threading
    import time

    release = threading.Event()
    monkeypatch.setattr(envs, "_virtualenv_api", lambda: (lambda *a, **k: release.wait(30)))
    began = time.monotonic()
    with pytest.raises(EnvironmentSetupError, match="did not finish within 1 s"):
        create_venv(_interpreter(), tmp_path / "venv", timeout=1.0)
    with pytest.raises(EnvironmentSetupError, match="still being made"):
        create_venv(_interpreter(), tmp_path / "venv2", timeout=1.0)
    assert time.monotonic() - began < 10
    release.set()  # the stuck thread ends and frees the lock for the tests after this one
    deadline = time.monotonic() + 10
    while envs._venv_lock.locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not envs._venv_lock.locked()
