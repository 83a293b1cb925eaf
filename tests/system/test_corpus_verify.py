"""`tinytorch-verifier verify --python 3.12` on the three real upstream snapshots (../shared/corpus, unpacked into
tmp_path, never into the repository) builds and installs each one and reports, in the module-imports
stage's `failed_modules`, exactly the exported modules whose import fails when the real toolchain's
export is installed.

The truth (tests/fixtures/corpus_truth.py) was measured with jupytext + nbdev
2.4.14 exporting each snapshot, the export pip-installed into a fresh Python 3.12 venv with the
course's declared dependencies, and every module imported alone in a fresh `python -I` process. Only
exported module files are compared: the package `__init__` files nbdev writes are not students' modules.

Skips with a reason when the corpus or Python 3.12 is absent.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from corpus_truth import CORPUS, FAILING, MEASURED
from helpers import NO_CORPUS, REPO

from verifier.runner.interpreters import find_interpreter

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(not CORPUS.is_dir(),
                                 reason=NO_CORPUS)]

# the side effect the truth's plain import cannot see: autograd prints on import (and every module importing it)
SIDE_EFFECTS = {"52e1cf6f": {"tinytorch.core.autograd"}, "ce776937": set(), "4246c759": set()}


def _is_package(dotted: str, commit: str) -> bool:
    return any(other.startswith(dotted + ".") for other in MEASURED[commit])


@pytest.mark.parametrize("commit", sorted(FAILING))
def test_failed_modules_equal_the_real_exports_import_failures(commit, tmp_path):
    if find_interpreter("3.12").interpreter is None:
        pytest.skip("no Python 3.12 interpreter on this machine")
    with tarfile.open(CORPUS / f"tinytorch-{commit}.tar.gz") as tar:
        tar.extractall(tmp_path / "tree")  # noqa: S202 — our own corpus
    course = next((tmp_path / "tree").iterdir())
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", "3.12",
                           "--scenario", "imports", "--no-tests", "--reports", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "PYTHONPATH": str(REPO)})
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert done.returncode == 1, done.stdout[-3000:]  # every snapshot has real breakage: blocked
    result = json.loads((tmp_path / "reports" / "verify.json").read_text())
    [python] = result["pythons"]
    stages = {s["name"]: s for s in python["stages"]}
    build = next(s for s in result["stages"] if s["name"] == "build")
    assert stages["install"]["status"] == "passed", (build["detail"], stages["install"])  # it installs
    figures = stages["module-imports"]["figures"]
    expected = {m for m in FAILING[commit] if not _is_package(m, commit)}
    assert set(figures["failed_modules"]) == expected
    assert set(figures["side_effects"]) == SIDE_EFFECTS[commit]
    # every failure names the student's module and file:line
    assert all(" — " in why for why in figures["failed_modules"].values()), figures["failed_modules"]
    # the NumPy API check (issue 20 item 3) must not fire on a real tree: every np.X its modules use exists
    # in the NumPy this Python resolves (measured: none missing with NumPy 2.0.2, 2.4.6 and 2.5.5)
    api = stages["dependency-api"]
    assert api["status"] != "failed" and api["figures"].get("missing", []) == [], (api["detail"], api["figures"])
