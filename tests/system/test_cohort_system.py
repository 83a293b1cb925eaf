"""`tinytorch-verifier cohort verify` end to end on a small class: a clean student, one whose 02_layers (the 04_layers
of this two-module course) fails at import (modules_to_fix names it), a folder that is not a course, and a
student whose module tries at import to read a sibling's file and a file in HOME and to connect to
127.0.0.1 — every attempt must fail in the sandbox. Then a second run on the unchanged trees reuses every
verdict."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

from verifier.runner import sandbox
from verifier.runner.interpreters import find_interpreter

pytestmark = pytest.mark.system
TITO = [sys.executable, "-m", "verifier.cli"]
PYTHON = "3.12" if find_interpreter("3.12").interpreter else f"{sys.version_info[0]}.{sys.version_info[1]}"
LAYERS = """\
# %%
#| default_exp core.layers

# %%
#| export
import numpy as np

def linear(x, w):
    return np.asarray(x) @ np.asarray(w)
"""
FAULT = "\n# %%\n#| export\nLAYER_SCALE = undefined_scale_factor * 2\n"
PROBE = """\
# %%
#| default_exp core.probe

# %%
#| export
import socket

_outcomes = []
for _name, _path in (("sibling", {sibling!r}), ("home", {home!r})):
    try:
        open(_path).read()
        _outcomes.append(_name + ": read")
    except OSError:
        _outcomes.append(_name + ": blocked")
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    _outcomes.append("socket: connected")
except OSError:
    _outcomes.append("socket: blocked")
raise ImportError("sandbox probe: " + "; ".join(_outcomes))
"""


def _student(root: Path, layers: str = LAYERS, extra=None) -> Path:
    modules = {"01_alpha/alpha.py": MINI_MODULE, "02_layers/layers.py": layers, **(extra or {})}
    return write_course(root, modules, pyproject=MINI_PYPROJECT)


def _run(submissions: Path, reports: Path):
    done = subprocess.run([*TITO, "cohort", "verify", str(submissions), "--reports", str(reports), "--python", PYTHON,
                           "--scenario", "imports", "--no-tests", "--jobs", "2"],
                          capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stderr, done.stderr
    lines = (reports / "gradebook.csv").read_text().splitlines()
    warning = [ln for ln in lines if ln.startswith("#")]
    rows = list(csv.reader([ln for ln in lines if not ln.startswith("#")]))
    return done, warning, rows, json.loads((reports / "cohort.json").read_text())


def test_a_small_class_gives_exact_gradebook_rows(tmp_path):
    submissions = tmp_path / "submissions"
    alice = _student(submissions / "hw1-alice")
    _student(submissions / "hw1-bob", LAYERS + FAULT)
    (submissions / "hw1-carol").mkdir()
    (submissions / "hw1-carol" / "notes.txt").write_text("I did not start\n")
    home_file = Path.home() / f".tito-cohort-probe-{os.getpid()}"
    home_file.write_text("instructor token\n")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    sibling = alice / "modules" / "01_alpha" / "alpha.py"
    probe = PROBE.format(sibling=str(sibling), home=str(home_file), port=server.getsockname()[1])
    _student(submissions / "hw1-dave", extra={"03_probe/probe.py": probe})
    reports = tmp_path / "reports"
    try:
        done, warning, rows, data = _run(submissions, reports)
    finally:
        server.close()
        home_file.unlink()
    assert done.returncode == 0, done.stderr
    carol_note = f"{submissions / 'hw1-carol'}: no course here: neither pyproject.toml nor settings.ini — pass the " \
                 "path of a TinyTorch checkout with --course"
    assert [r[:4] + r[5:] for r in rows] == [
        ["student", "verdict", "modules_to_fix", "first_failing_stage", "note"],
        ["alice", "VERIFIED", "", "", ""],
        ["bob", "NOT VERIFIED", "02_layers", f"{PYTHON}:module-imports", ""],
        ["carol", "NOT A COURSE", "", "", carol_note],
        # the static checks see the hard-coded path into a student tree (TT212) before anything runs
        ["dave", "NOT VERIFIED", "03_probe", f"course:validate;{PYTHON}:module-imports", ""]]
    assert all(float(r[4]) >= 0 for r in rows[1:])
    students = {s["student"]: s for s in data["students"]}
    probe_messages = " ".join(f["message"] for f in students["dave"]["failures"])
    if sandbox.probe()[0] is None:   # no sandbox: said once at the top of the gradebook
        assert warning == [f"# WARNING: student code was not sandboxed: {sandbox.probe()[1]}"]
    else:
        assert warning == []
        assert "sandbox probe: sibling: blocked; home: blocked; socket: blocked" in probe_messages
    assert (reports / "students" / "bob" / "verify.json").is_file() and (reports / "cohort.html").is_file()
    assert "02_layers" in (reports / "cohort.html").read_text()

    again, _, rows_again, data_again = _run(submissions, reports)
    assert again.returncode == 0 and [r[:4] for r in rows_again] == [r[:4] for r in rows]
    assert {s["student"]: s["reused"] for s in data_again["students"]} == \
        {"alice": True, "bob": True, "carol": False, "dave": True}
