"""Running the verifier is safe: hangs and runaway memory are stopped while the rest of the matrix
goes on, SIGTERM ends a run cleanly with a partial report, concurrent runs do not interfere,
and the course tree is never changed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from verifier.pipeline.verify import VerifyOptions, verify

pytestmark = pytest.mark.system
TMP = Path(tempfile.gettempdir())


def work_dirs():
    return set(TMP.glob("tito-verify-*"))


def test_hanging_scenario_stops_at_timeout_while_other_pythons_run(mini_course):
    course = mini_course("import sys, time\nif sys.version_info < (3, 10):\n    time.sleep(600)")
    started = time.monotonic()
    result = verify(VerifyOptions(course=course, pythons=["3.9", "3.13"], scenarios=["imports"],
                                  run_tests=False, scenario_timeout=8))
    assert time.monotonic() - started < 240
    old, new = result.pythons
    imports = old.stage("imports")
    assert imports.status == "failed" and "timed out after 8 s" in imports.detail
    assert imports.attribution is not None and imports.attribution.module == "01_alpha"  # faulthandler stack
    assert new.verified, [s.detail for s in new.stages]


def test_runaway_memory_is_stopped_and_reported(mini_course):
    course = mini_course("_HOG = [bytearray(256 * 1024 * 1024) for _ in range(64)]")
    result = verify(VerifyOptions(course=course, pythons=[f"{sys.version_info[0]}.{sys.version_info[1]}"],
                                  scenarios=["imports", "installation"], run_tests=False, memory_mb=1024))
    (python,) = result.pythons
    assert python.stage("imports").status == "failed" and "MemoryError" in python.stage("imports").detail
    assert python.stage("imports").attribution.module == "01_alpha"


def test_sigterm_ends_the_run_cleanly_with_a_partial_report(mini_course, tmp_path):
    course = mini_course("import time\ntime.sleep(600)")
    before = work_dirs()
    reports = tmp_path / "reports"
    env = dict(os.environ, CI="true", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course),
                             "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if " install " in line and "passed" in line:
            break
    time.sleep(2)  # the imports scenario is now sleeping inside the student's module
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, "".join(lines) + out
    assert "Traceback" not in out
    data = json.loads((reports / "verify.json").read_text())
    assert data["interrupted"] is True and data["ok"] is False and data["ready"] is False
    stages = {s["name"]: s["status"] for s in data["pythons"][0]["stages"]}
    assert stages["install"] == "passed" and stages["installation"] == "not run"
    assert work_dirs() <= before, "the temporary work directory (venvs) was left behind"
    leftovers = subprocess.run(["pgrep", "-f", "scenario-imports"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "a scenario process survived the interrupt"


def test_two_runs_at_once_do_not_interfere(mini_course, tmp_path):
    course = mini_course()
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python",
               f"{sys.version_info[0]}.{sys.version_info[1]}", "--scenario", "imports", "--no-tests",
               "--reports", str(reports)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert json.loads((reports / "verify.json").read_text())["ok"] is True
    assert not list(reports.glob(".*.tmp"))
