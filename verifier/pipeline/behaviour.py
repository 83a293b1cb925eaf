"""`tinytorch-verifier verify --baseline REF`, the behaviour leg: the numbers the student scenarios compute, for the
baseline and for the candidate, compared within stated tolerances.

Each scenario with a model prints, in its `TITO_RESULT` line, a "behaviour" object: per model its held-out
accuracy, final training loss, a checksum of a fixed-seed forward pass of the untrained model (sum and sum
of squares of the output) and, where it checks one, the optimizer's error against a NumPy reference
(student_scenarios/_checks.py). The candidate's numbers are those of its own run on the newest Python;
the baseline's come from the same scripts with the same seeds on that Python, in the venv of the speed
comparison with the baseline wheel installed over the candidate (no dependency changes: both sides run
on the same NumPy). Identical code therefore gives identical numbers, bit for bit.

Tolerances (a change beyond one is reported per scenario and model):
  accuracy           0.5 percentage points
  final loss         5% relative
  forward checksum   1e-6 relative (float32 noise is ~1e-7; any change in the forward math is far above)
  optimizer error    0.05 of the allowed error (the error is a fraction of what the scenario allows)
A change is advisory (the stage passes and says so) unless `--baseline-strict` makes it block.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..course.discovery import Course
from ..results import FAILED, NOT_RUN, PASSED, BaselineComparison, BehaviourRow, PythonResult, StageResult
from ..runner.envs import Venv
from ..runner.processes import DEFAULT_MEMORY_MB
from ..runner.scenarios import Scenario, api_roles, run_scenario

STAGE = "baseline-behaviour"
FIGURES_KEY = "behaviour"          # the key of the scenarios' TITO_RESULT object
ACCURACY_POINTS = 0.5
LOSS_RELATIVE = 0.05
CHECKSUM_RELATIVE = 1e-6
OPTIMIZER_ABSOLUTE = 0.05
WORDS = {"accuracy": "held-out accuracy", "final_loss": "final loss", "forward": "forward output",
         "optimizer_error": "optimizer error vs NumPy"}


def flatten(numbers: Mapping[str, object], prefix: str = "") -> Dict[str, float]:
    """{"forward": {"sum": 1.0}} -> {"forward.sum": 1.0}; what is not a number is left out."""
    flat: Dict[str, float] = {}
    for key, value in numbers.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


def tolerance(measure: str) -> Tuple[str, float, bool]:
    """(how the reports state it, amount, relative?) for a flattened measure name."""
    kind = measure.split(".")[0]
    if kind == "accuracy":
        return f"{ACCURACY_POINTS} points", ACCURACY_POINTS / 100, False
    if kind.endswith("loss"):
        return f"{LOSS_RELATIVE:.0%} relative", LOSS_RELATIVE, True
    if kind == "optimizer_error":
        return f"{OPTIMIZER_ABSOLUTE} absolute", OPTIMIZER_ABSOLUTE, False
    return f"{CHECKSUM_RELATIVE:g} relative", CHECKSUM_RELATIVE, True


def beyond(measure: str, old: float, new: float) -> bool:
    _, amount, relative = tolerance(measure)
    allowed = amount * max(abs(old), abs(new)) if relative else amount
    return abs(new - old) > allowed + 1e-12


def compare(scenario: str, baseline: Mapping[str, object], candidate: Mapping[str, object]) -> List[BehaviourRow]:
    """Rows for every number both sides report, per model of the scenario."""
    rows = []
    for model in sorted(set(baseline) & set(candidate)):
        old, new = baseline[model], candidate[model]
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            continue
        before, after = flatten(old), flatten(new)
        for measure in sorted(set(before) & set(after)):
            rows.append(BehaviourRow(scenario, model, measure, before[measure], after[measure],
                                     tolerance(measure)[0], beyond(measure, before[measure], after[measure])))
    return rows


def _number(measure: str, value: float) -> str:
    return f"{value:.1%}" if measure.startswith("accuracy") else f"{value:.4g}"


def describe(rows: Sequence[BehaviourRow]) -> List[str]:
    """One line per scenario and model with a change: `cnn: held-out accuracy 99.6% → 97.1%; forward output
    changed (sum 1.52 → 1.71, relative 0.11)`."""
    lines = []
    groups: Dict[Tuple[str, str], List[BehaviourRow]] = {}
    for row in rows:
        if row.changed:
            groups.setdefault((row.scenario, row.model), []).append(row)
    for (scenario, model), changed in groups.items():
        parts: List[str] = []
        by_kind: Dict[str, List[BehaviourRow]] = {}
        for row in changed:
            by_kind.setdefault(row.measure.split(".")[0], []).append(row)
        for kind, found in by_kind.items():
            word = WORDS.get(kind, kind)
            if kind == "forward":
                first = found[0]
                scale = max(abs(first.baseline), abs(first.candidate), 1e-300)
                relative = abs(first.candidate - first.baseline) / scale
                parts.append(f"{word} changed ({first.measure.split('.', 1)[-1]} {_number(kind, first.baseline)} → "
                             f"{_number(kind, first.candidate)}, relative {relative:.2g})")
                continue
            for row in found:
                label = word + (f" ({row.measure.split('.', 1)[1]})" if "." in row.measure else "")
                parts.append(f"{label} {_number(kind, row.baseline)} → {_number(kind, row.candidate)}")
        lines.append(f"{scenario if scenario == model else f'{scenario} ({model})'}: " + "; ".join(parts))
    return lines


def candidate_numbers(python: Optional[PythonResult], scenarios: Sequence[Scenario]
                      ) -> Tuple[Dict[str, Mapping[str, object]], Dict[str, str]]:
    """The behaviour figures of the candidate's passed scenarios on `python`, and why others are left out."""
    numbers: Dict[str, Mapping[str, object]] = {}
    skipped: Dict[str, str] = {}
    for scenario in scenarios:
        stage = python.stage(scenario.name) if python is not None else None
        if stage is None or stage.status == NOT_RUN:
            skipped[scenario.name] = "not run for the candidate"
            continue
        figures = stage.figures.get(FIGURES_KEY)
        if stage.status != PASSED:
            skipped[scenario.name] = "the candidate's scenario failed"
        elif isinstance(figures, Mapping) and figures:
            numbers[scenario.name] = figures
    return numbers, skipped


def behaviour_since(course: Course, comparison: BaselineComparison, venv: Optional[Venv],
                    baseline_wheel: Optional[Path], python: Optional[PythonResult], scenarios: Sequence[Scenario],
                    work: Path, strict: bool = False, memory_mb: int = DEFAULT_MEMORY_MB,
                    installer: str = "uv") -> StageResult:
    """Run the scenarios that report behaviour against the baseline wheel and compare with the candidate."""
    began = time.monotonic()
    stage = StageResult(STAGE, PASSED)
    comparison.behaviour_strict = strict
    numbers, comparison.behaviour_skipped = candidate_numbers(python, scenarios)
    if venv is None or baseline_wheel is None:
        stage.status, stage.detail = NOT_RUN, "not run: the baseline's speed venv was not made (see baseline-speed)"
        return stage
    if not numbers:
        stage.detail = f"since {comparison.label}: no scenario of this run reports behaviour numbers" + \
            (f" ({'; '.join(f'{k}: {v}' for k, v in comparison.behaviour_skipped.items())})"
             if comparison.behaviour_skipped else "")
        return stage
    # over the candidate, without touching the dependencies: both sides see the same NumPy
    install = venv.install([str(baseline_wheel)], installer=installer, no_deps=True, reinstall=True)
    if not install.ok:
        stage.status, stage.detail = NOT_RUN, f"not run: the baseline wheel did not install: {install.tail(2)}"
        return stage
    roles = api_roles(course)
    for scenario in scenarios:
        if scenario.name not in numbers:
            continue
        old = run_scenario(venv, scenario, work, course.package, memory_mb, roles=roles)
        figures = old.figures.get(FIGURES_KEY)
        if old.status != PASSED or not isinstance(figures, Mapping):
            comparison.behaviour_skipped[scenario.name] = f"failed on {comparison.label}: {old.detail}" \
                if old.status != PASSED else f"{comparison.label} reports no behaviour numbers"
            continue
        comparison.behaviour += compare(scenario.name, figures, numbers[scenario.name])
    changes = describe(comparison.behaviour)
    compared = sorted({r.scenario for r in comparison.behaviour})
    stage.figures = {"compared": compared, "changed": changes, "strict": strict}
    stage.seconds = round(time.monotonic() - began, 2)
    if changes:
        stage.detail = f"since {comparison.label}: " + "; ".join(changes)
        if strict:
            stage.status = FAILED
            stage.fix = f"compare the modules these scenarios exercise with {comparison.label}; if the change " \
                        f"is intended, run without --baseline-strict (the change is then reported, advisory)"
        else:
            stage.detail += " (advisory; --baseline-strict makes it block)"
    else:
        stage.detail = f"since {comparison.label}: {len(comparison.behaviour)} numbers of " \
                       f"{', '.join(compared) or 'no scenario'} within tolerance"
    return stage
