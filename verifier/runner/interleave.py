"""Interleaved timing of two sides (a baseline and a candidate package) on one interpreter.

The same timing script runs for each side in its own short-lived child, the sides alternating per
round (A B A B …), so a change of the machine's load during the measurement falls on both sides
alike instead of on whichever ran last. Every child runs through `processes.run` (own process group,
timeout, memory limit, single-threaded BLAS), from an empty folder holding only the script and the
helpers it imports. This module only runs and collects; pipeline/baseline.py reads the timings.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .envs import Venv, clean_env
from .processes import DEFAULT_MEMORY_MB, Completed, run
from .scenarios import SINGLE_THREAD, shared_helpers


@dataclass(frozen=True)
class Side:
    label: str            # "baseline" or "candidate"
    package_dir: Path     # the folder holding this side's package (an unpacked wheel)


@dataclass
class Measurement:
    """One side's child in one round: its report (the script's last `prefix` line) or why there is none."""
    side: str
    round: int
    report: Optional[Dict[str, Any]]
    completed: Completed

    @property
    def failure(self) -> str:
        if self.report is not None:
            return ""
        if self.completed.timed_out:
            return "timed out"
        lines = [line for line in self.completed.stderr.strip().splitlines() if line.strip()]
        return lines[-1].strip()[:300] if lines else f"exit code {self.completed.returncode}"


def _report(stdout: str, prefix: str) -> Optional[Dict[str, Any]]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(prefix):
            try:
                value = json.loads(line[len(prefix):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def run_interleaved(venv: Venv, script: Path, sides: Sequence[Side], rounds: int, workdir: Path, prefix: str,
                    arguments: Sequence[str] = (), timeout: float = 120.0,
                    memory_mb: int = DEFAULT_MEMORY_MB, extra_env: Optional[Dict[str, str]] = None,
                    ) -> List[Measurement]:
    """`rounds` rounds, each running `script` once per side in the order given; every child gets
    `--package-dir <side's folder>` and `arguments`. A child that fails is recorded, not raised."""
    here = workdir / "interleaved"
    here.mkdir(parents=True)
    shutil.copy2(script, here / script.name)
    for helper in shared_helpers():
        shutil.copy2(helper, here / helper.name)
    env = clean_env(dict(SINGLE_THREAD, **(extra_env or {})))
    measurements: List[Measurement] = []
    for number in range(rounds):
        for side in sides:
            completed = run([venv.python, "-I", script.name, "--package-dir", str(side.package_dir), *arguments],
                            cwd=here, env=env, timeout=timeout, memory_mb=memory_mb)
            measurements.append(Measurement(side.label, number, _report(completed.stdout, prefix)
                                            if completed.ok else None, completed))
            if completed.interrupted:
                return measurements
    return measurements
