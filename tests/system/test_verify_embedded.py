"""System test: the whole verify on the embedded course for one Python, read back from its JSON."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.system
def test_verify_embedded_course_one_python(tmp_path):
    before = tree_digest(COURSE)
    reports = tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--python", PYTHON,
                           "--reports", str(reports)], cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    assert tree_digest(COURSE) == before, "verify changed the course's source tree"
    data = json.loads((reports / "verify.json").read_text())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert data["ok"] and not data["ready"]  # one Python of five: a partial run is never a release verdict
    assert data["partial"].startswith("Pythons ") and data["partial"].endswith(" not run")
    assert PYTHON not in data["partial"]
    assert [s["name"] for s in data["stages"]] == ["validate", "export", "api", "build", "editable"]
    (python,) = data["pythons"]
    assert python["version"] == PYTHON and python["status"] == "passed"
    assert python["full_version"] == sys.version.split()[0]
    assert Path(python["interpreter"]).name.startswith("python")
    pinned = [line.split("==")[1] for line in (COURSE / "locks" / f"py{PYTHON}.txt").read_text().splitlines()
              if line.startswith("numpy==")]
    assert [python["numpy_version"]] == pinned  # the lock decides: every run resolves the same version
    assert python["site_packages"] and "site-packages" in python["site_packages"]
    assert python["tinytorch_file"].startswith(python["site_packages"])
    names = [s["name"] for s in python["stages"]]
    assert names[:7] == ["venv", "install", "module-imports", "entry-points", "dependency-api", "imports",
                         "installation"]
    assert names[-1] == "course-tests"
    assert {"cnn", "transformer"} <= set(names)
    figures = {s["name"]: s["figures"] for s in python["stages"]}
    # uv is the installer (the default): uv made the venv, and the installation scenario's `pip check` passed in it
    assert figures["venv"]["made_by"].startswith("uv venv")
    assert figures["module-imports"]["failed_modules"] == {} and figures["module-imports"]["modules"] >= 18
    assert figures["dependency-api"]["uses"] > 0 and figures["dependency-api"]["missing"] == []
    assert figures["cnn"]["test_accuracy"] >= 0.95
    assert figures["course-tests"]["passed"] > 0 and figures["course-tests"]["failed"] == 0
    assert "Result: PASS (partial: not a release verdict)" in done.stdout and "BLOCKING" not in done.stdout
    junit = (reports / "junit.xml").read_text()
    assert junit.count("<testcase") >= len(names) + 3
