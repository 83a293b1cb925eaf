"""Shared helpers for the verifier's tests: small fixture courses written into tmp_path."""
from __future__ import annotations

import atexit
import os
import shutil
import tarfile
import tempfile
import textwrap
from pathlib import Path
from typing import Dict

import pytest
from helpers import CORPUS, CORPUS_SNAPSHOTS, MINI_MODULE, MINI_PYPROJECT, NO_CORPUS, write_course

# One temporary folder per test session, for the tests and every tinytorch-verifier they start: the work directories,
# the sweep of dead runs and the "nothing left behind" checks then see only this session's runs — not a
# test run beside it on the machine, nor the folders of runs killed before it (which a sweep would rightly
# report in a line of its own, before the one line a bad-input test expects).
SESSION_TMP = tempfile.mkdtemp(prefix="tinytorch-verifier-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = None  # gettempdir() reads TMPDIR again
atexit.register(shutil.rmtree, SESSION_TMP, True)


@pytest.fixture
def make_course(tmp_path):
    def make(modules, **kwargs):
        return write_course(tmp_path / "course", modules, **kwargs)
    return make


PASS = "passed"


@pytest.fixture
def result():
    """A factory of clean synthetic verify results: two Pythons, every stage passed."""
    from verifier.results import PythonResult, StageResult, VerifyResult

    def make(**changes):
        r = VerifyResult("/c", "0.1.0", ["3.9", "3.12"], strict=True, started="2026-11-26T00:00:00+00:00")
        r.stages = [StageResult("export", PASS), StageResult("api", PASS),
                    StageResult("validate", PASS, figures={"modules": 17}), StageResult("build", PASS)]
        r.pythons = [PythonResult(v, interpreter=f"/py{v}", full_version=f"{v}.1", numpy_version="2.0.2",
                                  stages=[StageResult(n, PASS, 1.0) for n in ("venv", "install", "imports", "cnn",
                                                                            "course-tests")]) for v in ("3.9", "3.12")]
        r.pythons[0].stages[3].figures = {"test_accuracy": 0.98}
        r.graph = {"01_tensor": [], "02_autograd": ["01_tensor"], "03_activations": ["01_tensor", "02_autograd"]}
        for key, value in changes.items():
            setattr(r, key, value)
        return r
    return make


@pytest.fixture
def mini_course(tmp_path):
    """A one-module course that builds in seconds; `extra` is appended as an exported cell."""
    def make(extra: str = "", name: str = "mini"):
        root = write_course(tmp_path / name, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT,
                            yamls={"01_alpha": "name: alpha\nexports_to: tinytorch.core.alpha\n"
                                               "dependencies:\n  prerequisites: []\ncomponents: [double]\n"})
        if extra:
            path = root / "modules/01_alpha/alpha.py"
            path.write_text(path.read_text() + "\n# %%\n#| export\n" + textwrap.dedent(extra).strip() + "\n")
        return root
    return make


@pytest.fixture(scope="session")
def corpus_trees(tmp_path_factory) -> Dict[str, Path]:
    """{commit: root of the snapshot's tree}, each snapshot of ../shared/corpus unpacked once per session
    into a temporary folder (never into the repository). Read-only: a test that writes copies the tree first.
    Skips with NO_CORPUS when the corpus is absent."""
    if not CORPUS_SNAPSHOTS:
        pytest.skip(NO_CORPUS)
    trees = {}
    for commit in CORPUS_SNAPSHOTS:
        target = tmp_path_factory.mktemp(f"corpus-{commit}")
        with tarfile.open(CORPUS / f"tinytorch-{commit}.tar.gz") as archive:
            archive.extractall(target)  # noqa: S202 - our own corpus
        roots = [p for p in target.iterdir() if p.is_dir()]
        trees[commit] = roots[0] if len(roots) == 1 else target
    return trees
