"""The status report leads with what breaks students: on a real upstream snapshot (../shared/corpus),
the first 25 lines of `tinytorch-verifier package status` name the modules whose import fails for a student, and no
metadata-only finding comes above them. Skips with a reason when the corpus or Python 3.12 is absent."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from corpus_truth import CORPUS
from helpers import REPO

from verifier.runner.interpreters import find_interpreter

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(not CORPUS.is_dir(),
                                 reason=f"no TinyTorch corpus at {CORPUS} (shared/ beside the clone)")]
ENV = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "PYTHONPATH": str(REPO)}


def test_first_screen_names_the_student_facing_modules_before_any_metadata(tmp_path):
    if find_interpreter("3.12").interpreter is None:
        pytest.skip("no Python 3.12 interpreter on this machine")
    with tarfile.open(CORPUS / "tinytorch-ce776937.tar.gz") as tar:
        tar.extractall(tmp_path / "tree")  # noqa: S202 — our own corpus
    course = next((tmp_path / "tree").iterdir())
    reports = tmp_path / "reports"
    subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", "3.12",
                    "--reports", str(reports)], capture_output=True, text=True, timeout=900, cwd=tmp_path, env=ENV)
    status = subprocess.run([sys.executable, "-m", "verifier.cli", "package", "status", "--reports", str(reports)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=ENV)
    assert "Traceback" not in status.stdout + status.stderr, status.stderr[-3000:]
    first = status.stdout.splitlines()[:25]
    screen = "\n".join(first)
    # the truth, from the run's typed data: the course modules whose own import raised
    result = json.loads((reports / "verify.json").read_text())
    [python] = result["pythons"]
    imports = next(s for s in python["stages"] if s["name"] == "module-imports")
    blamed = {rec["blamed"] for rec in imports["figures"]["import_failures"] if rec["blamed"]}
    assert blamed >= {"01_setup", "03_activations", "11_training"}   # psutil, matplotlib, dev-file imports
    for module in blamed:       # each named, the root causes as numbered items
        assert module in screen, (module, screen)
    for module in ("01_setup", "03_activations", "11_training"):
        assert f". {module}:" in screen, (module, screen)
    assert "Python 3.12: NO" in screen and "Next: fix 01_setup" in screen
    # no metadata-only finding (module.yaml components, prerequisites, names) above the root causes
    metadata = {code for code in ("TT118", "TT203", "TT111", "TT201", "TT001", "TT210")}
    assert not any(code in line for line in first for code in metadata), screen
    assert len([line for line in first if line.startswith("Next:")]) == 1   # the first screen ends within 25 lines
