"""`tinytorch-verifier verify --canary` end to end, one Python (3.13) plus the canary leg, one scenario, no course
tests:

- a copy of the embedded course whose `save_model` (16_mlops) stamps its checkpoint with
  `datetime.datetime.utcnow()` (deprecated since Python 3.12): the canary names
  modules/16_mlops/mlops.py:161 with the warning's own message, seen in the persistence scenario, while
  the matrix leg's verdict is unchanged (advisory); with `--canary=block` the same run is blocked;
- the clean embedded course and a real upstream snapshot (../shared/corpus): no canary finding.

Skips with a reason when Python 3.13 (or the corpus) is absent.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import CORPUS, EMBEDDED_COURSE, NO_CORPUS, REPO

from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, PASSED
from verifier.runner.interpreters import find_interpreter

pytestmark = pytest.mark.system
PYTHON = "3.13"
STAMP = 'datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")'
DEPRECATED = 'datetime.datetime.utcnow().isoformat(timespec="seconds")'


@pytest.fixture(scope="module", autouse=True)
def needs_python() -> None:
    if find_interpreter(PYTHON).interpreter is None:
        pytest.skip(f"no Python {PYTHON} interpreter on this machine")


def course_copy(where: Path, deprecated: bool) -> Path:
    root = where / "course"
    shutil.copytree(EMBEDDED_COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    if deprecated:
        source = root / "modules" / "16_mlops" / "mlops.py"
        text = source.read_text(encoding="utf-8")
        assert text.splitlines()[160].strip() == f'"created": {STAMP},'  # line 161 of the student's source
        source.write_text(text.replace(STAMP, DEPRECATED), encoding="utf-8")
    return root


def test_canary_names_the_students_deprecated_line_and_leaves_the_verdict(tmp_path: Path) -> None:
    course = course_copy(tmp_path, deprecated=True)
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", PYTHON,
                           "--canary", "--no-tests", "--scenario", "persistence", "--reports", str(tmp_path / "r"),
                           "--no-color"], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]   # advisory: the partial run still passes
    assert "modules/16_mlops/mlops.py:161: DeprecationWarning: datetime.datetime.utcnow() is deprecated" \
        in done.stdout, done.stdout[-3000:]
    report = json.loads((tmp_path / "r" / "verify.json").read_text(encoding="utf-8"))
    assert report["ok"] is True and [p["status"] for p in report["pythons"]] == [PASSED]
    assert "canary" not in {s["name"] for s in report["stages"]}
    canary = report["canary"]
    assert (canary["mode"], canary["python"]) == ("warn", PYTHON) and canary["numpy_version"]
    [finding] = canary["findings"]
    assert (finding["path"], finding["line"], finding["module"], finding["function"], finding["category"]) == \
        ("modules/16_mlops/mlops.py", 161, "16_mlops", "save_model", "DeprecationWarning")
    assert finding["message"].startswith("datetime.datetime.utcnow() is deprecated")
    assert finding["seen_in"] == ["scenario persistence"]
    assert canary["failed_stages"] == []   # the persistence failure is the finding's own error


def test_blocking_canary_blocks_on_the_same_line(tmp_path: Path) -> None:
    result = verify(VerifyOptions(course=course_copy(tmp_path, deprecated=True), pythons=[PYTHON],
                                  scenarios=["persistence"], run_tests=False, canary="block"))
    assert [p.status for p in result.pythons] == [PASSED]
    stage = next(s for s in result.stages if s.name == "canary")
    assert stage.status == FAILED and "modules/16_mlops/mlops.py:161" in stage.detail, stage.detail
    assert not result.ok and not decide(result).passed


def test_clean_embedded_course_has_no_canary_finding(tmp_path: Path) -> None:
    result = verify(VerifyOptions(course=course_copy(tmp_path, deprecated=False), pythons=[PYTHON],
                                  scenarios=["persistence", "cnn"], run_tests=False, canary="block"))
    assert result.canary is not None and result.canary.python == PYTHON and not result.canary.missing
    assert result.canary.findings == [] and result.canary.failed_stages == []
    assert next(s for s in result.stages if s.name == "canary").status == PASSED
    assert result.ok


@pytest.mark.skipif(not (CORPUS / "tinytorch-ce776937.tar.gz").is_file(), reason=NO_CORPUS)
def test_real_upstream_snapshot_has_no_canary_finding(tmp_path: Path) -> None:
    with tarfile.open(CORPUS / "tinytorch-ce776937.tar.gz") as tar:
        tar.extractall(tmp_path / "tree")  # noqa: S202 — our own corpus
    course = next((tmp_path / "tree").iterdir())
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", PYTHON,
                           "--canary", "--no-tests", "--scenario", "imports", "--reports", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "PYTHONPATH": str(REPO)})
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    canary = json.loads((tmp_path / "r" / "verify.json").read_text(encoding="utf-8"))["canary"]
    assert canary["findings"] == [] and not canary["missing"]
    # the snapshot's real breakage (matplotlib undeclared, ...) fails its matrix leg too: no canary news
    assert canary["failed_stages"] == []
