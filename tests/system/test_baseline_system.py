"""`tinytorch-verifier verify --baseline v0.1.0` on a git repository holding a copy of the embedded course, tagged
v0.1.0, with later commits that (a) write the convolution's im2col as Python loops (results unchanged,
far slower), (b) change nothing, (c) make a public name private. The slow convolution must block naming
10_spatial, the unchanged candidate must report no change and no slowdown, the removed name must block
naming 16_mlops. The baseline wheel is built once (first test) and then taken from the cache."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import EMBEDDED_COURSE

from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, PASSED, VerifyResult
from verifier.runner.interpreters import find_interpreter

pytestmark = pytest.mark.system
PYTHON = "3.12"

IM2COL = """\
        for i in range(kh):                           # im2col: one shifted window per kernel offset
            for j in range(kw):
                cols[:, i, j] = _window(xp, i, j, ho, wo, stride)
"""
LOOPS = """\
        sh, sw = stride
        for a in range(n):                            # the same columns, one patch at a time
            for ch in range(c):
                for i in range(ho):
                    for j in range(wo):
                        cols[ch, :, :, i, j, a] = xp[ch, i * sh:i * sh + kh, j * sw:j * sw + kw, a]
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    if find_interpreter(PYTHON).interpreter is None:
        pytest.skip(f"no Python {PYTHON}")
    root = tmp_path_factory.mktemp("baseline") / "repo"
    shutil.copytree(EMBEDDED_COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "release 0.1.0")
    git(root, "tag", "v0.1.0")
    return root


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """A cache of this module's own, so the first run builds the baseline and the later ones reuse it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TITO_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


def commit_on_branch(repo: Path, branch: str, edit) -> None:
    git(repo, "checkout", "-q", "-B", branch, "v0.1.0")
    edit(repo)
    git(repo, "commit", "-qam", branch)


def run(repo: Path) -> VerifyResult:
    return verify(VerifyOptions(course=repo, pythons=[PYTHON], scenarios=["imports"], run_tests=False,
                                baseline="v0.1.0"))


def stage(result: VerifyResult, name: str):
    return next(s for s in result.stages if s.name == name)


def test_unchanged_candidate_reports_no_change_and_no_slowdown(repo: Path) -> None:
    git(repo, "checkout", "-q", "v0.1.0")
    result = run(repo)
    assert result.baseline is not None and len(result.baseline.speed) == 8, result.baseline
    assert stage(result, "baseline-api").status == PASSED and result.baseline.api_breaking == []
    speed = stage(result, "baseline-speed")
    assert speed.status == PASSED, speed.detail
    assert [r for r in result.baseline.speed if r.verdict == "slower"] == []
    print("unchanged:", {r.operation: (r.ratio_min, r.ratio, r.ratio_max) for r in result.baseline.speed})
    assert not [b for b in decide(result).blockers if b.stage.startswith("baseline")]


def test_slow_convolution_blocks_naming_10_spatial(repo: Path) -> None:
    def slow(root: Path) -> None:
        source = root / "modules" / "10_spatial" / "spatial.py"
        text = source.read_text(encoding="utf-8")
        assert IM2COL in text
        source.write_text(text.replace(IM2COL, LOOPS), encoding="utf-8")

    commit_on_branch(repo, "slow-conv", slow)
    result = run(repo)
    assert result.ok is False
    speed = stage(result, "baseline-speed")
    assert speed.status == FAILED
    assert speed.attribution is not None and speed.attribution.module == "10_spatial"
    assert "10_spatial: Conv2d forward" in speed.detail and "slower than v0.1.0 (3 rounds" in speed.detail
    conv = next(r for r in result.baseline.speed if r.operation == "Conv2d forward")
    assert conv.verdict == "slower" and conv.ratio_min >= 50, conv
    print("slow conv:", speed.detail)
    assert "cached" in " ".join(result.baseline.notes)      # built once by the first test
    blockers = [b for b in decide(result).blockers if b.stage == "baseline-speed"]
    assert blockers and blockers[0].module == "10_spatial" and blockers[0].category == "slower than the baseline"
    # the scenario still passes: only the comparison with the release catches this
    assert all(s.status == PASSED for s in result.pythons[0].stages)


def test_removed_public_name_blocks_naming_16_mlops(repo: Path) -> None:
    def private(root: Path) -> None:
        for path in (root / "modules" / "16_mlops" / "mlops.py", root / "modules" / "16_mlops" / "module.yaml"):
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("ks_critical_value", "_ks_critical_value").replace(
                " _ks_critical_value,", ""), encoding="utf-8")

    commit_on_branch(repo, "private-name", private)
    result = run(repo)
    api = stage(result, "baseline-api")
    assert api.status == FAILED and api.attribution is not None and api.attribution.module == "16_mlops"
    assert "16_mlops: tinytorch.core.mlops.ks_critical_value removed" in api.detail
    blockers = [b for b in decide(result).blockers if b.stage == "baseline-api"]
    assert blockers and blockers[0].module == "16_mlops"
    assert stage(result, "baseline-speed").status == PASSED
