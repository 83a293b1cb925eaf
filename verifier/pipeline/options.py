"""What a verify run is asked to do (VerifyOptions, built by the CLI or a caller of `verify`) and what
its course-wide stages hand to its per-Python tasks (Built). Kept apart from pipeline/verify.py so
the task modules (pytasks.py, canary.py) read them without importing the run that drives them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..package.build import Artifacts
from ..runner.entrypoints import EntryPoint
from ..runner.processes import DEFAULT_MEMORY_MB


@dataclass
class VerifyOptions:
    course: Path
    pythons: Optional[List[str]] = None          # replaces the course's matrix
    extra_pythons: List[str] = field(default_factory=list)
    strict: bool = False                         # a Python without interpreter fails the run
    scenarios: Optional[List[str]] = None        # None: every scenario
    run_tests: bool = True
    test_selection: Optional[List[str]] = None   # paths under the course's tests/ (None: all)
    jobs: Optional[int] = None                   # tasks run at once (None: os.cpu_count())
    installer: str = "uv"                        # uv (pip when uv is missing) or pip
    cached_envs: bool = False                    # module loop: cached dependency venvs, never a release verdict
    history: Optional[Path] = None               # a previous verify.json: stage durations to schedule by
    memory_mb: int = DEFAULT_MEMORY_MB
    keep_work: bool = False
    latest: bool = False                         # ignore the course's lock files
    scenario_timeout: Optional[float] = None     # cap every scenario's (and module import's) timeout, s
    artifacts_dir: Optional[Path] = None         # where to keep the built sdist and wheel (for the hand-off bundle)
    fail_fast: bool = False                      # stop at the first blocking stage
    baseline: Optional[str] = None               # an earlier release (git ref or wheel) to compare with
    baseline_rounds: int = 3                     # interleaved timing rounds of that comparison
    baseline_strict: bool = False                # a scenario's numbers changed since the baseline: blocks
    canary: Optional[str] = None                 # "warn" / "block": the canary leg (pipeline/canary.py)


@dataclass
class Built:
    """What the course-wide stages hand to the per-Python stages."""
    artifacts: Optional[Artifacts]               # None: no wheel to install
    missing: str = ""                            # why there is no wheel ("build failed", ...)
    modules: List[str] = field(default_factory=list)          # importable modules in the wheel
    entry_points: List[EntryPoint] = field(default_factory=list)
    stopped: str = ""                            # with fail_fast: the stage that stopped the run
