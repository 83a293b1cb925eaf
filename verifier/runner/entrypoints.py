"""The entry-points stage: every entry point the installed wheel declares (its
`entry_points.txt`) is resolved in the fresh venv — module imported, attribute found, callable —
and each console script is run with `--help` (timeout), so a `tito = "tito.main:main"` pointing
at a module the wheel does not ship blocks the release, naming the entry point and the
pyproject line that declares it.

A script that does not accept `--help` (exits non-zero without a traceback) passes once its
target resolves; a crash with a traceback or a hang fails.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..results import FAILED, PASSED, Attribution, StageResult
from .attribution import attribute_traceback
from .envs import Venv, clean_env
from .processes import DEFAULT_MEMORY_MB, Completed, run

HELP_TIMEOUT = 30.0

# Runs inside the venv. argv: module, attribute path ("" for a module-only entry point).
RESOLVE = r'''
import importlib, sys
module, attribute = sys.argv[1], sys.argv[2]
target = importlib.import_module(module)
for part in [p for p in attribute.split(".") if p]:
    target = getattr(target, part)
if attribute and not callable(target):
    raise TypeError("%s:%s is a %s, not callable" % (module, attribute, type(target).__name__))
'''


@dataclass(frozen=True)
class EntryPoint:
    group: str          # "console_scripts", "gui_scripts" or a plugin group
    name: str
    value: str          # "package.module:attr.sub [extra]"
    declared_at: str    # "pyproject.toml:31" where the course declares it, or ""

    @property
    def module(self) -> str:
        return self.value.split(":", 1)[0].strip()

    @property
    def attribute(self) -> str:
        return self.value.split(":", 1)[1].split("[")[0].strip() if ":" in self.value else ""

    @property
    def script(self) -> bool:
        return self.group in ("console_scripts", "gui_scripts")

    def label(self) -> str:
        where = f" ({self.declared_at})" if self.declared_at else ""
        return f"{self.group} {self.name} = {self.value}{where}"


@dataclass
class EntryPointOutcome:
    entry: EntryPoint
    ok: bool
    error: str = ""
    log: str = ""


def _last_line(completed: Completed) -> str:
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    return lines[-1][:240] if lines else f"exit code {completed.returncode}"


def _script(venv: Venv, name: str) -> Path:
    return venv.root / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def check_entry_point(venv: Venv, entry: EntryPoint, memory_mb: int = DEFAULT_MEMORY_MB,
                      timeout: float = HELP_TIMEOUT) -> EntryPointOutcome:
    here = Path(tempfile.mkdtemp(prefix="tito-entry-"))
    env = clean_env({"HOME": str(here)})
    try:
        resolved = run([venv.python, "-I", "-c", RESOLVE, entry.module, entry.attribute], cwd=here, env=env,
                       timeout=timeout, memory_mb=memory_mb)
        if not resolved.ok:
            why = "timed out while importing" if resolved.timed_out else _last_line(resolved)
            return EntryPointOutcome(entry, False, f"does not resolve: {why}", resolved.tail(20))
        if entry.group != "console_scripts":
            return EntryPointOutcome(entry, True)
        script = _script(venv, entry.name)
        if not script.exists():
            return EntryPointOutcome(entry, False, f"pip installed no script {script.name}")
        helped = run([script, "--help"], cwd=here, env=env, timeout=timeout, memory_mb=memory_mb)
        if helped.timed_out:
            return EntryPointOutcome(entry, False, f"`{entry.name} --help` did not finish within {timeout:.0f} s",
                                     helped.tail(20))
        if not helped.ok and "Traceback (most recent call last)" in helped.stderr:
            return EntryPointOutcome(entry, False, f"`{entry.name} --help` crashed: {_last_line(helped)}",
                                     helped.tail(20))
        return EntryPointOutcome(entry, True)  # exit 0, or a script that does not take --help
    finally:
        shutil.rmtree(here, ignore_errors=True)


def entry_points_stage(venv: Venv, entries: Sequence[EntryPoint], package: str, targets: Dict[str, str],
                       memory_mb: int = DEFAULT_MEMORY_MB, cancelled: Optional[threading.Event] = None) -> StageResult:
    began = time.monotonic()
    stage = StageResult("entry-points", PASSED)
    outcomes: List[EntryPointOutcome] = []
    for entry in entries:
        if cancelled is not None and cancelled.is_set():
            break
        outcomes.append(check_entry_point(venv, entry, memory_mb))
    failed = [o for o in outcomes if not o.ok]
    stage.seconds = round(time.monotonic() - began, 2)
    stage.figures = {"entry_points": len(outcomes), "failed": {o.entry.name: o.error for o in failed}}
    if not outcomes:
        stage.detail = "the wheel declares no entry points"
        return stage
    if not failed:
        stage.detail = f"{len(outcomes)} entry points resolve" + \
            (f"; {sum(1 for e in entries if e.group == 'console_scripts')} scripts answer --help")
        return stage
    stage.status = FAILED
    stage.detail = "; ".join(f"{o.entry.label()}: {o.error}" for o in failed[:3])
    stage.log = "\n\n".join(f"== {o.entry.name}\n{o.log}" for o in failed)[-4000:]
    first = failed[0]
    stage.attribution = _blame(first, package, targets)
    stage.fix = f"point {first.entry.name} at a callable the wheel ships" + \
        (f" ({first.entry.declared_at})" if first.entry.declared_at else "")
    return stage


def _blame(outcome: EntryPointOutcome, package: str, targets: Dict[str, str]) -> Optional[Attribution]:
    """A traceback into the package names the module; else the module the entry point names."""
    found = attribute_traceback(outcome.log, package)
    if found:
        return found
    path, _, line = outcome.entry.declared_at.partition(":")
    name = outcome.entry.module
    while name:
        if name in targets:
            return Attribution(targets[name], path or "pyproject.toml", int(line) if line.isdigit() else None,
                               outcome.entry.attribute, how="entry point")
        name = name.rpartition(".")[0]
    return None
