"""Fresh venvs made while the course-wide stages run: validate, export, api and build run one after
the other on one core, and no Python's stage can start before the wheel exists — except its venv,
which needs only the interpreter. So one background thread creates the matrix's venvs during those
stages (on the core they leave idle); when they end it starts no further venv, and each Python's
venv task takes the one made for it (waiting if it is being made) or makes its own as before.

A venv made early is made exactly as the venv task makes it (pipeline/stages.py venv_stage_for, at
the same place, metered the same way): the venv stage's report is the same, only its time moved (its figures say
`made_early`, so the pipelines bench can charge that time back to the per-Python part).
Not used for cached environments (the module loop), whose venv is not fresh.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from ..results import StageResult
from ..runner.envs import Venv
from ..runner.interpreters import Lookup, find_interpreter
from ..runner.processes import metered
from .stages import venv_stage_for

Made = Tuple[Lookup, StageResult, Optional[Venv]]


def venv_home(work: Path, scope: str) -> Path:
    """The work folder of one Python (`pytasks.PythonRun.home`); its venv is `venv` inside it."""
    return work / f"py{scope}"


class EarlyVenvs:
    """`start()` before the course-wide stages, `stop()` after them, `take(version)` in a venv task,
    `close()` before the work folder goes (waits for the venv being made, if any)."""

    def __init__(self, versions: Sequence[str], work: Path, cancelled: threading.Event,
                 installer: str = "pip") -> None:
        self.versions = list(versions)
        self.installer = installer  # the run's --installer: uv venv makes the venvs uv installs into
        self.work = work
        self.cancelled = cancelled
        self._stopped = threading.Event()
        self._lock = threading.Condition()
        self._made: Dict[str, Made] = {}
        self._making: Optional[str] = None
        self._thread = threading.Thread(target=self._make_all, name="tito-early-venvs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No further venv starts (the one being made is finished)."""
        self._stopped.set()

    def close(self) -> None:
        self.stop()
        if self._thread.is_alive():
            self._thread.join()

    def take(self, version: str) -> Optional[Made]:
        """The venv made early for `version` (once: a second take gets None), after it is finished;
        None when none was made or started for it."""
        with self._lock:
            while self._making == version:
                self._lock.wait()
            return self._made.pop(version, None)

    def _make_all(self) -> None:
        for version in self.versions:
            with self._lock:
                if self._stopped.is_set() or self.cancelled.is_set():
                    return
                self._making = version
            try:
                lookup = find_interpreter(version)
                if lookup.interpreter is None:
                    continue  # the venv task reports the missing interpreter, as without early venvs
                home = venv_home(self.work, version)
                home.mkdir()
                with metered() as meter:
                    stage, venv = venv_stage_for(lookup.interpreter.path, home / "venv", self.installer,
                                                 lookup.interpreter.version)
                stage.figures.setdefault("cpu_seconds", round(meter.seconds, 2))  # as pytasks.with_cpu
                stage.figures.setdefault("processes", meter.processes)
                # made beside the course-wide stages, not in the task pool: the pipelines bench
                # (bench/pipelines.py) charges this time back to the per-Python part
                stage.figures["made_early"] = True
                with self._lock:
                    self._made[version] = (lookup, stage, venv)
            except Exception:  # noqa: BLE001 - e.g. a full disk: the venv task meets it again and reports it
                return
            finally:
                with self._lock:
                    self._making = None
                    self._lock.notify_all()
