"""The editable-install stage of a verify run: what a student working on the course gets.

The course is copied to a temporary directory with its exported package, `pip install -e` of
the copy goes into a fresh venv, then — from an empty directory outside the tree — the imports
scenario and an editable installation check run: tinytorch resolves to the copy's package (not
a stale copy in site-packages), its metadata version matches `__version__`, `pip check` is
clean, and a file added to the copy after installing is importable without reinstalling.

One Python is enough, the newest of the run's matrix; when it fails there, the oldest is tried
too, so the report says whether the failure depends on the Python. Failures are attributed to
the student's module through the export markers like every other stage. Student code only runs
in sandboxed child processes (runner/processes.py).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..course.discovery import Course
from ..course.files import ignore_special_files
from ..course.matrix import version_key
from ..errors import VerifierError
from ..package.export import plan_export, write_package
from ..package.locks import constraints_for
from ..results import FAILED, NOT_RUN, PASSED, StageResult
from ..runner.attribution import attribute_traceback
from ..runner.envs import clean_env, create_venv
from ..runner.interpreters import find_interpreter
from ..runner.processes import DEFAULT_MEMORY_MB, run, stopping
from ..runner.scenarios import SINGLE_THREAD, discover_scenarios, run_scenario
from .stages import not_run

STAGE = "editable"
PROBE = "_tito_editable_probe"
# special files (FIFOs, sockets, devices) are left out too: validation reports them (TT009)
IGNORE = ignore_special_files(".git", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".tito", "reports",
                              ".venv", ".nox")

# Runs in the venv from an empty directory: the editable install points at the copy.
EDITABLE_CHECK = r"""
import importlib, importlib.metadata, json, os, subprocess, sys
copy, package, probe = sys.argv[1], sys.argv[2], sys.argv[3]
module = importlib.import_module(package)
location = os.path.realpath(module.__file__)
expected = os.path.realpath(os.path.join(copy, package))
assert location.startswith(expected + os.sep), \
    f"{package} imported from {location}, not from the editable copy {expected}"
installed = importlib.metadata.version(package)
assert installed == module.__version__, f"metadata version {installed} != {package}.__version__ {module.__version__}"
check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
assert check.returncode == 0, f"pip check failed: {check.stdout.strip()} {check.stderr.strip()}"
value = importlib.import_module(package + "." + probe).VALUE
assert value == 42, f"the probe added after installing reads {value!r}"
print("TITO_RESULT " + json.dumps({"tinytorch_file": location, "version": installed, "edit_visible": True}))
"""


def _attempt(course: Course, copy: Path, home: Path, version: str, memory_mb: int, latest: bool) -> StageResult:
    """The editable install and its checks on one Python; never raises for the course's failure."""
    stage = StageResult(STAGE)
    began = time.monotonic()
    stage.figures["python"] = version
    lookup = find_interpreter(version)
    if lookup.interpreter is None:
        stage.status, stage.detail = NOT_RUN, lookup.describe_missing()
        return stage
    try:
        venv = create_venv(lookup.interpreter.path, home / "venv")
    except VerifierError as exc:
        stage.status, stage.detail = FAILED, f"Python {version}: {exc}"
        return stage
    lock = constraints_for(course, version, latest)
    # no byte-compiling: a third of pip's time here (NumPy's files), and no check below depends on it;
    # but the .pyc of what pip's processes import (pip, setuptools) are written once and read by the
    # next of them, as on a student's machine (~0.8 s CPU of ~4.5)
    install = venv.install(["-e", str(copy)], constraints=lock.pins if lock else None, byte_compile=False,
                           write_bytecode=True)
    stage.figures["install_seconds"] = round(install.seconds, 2)
    if not install.ok:
        stage.status = FAILED
        stage.detail = f"Python {version}: pip install -e could not install the course copy: " + \
            (install.stderr.strip().splitlines() or ["?"])[-1][:300]
        stage.log = install.tail(30)
        stage.fix = "make the course installable in editable mode (pyproject.toml build-system / package discovery)"
        return stage
    package_dir = copy / course.package
    for scenario in discover_scenarios(["imports"]):
        outcome = run_scenario(venv, scenario, home, course.package, memory_mb)
        stage.figures["imports_seconds"] = outcome.seconds
        if not outcome.ok:
            stage.status = FAILED
            stage.detail = f"Python {version}: imports scenario from the editable install: {outcome.detail}"
            stage.log = outcome.log
            stage.attribution = attribute_traceback(outcome.log, inside=package_dir) or outcome.attribution
            return stage
    probe = package_dir / f"{PROBE}.py"
    probe.write_text("VALUE = 42\n", encoding="utf-8")
    here = home / "editable-check"
    here.mkdir()
    try:
        done = run([venv.python, "-I", "-X", "faulthandler", "-c", EDITABLE_CHECK, str(copy), course.package, PROBE],
                   cwd=here, env=clean_env(SINGLE_THREAD), timeout=180, memory_mb=memory_mb, dump_on_timeout=True)
    finally:
        probe.unlink()
    stage.figures["installation_seconds"] = round(done.seconds, 2)
    if not done.ok:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        stage.status = FAILED
        stage.detail = f"Python {version}: editable installation check: " + \
            ("timed out" if done.timed_out else (lines[-1][:300] if lines else f"exit code {done.returncode}"))
        stage.log = done.tail(30)
        stage.attribution = attribute_traceback(done.stderr, inside=package_dir)
        return stage
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("TITO_RESULT "):
            stage.figures.update(json.loads(line[len("TITO_RESULT "):]))
            break
    stage.status = PASSED
    stage.seconds = round(time.monotonic() - began, 2)
    return stage


def interrupted(attempt: StageResult, began: float) -> StageResult:
    """The stage when the run was stopped while it ran: "not run: interrupted", never failed — the
    killed `pip install -e` says it could not install, but the course did nothing wrong."""
    stage = not_run(STAGE, "interrupted")
    stage.figures = {k: v for k, v in attempt.figures.items() if k == "python"}
    stage.seconds = round(time.monotonic() - began, 2)
    return stage


def editable_stage(course: Course, work: Path, matrix: Sequence[str], memory_mb: int = DEFAULT_MEMORY_MB,
                   latest: bool = False) -> StageResult:
    """`pip install -e` of a copy of the course, checked from outside the tree (see the module doc)."""
    began = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "course"
    try:
        shutil.copytree(course.root, copy, ignore=IGNORE)
        shutil.rmtree(copy / course.package, ignore_errors=True)  # the copy gets a fresh export
        write_package(plan_export(course), copy)
    except (OSError, VerifierError) as exc:
        return StageResult(STAGE, FAILED, round(time.monotonic() - began, 2),
                           detail=f"could not lay out the course copy: {exc}")
    ordered = sorted(matrix, key=version_key, reverse=True)
    tried: Dict[str, str] = {}
    first: Optional[StageResult] = None
    candidates: List[str] = ordered[:1] + ordered[-1:] if len(ordered) > 1 else ordered
    for version in candidates:
        home = work / f"py{version}"
        home.mkdir()
        try:
            attempt = _attempt(course, copy, home, version, memory_mb, latest)
        finally:
            shutil.rmtree(home / "venv", ignore_errors=True)
        if stopping():  # Ctrl-C / SIGTERM killed its children: whatever they said, nothing failed
            return interrupted(attempt, began)
        if attempt.status == NOT_RUN and first is None:
            continue  # no interpreter for the newest: the next one stands in
        tried[version] = attempt.status
        if first is None:
            first = attempt
        if attempt.ok:
            break
    stage = first or StageResult(STAGE, NOT_RUN, detail="no interpreter of the matrix found")
    stage.figures["pythons"] = tried
    if stage.status == FAILED and len(tried) > 1:
        others = ", ".join(f"{v} {s}" for v, s in tried.items() if v != stage.figures.get("python"))
        stage.detail += f" (also tried: {others})"
    elif stage.ok:
        stage.detail = (f"pip install -e of a course copy on Python {stage.figures['python']}; imports and "
                        f"installation checks pass from outside the tree; edits visible without reinstalling")
    stage.seconds = round(time.monotonic() - began, 2)
    return stage
