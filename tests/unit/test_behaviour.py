"""`--baseline` behaviour leg and blame by change, without building anything: the scenarios' numbers
compared within their tolerances (pipeline/behaviour.py), the changed student lines of a git baseline
(pipeline/baseline.py `changed_lines`) and their ranking against coverage (runner/spectrum.py)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers import EMBEDDED_COURSE

from verifier.course.discovery import load_course
from verifier.pipeline.baseline import BaselineSource, _changed_in, changed_lines, resolve_baseline
from verifier.pipeline.behaviour import candidate_numbers, compare, describe, flatten
from verifier.render.terminal import since_lines
from verifier.results import (
    FAILED,
    PASSED,
    Attribution,
    BaselineComparison,
    PythonResult,
    StageResult,
    VerifyResult,
    result_from_json,
)
from verifier.runner.changed import ChangedLines, changed_attribution, rank_changed
from verifier.runner.scenarios import Scenario

CNN = {"cnn": {"accuracy": 0.996, "final_loss": 0.0421, "forward": {"sum": 12.5, "sum_sq": 40.25},
               "optimizer_error": {"SGD": 0.001, "Adam": 0.002}}}


def _cnn(**changes: object) -> dict:
    model = dict(CNN["cnn"])
    model.update(changes)
    return {"cnn": model}


def test_identical_numbers_are_no_change() -> None:
    rows = compare("cnn", CNN, CNN)
    assert len(rows) == 6 and not any(r.changed for r in rows)
    assert describe(rows) == []


def test_each_tolerance_fires_just_beyond_it_and_not_within() -> None:
    within = _cnn(accuracy=0.992, final_loss=0.0421 * 1.04, forward={"sum": 12.5 * (1 + 5e-7), "sum_sq": 40.25},
                  optimizer_error={"SGD": 0.04, "Adam": 0.002})
    assert not any(r.changed for r in compare("cnn", CNN, within))
    beyond = _cnn(accuracy=0.971, final_loss=0.0421 * 1.06, forward={"sum": 12.5 * (1 + 5e-6), "sum_sq": 40.25},
                  optimizer_error={"SGD": 0.001, "Adam": 0.2})
    changed = {r.measure for r in compare("cnn", CNN, beyond) if r.changed}
    assert changed == {"accuracy", "final_loss", "forward.sum", "optimizer_error.Adam"}


def test_a_change_is_described_per_scenario_and_model_with_numbers() -> None:
    rows = compare("cnn", CNN, _cnn(accuracy=0.971, forward={"sum": 13.1, "sum_sq": 44.0}))
    assert describe(rows) == ["cnn: held-out accuracy 99.6% → 97.1%; forward output changed (sum 12.5 → 13.1, "
                              "relative 0.046)"]
    rows = compare("inter_module", {"mlp": {"final_loss": {"SGD": 0.5}}}, {"mlp": {"final_loss": {"SGD": 0.9}}})
    assert describe(rows) == ["inter_module (mlp): final loss (SGD) 0.5 → 0.9"]


def test_flatten_keeps_numbers_only() -> None:
    assert flatten({"a": 1, "b": {"c": 2.5, "d": "x", "e": True}, "f": float("nan")}) == {"a": 1.0, "b.c": 2.5}


def test_candidate_numbers_come_from_passed_scenarios_only() -> None:
    python = PythonResult("3.12")
    python.stages = [StageResult("cnn", PASSED, figures={"behaviour": CNN}),
                     StageResult("transformer", FAILED, figures={}),
                     StageResult("imports", PASSED, figures={"modules": 17})]
    scenarios = [Scenario(n, Path(f"{n}.py"), 60.0, ()) for n in ("cnn", "transformer", "imports")]
    numbers, skipped = candidate_numbers(python, scenarios)
    assert numbers == {"cnn": CNN}
    assert skipped == {"transformer": "the candidate's scenario failed"}


def test_terminal_and_json_carry_the_behaviour_rows() -> None:
    comparison = BaselineComparison("v0.1.0", "v0.1.0")
    comparison.behaviour = compare("cnn", CNN, _cnn(accuracy=0.971))
    lines = since_lines(comparison)
    assert "    behaviour advisory: cnn: held-out accuracy 99.6% → 97.1%" in lines
    comparison.behaviour_strict = True
    assert any(line.startswith("    behaviour BLOCKING: cnn:") for line in since_lines(comparison))
    result = VerifyResult("c", "0.1.0", ["3.12"], False, "now", baseline=comparison)
    back = result_from_json(result.to_json())
    assert back.baseline is not None and back.baseline.behaviour == comparison.behaviour
    comparison.behaviour = compare("cnn", CNN, CNN)
    assert "unchanged within tolerance" in since_lines(comparison)[-1]


# -- lines changed since a git baseline ------------------------------------------------------------------

def test_changed_in_marks_replaced_inserted_and_around_deleted_lines() -> None:
    old = ["a", "b", "c", "d", "e"]
    assert _changed_in(old, old) == []
    assert _changed_in(old, ["a", "B", "c", "d", "e"]) == [2]
    assert _changed_in(old, ["a", "b", "x", "y", "c", "d", "e"]) == [3, 4]
    assert _changed_in(old, ["a", "b", "d", "e"]) == [2, 3]          # c deleted: the lines on both sides
    assert _changed_in([], ["a", "b"]) == [1, 2]                       # a module added since


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_changed_lines_of_a_git_baseline(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EMBEDDED_COURSE, repo, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", "tests"))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "release")
    _git(repo, "tag", "v0.1.0")
    course = load_course(repo)
    unchanged = changed_lines(resolve_baseline("v0.1.0", repo), course, tmp_path / "work1")
    assert unchanged.lines == {} and not unchanged.problem
    source = repo / "modules" / "12_transformer" / "transformer.py"
    text = source.read_text(encoding="utf-8")
    old = "self.forward(seq[:, -self.max_len:])"
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    source.write_text(text.replace(old, "self.forward(seq[:, -(self.max_len // 2):])"), encoding="utf-8")
    found = changed_lines(resolve_baseline("v0.1.0", repo), course, tmp_path / "work2")   # uncommitted counts
    assert found.lines == {"modules/12_transformer/transformer.py": [line]}


def test_a_wheel_baseline_has_no_lines_and_says_why(tmp_path: Path) -> None:
    source = BaselineSource("old.whl", "old.whl", wheel=tmp_path / "old.whl")
    found = changed_lines(source, load_course(EMBEDDED_COURSE), tmp_path)
    assert found.lines == {} and "needs a git ref" in found.problem


# -- ranking the changed lines against coverage -------------------------------------------------------------

T = "modules/12_transformer/transformer.py"
L = "modules/04_layers/layers.py"
ORDER = {"04_layers": 4, "12_transformer": 12}


def test_changed_lines_a_failing_run_executed_take_the_blame() -> None:
    coverage = {("12_transformer", T, 370, "GPT.generate"): {"f1", "p1"},
                ("12_transformer", T, 371, "GPT.generate"): {"f1"},
                ("04_layers", L, 50, "Linear.__init__"): {"f1", "p1", "p2", "p3"},
                ("04_layers", L, 90, "Linear.forward"): {"p1"}}
    changes = ChangedLines("v0.1.0", {T: [370, 371, 372], L: [50, 90]})
    ranked = rank_changed(coverage, {"f1"}, {"p1", "p2", "p3"}, changes, ORDER)
    assert [(s.module, s.where(), s.line) for s in ranked] == [
        ("12_transformer", "transformer.py:370–372", 371), ("04_layers", "layers.py:50", 50)]
    blame = changed_attribution(ranked, "v0.1.0")
    assert blame is not None and blame.how == "changed" and blame.module == "12_transformer"
    assert blame.describe() == ("changed since v0.1.0 and executed by the failing test: 12_transformer "
                                "(transformer.py:370–372, in GPT.generate); also changed and executed: 04_layers")


def test_changed_lines_no_failing_run_executed_blame_nothing() -> None:
    coverage = {("04_layers", L, 90, "Linear.forward"): {"p1", "p2"},
                ("12_transformer", T, 10, "GPT.forward"): {"f1"}}
    changes = ChangedLines("v0.1.0", {L: [90], T: [11]})
    assert rank_changed(coverage, {"f1"}, {"p1", "p2"}, changes, ORDER) == []
    assert changed_attribution([], "v0.1.0") is None


def test_attribution_round_trips_with_its_baseline() -> None:
    blame = Attribution("12_transformer", T, 370, "GPT.generate", how="changed", evidence="transformer.py:370",
                        since="v0.1.0")
    result = VerifyResult("c", "0.1.0", ["3.12"], False, "now")
    result.stages = [StageResult("x", FAILED, attribution=blame)]
    back = result_from_json(result.to_json()).stages[0].attribution
    assert back == blame and back is not None and back.describe().startswith("changed since v0.1.0")

