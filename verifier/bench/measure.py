"""`nox -s bench`: the course's speed beside PyTorch and beside the machine's physical limit, from one run.

The course wheel is installed into a fresh Python 3.11 venv beside PyTorch 2.13.0 (CPU); then one
single-threaded child (benchmarks/side_by_side.py) times each model's training step in the course
and in PyTorch (benchmarks/torch_reference.py), interleaved over several rounds, the hand-written
NumPy MLP step beside the course's MLP, and the single-core float32 matmul throughput. Everything
the bench needs lives in this project; nothing is read from outside it.

Per model the report gives: the course's and PyTorch's ms per step (median over the rounds), their
ratio (median of the per-round ratios, with its spread), the step's FLOPs (verifier/bench/flops.py) and
the fraction of peak the course reaches (FLOPs / (peak FLOP/s * step time)), and the target.
Absolute times vary between machines; ratios and fractions of peak are what is compared.
"""
from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, TypedDict, Union

from ..course.discovery import Course
from ..errors import VerifierError
from ..package.build import build_course
from ..runner.envs import clean_env, create_venv
from ..runner.interpreters import find_interpreter
from ..runner.processes import run
from .flops import training_flops

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
SIDE_BY_SIDE = BENCHMARKS / "side_by_side.py"
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Set on some machines to pin OpenBLAS to an older kernel and cache size; both slow NumPy's matmul.
# The bench unsets them together, in its child only (never in tests or CI), unless asked to keep them.
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TORCH = "torch==2.13.0"
BENCH_REQUIREMENTS = [TORCH, "threadpoolctl"]


@dataclass(frozen=True)
class Target:
    model: str
    against: str                  # "torch" or "numpy-mlp"
    limit: Optional[float]        # ratio the course must not exceed; None: reported only


# From issue 14: single-threaded ratios, measured side by side in one run.
TARGETS = [Target("cnn-28", "torch", 1.2), Target("gpt-16", "torch", 1.0), Target("mlp", "numpy-mlp", 1.3),
           Target("cnn-8", "torch", None), Target("mlp", "torch", None)]


class BenchRow(TypedDict):
    """One row of the report: a model against its reference."""
    model: str
    against: str
    ours_ms: float
    reference_ms: float
    ratio: float
    ratio_min: float
    ratio_max: float
    rounds: int
    flops_per_step: int
    ours_peak_fraction: Optional[float]
    reference_peak_fraction: Optional[float]
    target: Optional[float]
    met: Optional[bool]


@dataclass
class BenchResult:
    python: str
    # one round as side_by_side.py reports it (JSON): {"tinytorch": {model: s}, "torch": {model: s}, "numpy-mlp": s}
    rounds: List[Dict[str, Any]] = field(default_factory=list)
    peak_flops: Dict[str, float] = field(default_factory=dict)
    blas: List[Dict[str, Any]] = field(default_factory=list)  # threadpoolctl's info(), as JSON
    env: Dict[str, Optional[str]] = field(default_factory=dict)
    versions: Dict[str, Optional[str]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def peak(self) -> float:
        """The machine's single-core float32 matmul throughput: the faster of NumPy's and PyTorch's."""
        return max(self.peak_flops.values(), default=0.0)

    def _seconds(self, who: str, model: str) -> List[float]:
        if who == "numpy-mlp":
            return [r["numpy-mlp"] for r in self.rounds if "numpy-mlp" in r]
        return [r[who][model] for r in self.rounds if model in r.get(who, {})]

    def rows(self) -> List[BenchRow]:
        """One row per target: medians over the rounds, the ratio per round, FLOPs and fraction of peak."""
        out: List[BenchRow] = []
        for target in TARGETS:
            ours = self._seconds("tinytorch", target.model)
            ref = self._seconds(target.against, target.model)
            if not ours or len(ours) != len(ref):
                continue
            ratios = [a / b for a, b in zip(ours, ref)]
            ours_s, ref_s, ratio = statistics.median(ours), statistics.median(ref), statistics.median(ratios)
            flops = training_flops(target.model)
            out.append({
                "model": target.model, "against": target.against,
                "ours_ms": round(ours_s * 1e3, 3), "reference_ms": round(ref_s * 1e3, 3),
                "ratio": round(ratio, 3), "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
                "rounds": len(ratios), "flops_per_step": flops,
                "ours_peak_fraction": round(flops / (self.peak * ours_s), 4) if self.peak else None,
                "reference_peak_fraction": (round(flops / (self.peak * ref_s), 4)
                                            if self.peak and target.against == "torch" else None),
                "target": target.limit, "met": None if target.limit is None else ratio <= target.limit,
            })
        return out

    def to_json(self) -> Dict[str, object]:
        return {"python": self.python, "versions": self.versions, "peak_flops": self.peak_flops,
                "blas": self.blas, "env": self.env, "rounds": self.rounds, "rows": self.rows(),
                "notes": self.notes}


def _fmt_flops(flops: float) -> str:
    return f"{flops / 1e6:.1f}M" if flops < 1e9 else f"{flops / 1e9:.2f}G"


def render_table(result: BenchResult) -> str:
    """The terminal report: one line per model and reference, then the peak and the BLAS in use."""
    lines = [f"single-threaded training step (forward, backward, Adam), Python {result.python}, "
             f"median of {len(result.rounds)} interleaved round(s)",
             f"{'model':<8} {'vs':<10} {'tinytorch ms':>12} {'ref ms':>9} {'ratio':>7} {'(min-max)':>13} "
             f"{'FLOPs/step':>10} {'of peak':>8} {'ref peak':>8} {'target':>7}  met"]
    for row in result.rows():
        target = f"{row['target']:.1f}x" if row["target"] else "-"
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        spread = f"({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
        ours_frac = f"{row['ours_peak_fraction']:.1%}" if row["ours_peak_fraction"] is not None else "-"
        ref_frac = f"{row['reference_peak_fraction']:.1%}" if row["reference_peak_fraction"] is not None else "-"
        lines.append(f"{row['model']:<8} {row['against']:<10} {row['ours_ms']:>12.2f} {row['reference_ms']:>9.2f} "
                     f"{row['ratio']:>6.2f}x {spread:>13} {_fmt_flops(row['flops_per_step']):>10} "
                     f"{ours_frac:>8} {ref_frac:>8} {target:>7}  {met}")
    peaks = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in sorted(result.peak_flops.items()))
    lines.append(f"peak: single-core float32 matmul, GFLOP/s: {peaks or 'not measured'}")
    for pool in result.blas:
        if pool.get("user_api") == "blas":
            lines.append(f"NumPy BLAS: {pool.get('internal_api')} {pool.get('version', '')}, kernel "
                         f"{pool.get('architecture', '?')}, {pool.get('num_threads')} thread(s)")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def parse_child_output(stdout: str) -> Dict[str, Any]:
    """side_by_side.py prints one JSON object as its last line."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "rounds" in value:
            return value
    raise VerifierError("the benchmark printed no result line", SIDE_BY_SIDE)


def bench_env(keep_openblas_tuning: bool = False) -> Dict[str, str]:
    env = clean_env(SINGLE_THREAD)
    if not keep_openblas_tuning:
        for name in OPENBLAS_TUNING:
            env.pop(name, None)
    return env


def run_bench(course: Course, python: str = "3.11", rounds: int = 3, only: str = "",
              keep_openblas_tuning: bool = False) -> BenchResult:
    lookup = find_interpreter(python)
    if lookup.interpreter is None:
        raise VerifierError(lookup.describe_missing(), hint="the benchmark needs the Python that PyTorch is for")
    work = Path(tempfile.mkdtemp(prefix="tito-bench-"))
    result = BenchResult(lookup.interpreter.full_version)
    try:
        artifacts, _ = build_course(course, work / "dist", work)
        venv = create_venv(lookup.interpreter.path, work / "venv")
        installed = venv.install([str(artifacts.wheel), *BENCH_REQUIREMENTS])
        if not installed.ok:
            raise VerifierError(f"could not install the wheel and {', '.join(BENCH_REQUIREMENTS)}: "
                                f"{installed.tail(3)}")
        args: List[Union[str, Path]] = [venv.python, "-I", str(SIDE_BY_SIDE), "--rounds", str(rounds)]
        if only:
            args += ["--only", only]
        child = run(args, cwd=work, env=bench_env(keep_openblas_tuning), timeout=3600)
        if not child.ok:
            raise VerifierError(f"benchmark failed: {child.tail(8)}", SIDE_BY_SIDE)
        data = parse_child_output(child.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.rounds, result.peak_flops = data["rounds"], data["peak_flops"]
    result.blas, result.env = data.get("blas", []), data.get("env", {})
    result.versions = {"numpy": data.get("numpy"), "torch": data.get("torch")}
    if not keep_openblas_tuning:
        result.notes.append(f"{' and '.join(OPENBLAS_TUNING)} unset in the benchmark's process")
    return result
