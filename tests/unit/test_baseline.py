"""`--baseline REF` without building anything: resolving REF (git ref, wheel path, bad input → one line),
the speed verdict from interleaved timings (blocks only when the whole spread is beyond the threshold),
the one-line message naming the course module, the API comparison on real upstream trees (must not
fire against itself), `baseline-slowdown` in pyproject.toml, and verify.json keeping the comparison."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import EMBEDDED_COURSE, PYPROJECT, write_course

from verifier.course.config import ConfigError
from verifier.course.discovery import load_course
from verifier.errors import BaselineError
from verifier.package.export import plan_export, write_package
from verifier.pipeline.baseline import (
    api_since,
    course_module,
    describe_ratio,
    resolve_baseline,
    slowdown_threshold,
    speed_rows,
)
from verifier.results import BaselineComparison, VerifyResult, result_from_json
from verifier.runner.interleave import Measurement
from verifier.runner.processes import Completed

TARGETS = {"tinytorch.core.spatial": "10_spatial", "tinytorch.core.tensor": "01_tensor"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository whose `course/` folder is a small course, tagged v0.1.0."""
    root = tmp_path / "repo"
    (root / "course" / "modules").mkdir(parents=True)
    (root / "course" / "modules" / "README.md").write_text("modules go here\n")
    (root / "course" / "pyproject.toml").write_text('[project]\nname = "tinytorch"\nversion = "0.1.0"\n')
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "tag", "v0.1.0")
    return root


def test_git_ref_resolves_to_commit_and_tree_of_the_course_folder(repo: Path) -> None:
    source = resolve_baseline("v0.1.0", repo / "course")
    assert source.commit == git(repo, "rev-parse", "v0.1.0^{commit}")
    assert source.prefix == "course"
    assert source.tree == git(repo, "rev-parse", "v0.1.0:course")   # the content key of the cache
    assert resolve_baseline("HEAD", repo / "course").tree == source.tree


@pytest.mark.parametrize("ref, says", [
    ("v9.9.9", "no such tag, branch or commit"),
    ("--output=/tmp/x", "neither a git ref nor a wheel"),
    ("", "neither a git ref nor a wheel"),
    ("missing.whl", "baseline wheel not found"),
])
def test_bad_ref_is_one_line(repo: Path, ref: str, says: str) -> None:
    with pytest.raises(BaselineError) as caught:
        resolve_baseline(ref, repo / "course")
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_course_folder_absent_at_ref(repo: Path) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "pyproject.toml").write_text("[project]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "other")
    with pytest.raises(BaselineError, match="does not exist at"):
        resolve_baseline("v0.1.0", repo / "other")


def test_course_outside_git(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="not in a git repository"):
        resolve_baseline("v0.1.0", tmp_path)


def test_not_a_wheel(tmp_path: Path) -> None:
    fake = tmp_path / "tinytorch-0.1.0-py3-none-any.whl"
    fake.write_text("not a zip")
    with pytest.raises(BaselineError, match="not a zip"):
        resolve_baseline(str(fake), tmp_path)


def test_cli_bad_ref_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    from verifier.cli.main import main

    course = tmp_path / "repo" / "course"
    shutil.copytree(EMBEDDED_COURSE, course, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    git(course.parent, "init", "-q")
    code = main(["verify", "--course", str(course), "--baseline", "nope", "--python", "3.12",
                 "--reports", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "--baseline nope: no such tag, branch or commit" in err[0]


def measured(side: str, number: int, ops: dict) -> Measurement:
    report = {"ops": {name: {"seconds": s, "module": module} for name, (s, module) in ops.items()}, "skipped": {}}
    return Measurement(side, number, report, Completed([], 0, "", "", 1.0, False))


def rounds(pairs):
    """[(baseline seconds, candidate seconds), ...] per round for one conv and one matmul operation."""
    out = []
    for number, (conv, mat) in enumerate(pairs):
        out.append(measured("baseline", number, {"Conv2d forward": (conv[0], "tinytorch.core.spatial"),
                                                 "matmul": (mat[0], "tinytorch.core.tensor")}))
        out.append(measured("candidate", number, {"Conv2d forward": (conv[1], "tinytorch.core.spatial"),
                                                  "matmul": (mat[1], "tinytorch.core.tensor")}))
    return out


def test_slowdown_with_whole_spread_above_threshold_is_slower_and_names_the_module() -> None:
    rows, _ = speed_rows(rounds([((1e-4, 1.9e-2), (1e-4, 1e-4)), ((1e-4, 1.87e-2), (1e-4, 0.9e-4)),
                                 ((1e-4, 1.96e-2), (1e-4, 1.1e-4))]), 1.5, TARGETS)
    conv = next(r for r in rows if r.operation == "Conv2d forward")
    mat = next(r for r in rows if r.operation == "matmul")
    assert conv.verdict == "slower" and conv.module == "10_spatial" and conv.rounds == 3
    assert (conv.ratio_min, conv.ratio, conv.ratio_max) == (187.0, 190.0, 196.0)
    assert describe_ratio(conv, "v0.1.0") == "10_spatial: Conv2d forward 190× slower than v0.1.0 (3 rounds, 187–196×)"
    assert mat.verdict == "same" and mat.module == "01_tensor"


def test_spread_crossing_the_threshold_does_not_block_and_speedup_is_reported() -> None:
    rows, _ = speed_rows(rounds([((1e-4, 2e-4), (1e-3, 1e-4)), ((1e-4, 1.2e-4), (1e-3, 1.2e-4)),
                                 ((1e-4, 2.2e-4), (1e-3, 1.1e-4))]), 1.5, TARGETS)
    conv = next(r for r in rows if r.operation == "Conv2d forward")
    mat = next(r for r in rows if r.operation == "matmul")
    assert conv.ratio > 1.5 and conv.ratio_min < 1.5 and conv.verdict == "same"   # one round within: noise
    assert mat.verdict == "faster"
    assert describe_ratio(mat, "v0.1.0").startswith("01_tensor: matmul 9.1× faster than v0.1.0 (3 rounds, ")


def test_a_round_missing_a_side_is_left_out() -> None:
    measurements = rounds([((1e-4, 1e-2), (1e-4, 1e-4)), ((1e-4, 1e-2), (1e-4, 1e-4))])
    measurements[2] = Measurement("baseline", 1, None, Completed([], 1, "", "boom", 1.0, False))
    rows, _ = speed_rows(measurements, 1.5, TARGETS)
    assert {r.rounds for r in rows} == {1}


def test_course_module_of_a_package_module() -> None:
    assert course_module("tinytorch.core.spatial", TARGETS) == "10_spatial"
    assert course_module("tinytorch.core.spatial.inner", TARGETS) == "10_spatial"
    assert course_module("elsewhere.mod", TARGETS) == "elsewhere.mod"


def test_baseline_slowdown_setting(tmp_path: Path) -> None:
    module = {"01_alpha/alpha.py": "#| default_exp core.alpha\n#| export\nA = 1\n"}
    base = PYPROJECT + "\n[tool.tinytorch]\n"
    course = write_course(tmp_path / "a", module, base + "baseline-slowdown = 3\n")
    assert slowdown_threshold(load_course(course)) == 3.0
    course = write_course(tmp_path / "b", module, base + "baseline-slowdown = 0.5\n")
    with pytest.raises(ConfigError) as caught:
        load_course(course)
    line = base.count("\n") + 1
    assert "baseline-slowdown must be a number above 1" in str(caught.value)
    assert caught.value.line == line
    assert slowdown_threshold(load_course(EMBEDDED_COURSE)) == 1.5


def test_api_since_blocks_a_removed_name_and_lists_additions(tmp_path: Path) -> None:
    course = load_course(EMBEDDED_COURSE)
    plan = plan_export(course)
    old, new = tmp_path / "old", tmp_path / "new"
    write_package(plan, old)
    write_package(plan, new)
    mlops = new / "tinytorch" / "core" / "mlops.py"
    mlops.write_text(mlops.read_text().replace("'ks_critical_value', ", ""), encoding="utf-8")
    spatial = new / "tinytorch" / "core" / "spatial.py"
    spatial.write_text(spatial.read_text().replace("__all__ = [", "__all__ = ['extra_name', "), encoding="utf-8")
    comparison = BaselineComparison("v0.1.0", "v0.1.0")
    targets = {f"tinytorch.{t}": k for k, t in plan.module_targets.items()}
    stage = api_since(course, comparison, old, new, targets)
    assert stage.status == "failed" and stage.attribution is not None and stage.attribution.module == "16_mlops"
    assert "16_mlops: tinytorch.core.mlops.ks_critical_value removed" in stage.detail
    assert comparison.api_added == ["tinytorch.core.spatial.extra_name"]


def test_api_since_is_quiet_on_real_trees_against_themselves(corpus_trees, tmp_path: Path) -> None:
    for commit, tree in corpus_trees.items():
        course = load_course(tree)
        plan = plan_export(course)
        old, new = tmp_path / commit / "old", tmp_path / commit / "new"
        write_package(plan, old)
        write_package(plan, new)
        comparison = BaselineComparison("HEAD", "HEAD")
        stage = api_since(course, comparison, old, new, {})
        assert stage.status == "passed", (commit, stage.detail)
        assert comparison.api_breaking == [] and comparison.api_added == []


def test_verify_json_keeps_the_comparison() -> None:
    result = VerifyResult("c", "0.1.0", ["3.12"], False, "now")
    rows, _ = speed_rows(rounds([((1e-4, 1e-2), (1e-4, 1e-4))]), 1.5, TARGETS)
    result.baseline = BaselineComparison("v0.1.0", "v0.1.0", "a" * 64, "b" * 64, "3.12", 1.5,
                                         ["x removed"], ["x removed"], ["y"], rows)
    again = result_from_json(json.loads(json.dumps(result.to_json())))
    assert again.baseline == result.baseline
