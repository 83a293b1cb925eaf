"""`nox -s bench -- --pipelines`: the per-Python work of `tinytorch-verifier verify` expressed in tox and in tox with
tox-uv, and all three timed in one run on this machine, from the same built wheel.

The per-Python work is: a fresh environment for the interpreter, the wheel installed with the course's
lock as constraints, each module of the wheel imported alone in a process of its own (tinytorch-verifier's
module-imports stage; tinytorch-verifier also watches each import for side effects), every student scenario run with
`python -I` from an empty directory (shared helpers copied beside the scripts, the course's role table in
TINYTORCH_API_ROLES, single-threaded BLAS), then pytest installed and the course's tests run on a copy
outside the course tree. tinytorch-verifier's entry-points and dependency-API stages have no tox counterpart:
the verifier does that much more.

Order of one run: `tinytorch-verifier verify` first (the real command, in a child process, reports in a temporary
folder); its built wheel, kept in that folder, is the wheel the two tox pipelines install. Then tox
(`runner = virtualenv`, pip) and tox with tox-uv (`runner = uv-venv-runner`, uv), each `tox p -p <jobs>`
over a tox.ini generated in its own temporary directory (never in the course or the repository).
tinytorch-verifier verify also validates, exports, checks the API, builds (and checks) the sdist and wheel — course-wide
stages that run one after the other before the per-Python part — and runs its editable-install stage as
one more task of the pool that runs the per-Python tasks. tinytorch-verifier's per-Python wall time is therefore its
total minus the sequential stages, minus the editable stage's share of the pool's wall time (its seconds
times pool wall / pool busy seconds, at most its seconds: the pool gave it that fraction of its capacity;
with two workers fully busy, half its seconds). Subtracting
the editable stage's whole duration instead would credit tinytorch-verifier with time a second worker spent on
per-Python tasks meanwhile. The venvs tinytorch-verifier makes while the sequential stages run (their
stages say `made_early`) are per-Python work the subtraction would hide: they are added back at the same
rate. Ratios are to that per-Python wall.

`render_tox_ini` is deterministic (tests/unit/test_bench_pipelines.py); everything timed lives in
`run_pipelines`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import write_atomic
from ..course.discovery import Course
from ..course.matrix import python_matrix, version_key
from ..package.locks import constraints_for
from ..package.wheelcheck import wheel_modules
from ..runner.envs import clean_env
from ..runner.interpreters import find_interpreter
from ..runner.processes import run
from ..runner.scenarios import SINGLE_THREAD, api_roles, discover_scenarios, shared_helpers

VIRTUALENV, UV = "virtualenv", "uv-venv-runner"
TITO = "tinytorch-verifier verify"
TOX_TIMEOUT = 3600.0
# course-wide stages of tinytorch-verifier verify: sequential, before the per-Python part
TITO_SEQUENTIAL_STAGES = ("validate", "export", "api", "build")
# course-wide stages that run as tasks of the per-Python pool, beside the per-Python tasks
TITO_POOL_STAGES = ("editable",)

INCLUDES = {
    TITO: "the real `tinytorch-verifier verify --jobs N`: validate, export, api, build + build checks, per Python "
          "(a venv by `uv venv` with pip seeded, uv pip install of the wheel with the lock, "
          "module-imports with side-effect watch, "
          "entry-points and the dependency API check (tox runs neither of these two), scenarios with timeout "
          "and memory limit, "
          "pip install pytest, course tests), editable stage in the same pool; 'wall' is the per-Python "
          "part = total minus the sequential course-wide stages minus the editable stage's pool share",
    "tox": "`tox p -p N`, runner = virtualenv: per Python a virtualenv, pip install of the same wheel with "
           "the lock (+ tox's own pip freeze), each module of the wheel imported alone, the same scenarios, "
           "pip install pytest, the same course tests; no timeout or memory limit per command",
    "tox-uv": "`tox p -p N` with the tox-uv plugin, runner = uv-venv-runner (uv_seed = true so pip exists "
              "for the installation scenario's `pip check`): uv venv, uv pip install of the same wheel with "
              "the lock, each module of the wheel imported alone, the same scenarios, uv pip install pytest, "
              "the same course tests",
}


# -- the tox.ini ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ToxEnv:
    version: str                  # "3.12"
    interpreter: str              # absolute path of the base interpreter
    lock: Optional[str] = None    # file name under locks/ (None: no lock, resolve latest)


@dataclass(frozen=True)
class ToxPlan:
    runner: str                   # VIRTUALENV or UV
    wheel: str                    # file name under dist/
    envs: Tuple[ToxEnv, ...]
    scenarios: Tuple[str, ...]    # script file names under scenarios/, in verify's order
    roles: str = "{}"             # TINYTORCH_API_ROLES, JSON
    run_tests: bool = True
    # the wheel's modules, each imported alone in a process of its own (tinytorch-verifier's module-imports stage)
    modules: Tuple[str, ...] = ()


def env_name(version: str) -> str:
    return f"py{version}"


def _tox_literal(text: str) -> str:
    """A value tox must not substitute: braces (JSON) and backslashes escaped."""
    return text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")


def command_labels(plan: ToxPlan) -> List[str]:
    """What each line of `commands` is, in order (tox's result JSON reports commands by index)."""
    labels = [f"import {m}" for m in plan.modules] + [Path(s).stem for s in plan.scenarios]
    return labels + (["install pytest", "course-tests"] if plan.run_tests else [])


def render_tox_ini(plan: ToxPlan) -> str:
    """The tox.ini for a plan; paths are relative to {tox_root} except the interpreters."""
    root = "{tox_root}{/}"
    here = root + "course-tests{/}{env_name}"
    tests = here + "{/}"
    commands = [f'python -I -X faulthandler -c "import {m}"' for m in plan.modules]
    commands += [f"python -I -X faulthandler {root}scenarios{{/}}{s}" for s in plan.scenarios]
    if plan.run_tests:
        commands.append("uv pip install --python {env_python} pytest" if plan.runner == UV
                        else "python -I -m pip install --no-input pytest")
        commands.append(f"python -I -X faulthandler -m pytest {tests}tests -q -p no:cacheprovider "
                        f"-c {tests}pytest.ini --rootdir {here} --junitxml={tests}junit.xml")
    set_env = dict(SINGLE_THREAD, TINYTORCH_API_ROLES=plan.roles, PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUTF8="1")
    lines = ["# Generated by verifier/bench/pipelines.py: the per-Python part of `tinytorch-verifier verify` in tox.",
             "[tox]",
             "env_list = " + ", ".join(env_name(e.version) for e in plan.envs),
             "skip_missing_interpreters = false",
             "no_package = true",
             "",
             "[testenv]",
             f"runner = {plan.runner}"]
    if plan.runner == UV:
        lines.append("uv_seed = true")
    lines += ["skip_install = true",
              "ignore_errors = true",
              "change_dir = {env_tmp_dir}{/}empty",
              "set_env ="]
    lines += [f"    {k} = {_tox_literal(v)}" for k, v in sorted(set_env.items())]
    if plan.runner == UV and plan.run_tests:
        lines.append("allowlist_externals = uv")
    lines.append("commands =")
    lines += [f"    {c}" for c in commands]
    for env in plan.envs:
        lines += ["", f"[testenv:{env_name(env.version)}]", f"base_python = {env.interpreter}", "deps ="]
        if env.lock:
            lines.append(f"    -c {root}locks{{/}}{env.lock}")
        lines.append(f"    {root}dist{{/}}{plan.wheel}")
    return "\n".join(lines) + "\n"


def write_tox_tree(root: Path, plan: ToxPlan, wheel: Path, locks: Dict[str, Path], course: Course) -> Path:
    """tox.ini with everything it names copied beside it: dist/, locks/, scenarios/ (+ helpers), and one
    copy of the course's tests per environment (tox runs environments in parallel)."""
    (root / "dist").mkdir(parents=True)
    shutil.copy2(wheel, root / "dist" / plan.wheel)
    (root / "locks").mkdir()
    for env in plan.envs:
        if env.lock:
            shutil.copy2(locks[env.version], root / "locks" / env.lock)
    (root / "scenarios").mkdir()
    by_name = {s.script.name: s.script for s in discover_scenarios()}
    for name in plan.scenarios:
        shutil.copy2(by_name[name], root / "scenarios" / name)
    for helper in shared_helpers():
        shutil.copy2(helper, root / "scenarios" / helper.name)
    if plan.run_tests:
        for env in plan.envs:
            here = root / "course-tests" / env_name(env.version)
            shutil.copytree(course.root / "tests", here / "tests",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            (here / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    ini = root / "tox.ini"
    ini.write_text(render_tox_ini(plan), encoding="utf-8")
    return ini


# -- results --------------------------------------------------------------------------------------------

@dataclass
class PythonRun:
    status: str                               # "pass", "FAIL" or "not run"
    seconds: Optional[float] = None
    failed: List[str] = field(default_factory=list)   # scenarios / steps that failed
    tests: Dict[str, int] = field(default_factory=dict)
    interpreter: Optional[str] = None
    steps: Dict[str, float] = field(default_factory=dict)   # seconds per step (setup, each scenario, tests)


@dataclass
class PipelineRun:
    name: str
    includes: str
    wall_seconds: Optional[float] = None      # tinytorch-verifier: its per-Python part
    total_seconds: Optional[float] = None     # the process's whole wall time
    pythons: Dict[str, PythonRun] = field(default_factory=dict)
    load_before: Tuple[float, ...] = ()
    load_after: Tuple[float, ...] = ()
    skipped: str = ""                         # why it did not run
    error: str = ""                           # the run itself broke (one line)
    ratio: Optional[float] = None
    detail: Dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.skipped and not self.error and bool(self.pythons) and \
            all(p.status == "pass" for p in self.pythons.values())


def junit_counts(path: Path) -> Dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not path.is_file():
        return {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            counts["skipped"] += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        else:
            counts["passed"] += 1
    return counts


def parse_tox_result(data: Dict[str, Any], plan: ToxPlan, root: Path) -> Dict[str, PythonRun]:
    """Per Python of the plan: tox's verdict, duration, failed commands (by label) and test counts."""
    labels = command_labels(plan)
    out: Dict[str, PythonRun] = {}
    for env in plan.envs:
        raw = data.get("testenvs", {}).get(env_name(env.version))
        if not raw or "result" not in raw:
            out[env.version] = PythonRun("not run")
            continue
        result = raw["result"]
        failed = [labels[i] if i < len(labels) else f"command {i}"
                  for i, cmd in enumerate(raw.get("test", [])) if cmd.get("retcode") != 0]
        if not result.get("success") and not raw.get("test"):
            failed.append("setup (env or install)")
        steps = {"setup": round(sum(float(c.get("elapsed", 0.0)) for c in raw.get("setup", [])), 2)}
        steps.update({labels[i] if i < len(labels) else f"command {i}": round(float(c.get("elapsed", 0.0)), 2)
                      for i, c in enumerate(raw.get("test", []))})
        out[env.version] = PythonRun(
            "pass" if result.get("success") and not failed else "FAIL", round(result.get("duration", 0.0), 2),
            failed, junit_counts(root / "course-tests" / env_name(env.version) / "junit.xml"),
            (raw.get("python") or {}).get("executable"), steps)
    return out


def parse_verify_json(data: Dict[str, Any]) -> Tuple[float, float, Dict[str, PythonRun]]:
    """tinytorch-verifier's total, its per-Python part and per Python: status, the sum of its stage durations (pip
    install of pytest not included: verify does not time it). The per-Python part is the total minus the
    sequential course-wide stages, minus the pool stages' share of the pool's wall (module doc)."""
    total = float(data.get("seconds", 0.0))
    course_stages = data.get("stages", [])
    sequential = sum(float(s.get("seconds", 0.0)) for s in course_stages if s.get("name") in TITO_SEQUENTIAL_STAGES)
    in_pool = sum(float(s.get("seconds", 0.0)) for s in course_stages if s.get("name") in TITO_POOL_STAGES)
    per_python = [s for raw in data.get("pythons", []) for s in raw.get("stages", [])]
    # venvs made while the sequential stages ran (pipeline/earlyvenvs.py) are per-Python work done outside
    # the pool: charged back at the pool's rate, as if the pool had made them (tox makes its envs in its pool)
    early = sum(float(s.get("seconds", 0.0)) for s in per_python if (s.get("figures") or {}).get("made_early"))
    per_python_busy = sum(float(s.get("seconds", 0.0)) for s in per_python) - early
    pool_wall = total - sequential
    pool_busy = per_python_busy + in_pool
    # never more than the stage's own seconds (a pool that idled cannot owe the stage more than it took)
    pool_share = min(in_pool, in_pool * pool_wall / pool_busy) if pool_busy > 0 else in_pool
    early_share = early * pool_wall / pool_busy if pool_busy > 0 else early
    pythons: Dict[str, PythonRun] = {}
    for raw in data.get("pythons", []):
        stages = raw.get("stages", [])
        tests = next((s for s in stages if s.get("name") == "course-tests"), None)
        pythons[raw["version"]] = PythonRun(
            "pass" if raw.get("status") == "passed" else ("FAIL" if stages else "not run"),
            round(sum(float(s.get("seconds", 0.0)) for s in stages), 2),
            [s["name"] for s in stages if s.get("status") != "passed"],
            {k: int(v) for k, v in (tests or {}).get("figures", {}).items()
             if k in ("passed", "failed", "skipped")},
            raw.get("interpreter"), {s["name"]: float(s.get("seconds", 0.0)) for s in stages})
    return total, round(pool_wall - pool_share + early_share, 2), pythons


# -- running --------------------------------------------------------------------------------------------

def _load() -> Tuple[float, ...]:
    return tuple(round(x, 2) for x in os.getloadavg())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_tito(course: Course, versions: Optional[Sequence[str]], jobs: int,
             work: Path) -> Tuple[PipelineRun, Optional[Path]]:
    reports = work / "tito-reports"
    args = [sys.executable, "-m", "verifier.cli", "verify", "--course", str(course.root),
            "--reports", str(reports), "--jobs", str(jobs)]
    for version in versions or []:
        args += ["--python", version]
    pipeline = PipelineRun(TITO, INCLUDES[TITO], load_before=_load())
    child = run(args, cwd=work, env=clean_env(), timeout=TOX_TIMEOUT)
    pipeline.load_after = _load()
    verify_json = reports / "verify.json"
    if not verify_json.is_file():
        pipeline.error = f"tinytorch-verifier verify wrote no verify.json (exit {child.returncode}): {child.tail(3)}"
        return pipeline, None
    data = json.loads(verify_json.read_text(encoding="utf-8"))
    pipeline.total_seconds, pipeline.wall_seconds, pipeline.pythons = parse_verify_json(data)
    pipeline.detail = {"exit_code": child.returncode, "process_seconds": round(child.seconds, 2),
                       "course_stages": {s["name"]: s["seconds"] for s in data.get("stages", [])},
                       "partial": data.get("partial", "")}
    wheels = sorted((reports / "dist").glob("*.whl"))
    return pipeline, (wheels[0] if wheels else None)


def tox_available(runner: str) -> str:
    """'' when this Python can run tox with the runner, else why not."""
    if importlib.util.find_spec("tox") is None:
        return "tox is not installed in this environment (nox -s bench -- --pipelines installs it)"
    if runner == UV and importlib.util.find_spec("tox_uv") is None:
        return "tox-uv could not be installed here (or is not installed): row skipped"
    return ""


def run_tox(name: str, plan: ToxPlan, course: Course, wheel: Path, locks: Dict[str, Path], jobs: int,
            work: Path) -> PipelineRun:
    pipeline = PipelineRun(name, INCLUDES[name])
    pipeline.skipped = tox_available(plan.runner)
    if pipeline.skipped:
        return pipeline
    root = work / name
    ini = write_tox_tree(root, plan, wheel, locks, course)
    result_json = root / "result.json"
    # the interpreters first on PATH (uv finds a Python by version there), then this venv's bin (tox, uv);
    # uv must never download a Python of its own
    dirs = [str(Path(e.interpreter).parent) for e in plan.envs] + [str(Path(sys.executable).parent)]
    env = clean_env({"PATH": os.pathsep.join(dirs + [os.environ.get("PATH", "")]),
                     "UV_PYTHON_DOWNLOADS": "never"})
    args = [sys.executable, "-m", "tox", "p", "-p", str(jobs), "--parallel-no-spinner", "-c", str(ini),
            "--result-json", str(result_json)]
    pipeline.load_before = _load()
    child = run(args, cwd=root, env=env, timeout=TOX_TIMEOUT)
    pipeline.load_after = _load()
    pipeline.total_seconds = pipeline.wall_seconds = round(child.seconds, 2)
    pipeline.detail = {"exit_code": child.returncode, "tox_ini": render_tox_ini(plan)}
    if child.timed_out:
        pipeline.error = f"tox timed out after {TOX_TIMEOUT:.0f} s"
    if not result_json.is_file():
        pipeline.error = pipeline.error or \
            f"tox wrote no result JSON (exit {child.returncode}): {child.tail(5)}"
        return pipeline
    data = json.loads(result_json.read_text(encoding="utf-8"))
    pipeline.detail["tox_version"] = data.get("toxversion")
    pipeline.pythons = parse_tox_result(data, plan, root)
    if child.returncode != 0 and all(p.status == "pass" for p in pipeline.pythons.values()):
        pipeline.error = f"tox exited {child.returncode} although every environment passed: {child.tail(3)}"
    if not pipeline.passed:
        pipeline.detail["output_tail"] = child.tail(40)
    return pipeline


def run_pipelines(course: Course, versions: Optional[Sequence[str]] = None, jobs: int = 2) -> Dict[str, Any]:
    matrix = sorted(versions or python_matrix(course), key=version_key)
    work = Path(tempfile.mkdtemp(prefix="tito-bench-pipelines-"))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = _load()
    notes: List[str] = []
    try:
        tito, wheel = run_tito(course, versions, jobs, work)
        if wheel is None:
            from ..package.build import build_course

            artifacts, _ = build_course(course, work / "dist", work / "build")
            wheel = artifacts.wheel
            notes.append("tinytorch-verifier verify kept no wheel: the tox pipelines install a wheel built by "
                         "build_course")
        else:
            notes.append("the tox pipelines install the wheel tinytorch-verifier verify built "
                         "(kept in its reports/dist)")
        envs, locks = [], {}
        for version in matrix:
            lookup = find_interpreter(version)
            if lookup.interpreter is None:
                notes.append(f"Python {version}: {lookup.describe_missing()} (not in the tox env_list)")
                continue
            lock = constraints_for(course, version, latest=False)
            if lock is not None:
                locks[version] = lock.path
            envs.append(ToxEnv(version, str(lookup.interpreter.path), lock.path.name if lock else None))
        scenarios = tuple(s.script.name for s in discover_scenarios())
        roles = json.dumps(api_roles(course), sort_keys=True)
        # the verifier's module-imports stage, as plain imports (the verifier also watches each for side effects)
        modules = tuple(wheel_modules(wheel, course.package))
        runs = [tito]
        for name, runner in (("tox", VIRTUALENV), ("tox-uv", UV)):
            plan = ToxPlan(runner, wheel.name, tuple(envs), scenarios, roles, modules=modules)
            runs.append(run_tox(name, plan, course, wheel, locks, jobs, work))
        for pipeline in runs:
            if pipeline.wall_seconds and tito.wall_seconds and pipeline.passed and tito.passed:
                pipeline.ratio = round(pipeline.wall_seconds / tito.wall_seconds, 2)
        return {
            "date": started, "course": str(course.root), "matrix": matrix, "jobs": jobs,
            "wheel": {"name": wheel.name, "sha256": _sha256(wheel)},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(),
                        "load_start": load_start, "load_end": _load(),
                        "note": "2 cores shared with other engineers' runs: wall times vary with the load"},
            "order": [p.name for p in runs],
            "ratio_basis": "pipeline wall / tinytorch-verifier verify's per-Python wall (its total minus the validate, "
                           "export, api and build stages, minus the editable stage's share of the pool: its "
                           "seconds x pool wall / pool busy seconds, from verify.json); only when both passed "
                           "on every Python",
            "pipelines": [asdict(p) for p in runs], "notes": notes,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- the report -----------------------------------------------------------------------------------------

def render_report(report: Dict[str, Any]) -> str:
    matrix: List[str] = report["matrix"]
    head = f"{'pipeline':<12} {'wall s':>8} {'vs tinytorch-verifier':>8}  " + "  ".join(f"{v:>11}" for v in matrix)
    lines = [f"pipelines bench {report['date']}, course {report['course']}, wheel {report['wheel']['name']} "
             f"(sha256 {report['wheel']['sha256'][:12]}), {report['jobs']} Pythons at once",
             f"machine: {report['machine']['cpus']} CPUs, {report['machine']['note']}; load average "
             f"(1/5/15 min) at start {report['machine']['load_start']}, "
             f"at end {report['machine']['load_end']}",
             "per-Python cells: result and seconds (tinytorch-verifier: sum of its stage durations; "
             "tox: the env's duration)",
             head]
    for p in report["pipelines"]:
        if p["skipped"]:
            lines.append(f"{p['name']:<12} {'-':>8} {'-':>8}  skipped: {p['skipped']}")
            continue
        wall = f"{p['wall_seconds']:.1f}" if p["wall_seconds"] is not None else "-"
        ratio = f"{p['ratio']:.2f}x" if p["ratio"] is not None else "n/a"
        cells = []
        for v in matrix:
            run_ = p["pythons"].get(v)
            cells.append(f"{run_['status']} {run_['seconds']:.0f}s" if run_ and run_["seconds"] is not None
                         else (run_["status"] if run_ else "-"))
        lines.append(f"{p['name']:<12} {wall:>8} {ratio:>8}  " + "  ".join(f"{c:>11}" for c in cells))
        if p["error"]:
            lines.append(f"  error: {p['error']}")
        for v in matrix:
            run_ = p["pythons"].get(v)
            if run_ and run_["failed"]:
                lines.append(f"  {p['name']} {v} failed: {', '.join(run_['failed'])}")
    lines.append("course tests passed per Python: " + "; ".join(
        f"{p['name']} " + "/".join(str(p["pythons"].get(v, {}).get("tests", {}).get("passed", "-"))
                                   for v in matrix)
        for p in report["pipelines"] if not p["skipped"]))
    lines.append("load average before -> after each: " + "; ".join(
        f"{p['name']} {p['load_before'][0] if p['load_before'] else '-'} -> "
        f"{p['load_after'][0] if p['load_after'] else '-'}" for p in report["pipelines"] if not p["skipped"]))
    for p in report["pipelines"]:
        if p["name"] == TITO and p["total_seconds"] is not None:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in p["detail"].get("course_stages", {}).items())
            lines.append(f"tinytorch-verifier verify total {p['total_seconds']:.1f} s; course-wide stages: {stages} "
                         f"(per-Python part {p['wall_seconds']:.1f} s: see ratio)")
    lines.append(f"ratio: {report['ratio_basis']}")
    for p in report["pipelines"]:
        lines.append(f"{p['name']}: {p['includes']}")
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def run_and_report(course: Course, pythons: Optional[Sequence[str]], jobs: int,
                   reports: Path) -> Tuple[str, Path, bool]:
    """Run the three pipelines, write reports/bench-pipelines.json; (table, report path, all passed)."""
    report = run_pipelines(course, pythons, jobs)
    out = reports / "bench-pipelines.json"
    write_atomic(out, json.dumps(report, indent=2) + "\n")
    ok = all(p["skipped"] or (not p["error"] and all(v["status"] == "pass" for v in p["pythons"].values()))
             for p in report["pipelines"])
    return render_report(report), out, ok
