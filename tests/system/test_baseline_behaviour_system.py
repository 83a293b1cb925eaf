"""`tinytorch-verifier verify --baseline v0.1.0`, behaviour and blame by change, on the git repository of
test_baseline_system.py (a copy of the embedded course tagged v0.1.0; its fixtures are reused):

* unchanged candidate: the scenarios' numbers equal the baseline's (must not fire); prints the cost;
* a smaller initialisation scale in 04_layers: data_flow still passes its thresholds but its numbers
  change — reported with the numbers, advisory (no blocker), blocking with --baseline-strict;
* GPT.generate cropping its context to half of max_len (12_transformer): only the integration test of
  sequence reversal fails, on an assertion (no traceback into the package) — blamed on the changed,
  executed line: "changed since v0.1.0 and executed by the failing test: 12_transformer (transformer.py:N".
Speed is timed in one round only (the speed leg has its own tests)."""
from __future__ import annotations

from pathlib import Path

from test_baseline_system import PYTHON, commit_on_branch, git, own_cache, repo  # noqa: F401 (fixtures)

from verifier.pipeline.behaviour import STAGE
from verifier.pipeline.gate import decide
from verifier.pipeline.verify import VerifyOptions, verify
from verifier.results import FAILED, PASSED, VerifyResult

KAIMING = "            bound = math.sqrt(6.0 / self.in_features)\n"
CROP = "self.forward(seq[:, -self.max_len:])"


def run(repo: Path, scenarios, strict: bool = False, tests=None) -> VerifyResult:  # noqa: F811
    return verify(VerifyOptions(course=repo, pythons=[PYTHON], scenarios=scenarios, run_tests=tests is not None,
                                test_selection=tests, baseline="v0.1.0", baseline_rounds=1, baseline_strict=strict))


def stage(result: VerifyResult, name: str):
    return next(s for s in result.stages if s.name == name)


def test_unchanged_candidate_has_the_baseline_numbers(repo: Path) -> None:  # noqa: F811
    git(repo, "checkout", "-q", "v0.1.0")
    names = ["data_flow", "inter_module", "cnn", "transformer"]
    result = run(repo, names)
    behaviour = stage(result, STAGE)
    assert behaviour.status == PASSED, behaviour.detail
    assert result.baseline is not None and result.baseline.behaviour_skipped == {}
    rows = result.baseline.behaviour
    assert {r.scenario for r in rows} == set(names) and len(rows) >= 15
    assert [r for r in rows if r.changed] == [] and all(r.baseline == r.candidate for r in rows)
    assert "within tolerance" in behaviour.detail
    assert not [b for b in decide(result).blockers if b.stage == STAGE]
    candidate = sum(s.seconds for s in result.pythons[0].stages if s.name in names)
    print(f"behaviour leg: {behaviour.seconds:.1f} s for the baseline side of {', '.join(names)} "
          f"(the candidate's scenarios: {candidate:.1f} s); whole run {result.seconds:.1f} s")


def test_smaller_initialisation_is_reported_advisory_then_blocks_when_strict(repo: Path) -> None:  # noqa: F811
    def smaller_init(root: Path) -> None:
        source = root / "modules" / "04_layers" / "layers.py"
        text = source.read_text(encoding="utf-8")
        assert text.count(KAIMING) == 1
        source.write_text(text.replace(KAIMING, KAIMING.replace("6.0", "2.0")), encoding="utf-8")

    commit_on_branch(repo, "smaller-init", smaller_init)
    result = run(repo, ["data_flow"])
    assert result.pythons[0].stage("data_flow").status == PASSED      # still passes its thresholds
    behaviour = stage(result, STAGE)
    assert behaviour.status == PASSED and "(advisory" in behaviour.detail
    assert "data_flow (mlp): " in behaviour.detail and "forward output changed (sum " in behaviour.detail
    assert result.baseline is not None and any(r.changed and r.measure == "forward.sum"
                                               for r in result.baseline.behaviour)
    assert not [b for b in decide(result).blockers if b.stage == STAGE]
    print("advisory:", behaviour.detail)

    strict = run(repo, ["data_flow"], strict=True)
    blocking = stage(strict, STAGE)
    assert blocking.status == FAILED and "data_flow (mlp): " in blocking.detail
    blockers = [b for b in decide(strict).blockers if b.stage == STAGE]
    assert blockers and blockers[0].category == "behaviour changed since the baseline"
    assert strict.ok is False


def test_generate_cropping_is_blamed_on_the_changed_executed_line(repo: Path) -> None:  # noqa: F811
    line = 0

    def crop(root: Path) -> None:
        nonlocal line
        source = root / "modules" / "12_transformer" / "transformer.py"
        text = source.read_text(encoding="utf-8")
        assert text.count(CROP) == 1
        line = text[:text.index(CROP)].count("\n") + 1
        source.write_text(text.replace(CROP, "self.forward(seq[:, -(self.max_len // 2):])"), encoding="utf-8")

    commit_on_branch(repo, "generate-crop", crop)
    result = run(repo, ["imports"], tests=["integration/test_transformer_training.py", "unit/test_transformer.py"])
    tests = result.pythons[0].stage("course-tests")
    assert tests is not None and tests.status == FAILED and "test_gpt_learns_sequence_reversal" in tests.detail
    assert tests.figures["passed"] >= 3                                  # only the integration test sees it
    blame = tests.attribution
    assert blame is not None and blame.how == "changed" and blame.module == "12_transformer", tests.figures
    text = blame.describe()
    assert text.startswith(f"changed since v0.1.0 and executed by the failing test: 12_transformer "
                           f"(transformer.py:{line}"), text
    assert "GPT.generate" in text
    blockers = [b for b in decide(result).blockers if b.module == "12_transformer"]
    assert blockers and "changed since v0.1.0" in blockers[0].message
    print("blame:", text)
