"""`nox -s bench`: the course's speed, measured side by side in one run, as ratios.

The course wheel is installed into a fresh Python 3.11 venv beside PyTorch 2.13.0 (CPU);
then, single-threaded, the course's own benchmark (benchmarks/course_bench.py), the shared
PyTorch reference (shared/bench/torch_ref.py) and the hand-fused NumPy floor
(shared/bench/numpy_floor.py) run one after the other in that venv. Absolute times vary
between machines; the ratios are what is compared with the targets.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .package.build import build_course
from .course.discovery import Course
from .runner.envs import clean_env, create_venv
from .errors import VerifierError
from .runner.interpreters import find_interpreter
from .runner.processes import run

REPO = Path(__file__).resolve().parent.parent
COURSE_BENCH = REPO / "benchmarks" / "course_bench.py"
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TORCH = "torch==2.13.0"
# (ours, reference, target ratio) — from the course issues
TARGETS = [("cnn-28", "torch", 4.0), ("cnn-28", "numpy", 1.5), ("gpt-16", "torch", 3.0),
           ("cnn-8", "torch", None), ("cnn-8", "numpy", None), ("mlp", "numpy-mlp", 1.5)]


@dataclass
class BenchResult:
    python: str
    ours: Dict[str, float] = field(default_factory=dict)
    torch: Dict[str, float] = field(default_factory=dict)
    numpy: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def ratios(self) -> List[Dict[str, object]]:
        rows = []
        for name, against, target in TARGETS:
            mine = self.ours.get(name)
            if against == "numpy-mlp":
                reference = self.ours.get("numpy-mlp")
            else:
                reference = (self.torch if against == "torch" else self.numpy).get(name)
            if mine and reference:
                ratio = mine / reference
                rows.append({"model": name, "against": against, "ours_ms": round(mine * 1e3, 2),
                             "reference_ms": round(reference * 1e3, 2), "ratio": round(ratio, 2),
                             "target": target, "met": None if target is None else ratio <= target})
        return rows


def _last_json(text: str) -> Dict[str, float]:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
            if isinstance(value, dict):
                return value
        except ValueError:
            continue
    return {}


def _floor(text: str) -> Dict[str, float]:
    """numpy_floor.py prints `cnn-8 0.004` lines."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def run_bench(course: Course, shared: Optional[Path], python: str = "3.11") -> BenchResult:
    lookup = find_interpreter(python)
    if lookup.interpreter is None:
        raise VerifierError(lookup.describe_missing(), hint="the benchmark needs the Python that PyTorch is for")
    work = Path(tempfile.mkdtemp(prefix="tito-bench-"))
    result = BenchResult(lookup.interpreter.full_version)
    try:
        artifacts, _ = build_course(course, work / "dist", work)
        venv = create_venv(lookup.interpreter.path, work / "venv")
        installed = venv.install([str(artifacts.wheel), TORCH])
        if not installed.ok:
            raise VerifierError(f"could not install the wheel and {TORCH}: {installed.tail(3)}")
        env = clean_env(SINGLE_THREAD)
        ours = run([venv.python, "-I", str(COURSE_BENCH)], cwd=work, env=env, timeout=1800)
        if not ours.ok:
            raise VerifierError(f"course benchmark failed: {ours.tail(8)}", COURSE_BENCH)
        result.ours = _last_json(ours.stdout)
        if shared is not None and (shared / "torch_ref.py").is_file():
            torch_run = run([venv.python, "-I", str(shared / "torch_ref.py"), "1"], cwd=work, env=env, timeout=1800)
            result.torch = _last_json(torch_run.stdout)
            floor_run = run([venv.python, "-I", str(shared / "numpy_floor.py")], cwd=work, env=env, timeout=1800)
            result.numpy = _floor(floor_run.stdout)
        else:
            result.notes.append(f"no shared reference scripts at {shared}: ratios against PyTorch and the NumPy "
                                f"floor are not measured")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result
