"""The venvs made during the course-wide stages (verifier/pipeline/earlyvenvs.py), with the interpreter
lookup and the venv creation replaced by fakes: made in matrix order at the Python's own place, taken
once, waited for while being made, none started after stop(), a missing interpreter left to the task."""
from __future__ import annotations

import threading
from pathlib import Path

from verifier.pipeline import earlyvenvs
from verifier.results import PASSED, StageResult
from verifier.runner.envs import Venv
from verifier.runner.interpreters import Interpreter, Lookup

installers = []   # the installer each venv was made for, in order


def fake(monkeypatch, tmp_path, gate=None, missing=()):
    made = []
    installers.clear()

    def find(version):
        interpreter = None if version in missing else Interpreter(version, tmp_path / f"python{version}", version)
        return Lookup(version, interpreter, ["fake"])

    def create(interpreter, where, installer="pip", version=""):
        assert version == interpreter.name[len("python"):]   # the interpreter's version goes with it
        installers.append(installer)
        if gate is not None:
            gate.wait(5)
        where.mkdir()
        made.append(where)
        return StageResult("venv", PASSED, 0.1, detail=str(interpreter)), Venv(where)

    monkeypatch.setattr(earlyvenvs, "find_interpreter", find)
    monkeypatch.setattr(earlyvenvs, "venv_stage_for", create)
    return made


def test_every_venv_is_made_at_its_pythons_place_and_taken_once(monkeypatch, tmp_path):
    made = fake(monkeypatch, tmp_path, missing=("3.10",))
    early = earlyvenvs.EarlyVenvs(["3.9", "3.10", "3.11"], tmp_path, threading.Event(), installer="uv")
    early.start()
    early._thread.join(5)   # not stopped: every Python of the matrix gets its venv
    early.close()
    assert made == [tmp_path / "py3.9" / "venv", tmp_path / "py3.11" / "venv"]
    assert installers == ["uv", "uv"]   # made for the run's installer, as the venv task would
    taken = early.take("3.9")
    assert taken is not None and taken[2] == Venv(tmp_path / "py3.9" / "venv")
    assert taken[1].figures["processes"] == 0 and "cpu_seconds" in taken[1].figures
    assert early.take("3.9") is None          # once: a second task would make its own
    assert early.take("3.10") is None         # no interpreter: the venv task reports it


def test_take_waits_for_the_venv_being_made_and_stop_starts_no_other(monkeypatch, tmp_path):
    gate = threading.Event()
    made = fake(monkeypatch, tmp_path, gate=gate)
    early = earlyvenvs.EarlyVenvs(["3.12", "3.13"], tmp_path, threading.Event())
    early.start()
    while early._making != "3.12":
        threading.Event().wait(0.01)
    early.stop()
    answer = []
    taker = threading.Thread(target=lambda: answer.append(early.take("3.12")))
    taker.start()
    taker.join(0.2)
    assert taker.is_alive() and not answer   # waiting: the venv is being made
    gate.set()
    taker.join(5)
    early.close()
    assert answer and answer[0] is not None and answer[0][2].root == tmp_path / "py3.12" / "venv"
    assert made == [tmp_path / "py3.12" / "venv"]   # 3.13 never started after stop()
    assert installers == ["pip"]   # the default, as venv_stage_for's
    assert early.take("3.13") is None


def test_a_cancelled_run_makes_no_venv(monkeypatch, tmp_path):
    made = fake(monkeypatch, tmp_path)
    cancelled = threading.Event()
    cancelled.set()
    early = earlyvenvs.EarlyVenvs(["3.12"], tmp_path, cancelled)
    early.start()
    early.close()
    assert made == [] and early.take("3.12") is None
    assert not Path(tmp_path / "py3.12").exists()
